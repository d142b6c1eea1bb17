"""What a playbook version says, as data: validated here, run by `runner.py`, shown by the builder and dry run.

A version is JSON: a trigger, an audience (criteria every entrant meets), a list of steps, exit rules and a
re-entry rule. `validate(draft, user=…)` returns the normalised version or raises `SpecError` whose messages name
the place to fix ("Step 3: …") in words a head-office user understands.

Steps run in list order. Each step has a stable `key` (kept when steps are reordered and across versions); the
steps that choose a path (branch, A/B split, wait for a condition) name where to go: "next", "end" or the key of a
LATER step. Jumps only go forward, so every journey ends and one tick can never loop.

Criteria (audience, branch, wait, exit) are "has tag", "lacks tag", "in segment", "not in segment" or a raw
condition of the segment condition language (`tagging.segments.conditions`). A segment's condition is copied into
the version when it is validated: a published version keeps meaning what it meant when it was published.
"""

import datetime as dt
import re
from dataclasses import dataclass

from django.db.models import Q
from django.utils import timezone
from django.utils.translation import gettext as _
from django.utils.translation import gettext_lazy

from tagging.models import ProductCategory, Tag
from tagging.segments import conditions as lang

MAX_STEPS = 30
MAX_AUDIENCE = 5
MAX_EXITS = 6
MAX_DELAY_DAYS = 365
MAX_WAIT_HOURS = 90 * 24
MAX_TASK_HOURS = 30 * 24
MAX_OFFSET_DAYS = 90
MAX_COOLDOWN_DAYS = 3650
MAX_ARMS = 4
MAX_CONTROL = 50
TITLE_MAX = 64
SCRIPT_MAX = 1000
KEY = re.compile(r"^s[0-9]{1,4}$")
TIME = re.compile(r"^([01][0-9]|2[0-3]):([0-5][0-9])$")
ARM_NAME = re.compile(r"^[A-Za-z0-9]{1,8}$")

# --- the vocabulary -------------------------------------------------------------------------------------------


class TriggerType:
    NEW_CONTACT = "new_contact"
    TAG_ADDED = "tag_added"
    TAG_REMOVED = "tag_removed"
    SEGMENT_ENTRY = "segment_entry"
    DATE = "date"
    BROADCAST = "broadcast"
    MANUAL = "manual"


TRIGGER_TYPES = {
    TriggerType.NEW_CONTACT: gettext_lazy("A customer adds an operator in WeCom"),
    TriggerType.TAG_ADDED: gettext_lazy("A tag is added to the customer"),
    TriggerType.TAG_REMOVED: gettext_lazy("A tag is removed from the customer"),
    TriggerType.SEGMENT_ENTRY: gettext_lazy("The customer enters a segment"),
    TriggerType.DATE: gettext_lazy("A date of the customer (pay day, birthday, maturity …)"),
    TriggerType.BROADCAST: gettext_lazy("One-off send to a segment at a chosen time"),
    TriggerType.MANUAL: gettext_lazy("Only customers enrolled by hand"),
}

DATE_ATTRIBUTES = {
    "payroll_credit": gettext_lazy("salary credited (from the payroll import)"),
    "payday": gettext_lazy("pay day (day of the month)"),
    "birthday": gettext_lazy("birthday"),
    "maturity": gettext_lazy("a product matures"),
}


class StepType:
    DELAY = "delay"
    WAIT_UNTIL = "wait_until"
    SEND = "send"
    TASK = "task"
    TAG = "tag"
    WAIT_CONDITION = "wait_condition"
    BRANCH = "branch"
    AB_SPLIT = "ab_split"


STEP_TYPES = {
    StepType.DELAY: gettext_lazy("Wait for a while"),
    StepType.WAIT_UNTIL: gettext_lazy("Wait until a time of day"),
    StepType.SEND: gettext_lazy("Send approved content (WeCom mass send)"),
    StepType.TASK: gettext_lazy("Create a task for the operator"),
    StepType.TAG: gettext_lazy("Add or remove a tag"),
    StepType.WAIT_CONDITION: gettext_lazy("Wait for a condition (with a time limit)"),
    StepType.BRANCH: gettext_lazy("Branch on a condition"),
    StepType.AB_SPLIT: gettext_lazy("A/B split with a control group"),
}
# Steps that take time: the enrolment stays at them until `step_until`.
TIMED_STEPS = (StepType.DELAY, StepType.WAIT_UNTIL, StepType.WAIT_CONDITION)
# Steps with one way on ("after": the next step, a later step or the end); branches and splits choose their own.
LINEAR_STEPS = (
    StepType.DELAY,
    StepType.WAIT_UNTIL,
    StepType.SEND,
    StepType.TASK,
    StepType.TAG,
    StepType.WAIT_CONDITION,
)

