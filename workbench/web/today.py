"""The operator's day at a glance (the home page of an operator): reads only, each section bounded.

Sections, each a short list (`ROWS` at most) plus an exact count, so the page costs the same for an operator with
20 customers or 2,000 (tests/home/test_queries.py holds the query budget):

- tasks due today or overdue (the operator's own `OperatorTask`s, not the "confirm a mass send" ones: those are
  the next section);
- mass sends waiting for the operator's confirmation in the WeCom client (`SendTask` submitted, sender = them);
- customers needing attention, among the customers the operator looks after (owned or followed now, within the
  viewer's data scope): new today, silent for `HOME_SILENT_DAYS`, salary credited today or yesterday, birthday
  today or in the next six days, a product maturing within `MATURING_DAYS`;
- the WeCom reminders the operator got today (task reminder cards, WeCom's own mass-send reminders).

"Silent" (docs/operator-home.md): no touch from us — a mass message delivered, an operator task done, a 1:1 message
from the sidebar — and no sign of life from them — a transaction (`last_transaction_date`), a product purchase, a
payroll credit — in the last N days, and they have been the operator's WeCom contact for at least N days.
"""

from dataclasses import dataclass
from datetime import date, datetime, timedelta

from django.conf import settings
from django.db.models import Exists, OuterRef, Q, QuerySet
from django.urls import reverse
from django.utils import timezone

from campaigns.delivery.models import ChatMessage, Delivery, OperatorTask, SendTask
from campaigns.delivery.policy import end_of_day
from integrations.bank.models import PayrollCredit, ProductPurchase
from tagging.models import Customer, FollowRelationship, ProductHolding
from workbench.org.models import Operator
from workbench.org.roles import Scope
from workbench.org.scope import viewer_for, visible_customers

ROWS = 8  # rows shown per section; the count says how many there are in all
MATURING_DAYS = 7
BIRTHDAY_DAYS = 7  # today and the six days after it


@dataclass
class Section:
    rows: list
    count: int

    @property
    def more(self) -> int:
        return max(0, self.count - len(self.rows))


@dataclass
class Reminder:
    at: datetime
    kind: str  # "tasks" (a task reminder card) or "mass_send" (WeCom's own reminder of an unconfirmed mass send)
    text: str
    url: str


@dataclass
class Today:
    operator: Operator
    now: datetime
    tasks: Section
    overdue: int
    mass_sends: Section
    new_today: Section
    silent: Section
    salary: Section
    birthdays: Section
    maturing: Section
    reminders: list[Reminder]
    silent_days: int

    @property
    def date(self) -> date:
        """Today in the bank's time zone (not the UTC date of `now`)."""
        return timezone.localtime(self.now).date()

    @property
    def postpone_to(self) -> datetime:
        """The one-click postpone: tomorrow at nine."""
        return start_of_day(self.now) + timedelta(days=1, hours=9)

    @property
    def attention_count(self) -> int:
        return sum(s.count for s in (self.new_today, self.silent, self.salary, self.birthdays, self.maturing))


def _section(queryset: QuerySet, limit: int = ROWS) -> Section:
    rows = list(queryset[:limit])
    count = len(rows) if len(rows) < limit else queryset.order_by().count()
    return Section(rows, count)


def start_of_day(now: datetime) -> datetime:
    return end_of_day(now) - timedelta(days=1)


def my_customers(user, operator: Operator) -> QuerySet[Customer]:
    """The customers this operator looks after (owned, or followed in WeCom now), within the viewer's scope."""
    customers = visible_customers(user)
    if viewer_for(user).scope == Scope.SELF:
        return customers  # the self scope is exactly that set
    owned = Customer.objects.filter(owner=operator).values("pk")
    followed = FollowRelationship.objects.filter(operator=operator, deleted_at__isnull=True).values("customer_id")
    return customers.filter(pk__in=owned.union(followed))


def due_tasks(operator: Operator, now: datetime) -> QuerySet[OperatorTask]:
    return (
        OperatorTask.objects.filter(operator=operator, status__in=OperatorTask.PENDING, due_at__lt=end_of_day(now))
        .exclude(kind=OperatorTask.Kind.CONFIRM_SEND)
        .select_related("customer")
        .order_by("due_at", "pk")
    )


def waiting_mass_sends(operator: Operator, now: datetime) -> QuerySet[SendTask]:
    return (
        SendTask.objects.filter(sender=operator, status=SendTask.Status.SUBMITTED, deadline_at__gt=now)
        .select_related("content_version__item")
        .order_by("deadline_at", "pk")
    )


def new_today(customers: QuerySet[Customer], operator: Operator, now: datetime) -> QuerySet[FollowRelationship]:
    return (
        FollowRelationship.objects.filter(
            operator=operator,
            deleted_at__isnull=True,
            added_at__gte=start_of_day(now),
            customer__in=customers.values("pk"),
        )
        .select_related("customer")
        .order_by("-added_at", "-pk")
    )


def silent_customers(customers: QuerySet[Customer], operator: Operator, now: datetime, days: int) -> QuerySet[Customer]:
    """See the module docstring; most valuable first (AUM), since those are the ones to call."""
    since = now - timedelta(days=days)
    since_day = timezone.localtime(since).date()
    customer = OuterRef("pk")
    return (
        customers.filter(
            Exists(
                FollowRelationship.objects.filter(
                    customer=customer, operator=operator, deleted_at__isnull=True, added_at__lt=since
                )
            )
        )
        .exclude(last_transaction_date__gte=since_day)
        .exclude(
            Exists(Delivery.objects.filter(customer=customer, status=Delivery.Status.DELIVERED, due_at__gte=since))
        )
        .exclude(
            Exists(OperatorTask.objects.filter(customer=customer, status=OperatorTask.Status.DONE, done_at__gte=since))
        )
        .exclude(Exists(ChatMessage.objects.filter(customer=customer, sent_at__gte=since)))
        .exclude(Exists(ProductPurchase.objects.filter(customer=customer, purchased_at__gte=since)))
        .exclude(Exists(PayrollCredit.objects.filter(customer=customer, credit_date__gte=since_day)))
        .order_by("-aum", "pk")
    )


