"""Writes of rules, rule runs, segments and snapshots. Keyword-only arguments; side effects after commit."""

import datetime as dt

from django.core.cache import cache
from django.core.exceptions import PermissionDenied
from django.db import IntegrityError, transaction
from django.db.models import Max
from django.utils import timezone
from django.utils.translation import gettext as _

from tagging.models import Tag, TagGroup
from tagging.segments import bitmaps
from tagging.segments import conditions as lang
from tagging.segments.bitmaps import sql_ids
from tagging.segments.evaluation import next_run_after
from tagging.segments.models import Rule, RuleRun, Segment, SegmentSnapshot
from tagging.segments.selectors import segment_members
from tagging.tags.services import TagError, tag_create, tag_update
from workbench.audit.models import AuditAction
from workbench.audit.services import audit_record
from workbench.exports.services import export_request
from workbench.org.roles import Scope
from workbench.org.scope import viewer_for

# --- rules -----------------------------------------------------------------------------------------------------


def rule_create(
    *,
    group: TagGroup | None = None,
    name: str = "",
    description: str = "",
    condition: dict,
    frequency: str = Rule.Frequency.DAILY,
    enabled: bool = True,
    actor=None,
    tag: Tag | None = None,
) -> Rule:
    """A rule for a new rule tag, or for an existing rule-kind tag that has none yet (the starter library's).

    A new tag is created through the tag library (`tag_create`: a corp tag in WeCom, the 3,000-tag limit), which
    raises `TagError` with a message for the form. The first evaluation is queued at once when enabled.
    """
    condition = lang.validate(condition)
    if tag is None:
        tag = tag_create(group=group, name=name, kind=Tag.Kind.RULE, description=description, actor=actor)
    elif tag.kind != Tag.Kind.RULE or not tag.is_active or Rule.objects.filter(tag=tag).exists():
        raise TagError(_("“%(name)s” is not a rule tag waiting for its condition.") % {"name": tag.name})
    with transaction.atomic():
        rule = Rule.objects.create(
            tag=tag,
            condition=condition,
            frequency=frequency,
            enabled=enabled,
            next_run_at=next_run_after(frequency, timezone.now()) if enabled else None,
            created_by=actor,
            updated_by=actor,
        )
        audit_record(
            actor=actor,
            action=AuditAction.RULE_CHANGED,
            obj=tag,
            detail={"change": "created", "condition": condition, "frequency": frequency, "enabled": enabled},
        )
        if enabled:
            rule_run_request(rule=rule, trigger=RuleRun.Trigger.SAVED, actor=actor)
    return rule


def rule_update(
    *,
    rule: Rule,
    name: str,
    description: str,
    condition: dict,
    frequency: str,
    enabled: bool,
    actor=None,
) -> Rule:
    """Change a rule; a changed condition (or re-enabling) is evaluated at once. A new name or description goes
    through the tag library (`tag_update`, which renames the corp tag in WeCom; `TagError` when refused)."""
    condition = lang.validate(condition)
    tag = rule.tag
    if (name, description) != (tag.name, tag.description):
        tag_update(tag, name=name, kind=tag.kind, description=description, order=tag.order, actor=actor)
    with transaction.atomic():
        rule = Rule.objects.select_for_update().select_related("tag").get(pk=rule.pk)
        changed = condition != rule.condition or (enabled and not rule.enabled)
        if frequency != rule.frequency or enabled != rule.enabled:
            rule.next_run_at = next_run_after(frequency, timezone.now()) if enabled else None
        before = {"condition": rule.condition, "frequency": rule.frequency, "enabled": rule.enabled}
        rule.condition, rule.frequency, rule.enabled, rule.updated_by = condition, frequency, enabled, actor
        rule.save()
        audit_record(
            actor=actor,
            action=AuditAction.RULE_CHANGED,
            obj=rule.tag,
            detail={
                "change": "updated",
                "before": before,
                "after": {"condition": condition, "frequency": frequency, "enabled": enabled},
            },
        )
        if changed and enabled:
            rule_run_request(rule=rule, trigger=RuleRun.Trigger.SAVED, actor=actor)
    return rule


