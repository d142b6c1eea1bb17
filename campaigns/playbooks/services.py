"""Writes of playbooks: drafts, publishing, the lifecycle, manual enrolment. Keyword-only arguments.

Lifecycle: a new playbook is a draft (version 1, editable). Publishing validates the draft, freezes it and makes it
the live version: the playbook becomes active and new customers enter that version. Editing an active (or paused)
playbook edits a new draft version; publishing it moves new entries to it while running enrolments finish on the
version they entered. Paused: no one enters and no step runs (enrolments wait where they are); resuming picks up
where they stopped. Archived: enrolments in progress are ended ("playbook archived") and nothing runs again.

Every change is in the audit log (`playbook_changed`, `playbook_enrolled`).
"""

import datetime as dt
from dataclasses import dataclass, field

from django.db import transaction
from django.db.models import Max
from django.utils import timezone
from django.utils.translation import gettext as _

from campaigns.playbooks import spec
from campaigns.playbooks.enrol import enrol
from campaigns.playbooks.models import Enrolment, Playbook, PlaybookVersion, TriggerState
from campaigns.playbooks.spec import TriggerType
from workbench.audit.models import AuditAction
from workbench.audit.services import audit_record
from workbench.org.scope import visible_customers

Status = Playbook.Status
NAME_MAX = 64
MANUAL_MAX = 5000  # customer numbers per manual enrolment


class PlaybookError(ValueError):
    """The request cannot be carried out; `messages` are for the user as they are."""

    def __init__(self, messages: list[str] | str):
        self.messages = [messages] if isinstance(messages, str) else list(messages)
        super().__init__("; ".join(self.messages))


def empty_draft() -> dict:
    return {"trigger": {"type": ""}, "audience": [], "steps": [], "exits": [], "reentry": "never", "cooldown_days": 30}


def version_draft(version: PlaybookVersion) -> dict:
    return {
        "trigger": version.trigger,
        "audience": version.audience,
        "steps": version.steps,
        "exits": version.exits,
        "reentry": version.reentry,
        "cooldown_days": version.cooldown_days,
    }


def _clean_meta(name: str, priority) -> tuple[str, int]:
    name = (name or "").strip()
    if not name:
        raise PlaybookError(_("Give the playbook a name."))
    if len(name) > NAME_MAX:
        raise PlaybookError(_("The name has at most %(max)s characters.") % {"max": NAME_MAX})
    try:
        priority = int(priority)
    except (TypeError, ValueError):
        priority = 0
    if not 1 <= priority <= 9:
        raise PlaybookError(_("The priority is a number from 1 (most important) to 9."))
    return name, priority


def _store(version: PlaybookVersion, draft: dict) -> None:
    """A draft is stored as given (it may be incomplete); only publishing demands a valid one."""
    version.trigger = draft.get("trigger") or {}
    version.audience = draft.get("audience") or []
    version.steps = draft.get("steps") or []
    version.exits = draft.get("exits") or []
    version.reentry = draft.get("reentry") if draft.get("reentry") in PlaybookVersion.Reentry.values else "never"
    try:
        version.cooldown_days = max(1, min(int(draft.get("cooldown_days") or 30), spec.MAX_COOLDOWN_DAYS))
    except (TypeError, ValueError):
        version.cooldown_days = 30


def _audit(actor, playbook: Playbook, change: str, **detail) -> None:
    audit_record(actor=actor, action=AuditAction.PLAYBOOK_CHANGED, obj=playbook, detail={"change": change, **detail})


def problems(draft: dict, *, user) -> list[str]:
    """What must be fixed before the draft can be published (empty when it can)."""
    try:
        spec.validate(draft, user=user)
    except spec.SpecError as error:
        return error.messages
    return []


@transaction.atomic
def playbook_create(
    *, name: str, description: str = "", priority: int = 5, draft: dict | None = None, actor
) -> Playbook:
    name, priority = _clean_meta(name, priority)
    playbook = Playbook.objects.create(
        name=name, description=(description or "").strip(), priority=priority, created_by=actor
    )
    version = PlaybookVersion(playbook=playbook, number=1, created_by=actor)
    _store(version, draft or empty_draft())
    version.save()
    _audit(actor, playbook, "created")
    return playbook


