"""What starts a playbook: each live version's trigger, read incrementally and turned into enrolments.

- new contact — `enrol_new_contact`, called by the WeCom callback handler once the follow exists (optionally only
  for follows whose `state` is one of the chosen channel codes); the follow id is the trigger key;
- tag added / removed — `TagChange` rows after the version's watermark (`TriggerState.last_id`);
- segment entry — after each evaluation (a rule run or bitmap rebuild finished, an import finished, or an hour
  passed), the segment's members are computed and compared with the members at the previous check: the
  difference enters. The first check is the baseline (its members enter only with "include existing members");
- date — pay day, birthday and product maturity once per local day, `offset_days` after the date, at the chosen
  time; "salary credited" reads new `PayrollCredit` rows after the watermark (a credit imported late enters as
  soon as it is seen, one older than `STALE_DAYS` not at all);
- broadcast — at the chosen time the segment is frozen and the broadcast planned (`broadcasts.py`);
- manual — customers enrolled by hand (`services.playbook_enrol_manual`), possible for every active playbook.

`scan(now)` runs from beat every minute. Each version's `TriggerState` is locked with SKIP LOCKED for the duration
of its scan, so overlapping scans never read the same changes twice; enrolment itself is idempotent per trigger
key, so a scan repeated after a crash enrols nobody twice.
"""

import datetime as dt
import logging

from django.db import transaction
from django.db.models import F, Max, Q
from django.utils import timezone
from pyroaring import BitMap

from campaigns.playbooks import schedule
from campaigns.playbooks.enrol import enrol
from campaigns.playbooks.models import Broadcast, Playbook, PlaybookVersion, TriggerState
from campaigns.playbooks.spec import TriggerType, broadcast_at
from tagging.models import Customer, FollowRelationship, ProductHolding, TagChange
from tagging.segments import conditions as lang
from tagging.segments.bitmaps import sql_ids

logger = logging.getLogger(__name__)

EVENT_LIMIT = 50_000  # tag changes or payroll credits read per version per scan
STALE_DAYS = 7  # a payroll credit seen this long after its date starts nothing
SEGMENT_RECHECK = dt.timedelta(hours=1)  # relative dates move: a segment is looked at hourly at least


def live_versions(*types: str):
    versions = PlaybookVersion.objects.filter(
        playbook__status=Playbook.Status.ACTIVE, playbook__live_version=F("pk")
    ).select_related("playbook")
    if types:
        versions = versions.filter(trigger__type__in=list(types))
    return versions


# --- the scan ---------------------------------------------------------------------------------------------------


def scan(now: dt.datetime | None = None) -> dict:
    now = now or timezone.now()
    counts: dict[str, int] = {}
    for version in live_versions():
        kind = version.trigger.get("type")
        if kind in (TriggerType.TAG_ADDED, TriggerType.TAG_REMOVED, TriggerType.SEGMENT_ENTRY, TriggerType.DATE):
            with transaction.atomic():
                state = TriggerState.objects.select_for_update(skip_locked=True).filter(version=version).first()
                if state is None:
                    continue
                enrolled = _scan_version(version, state, now)
            counts[str(version.pk)] = len(enrolled)
        elif kind == TriggerType.BROADCAST:
            _broadcast_if_due(version, now)
    return counts


def _scan_version(version: PlaybookVersion, state: TriggerState, now: dt.datetime) -> list[int]:
    trigger = version.trigger
    kind = trigger["type"]
    if kind in (TriggerType.TAG_ADDED, TriggerType.TAG_REMOVED):
        return scan_tag_changes(version, state, now)
    if kind == TriggerType.SEGMENT_ENTRY:
        return scan_segment(version, state, now) if segment_check_due(state, now) else []
    if trigger.get("attribute") == "payroll_credit":
        return scan_payroll_credits(version, state, now)
    return scan_date(version, state, now)


def _save_state(state: TriggerState, now: dt.datetime, **fields) -> None:
    for name, value in fields.items():
        setattr(state, name, value)
    state.checked_at = now
    state.save()