TASK_KINDS = {
    "call": gettext_lazy("Phone call"),
    "message": gettext_lazy("1:1 WeCom message"),
    "visit": gettext_lazy("Visit"),
}

CRITERION_KINDS = {
    "has_tag": gettext_lazy("has the tag"),
    "lacks_tag": gettext_lazy("does not have the tag"),
    "in_segment": gettext_lazy("is in the segment"),
    "not_in_segment": gettext_lazy("is not in the segment"),
    "condition": gettext_lazy("matches a condition"),
}

EXIT_KINDS = {
    "converted": gettext_lazy("Bought a product after entering"),
    "unfollowed": gettext_lazy("Deleted the operator in WeCom"),
    "dnd": gettext_lazy("Asked not to be disturbed (or opted out)"),
    "criterion": gettext_lazy("Meets a condition"),
}

WEEKDAYS = {
    1: gettext_lazy("Mon"),
    2: gettext_lazy("Tue"),
    3: gettext_lazy("Wed"),
    4: gettext_lazy("Thu"),
    5: gettext_lazy("Fri"),
    6: gettext_lazy("Sat"),
    7: gettext_lazy("Sun"),
}

NEXT, END = "next", "end"


class SpecError(Exception):
    def __init__(self, messages: list[str]):
        super().__init__("; ".join(messages))
        self.messages = messages


# --- validation -----------------------------------------------------------------------------------------------


@dataclass
class _Check:
    user: object
    errors: list

    def fail(self, message: str) -> None:
        self.errors.append(message)


def _int(raw, *, low: int, high: int, message: str, check: _Check, default=None) -> int | None:
    if raw in (None, ""):
        if default is not None:
            return default
        check.fail(message)
        return None
    try:
        value = int(str(raw).strip())
    except (TypeError, ValueError):
        check.fail(message)
        return None
    if not low <= value <= high:
        check.fail(message)
        return None
    return value


def _pk(raw) -> int | None:
    try:
        return int(raw) if raw not in (None, "") else None
    except (TypeError, ValueError):
        return None


def step_name(index: int, step: dict) -> str:
    label = STEP_TYPES.get(step.get("type"), _("step"))
    return _("Step %(n)s (%(type)s)") % {"n": index + 1, "type": label}


def validate(draft: dict, *, user=None) -> dict:
    """The normalised version, or SpecError listing everything to fix (not only the first problem)."""
    check = _Check(user=user, errors=[])
    draft = draft if isinstance(draft, dict) else {}
    trigger = _check_trigger(draft.get("trigger") or {}, check)
    audience = []
    for index, raw in enumerate((draft.get("audience") or [])[: MAX_AUDIENCE + 1]):
        if index >= MAX_AUDIENCE:
            check.fail(_("Who may enter: at most %(max)s criteria.") % {"max": MAX_AUDIENCE})
            break
        where = _("Who may enter, criterion %(n)s") % {"n": index + 1}
        criterion = check_criterion(raw, where, check)
        if criterion:
            audience.append(criterion)
    steps = _check_steps(draft.get("steps") or [], trigger, check)
    exits = _check_exits(draft.get("exits") or [], check)
    reentry = draft.get("reentry") or "never"
    cooldown = 30
    if reentry not in ("never", "cooldown"):
        check.fail(_("Re-entry: choose “never” or “after a cool-down”."))
    elif reentry == "cooldown":
        cooldown = _int(
            draft.get("cooldown_days"),
            low=1,
            high=MAX_COOLDOWN_DAYS,
            message=_("Re-entry: the cool-down is a whole number of days between 1 and %(max)s.")
            % {"max": MAX_COOLDOWN_DAYS},
            check=check,
        )
    if check.errors:
        raise SpecError(check.errors)
    return {
        "trigger": trigger,
        "audience": audience,
        "steps": steps,
        "exits": exits,
        "reentry": reentry,
        "cooldown_days": cooldown,
    }