def draft_of(playbook: Playbook) -> PlaybookVersion | None:
    return playbook.versions.filter(published_at__isnull=True).first()


def _lock(playbook: Playbook) -> Playbook:
    return Playbook.objects.select_for_update().get(pk=playbook.pk)


@transaction.atomic
def playbook_save(
    *, playbook: Playbook, name: str, description: str = "", priority: int = 5, draft: dict, actor
) -> PlaybookVersion:
    """Save the builder's state into the playbook's draft version (opened from the live one when there is none)."""
    playbook = _lock(playbook)
    if playbook.status == Status.ARCHIVED:
        raise PlaybookError(_("An archived playbook cannot be changed."))
    name, priority = _clean_meta(name, priority)
    playbook.name, playbook.description, playbook.priority = name, (description or "").strip(), priority
    playbook.save(update_fields=["name", "description", "priority", "updated_at"])
    version = draft_of(playbook)
    if version is None:
        number = (playbook.versions.aggregate(top=Max("number"))["top"] or 0) + 1
        version = PlaybookVersion(playbook=playbook, number=number, created_by=actor)
    _store(version, draft)
    version.save()
    _audit(actor, playbook, "draft_saved", version=version.number)
    return version


@transaction.atomic
def playbook_discard_draft(*, playbook: Playbook, actor) -> None:
    playbook = _lock(playbook)
    version = draft_of(playbook)
    if version is None or playbook.live_version_id is None:
        raise PlaybookError(_("There is no draft to discard (a playbook never published keeps its first draft)."))
    number = version.number
    version.delete()
    _audit(actor, playbook, "draft_discarded", version=number)


@transaction.atomic
def playbook_publish(*, playbook: Playbook, actor, now: dt.datetime | None = None) -> PlaybookVersion:
    """Validate the draft and make it the live version; the playbook becomes active (it stays paused if paused)."""
    now = now or timezone.now()
    playbook = _lock(playbook)
    if playbook.status == Status.ARCHIVED:
        raise PlaybookError(_("An archived playbook cannot be published."))
    version = draft_of(playbook)
    if version is None:
        raise PlaybookError(_("There are no changes to publish."))
    clean = spec.validate(version_draft(version), user=actor)
    if clean["trigger"]["type"] == TriggerType.BROADCAST:
        at = spec.broadcast_at(clean["trigger"])
        if at is not None and at < now - dt.timedelta(minutes=5):
            raise PlaybookError(_("Trigger: the send time has passed; choose a later time."))
    previous = playbook.live_version
    _store(version, clean)
    version.published_at, version.published_by = now, actor
    version.save()
    _start_trigger(version, previous, now)
    playbook.live_version = version
    if playbook.status in (Status.DRAFT, Status.ACTIVE):
        playbook.status = Status.ACTIVE
    playbook.activated_at = playbook.activated_at or now
    playbook.save(update_fields=["live_version", "status", "activated_at", "updated_at"])
    _audit(actor, playbook, "published", version=version.number, spec=clean)
    return version


def _same_source(new: dict, old: dict | None) -> bool:
    """Does the new trigger read the same events as the old one (so its watermark carries over)?"""
    if not old or new.get("type") != old.get("type"):
        return False
    keys = {
        TriggerType.TAG_ADDED: ("tag",),
        TriggerType.TAG_REMOVED: ("tag",),
        TriggerType.SEGMENT_ENTRY: ("condition",),
        TriggerType.DATE: ("attribute", "offset_days"),
    }.get(new["type"], ())
    return all(new.get(key) == old.get(key) for key in keys)


def _start_trigger(version: PlaybookVersion, previous: PlaybookVersion | None, now: dt.datetime) -> None:
    """Where the new live version's trigger starts reading: where the previous version was, for the same
    source, so that no event is lost or seen twice; otherwise from now on."""
    from campaigns.playbooks import triggers

    trigger = version.trigger
    kind = trigger["type"]
    if kind not in (TriggerType.TAG_ADDED, TriggerType.TAG_REMOVED, TriggerType.SEGMENT_ENTRY, TriggerType.DATE):
        return
    old = TriggerState.objects.filter(version=previous).first() if previous is not None else None
    carry = old is not None and _same_source(trigger, previous.trigger)
    state = TriggerState(version=version)
    if kind in (TriggerType.TAG_ADDED, TriggerType.TAG_REMOVED):
        state.last_id = old.last_id if carry else triggers.current_watermark("tag")
    elif kind == TriggerType.SEGMENT_ENTRY:
        if carry:
            state.members, state.member_count, state.checked_at = old.members, old.member_count, old.checked_at
    elif trigger.get("attribute") == "payroll_credit":
        state.last_id = old.last_id if carry else triggers.current_watermark("payroll")
    elif carry:
        state.last_date = old.last_date
    state.save()


