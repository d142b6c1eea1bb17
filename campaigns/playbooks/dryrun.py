"""Dry run: for a sample of real customers in the user's scope, what each would receive and when.

Nothing is written: the whole run happens inside a transaction that is rolled back, whatever the contact policy
or the content renderer might write. The journey is simulated from the moment the trigger would fire for each
customer (their next pay day, birthday, maturity; the broadcast time; now for the others), with today's data for
conditions (a condition not met today is shown as timing out) and the sticky A/B arm the customer would draw.
"""

import datetime as dt
import random
from dataclasses import dataclass, field

from django.db import transaction
from django.db.models import Max, Min
from django.utils import timezone
from django.utils.translation import gettext as _

from campaigns.playbooks import engine, schedule, spec
from campaigns.playbooks.spec import StepType, TriggerType
from tagging.models import Customer, ProductHolding
from tagging.segments import conditions as lang
from workbench.org.scope import visible_customers

SAMPLE_MAX = 50


@dataclass
class Event:
    at: dt.datetime | None
    kind: str  # send, task, tag, wait, branch, arm, exit, end
    text: str
    detail: str = ""


@dataclass
class Journey:
    customer: Customer
    entry_at: dt.datetime
    events: list[Event] = field(default_factory=list)


@dataclass
class DryRun:
    journeys: list[Journey]
    candidates_note: str = ""
    not_found: list[str] = field(default_factory=list)


def dry_run(clean: dict, *, playbook_id: int, priority: int, user, sample: int = 10, numbers=(), now=None) -> DryRun:
    """`clean` is a validated version (spec.validate). `numbers`: customer numbers to use instead of a sample."""
    now = now or timezone.now()
    with transaction.atomic():
        result = _run(
            clean, playbook_id=playbook_id, priority=priority, user=user, sample=sample, numbers=numbers, now=now
        )
        transaction.set_rollback(True)
    return result


def _run(clean, *, playbook_id, priority, user, sample, numbers, now) -> DryRun:
    customers = visible_customers(user).select_related("owner__branch")
    not_found: list[str] = []
    if numbers:
        found = {c.customer_no: c for c in customers.filter(customer_no__in=list(numbers))}
        not_found = [number for number in numbers if number not in found]
        chosen = [found[number] for number in numbers if number in found][:SAMPLE_MAX]
    else:
        candidates = customers.filter(spec.audience_q(clean["audience"]), _trigger_q(clean["trigger"]))
        chosen = _sample(candidates, min(max(sample, 1), SAMPLE_MAX))
    journeys = [_journey(clean, customer, playbook_id=playbook_id, priority=priority, now=now) for customer in chosen]
    return DryRun(journeys=journeys, not_found=not_found)


def _trigger_q(trigger: dict):
    from django.db.models import Q

    kind = trigger["type"]
    if kind in (TriggerType.SEGMENT_ENTRY, TriggerType.BROADCAST):
        return lang.compile_q(trigger["condition"])
    if kind == TriggerType.DATE:
        attribute = trigger["attribute"]
        if attribute == "payday":
            return Q(payday__isnull=False)
        if attribute == "birthday":
            return Q(birth_date__isnull=False)
        if attribute == "maturity":
            return Q(
                pk__in=ProductHolding.objects.filter(maturity_date__gte=timezone.localdate()).values("customer_id")
            )
        return ~Q(payroll_employer="")
    if kind == TriggerType.TAG_REMOVED:
        return Q(tags__tag_id=trigger["tag"])
    if kind == TriggerType.TAG_ADDED:
        return ~Q(tags__tag_id=trigger["tag"])
    if kind == TriggerType.NEW_CONTACT:
        return Q(external_userid__isnull=False)
    return Q()


def _sample(candidates, n: int) -> list[Customer]:
    """n customers from a random point of the id range (cheap on an index, unlike ORDER BY random())."""
    bounds = Customer.objects.aggregate(lo=Min("pk"), hi=Max("pk"))
    if bounds["lo"] is None:
        return []
    pivot = random.randint(bounds["lo"], bounds["hi"])  # noqa: S311 - a sample, not a secret
    chosen = list(candidates.filter(pk__gte=pivot).order_by("pk")[:n])
    if len(chosen) < n:
        chosen += list(candidates.filter(pk__lt=pivot).order_by("pk")[: n - len(chosen)])
    return chosen


def entry_time(trigger: dict, customer: Customer, now: dt.datetime) -> dt.datetime:
    """When the trigger would next fire for this customer."""
    kind = trigger["type"]
    if kind == TriggerType.BROADCAST:
        return max(spec.broadcast_at(trigger) or now, now)
    if kind != TriggerType.DATE:
        return now
    offset = dt.timedelta(days=trigger.get("offset_days", 0))
    today = timezone.localdate(now)
    attribute = trigger["attribute"]
    day = None
    if attribute == "payday" and customer.payday:
        day = schedule.next_payday(customer.payday, today - offset) + offset
    elif attribute == "birthday" and customer.birth_date:
        day = schedule.next_birthday(customer.birth_date, today - offset) + offset
    elif attribute == "maturity":
        maturity = (
            ProductHolding.objects.filter(customer=customer, maturity_date__gte=today - offset)
            .order_by("maturity_date")
            .values_list("maturity_date", flat=True)
            .first()
        )
        day = maturity + offset if maturity else None
    elif attribute == "payroll_credit":
        day = today + offset
    if day is None:
        return now
    return max(now, schedule.at_local(day, trigger["time"]))