def _check_trigger(raw: dict, check: _Check) -> dict:
    kind = raw.get("type") or ""
    if kind not in TRIGGER_TYPES:
        check.fail(_("Trigger: choose what starts the playbook."))
        return {"type": kind}
    clean: dict = {"type": kind}
    if kind == TriggerType.NEW_CONTACT:
        ids = sorted({pk for pk in map(_pk, raw.get("channel_codes") or []) if pk})
        if ids:
            from campaigns.channels.models import ChannelCode

            codes = dict(ChannelCode.objects.filter(pk__in=ids, deleted_at__isnull=True).values_list("pk", "name"))
            if missing := [pk for pk in ids if pk not in codes]:
                check.fail(_("Trigger: channel code %(ids)s no longer exists.") % {"ids": ", ".join(map(str, missing))})
            clean["channel_names"] = [codes[pk] for pk in ids if pk in codes]
        clean["channel_codes"] = ids
    elif kind in (TriggerType.TAG_ADDED, TriggerType.TAG_REMOVED):
        tag = _tag(raw.get("tag"), _("Trigger"), check, settable=False)
        if tag:
            clean |= {"tag": tag.pk, "tag_name": str(tag)}
    elif kind in (TriggerType.SEGMENT_ENTRY, TriggerType.BROADCAST):
        segment = _segment(raw.get("segment"), _("Trigger"), check)
        if segment:
            clean |= {"segment": segment["segment"], "segment_name": segment["name"], "condition": segment["condition"]}
        if kind == TriggerType.SEGMENT_ENTRY:
            clean["include_existing"] = bool(raw.get("include_existing"))
        else:
            clean["at"] = _broadcast_time(raw.get("at"), check)
    elif kind == TriggerType.DATE:
        attribute = raw.get("attribute") or ""
        if attribute not in DATE_ATTRIBUTES:
            check.fail(_("Trigger: choose which date starts the playbook."))
        clean["attribute"] = attribute
        clean["offset_days"] = _int(
            raw.get("offset_days"),
            low=-MAX_OFFSET_DAYS,
            high=MAX_OFFSET_DAYS,
            default=0,
            message=_(
                "Trigger: the number of days before (−) or after (+) the date is a whole number between −%(max)s"
                " and %(max)s."
            )
            % {"max": MAX_OFFSET_DAYS},
            check=check,
        )
        clean["time"] = _time(raw.get("time") or "09:00", _("Trigger"), check)
    return clean


def _broadcast_time(raw, check: _Check) -> str:
    try:
        value = dt.datetime.fromisoformat(str(raw or "").strip())
    except ValueError:
        check.fail(_("Trigger: choose the date and time of the send."))
        return ""
    if timezone.is_naive(value):
        value = timezone.make_aware(value, timezone.get_current_timezone())
    return timezone.localtime(value).replace(second=0, microsecond=0).isoformat()


def broadcast_at(trigger: dict) -> dt.datetime | None:
    try:
        return dt.datetime.fromisoformat(trigger.get("at") or "")
    except ValueError:
        return None


def _time(raw, where: str, check: _Check) -> str:
    raw = str(raw or "").strip()
    if not TIME.match(raw):
        check.fail(_("%(where)s: give the time of day as HH:MM, e.g. 09:30.") % {"where": where})
    return raw


def _tag(raw, where: str, check: _Check, *, settable: bool) -> Tag | None:
    pk = _pk(raw)
    tag = Tag.objects.select_related("group").filter(pk=pk, is_active=True).first() if pk else None
    if tag is None:
        check.fail(_("%(where)s: choose a tag.") % {"where": where})
        return None
    if settable and tag.kind not in (Tag.Kind.EVENT, Tag.Kind.MANUAL):
        check.fail(
            _("%(where)s: “%(tag)s” is a %(kind)s tag, set by its own source; a playbook sets event or manual tags.")
            % {"where": where, "tag": tag, "kind": tag.get_kind_display()}
        )
        return None
    return tag


def _segment(raw, where: str, check: _Check) -> dict | None:
    from tagging.segments.models import Segment
    from tagging.segments.selectors import visible_segments

    pk = _pk(raw)
    segments = visible_segments(check.user) if check.user is not None else Segment.objects.all()
    segment = segments.filter(pk=pk).first() if pk else None
    if segment is None:
        check.fail(_("%(where)s: choose a segment.") % {"where": where})
        return None
    try:
        condition = lang.validate(segment.condition)
    except lang.ConditionError:
        check.fail(
            _("%(where)s: the segment “%(name)s” has conditions that no longer work; fix the segment first.")
            % {"where": where, "name": segment.name}
        )
        return None
    return {"segment": segment.pk, "name": segment.name, "condition": condition}