def salary_arrived(customers: QuerySet[Customer], today: date) -> QuerySet[PayrollCredit]:
    return (
        PayrollCredit.objects.filter(
            credit_date__gte=today - timedelta(days=1),
            credit_date__lte=today,
            customer__in=customers.values("pk"),
        )
        .select_related("customer")
        .order_by("-credit_date", "-amount", "pk")
    )


def birthdays(customers: QuerySet[Customer], today: date) -> QuerySet[Customer]:
    """Birthday today or in the next six days (a 29 February birthday counts on 28 February in other years)."""
    match = Q()
    for offset in range(BIRTHDAY_DAYS):
        day = today + timedelta(days=offset)
        match |= Q(birth_date__month=day.month, birth_date__day=day.day)
        if day.month == 2 and day.day == 28 and not _leap(day.year):
            match |= Q(birth_date__month=2, birth_date__day=29)
    return customers.filter(birth_date__isnull=False).filter(match).order_by("pk")


def _leap(year: int) -> bool:
    return year % 4 == 0 and (year % 100 != 0 or year % 400 == 0)


def next_birthday(birth: date, today: date) -> date:
    for offset in range(366):
        day = today + timedelta(days=offset)
        if (day.month, day.day) == (birth.month, birth.day) or (
            (birth.month, birth.day) == (2, 29) and (day.month, day.day) == (2, 28) and not _leap(day.year)
        ):
            return day
    return today  # pragma: no cover - every date recurs within a year


def _birthday_section(customers: QuerySet[Customer], today: date) -> Section:
    """(customer, birthday) soonest first. A week of birthdays is a few dozen of 2,000 customers: sorted here."""
    found = list(birthdays(customers, today)[:500])
    rows = sorted(((customer, next_birthday(customer.birth_date, today)) for customer in found), key=lambda r: r[1])
    return Section(rows[:ROWS], len(found) if len(found) < 500 else birthdays(customers, today).count())


def maturing(customers: QuerySet[Customer], today: date) -> QuerySet[ProductHolding]:
    return (
        ProductHolding.objects.filter(
            maturity_date__gte=today,
            maturity_date__lte=today + timedelta(days=MATURING_DAYS),
            customer__in=customers.values("pk"),
        )
        .select_related("customer", "product")
        .order_by("maturity_date", "-amount", "pk")
    )


def reminders_today(operator: Operator, now: datetime) -> list[Reminder]:
    """What WeCom brought the operator today: task reminder cards (one per round, its tasks share the time) and
    WeCom's own reminders of mass sends not yet confirmed (timestamps kept on the send task)."""
    from django.utils.translation import gettext as _

    start = start_of_day(now)
    reminders: list[Reminder] = []
    rounds: dict[datetime, int] = {}
    for at in (
        OperatorTask.objects.filter(operator=operator, last_reminded_at__gte=start)
        .order_by()
        .values_list("last_reminded_at", flat=True)[:500]
    ):
        rounds[at] = rounds.get(at, 0) + 1
    for at, n in rounds.items():
        text = _("Reminder of %(n)s tasks due") % {"n": n}
        reminders.append(Reminder(at, "tasks", text, reverse("delivery:tasks-today")))
    for task in (
        SendTask.objects.filter(sender=operator, status__in=SendTask.OPEN, submitted_at__gte=start - timedelta(days=1))
        .exclude(reminders=[])
        .select_related("content_version__item")
        .order_by("-submitted_at")[:50]
    ):
        for stamp in task.reminders:
            at = datetime.fromtimestamp(stamp, tz=timezone.get_current_timezone())
            if at >= start:
                text = _("WeCom reminded you to confirm “%(title)s” (%(n)s customers)") % {
                    "title": task.content_version.item.title,
                    "n": task.accepted,
                }
                url = reverse("delivery:source", args=[task.source_kind, task.source_id])
                reminders.append(Reminder(at, "mass_send", text, url))
    reminders.sort(key=lambda reminder: reminder.at, reverse=True)
    return reminders[:ROWS]


def operator_today(user, operator: Operator, *, now: datetime | None = None, attention: bool = True) -> Today:
    """The whole day for an operator; with `attention=False` (a lead or manager who also has tasks of their own)
    only their tasks and mass sends, the customer lists and reminders left empty and not queried."""
    now = now or timezone.now()
    today = timezone.localtime(now).date()
    days = settings.HOME_SILENT_DAYS
    tasks = due_tasks(operator, now)
    overdue = tasks.filter(due_at__lt=now).order_by().count()
    day = Today(
        operator=operator,
        now=now,
        tasks=_section(tasks, 20),
        overdue=overdue,
        mass_sends=_section(waiting_mass_sends(operator, now)),
        new_today=Section([], 0),
        silent=Section([], 0),
        salary=Section([], 0),
        birthdays=Section([], 0),
        maturing=Section([], 0),
        reminders=[],
        silent_days=days,
    )
    if attention:
        customers = my_customers(user, operator)
        day.new_today = _section(new_today(customers, operator, now))
        day.silent = _section(silent_customers(customers, operator, now, days))
        day.salary = _section(salary_arrived(customers, today))
        day.birthdays = _birthday_section(customers, today)
        day.maturing = _section(maturing(customers, today))
        day.reminders = reminders_today(operator, now)
    return day