def rule_run_request(*, rule: Rule, trigger: str, actor=None) -> RuleRun:
    """Queue an evaluation; when one is already queued or running, that one is returned. A queued run takes the
    rule's current condition; a running one finishes with the condition it started with, and the rule's next
    scheduled run (or a later "run now") uses the new one."""
    from tagging.segments.tasks import evaluate_rule

    active = RuleRun.objects.filter(rule=rule, status__in=RuleRun.ACTIVE).first()
    if active is not None and active.condition == rule.condition:
        return active
    try:
        with transaction.atomic():
            if active is not None:
                # A queued run with an outdated condition takes the new one; a running one is left to finish.
                updated = RuleRun.objects.filter(pk=active.pk, status=RuleRun.Status.QUEUED).update(
                    condition=rule.condition
                )
                if updated:
                    active.condition = rule.condition
                return active
            run = RuleRun.objects.create(rule=rule, trigger=trigger, requested_by=actor, condition=rule.condition)
    except IntegrityError:  # a concurrent request created it first
        return RuleRun.objects.get(rule=rule, status__in=RuleRun.ACTIVE)
    transaction.on_commit(lambda: evaluate_rule.delay(run.pk))
    return run


def rules_dispatch_due(*, now: dt.datetime | None = None) -> list[RuleRun]:
    """Queue an evaluation of every enabled rule whose time has come, and set its next time. Safe to run from
    several beats at once: due rules are claimed with SKIP LOCKED."""
    now = now or timezone.now()
    runs = []
    with transaction.atomic():
        due = (
            Rule.objects.select_for_update(skip_locked=True)
            .filter(enabled=True, next_run_at__lte=now)
            .exclude(frequency=Rule.Frequency.MANUAL)
        )
        for rule in due:
            runs.append(rule_run_request(rule=rule, trigger=RuleRun.Trigger.SCHEDULE))
            rule.next_run_at = next_run_after(rule.frequency, now)
            rule.save(update_fields=["next_run_at"])
    return runs


def rule_runs_fail_abandoned(*, older_than: dt.timedelta = dt.timedelta(hours=1)) -> int:
    """Queued runs whose task was lost (broker flushed) are marked failed, so the rule can be run again."""
    cutoff = timezone.now() - older_than
    return RuleRun.objects.filter(status=RuleRun.Status.QUEUED, created_at__lt=cutoff).update(
        status=RuleRun.Status.FAILED,
        error=_("The evaluation never started (its task was lost)."),
        finished_at=timezone.now(),
    )


# --- segments --------------------------------------------------------------------------------------------------


def segment_create(*, name: str, description: str = "", condition: dict, shared: bool = False, owner) -> Segment:
    condition = lang.validate(condition, user=owner)
    with transaction.atomic():
        segment = Segment.objects.create(
            name=name, description=description, condition=condition, shared=shared, owner=owner
        )
        audit_record(
            actor=owner,
            action=AuditAction.SEGMENT_CHANGED,
            obj=segment,
            detail={"change": "created", "condition": condition, "shared": shared},
        )
    return segment


def segment_update(*, segment: Segment, name: str, description: str, condition: dict, shared: bool, actor) -> Segment:
    condition = lang.validate(condition, user=actor)
    with transaction.atomic():
        before = {"name": segment.name, "condition": segment.condition, "shared": segment.shared}
        segment.name, segment.description, segment.shared, segment.condition = name, description, shared, condition
        segment.save()
        audit_record(
            actor=actor,
            action=AuditAction.SEGMENT_CHANGED,
            obj=segment,
            detail={"change": "updated", "before": before, "after": {"condition": condition, "shared": shared}},
        )
    return segment


def segment_delete(*, segment: Segment, actor) -> None:
    with transaction.atomic():
        audit_record(
            actor=actor,
            action=AuditAction.SEGMENT_CHANGED,
            obj=segment,
            detail={"change": "deleted", "condition": segment.condition},
        )
        segment.delete()


def _scope_label(user) -> str:
    if user is None:
        return Scope.BANK.value
    viewer = viewer_for(user)
    if viewer.scope == Scope.BRANCH:
        return f"branch:{viewer.branch_path}"
    if viewer.scope == Scope.SELF:
        return f"self:{viewer.operator.pk}"
    return viewer.scope.value