def check_criterion(raw, where: str, check: _Check) -> dict | None:
    raw = raw if isinstance(raw, dict) else {}
    kind = raw.get("kind") or ""
    if kind not in CRITERION_KINDS:
        check.fail(_("%(where)s: choose a condition.") % {"where": where})
        return None
    if kind in ("has_tag", "lacks_tag"):
        tag = _tag(raw.get("tag"), where, check, settable=False)
        return {"kind": kind, "tag": tag.pk, "name": str(tag)} if tag else None
    if kind in ("in_segment", "not_in_segment"):
        segment = _segment(raw.get("segment"), where, check)
        return {"kind": kind, **segment} if segment else None
    try:
        condition = lang.validate(raw.get("condition") or {}, user=check.user)
    except lang.ConditionError as error:
        for message in error.messages:
            check.fail(f"{where}: {message}")
        return None
    return {"kind": "condition", "condition": condition, "name": raw.get("name") or ""}


def _target(raw, *, index: int, keys: list[str], where: str, check: _Check) -> str:
    raw = (raw or NEXT) if isinstance(raw, str) else NEXT
    if raw in (NEXT, END):
        return raw
    if raw not in keys:
        check.fail(_("%(where)s: the step to go to no longer exists; choose another.") % {"where": where})
        return NEXT
    if keys.index(raw) <= index:
        check.fail(
            _("%(where)s: a step can only lead to a step below it (step %(n)s is above or is this step).")
            % {"where": where, "n": keys.index(raw) + 1}
        )
    return raw