@transaction.atomic
def playbook_pause(*, playbook: Playbook, actor) -> Playbook:
    playbook = _lock(playbook)
    if playbook.status != Status.ACTIVE:
        raise PlaybookError(_("Only an active playbook can be paused."))
    playbook.status = Status.PAUSED
    playbook.save(update_fields=["status", "updated_at"])
    _audit(actor, playbook, "paused")
    return playbook


@transaction.atomic
def playbook_resume(*, playbook: Playbook, actor) -> Playbook:
    playbook = _lock(playbook)
    if playbook.status != Status.PAUSED:
        raise PlaybookError(_("Only a paused playbook can be resumed."))
    playbook.status = Status.ACTIVE
    playbook.save(update_fields=["status", "updated_at"])
    _audit(actor, playbook, "resumed")
    return playbook


@transaction.atomic
def playbook_archive(*, playbook: Playbook, actor, now: dt.datetime | None = None) -> int:
    """End the playbook: enrolments in progress exit ("playbook archived"). Returns how many."""
    now = now or timezone.now()
    playbook = _lock(playbook)
    if playbook.status == Status.ARCHIVED:
        return 0
    ended = Enrolment.objects.filter(playbook=playbook, state=Enrolment.State.ACTIVE).update(
        state=Enrolment.State.EXITED,
        exit_reason=Enrolment.Reason.ARCHIVED,
        finished_at=now,
        due_at=None,
        step_until=None,
    )
    playbook.status = Status.ARCHIVED
    playbook.save(update_fields=["status", "updated_at"])
    _audit(actor, playbook, "archived", ended=ended)
    return ended


# --- manual enrolment ------------------------------------------------------------------------------------------


@dataclass
class ManualResult:
    asked: int = 0
    enrolled: int = 0
    not_found: list[str] = field(default_factory=list)  # unknown numbers, or customers outside the user's scope
    not_entered: int = 0  # in progress already, blocked by the re-entry rule, or outside the audience


def parse_numbers(text: str) -> list[str]:
    seen: list[str] = []
    for token in (text or "").replace(",", " ").replace("，", " ").replace(";", " ").split():
        token = token.strip()
        if token and token not in seen:
            seen.append(token)
    return seen


def playbook_enrol_manual(
    *, playbook: Playbook, numbers: list[str], actor, now: dt.datetime | None = None
) -> ManualResult:
    """Enrol customers by customer number into the live version — only those the actor may see (an unknown
    number and one outside the actor's scope read the same: existence is not revealed)."""
    now = now or timezone.now()
    if playbook.status != Status.ACTIVE or playbook.live_version_id is None:
        raise PlaybookError(_("Customers can be enrolled only in an active playbook."))
    if not numbers:
        raise PlaybookError(_("Give at least one customer number."))
    if len(numbers) > MANUAL_MAX:
        raise PlaybookError(_("At most %(max)s customer numbers at a time.") % {"max": MANUAL_MAX})
    found = dict(visible_customers(actor).filter(customer_no__in=numbers).values_list("customer_no", "pk"))
    result = ManualResult(asked=len(numbers), not_found=[number for number in numbers if number not in found])
    version = PlaybookVersion.objects.select_related("playbook").get(pk=playbook.live_version_id)
    key = f"manual:{actor.pk}:{timezone.localtime(now):%Y%m%d%H%M%S}"
    with transaction.atomic():
        enrolled = enrol(version, [(pk, key, now) for pk in found.values()], now=now)
        result.enrolled = len(enrolled)
        result.not_entered = len(found) - len(enrolled)
        audit_record(
            actor=actor,
            action=AuditAction.PLAYBOOK_ENROLLED,
            obj=playbook,
            detail={"version": version.number, "asked": result.asked, "enrolled": result.enrolled},
        )
    return result
