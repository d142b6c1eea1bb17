"""When things happen, in the bank's local time (settings.TIME_ZONE): delays, times of day, date triggers."""

import calendar
import datetime as dt
import hashlib

from django.utils import timezone

# How often a "wait for a condition" step looks again before its time limit.
CONDITION_CHECK_EVERY = dt.timedelta(minutes=15)


def local(value: dt.datetime) -> dt.datetime:
    return timezone.localtime(value)


def at_local(day: dt.date, hhmm: str) -> dt.datetime:
    hour, minute = (int(part) for part in hhmm.split(":"))
    return timezone.make_aware(dt.datetime.combine(day, dt.time(hour, minute)), timezone.get_current_timezone())


def delay_until(step: dict, start: dt.datetime) -> dt.datetime:
    return start + dt.timedelta(days=step.get("days", 0), hours=step.get("hours", 0), minutes=step.get("minutes", 0))


def next_time_of_day(hhmm: str, after: dt.datetime, weekdays: list[int] | None = None) -> dt.datetime:
    """The first moment at or after `after` that is `hhmm` local time on one of the ISO weekdays (all if empty)."""
    day = local(after).date()
    for offset in range(0, 8):
        candidate_day = day + dt.timedelta(days=offset)
        if weekdays and candidate_day.isoweekday() not in weekdays:
            continue
        candidate = at_local(candidate_day, hhmm)
        if candidate >= after:
            return candidate
    return at_local(day + dt.timedelta(days=8), hhmm)  # pragma: no cover - eight days always hold a match


def step_until(step: dict, start: dt.datetime) -> dt.datetime:
    """The end of a timed step entered at `start`."""
    kind = step["type"]
    if kind == "delay":
        return delay_until(step, start)
    if kind == "wait_until":
        return next_time_of_day(step["time"], start, step.get("weekdays"))
    return start + dt.timedelta(hours=step["timeout_hours"])  # wait_condition: its time limit


def payday_values(day: dt.date) -> list[int]:
    """The pay-day values paid on `day`: on a month's last day the later days of longer months (29–31) too."""
    last = calendar.monthrange(day.year, day.month)[1]
    return list(range(day.day, 32)) if day.day == last else [day.day]


def birthday_pairs(day: dt.date) -> list[tuple[int, int]]:
    """(month, day) of birthdays celebrated on `day`; 29 February is celebrated on 28 February in common years."""
    pairs = [(day.month, day.day)]
    if day.month == 2 and day.day == 28 and not calendar.isleap(day.year):
        pairs.append((2, 29))
    return pairs


def next_payday(payday: int, after: dt.date) -> dt.date:
    """The first date on or after `after` on which pay day `payday` is paid."""
    for offset in range(0, 62):
        day = after + dt.timedelta(days=offset)
        if payday in payday_values(day):
            return day
    return after  # pragma: no cover


def next_birthday(birth: dt.date, after: dt.date) -> dt.date:
    for year in (after.year, after.year + 1):
        day = 28 if birth.month == 2 and birth.day == 29 and not calendar.isleap(year) else birth.day
        candidate = dt.date(year, birth.month, day)
        if candidate >= after:
            return candidate
    return after  # pragma: no cover


def bucket(playbook_id: int, customer_id: int) -> int:
    """0–99, the same for a customer in a playbook on every version and every entry (sticky A/B arms)."""
    digest = hashlib.sha256(f"playbook:{playbook_id}:customer:{customer_id}".encode()).digest()
    return int.from_bytes(digest[:8], "big") % 100


def arm_for(step: dict, playbook_id: int, customer_id: int) -> dict | None:
    """The arm of an A/B split a customer is in; None for the control group (the first `control` buckets)."""
    value = bucket(playbook_id, customer_id)
    if value < step.get("control", 0):
        return None
    value -= step.get("control", 0)
    for arm in step["arms"]:
        if value < arm["weight"]:
            return arm
        value -= arm["weight"]
    return step["arms"][-1]  # pragma: no cover - the weights add up to 100 - control