def _check_steps(raw_steps, trigger: dict, check: _Check) -> list[dict]:
    if not isinstance(raw_steps, list) or not raw_steps:
        check.fail(_("Steps: add at least one step."))
        return []
    if len(raw_steps) > MAX_STEPS:
        check.fail(_("Steps: at most %(max)s steps.") % {"max": MAX_STEPS})
        raw_steps = raw_steps[:MAX_STEPS]
    keys = [str((step or {}).get("key") or "") for step in raw_steps]
    if len(set(keys)) != len(keys) or not all(KEY.match(key) for key in keys):
        # Keys come from the builder; a broken list gets fresh ones (targets are then checked against them).
        keys = [f"s{index + 1}" for index in range(len(raw_steps))]
    steps = []
    for index, raw in enumerate(raw_steps):
        raw = raw if isinstance(raw, dict) else {}
        where = step_name(index, raw)
        kind = raw.get("type")
        step: dict = {"key": keys[index], "type": kind}
        if kind == StepType.DELAY:
            days = _int(
                raw.get("days"),
                low=0,
                high=MAX_DELAY_DAYS,
                default=0,
                message=_("%(where)s: days are a whole number from 0 to %(max)s.")
                % {"where": where, "max": MAX_DELAY_DAYS},
                check=check,
            )
            hours = _int(
                raw.get("hours"),
                low=0,
                high=23,
                default=0,
                message=_("%(where)s: hours are a whole number from 0 to 23.") % {"where": where},
                check=check,
            )
            minutes = _int(
                raw.get("minutes"),
                low=0,
                high=59,
                default=0,
                message=_("%(where)s: minutes are a whole number from 0 to 59.") % {"where": where},
                check=check,
            )
            if days == 0 and hours == 0 and minutes == 0:
                check.fail(_("%(where)s: say how long to wait.") % {"where": where})
            step |= {"days": days or 0, "hours": hours or 0, "minutes": minutes or 0}
        elif kind == StepType.WAIT_UNTIL:
            weekdays = sorted({day for day in map(_pk, raw.get("weekdays") or []) if day in WEEKDAYS})
            step |= {"time": _time(raw.get("time"), where, check), "weekdays": weekdays}
        elif kind == StepType.SEND:
            step |= _check_send(raw, where, trigger, check)
        elif kind == StepType.TASK:
            task_kind = raw.get("kind") or ""
            if task_kind not in TASK_KINDS:
                check.fail(_("%(where)s: choose what the operator should do.") % {"where": where})
            title = str(raw.get("title") or "").strip()
            if not title:
                check.fail(_("%(where)s: give the task a title the operator will see.") % {"where": where})
            elif len(title) > TITLE_MAX:
                check.fail(
                    _("%(where)s: the title has at most %(max)s characters.") % {"where": where, "max": TITLE_MAX}
                )
            script = str(raw.get("script") or "").strip()
            if len(script) > SCRIPT_MAX:
                check.fail(
                    _("%(where)s: the script has at most %(max)s characters.") % {"where": where, "max": SCRIPT_MAX}
                )
            due = _int(
                raw.get("due_hours"),
                low=1,
                high=MAX_TASK_HOURS,
                default=24,
                message=_("%(where)s: the task is due after 1 to %(max)s hours.")
                % {"where": where, "max": MAX_TASK_HOURS},
                check=check,
            )
            step |= {"kind": task_kind, "title": title[:TITLE_MAX], "script": script[:SCRIPT_MAX], "due_hours": due}
        elif kind == StepType.TAG:
            action = raw.get("action") or ""
            if action not in ("add", "remove"):
                check.fail(_("%(where)s: choose whether to add or remove the tag.") % {"where": where})
            tag = _tag(raw.get("tag"), where, check, settable=True)
            step |= {"action": action, "tag": tag.pk if tag else None, "tag_name": str(tag) if tag else ""}
        elif kind in (StepType.WAIT_CONDITION, StepType.BRANCH):
            criterion = check_criterion(raw.get("criterion"), where, check)
            step["criterion"] = criterion
            if kind == StepType.WAIT_CONDITION:
                step["timeout_hours"] = _int(
                    raw.get("timeout_hours"),
                    low=1,
                    high=MAX_WAIT_HOURS,
                    message=_("%(where)s: say how many hours to wait at most (1 to %(max)s).")
                    % {"where": where, "max": MAX_WAIT_HOURS},
                    check=check,
                )
                step["on_timeout"] = _target(raw.get("on_timeout"), index=index, keys=keys, where=where, check=check)
            else:
                step["then"] = _target(raw.get("then"), index=index, keys=keys, where=where, check=check)
                step["else"] = _target(raw.get("else"), index=index, keys=keys, where=where, check=check)
        elif kind == StepType.AB_SPLIT:
            step |= _check_split(raw, index=index, keys=keys, where=where, check=check)
        else:
            check.fail(_("%(where)s: choose what this step does.") % {"where": _("Step %(n)s") % {"n": index + 1}})
        if kind in LINEAR_STEPS:
            step["after"] = _target(raw.get("after"), index=index, keys=keys, where=where, check=check)
        steps.append(step)
    splits = [step for step in steps if step.get("type") == StepType.AB_SPLIT]
    if len(splits) > 1:
        check.fail(_("Steps: one A/B split per playbook, so that its arms can be compared."))
    return steps


def _check_send(raw: dict, where: str, trigger: dict, check: _Check) -> dict:
    from campaigns.content.models import ContentItem
    from campaigns.content.selectors import usable_items, usable_version

    pk = _pk(raw.get("content_item"))
    items = ContentItem.objects.all() if check.user is None else usable_items(check.user)
    item = items.select_related("current").filter(pk=pk).first() if pk else None
    if item is None:
        check.fail(_("%(where)s: choose approved content to send.") % {"where": where})
        return {"content_item": pk, "content_title": ""}
    if item.use != ContentItem.Use.MASS:
        check.fail(
            _("%(where)s: “%(title)s” is not content for mass sends; choose content made for mass sends.")
            % {"where": where, "title": item.title}
        )
    elif usable_version(item) is None:
        check.fail(
            _("%(where)s: “%(title)s” has no approved, unexpired version; compliance must approve it first.")
            % {"where": where, "title": item.title}
        )
    return {"content_item": item.pk, "content_title": item.title}