def segment_snapshot(segment: Segment, *, purpose: str, actor=None) -> SegmentSnapshot:
    """Freeze the segment's members now: exact (SQL, not bitmaps), within `actor`'s data scope (the whole bank
    when the system takes it, actor None). A campaign keeps the snapshot's id and sends to exactly these."""
    if actor is not None and viewer_for(actor).scope == Scope.NONE:
        raise PermissionDenied(_("Your role may not use segments."))
    condition = lang.validate(segment.condition)
    members = sql_ids(segment_members(actor, condition))
    members.run_optimize()
    with transaction.atomic():
        Segment.objects.select_for_update().filter(pk=segment.pk).first()  # versions are numbered one at a time
        version = (SegmentSnapshot.objects.filter(segment=segment).aggregate(last=Max("version"))["last"] or 0) + 1
        snapshot = SegmentSnapshot.objects.create(
            segment=segment,
            version=version,
            condition=condition,
            members=members.serialize(),
            count=len(members),
            purpose=purpose[:255],
            scope=_scope_label(actor),
            created_by=actor,
            created_at=timezone.now(),
        )
        audit_record(
            actor=actor,
            action=AuditAction.SEGMENT_SNAPSHOT,
            obj=segment,
            username="system" if actor is None else "",
            detail={
                "version": version,
                "members": snapshot.count,
                "purpose": snapshot.purpose,
                "scope": snapshot.scope,
            },
        )
    return snapshot


def segment_export_request(*, segment: Segment, user, file_format: str):
    """Export the segment's members within the user's scope, through the exports app (audited there)."""
    return export_request(user=user, kind="segment", file_format=file_format, params={"segment": segment.pk})


# --- bitmaps ---------------------------------------------------------------------------------------------------

REFRESH_LOCK = "segments:bitmaps-refresh"
REFRESH_LOCK_SECONDS = 900
# When the last refresh looked for changed tags: the next one reads tag changes from a little before it only.
CHECKED_KEY = "segments:tags-checked-at"
CHECK_MARGIN = dt.timedelta(minutes=5)


def _changes_since() -> dt.datetime | None:
    checked = cache.get(CHECKED_KEY)
    return None if checked is None else dt.datetime.fromisoformat(checked) - CHECK_MARGIN


def bitmaps_stale() -> bool:
    """Attribute buckets older than ATTRIBUTES_MAX_AGE (or never built), or a tag changed since its build."""
    built = bitmaps.attributes_built_at()
    if built is None or timezone.now() - built > bitmaps.ATTRIBUTES_MAX_AGE:
        return True
    return bool(bitmaps.tags_changed_since_build(_changes_since()))


def bitmaps_refresh(*, attributes: bool | None = None) -> dict:
    """Rebuild the attribute buckets (when asked, or when stale) and every tag changed since its build.
    One refresh at a time (a cache lock); a second caller returns at once."""
    if not cache.add(REFRESH_LOCK, "1", timeout=REFRESH_LOCK_SECONDS):
        return {"skipped": True}
    try:
        checking = timezone.now()
        built = bitmaps.attributes_built_at()
        if attributes is None:
            attributes = built is None or checking - built > bitmaps.ATTRIBUTES_MAX_AGE
        if attributes:
            bitmaps.bitmaps_rebuild_attributes()
        tag_ids = bitmaps.tags_changed_since_build(_changes_since())
        if tag_ids:
            bitmaps.bitmaps_rebuild_tags(tag_ids)
        cache.set(CHECKED_KEY, checking.isoformat(), timeout=None)
        return {"attributes": attributes, "tags": len(tag_ids)}
    finally:
        cache.delete(REFRESH_LOCK)


def bitmaps_request_refresh(*, attributes: bool = True) -> None:
    """For imports and other bulk writers: rebuild the bitmaps in a worker once the transaction commits."""
    from tagging.segments.tasks import rebuild_bitmaps

    transaction.on_commit(lambda: rebuild_bitmaps.delay(attributes=attributes))
