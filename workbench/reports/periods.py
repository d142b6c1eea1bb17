"""Report periods: ranges of closed days (China time), as the period filter and the scheduled reports name them.

Facts exist only for days that have closed, so "the last 7 days" ends yesterday; a week runs Monday to Sunday and
a month from its first day to its last.
"""

from dataclasses import dataclass
from datetime import date, datetime, timedelta

from django.utils import timezone
from django.utils.translation import gettext_lazy as _

CHOICES = [
    ("7d", _("Last 7 days")),
    ("30d", _("Last 30 days")),
    ("90d", _("Last 90 days")),
    ("this_month", _("This month")),
    ("last_month", _("Last month")),
    ("custom", _("Custom")),
]
DEFAULT = "30d"
MAX_DAYS = 366


@dataclass(frozen=True)
class Period:
    key: str
    start: date
    end: date

    @property
    def days(self) -> int:
        return (self.end - self.start).days + 1

    @property
    def label(self) -> str:
        return f"{self.start:%Y-%m-%d} – {self.end:%Y-%m-%d}"

    def as_params(self) -> dict:
        """Query parameters that name exactly this range (links in reports and drill-downs)."""
        if self.key == "custom":
            return {"period": "custom", "start": self.start.isoformat(), "end": self.end.isoformat()}
        return {"period": self.key}


def local_today(now: datetime | None = None) -> date:
    return timezone.localdate(now or timezone.now())


def _parse(value) -> date | None:
    try:
        return date.fromisoformat(str(value))
    except (TypeError, ValueError):
        return None


def period_from(params, *, today: date | None = None) -> Period:
    """The period a request asks for; anything unreadable falls back to the last 30 days."""
    today = today or local_today()
    yesterday = today - timedelta(days=1)
    key = params.get("period") or DEFAULT
    if key in ("7d", "30d", "90d"):
        return Period(key, yesterday - timedelta(days=int(key[:-1]) - 1), yesterday)
    if key == "this_month":
        first = today.replace(day=1)
        return Period(key, first, max(first, yesterday))
    if key == "last_month":
        return last_month(today)
    if key == "custom":
        start, end = _parse(params.get("start")), _parse(params.get("end"))
        if start and end:
            start, end = min(start, end), max(start, end)
            return Period(key, max(start, end - timedelta(days=MAX_DAYS - 1)), end)
    return period_from({"period": DEFAULT}, today=today)


def last_week(today: date) -> Period:
    """The last Monday–Sunday week that has closed."""
    this_monday = today - timedelta(days=today.weekday())
    return Period("custom", this_monday - timedelta(days=7), this_monday - timedelta(days=1))


def last_month(today: date) -> Period:
    last_day = today.replace(day=1) - timedelta(days=1)
    return Period("last_month", last_day.replace(day=1), last_day)