def _check_split(raw: dict, *, index: int, keys: list[str], where: str, check: _Check) -> dict:
    arms_raw = [arm for arm in (raw.get("arms") or []) if isinstance(arm, dict)]
    if not 1 <= len(arms_raw) <= MAX_ARMS:
        check.fail(_("%(where)s: give 1 to %(max)s arms.") % {"where": where, "max": MAX_ARMS})
    arms, names = [], set()
    for number, arm in enumerate(arms_raw[:MAX_ARMS], start=1):
        arm_where = _("%(where)s, arm %(n)s") % {"where": where, "n": number}
        name = str(arm.get("name") or "").strip().upper()
        if not ARM_NAME.match(name) or name == "CONTROL":
            check.fail(_("%(where)s: name the arm with up to 8 letters or digits (A, B …).") % {"where": arm_where})
        elif name in names:
            check.fail(_("%(where)s: two arms are called %(name)s.") % {"where": arm_where, "name": name})
        names.add(name)
        weight = _int(
            arm.get("weight"),
            low=1,
            high=100,
            message=_("%(where)s: the share is a whole percentage from 1 to 100.") % {"where": arm_where},
            check=check,
        )
        goto = _target(arm.get("goto"), index=index, keys=keys, where=arm_where, check=check)
        arms.append({"name": name, "weight": weight or 0, "goto": goto})
    control = _int(
        raw.get("control"),
        low=0,
        high=MAX_CONTROL,
        default=0,
        message=_("%(where)s: the control group is 0 to %(max)s percent.") % {"where": where, "max": MAX_CONTROL},
        check=check,
    )
    if len(arms) == 1 and not control:
        check.fail(_("%(where)s: a split needs a second arm or a control group to compare with.") % {"where": where})
    total = sum(arm["weight"] for arm in arms) + (control or 0)
    if arms and total != 100:
        check.fail(
            _("%(where)s: the arms and the control group add up to %(total)s%%; they must add up to 100%%.")
            % {"where": where, "total": total}
        )
    return {"arms": arms, "control": control or 0}


def _check_exits(raw_exits, check: _Check) -> list[dict]:
    exits, seen = [], set()
    for index, raw in enumerate((raw_exits or [])[:MAX_EXITS]):
        raw = raw if isinstance(raw, dict) else {}
        where = _("Exit rule %(n)s") % {"n": index + 1}
        kind = raw.get("kind") or ""
        if kind not in EXIT_KINDS:
            check.fail(_("%(where)s: choose when a customer leaves.") % {"where": where})
            continue
        if kind != "criterion" and kind in seen:
            check.fail(_("%(where)s: this rule is already listed.") % {"where": where})
            continue
        seen.add(kind)
        if kind == "converted":
            category = raw.get("category") or ""
            if category and category not in ProductCategory.values:
                check.fail(_("%(where)s: choose a product category from the list.") % {"where": where})
            exits.append({"kind": kind, "category": category})
        elif kind == "criterion":
            criterion = check_criterion(raw.get("criterion"), where, check)
            if criterion:
                exits.append({"kind": kind, "criterion": criterion})
        else:
            exits.append({"kind": kind})
    return exits


# --- reading a validated version --------------------------------------------------------------------------------


def criterion_q(criterion: dict, *, today: dt.date | None = None) -> Q:
    """One Q over Customer for a validated criterion (never NULL: negation is the exact complement)."""
    kind = criterion["kind"]
    if kind in ("has_tag", "lacks_tag"):
        q = lang.compile_q({"match": "all", "rules": [{"field": "tag", "op": "has_any", "value": [criterion["tag"]]}]})
        return q if kind == "has_tag" else ~q
    q = lang.compile_q(criterion["condition"], today=today)
    return ~q if kind == "not_in_segment" else q


def audience_q(audience: list[dict], *, today: dt.date | None = None) -> Q:
    q = Q()
    for criterion in audience:
        q &= criterion_q(criterion, today=today)
    return q


def next_key(steps: list[dict], key: str) -> str | None:
    """The key of the step after `key` in list order; None after the last step."""
    keys = [step["key"] for step in steps]
    position = keys.index(key)
    return keys[position + 1] if position + 1 < len(keys) else None


def resolve(steps: list[dict], current: str, target: str) -> str | None:
    """Where a target leads from the step `current`: a step key, or None for the end of the journey."""
    if target == END:
        return None
    if target == NEXT:
        return next_key(steps, current)
    return target


def is_direct_broadcast(version_spec: dict) -> bool:
    """A broadcast whose only step is one send: the engine plans every member in one go (no enrolments)."""
    steps = version_spec.get("steps") or []
    return (
        (version_spec.get("trigger") or {}).get("type") == TriggerType.BROADCAST
        and len(steps) == 1
        and steps[0].get("type") == StepType.SEND
    )


def new_step_key(steps: list[dict]) -> str:
    used = {int(step["key"][1:]) for step in steps if KEY.match(str(step.get("key") or ""))}
    return f"s{max(used, default=0) + 1}"