def _met(criterion: dict, customer: Customer) -> bool:
    return Customer.objects.filter(spec.criterion_q(criterion), pk=customer.pk).exists()


def _exit_now(clean: dict, customer: Customer, *, at, priority) -> str | None:
    from tagging.models import FollowRelationship

    for rule in clean["exits"]:
        if rule["kind"] == "criterion" and _met(rule["criterion"], customer):
            return _("meets the exit condition")
        if (
            rule["kind"] == "dnd"
            and engine.available()
            and engine.quiet_customers([customer.pk], at=at, priority=priority)
        ):
            return _("asked not to be disturbed")
        if (
            rule["kind"] == "unfollowed"
            and not FollowRelationship.objects.filter(customer=customer, deleted_at__isnull=True).exists()
        ):
            return _("is no WeCom contact of any operator")
    return None


def _preview(step: dict, customer: Customer) -> tuple[str, str]:
    """The content's title and its text as this customer's operator would send it (no link is created)."""
    from campaigns.content import variables
    from campaigns.content.models import ContentItem
    from campaigns.content.selectors import usable_version

    item = ContentItem.objects.select_related("current").filter(pk=step["content_item"]).first()
    version = usable_version(item) if item is not None else None
    if version is None:
        return step.get("content_title", ""), _("(no approved, unexpired version: nothing would be sent)")
    text = variables.fill(version.text, variables.sender_values(customer.owner))
    return item.title, text[:300]


def _policy_note(customer: Customer, at: dt.datetime, priority: int) -> str:
    if not engine.available():
        return ""
    verdict = engine.policy_check([customer.pk], at=at, priority=priority)
    if customer.pk in verdict.suppressed:
        return _("the contact policy would suppress it (%(reason)s)") % {"reason": verdict.suppressed[customer.pk]}
    if customer.pk in verdict.deferred:
        when = timezone.localtime(verdict.deferred[customer.pk])
        return _("the contact policy would defer it to %(when)s") % {"when": when.strftime("%Y-%m-%d %H:%M")}
    return ""


def _journey(clean: dict, customer: Customer, *, playbook_id: int, priority: int, now: dt.datetime) -> Journey:
    at = entry_time(clean["trigger"], customer, now)
    journey = Journey(customer=customer, entry_at=at)
    reason = _exit_now(clean, customer, at=at, priority=priority)
    if reason:
        journey.events.append(Event(at, "exit", _("Would leave at once: %(reason)s.") % {"reason": reason}))
        return journey
    steps = clean["steps"]
    key = steps[0]["key"] if steps else None
    owner = customer.owner.name if customer.owner_id else _("(no owner)")
    while key is not None:
        step = next(s for s in steps if s["key"] == key)
        kind, target = step["type"], step.get("after", spec.NEXT)
        if kind in (StepType.DELAY, StepType.WAIT_UNTIL):
            at = schedule.step_until(step, at)
            journey.events.append(Event(at, "wait", _("waits until then")))
        elif kind == StepType.SEND:
            title, text = _preview(step, customer)
            journey.events.append(
                Event(at, "send", _("receives “%(title)s” from %(owner)s") % {"title": title, "owner": owner}, text)
            )
            note = _policy_note(customer, at, priority)
            if note:
                journey.events[-1].detail = f"{note} · {text}"
        elif kind == StepType.TASK:
            due = at + dt.timedelta(hours=step["due_hours"])
            journey.events.append(
                Event(
                    at,
                    "task",
                    _("%(owner)s gets a task: %(title)s (%(kind)s), due %(due)s")
                    % {
                        "owner": owner,
                        "title": step["title"],
                        "kind": spec.TASK_KINDS.get(step["kind"], step["kind"]),
                        "due": timezone.localtime(due).strftime("%m-%d %H:%M"),
                    },
                    step.get("script", ""),
                )
            )
        elif kind == StepType.TAG:
            text = _("tag “%(tag)s” added") if step["action"] == "add" else _("tag “%(tag)s” removed")
            journey.events.append(Event(at, "tag", text % {"tag": step.get("tag_name", "")}))
        elif kind == StepType.WAIT_CONDITION:
            if _met(step["criterion"], customer):
                journey.events.append(Event(at, "branch", _("the condition holds today: goes on at once")))
            else:
                at = at + dt.timedelta(hours=step["timeout_hours"])
                target = step["on_timeout"]
                journey.events.append(
                    Event(at, "wait", _("the condition does not hold today: waits until the time limit"))
                )
        elif kind == StepType.BRANCH:
            met = _met(step["criterion"], customer)
            target = step["then"] if met else step["else"]
            journey.events.append(
                Event(
                    at,
                    "branch",
                    _("the condition holds: takes “then”") if met else _("the condition does not hold: takes “else”"),
                )
            )
        elif kind == StepType.AB_SPLIT:
            arm = schedule.arm_for(step, playbook_id, customer.pk)
            if arm is None:
                journey.events.append(Event(at, "arm", _("is in the control group: receives nothing more")))
                return journey
            target = arm["goto"]
            journey.events.append(Event(at, "arm", _("is in arm %(arm)s") % {"arm": arm["name"]}))
        key = spec.resolve(steps, key, target)
    journey.events.append(Event(at, "end", _("journey complete")))
    return journey