# --- tag changes ---------------------------------------------------------------------------------------------


def current_watermark(kind: str) -> int:
    """The id the trigger of a freshly published version starts after (what happened before does not count)."""
    if kind == "tag":
        return TagChange.objects.aggregate(top=Max("pk"))["top"] or 0
    from integrations.bank.models import PayrollCredit

    return PayrollCredit.objects.aggregate(top=Max("pk"))["top"] or 0


def scan_tag_changes(version: PlaybookVersion, state: TriggerState, now: dt.datetime) -> list[int]:
    trigger = version.trigger
    action = TagChange.Action.ADDED if trigger["type"] == TriggerType.TAG_ADDED else TagChange.Action.REMOVED
    upper = TagChange.objects.aggregate(top=Max("pk"))["top"] or 0
    if upper <= state.last_id:
        _save_state(state, now)
        return []
    changes = list(
        TagChange.objects.filter(pk__gt=state.last_id, pk__lte=upper, tag_id=trigger["tag"], action=action)
        .order_by("pk")
        .values_list("pk", "customer_id")[:EVENT_LIMIT]
    )
    last = changes[-1][0] if len(changes) == EVENT_LIMIT else upper
    enrolled = enrol(version, [(customer, f"tag:{pk}", now) for pk, customer in changes], now=now)
    _save_state(state, now, last_id=last)
    return enrolled


# --- payroll credits and dates -----------------------------------------------------------------------------------


def scan_payroll_credits(version: PlaybookVersion, state: TriggerState, now: dt.datetime) -> list[int]:
    from integrations.bank.models import PayrollCredit

    trigger = version.trigger
    upper = PayrollCredit.objects.aggregate(top=Max("pk"))["top"] or 0
    if upper <= state.last_id:
        _save_state(state, now)
        return []
    credits = list(
        PayrollCredit.objects.filter(pk__gt=state.last_id, pk__lte=upper)
        .order_by("pk")
        .values_list("pk", "customer_id", "credit_date")[:EVENT_LIMIT]
    )
    last = credits[-1][0] if len(credits) == EVENT_LIMIT else upper
    today = timezone.localdate(now)
    rows = []
    for _pk, customer, credit_date in credits:
        day = credit_date + dt.timedelta(days=trigger.get("offset_days", 0))
        if day < today - dt.timedelta(days=STALE_DAYS):
            continue
        rows.append((customer, f"payroll:{credit_date.isoformat()}", max(now, schedule.at_local(day, trigger["time"]))))
    enrolled = enrol(version, rows, now=now)
    _save_state(state, now, last_id=last)
    return enrolled


def date_matches(attribute: str, day: dt.date):
    """Customers whose date attribute falls on `day` (a queryset of Customer)."""
    if attribute == "payday":
        return Customer.objects.filter(payday__in=schedule.payday_values(day))
    if attribute == "birthday":
        q = Q(pk__in=[])
        for month, day_of_month in schedule.birthday_pairs(day):
            q |= Q(birth_date__month=month, birth_date__day=day_of_month)
        return Customer.objects.filter(q)
    if attribute == "maturity":
        return Customer.objects.filter(pk__in=ProductHolding.objects.filter(maturity_date=day).values("customer_id"))
    raise ValueError(attribute)


def scan_date(version: PlaybookVersion, state: TriggerState, now: dt.datetime) -> list[int]:
    """Once per local day: customers whose date was `offset_days` ago (a negative offset: is ahead) enter, due at
    the chosen time today. A day the scan missed (no beat) is not made up."""
    trigger = version.trigger
    today = timezone.localdate(now)
    if state.last_date is not None and state.last_date >= today:
        return []
    day = today - dt.timedelta(days=trigger.get("offset_days", 0))
    due = max(now, schedule.at_local(today, trigger["time"]))
    ids = sql_ids(date_matches(trigger["attribute"], day))
    enrolled = enrol(version, [(pk, f"date:{today.isoformat()}", due) for pk in ids], now=now)
    _save_state(state, now, last_date=today)
    return enrolled


# --- segment entry ------------------------------------------------------------------------------------------------


def segment_check_due(state: TriggerState, now: dt.datetime) -> bool:
    """True after an evaluation finished since the last check (rule run, bitmap rebuild, import), or hourly."""
    since = state.checked_at
    if since is None or state.members is None or now - since >= SEGMENT_RECHECK:
        return True
    from integrations.bank.models import ImportJob
    from tagging.segments.models import BitmapFamily, RuleRun

    return (
        RuleRun.objects.filter(finished_at__gt=since).exists()
        or BitmapFamily.objects.filter(switched_at__gt=since).exists()
        or ImportJob.objects.filter(finished_at__gt=since).exists()
    )


def scan_segment(version: PlaybookVersion, state: TriggerState, now: dt.datetime) -> list[int]:
    trigger = version.trigger
    current = sql_ids(Customer.objects.filter(lang.compile_q(trigger["condition"], today=timezone.localdate(now))))
    current.run_optimize()
    if state.members is None:
        entering = current if trigger.get("include_existing") else BitMap()
    else:
        entering = current - BitMap.deserialize(bytes(state.members))
    key = f"segment:{timezone.localtime(now):%Y%m%d%H%M%S}"
    enrolled = enrol(version, [(pk, key, now) for pk in entering], now=now)
    _save_state(state, now, members=current.serialize(), member_count=len(current))
    return enrolled


def segment_entries_check(now: dt.datetime | None = None) -> dict:
    """Check every segment-entry playbook now: for a caller that just finished an evaluation."""
    now = now or timezone.now()
    counts = {}
    for version in live_versions(TriggerType.SEGMENT_ENTRY):
        with transaction.atomic():
            state = TriggerState.objects.select_for_update(skip_locked=True).filter(version=version).first()
            if state is not None:
                counts[str(version.pk)] = len(scan_segment(version, state, now))
    return counts


# --- new contacts --------------------------------------------------------------------------------------------------


def enrol_new_contact(*, customer, userid: str, at: dt.datetime | None = None) -> list[int]:
    """A customer just added the operator `userid` in WeCom (the follow is written): enrol them in every active
    "new contact" playbook whose channel-code filter (if any) names the follow's channel. Idempotent per follow."""
    now = at or timezone.now()
    follow = (
        FollowRelationship.objects.filter(customer=customer, operator__wecom_userid=userid, deleted_at__isnull=True)
        .order_by("-added_at")
        .first()
    )
    if follow is None:
        return []
    versions = list(live_versions(TriggerType.NEW_CONTACT))
    if not versions:
        return []
    states = {}
    wanted = {pk for version in versions for pk in version.trigger.get("channel_codes") or []}
    if wanted:
        from campaigns.channels.models import ChannelCode

        states = dict(ChannelCode.objects.filter(pk__in=wanted).values_list("pk", "state"))
    enrolled = []
    for version in versions:
        codes = version.trigger.get("channel_codes") or []
        if codes and follow.state not in {states.get(pk) for pk in codes}:
            continue
        enrolled += enrol(version, [(customer.pk, f"follow:{follow.pk}", now)], now=now)
    return enrolled


# --- broadcasts ---------------------------------------------------------------------------------------------------


def _broadcast_if_due(version: PlaybookVersion, now: dt.datetime) -> None:
    at = broadcast_at(version.trigger)
    if at is None or at > now:
        return
    from campaigns.playbooks.broadcasts import broadcast_request

    broadcast_request(version=version, now=now)


def broadcasts_stale(now: dt.datetime) -> list[int]:
    """Broadcasts left half-planned by a worker that died: planned again (plan_sends is idempotent)."""
    cutoff = now - dt.timedelta(minutes=10)
    return list(
        Broadcast.objects.filter(status=Broadcast.Status.PLANNING, heartbeat_at__lt=cutoff).values_list(
            "version_id", flat=True
        )
    )
