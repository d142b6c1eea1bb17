"""The condition language of rule tags and segments: stored as JSON, validated, compiled to SQL.

A condition is a tree. A group matches all, any or none of its rules; a rule compares one field:

    {"match": "all", "rules": [
        {"field": "occupation_group", "op": "in", "value": ["retiree"]},
        {"field": "aum", "op": "gte", "value": "100000"},
        {"match": "none", "rules": [{"field": "tag", "op": "has_any", "value": [12]}]}
    ]}

`validate(condition, user=None)` returns the normalised tree or raises `ConditionError` whose messages name the
row in the builder's numbering ("condition 2.1"), in words a head-office user understands. `compile_q(condition)`
turns a validated tree into one `Q` over `Customer` (subqueries for tags, products and behaviour), the same SQL
the rule evaluation runs in chunks and the bitmap evaluation falls back to for what bitmaps cannot answer.

Relative dates are resolved against `today` (the bank's local date) by the `resolve_*` helpers, which the bitmap
evaluation uses too, so the two always agree on what "within 30 days" means.

Behaviour counts read a registry of sources (`BEHAVIOUR_SOURCES`); later issues register theirs with
`register_behaviour_source` (messages received, links clicked, tasks done).
"""

import calendar
import datetime as dt
from collections.abc import Callable, Iterable
from dataclasses import dataclass, field
from decimal import Decimal, InvalidOperation

from django.core.exceptions import ValidationError
from django.db.models import Count, Q, QuerySet
from django.utils import timezone
from django.utils.functional import Promise, lazy
from django.utils.translation import gettext as _
from django.utils.translation import gettext_lazy

from tagging.models import (
    Customer,
    CustomerEvent,
    CustomerTag,
    FollowRelationship,
    OccupationGroup,
    ProductCategory,
    ProductHolding,
    RiskLevel,
    Tag,
    TagChange,
)
from workbench.org.models import Branch, Operator

MAX_DEPTH = 4  # groups nested in groups
MAX_ROWS = 60
MAX_AUM = Decimal("1000000000000")
MAX_DAYS = 3650  # ten years: the widest date window
MATCHES = ("all", "any", "none")

# --- value kinds: what the builder shows for an operator, and how the value is checked ------------------------

NUMBER = "number"  # one number
NUMBER_RANGE = "number_range"  # [from, to]
DAYS = "days"  # a whole number of days
DATE = "date"  # YYYY-MM-DD
CHOICES = "choices"  # a non-empty list of fixed choices
TAGS = "tags"  # a non-empty list of tag ids
BRANCHES = "branches"  # a non-empty list of branch ids (subtrees)
OPERATORS = "operators"  # a non-empty list of operator ids
PRODUCT = "product"  # {"category": str|"", "min_amount": str|"", "maturity_within_days": int|None}
BEHAVIOUR = "behaviour"  # {"source": str, "days": int, "count": int, "tag": int|None}
NONE = "none"  # no value


@dataclass(frozen=True)
class Op:
    key: str
    label: Promise
    value: str
    # For DAYS and NUMBER: the allowed range; for DAYS the unit shown is always days.
    min: int | None = None
    max: int | None = None
    unit: Promise | None = None


@dataclass(frozen=True)
class Field:
    key: str
    label: Promise
    category: Promise
    ops: tuple[Op, ...]
    # Fixed choices for CHOICES operators: (value, label) pairs.
    choices: tuple[tuple[object, Promise], ...] = ()
    unit: Promise | None = None

    def op(self, key: str) -> Op | None:
        return next((op for op in self.ops if op.key == key), None)


_ATTRIBUTE = gettext_lazy("Customer attributes")
_DATES = gettext_lazy("Dates")
_ORG = gettext_lazy("Organisation")
_TAGS = gettext_lazy("Tags")
_PRODUCTS = gettext_lazy("Products")
_BEHAVIOUR = gettext_lazy("Behaviour")

_YUAN = gettext_lazy("yuan")
_YEARS = gettext_lazy("years")
_DAYS_UNIT = gettext_lazy("days")


def _date_ops(*, nullable: bool) -> tuple[Op, ...]:
    ops = (
        Op("within_days", gettext_lazy("within the last … days"), DAYS, 0, MAX_DAYS, _DAYS_UNIT),
        Op("before_days", gettext_lazy("more than … days ago"), DAYS, 0, MAX_DAYS, _DAYS_UNIT),
        Op("on_or_after", gettext_lazy("on or after"), DATE),
        Op("before", gettext_lazy("before"), DATE),
    )
    if nullable:
        ops += (Op("is_empty", gettext_lazy("is not recorded"), NONE),)
    return ops


FIELDS: dict[str, Field] = {
    f.key: f
    for f in (
        Field(
            "aum",
            gettext_lazy("AUM (yuan)"),
            _ATTRIBUTE,
            (
                Op("gte", gettext_lazy("at least"), NUMBER, unit=_YUAN),
                Op("lte", gettext_lazy("at most"), NUMBER, unit=_YUAN),
                Op("between", gettext_lazy("between"), NUMBER_RANGE, unit=_YUAN),
            ),
        ),
        Field(
            "occupation_group",
            gettext_lazy("Occupation group"),
            _ATTRIBUTE,
            (Op("in", gettext_lazy("is any of"), CHOICES), Op("not_in", gettext_lazy("is none of"), CHOICES)),
            choices=tuple(OccupationGroup.choices),
        ),
        Field(
            "payroll",
            gettext_lazy("Payroll customer (代发)"),
            _ATTRIBUTE,
            (Op("is_set", gettext_lazy("yes: has a payroll employer"), NONE), Op("is_empty", gettext_lazy("no"), NONE)),
        ),
        Field(
            "payday",
            gettext_lazy("Pay day"),
            _ATTRIBUTE,
            (
                Op("in_days", gettext_lazy("is in … days (0 today, 1 tomorrow)"), DAYS, 0, 31, _DAYS_UNIT),
                Op("in", gettext_lazy("is any of"), CHOICES),
                Op("is_empty", gettext_lazy("is not recorded"), NONE),
            ),
            choices=tuple((day, str(day)) for day in range(1, 32)),
        ),
        Field(
            "risk_level",
            gettext_lazy("Risk level"),
            _ATTRIBUTE,
            (
                Op("in", gettext_lazy("is any of"), CHOICES),
                Op("not_in", gettext_lazy("is none of"), CHOICES),
                Op("is_empty", gettext_lazy("is not assessed"), NONE),
            ),
            choices=tuple(RiskLevel.choices),
        ),
        Field(
            "gender",
            gettext_lazy("Gender"),
            _ATTRIBUTE,
            (Op("in", gettext_lazy("is any of"), CHOICES), Op("not_in", gettext_lazy("is none of"), CHOICES)),
            choices=tuple(Customer.Gender.choices),
        ),
        Field(
            "age",
            gettext_lazy("Age"),
            _ATTRIBUTE,
            (
                Op("gte", gettext_lazy("at least"), NUMBER, 0, 150, _YEARS),
                Op("lte", gettext_lazy("at most"), NUMBER, 0, 150, _YEARS),
                Op("between", gettext_lazy("between"), NUMBER_RANGE, 0, 150, _YEARS),
            ),
        ),
        Field(
            "birthday",
            gettext_lazy("Birthday"),
            _DATES,
            (Op("within_next_days", gettext_lazy("within the next … days (0 = today)"), DAYS, 0, 366, _DAYS_UNIT),),
        ),
        Field("last_transaction_date", gettext_lazy("Last transaction"), _DATES, _date_ops(nullable=True)),
        Field("created_at", gettext_lazy("Customer since"), _DATES, _date_ops(nullable=False)),
        Field(
            "branch",
            gettext_lazy("Owning branch"),
            _ORG,
            (
                Op("in_subtree", gettext_lazy("is in (with sub-branches)"), BRANCHES),
                Op("not_in_subtree", gettext_lazy("is not in (with sub-branches)"), BRANCHES),
            ),
        ),
        Field(
            "owner",
            gettext_lazy("Owner operator"),
            _ORG,
            (
                Op("in", gettext_lazy("is any of"), OPERATORS),
                Op("not_in", gettext_lazy("is none of"), OPERATORS),
                Op("is_empty", gettext_lazy("has no owner"), NONE),
            ),
        ),
        Field(
            "wecom",
            gettext_lazy("WeCom contact"),
            _ORG,
            (
                Op("is_set", gettext_lazy("is connected (a live follow)"), NONE),
                Op("is_empty", gettext_lazy("is not connected"), NONE),
            ),
        ),
        Field(
            "tag",
            gettext_lazy("Tag"),
            _TAGS,
            (
                Op("has_any", gettext_lazy("has any of"), TAGS),
                Op("has_all", gettext_lazy("has all of"), TAGS),
                Op("has_none", gettext_lazy("has none of"), TAGS),
            ),
        ),
        Field(
            "product",
            gettext_lazy("Products held"),
            _PRODUCTS,
            (Op("holds", gettext_lazy("holds"), PRODUCT), Op("not_holds", gettext_lazy("does not hold"), PRODUCT)),
            choices=tuple(ProductCategory.choices),
        ),
        Field(
            "behaviour",
            gettext_lazy("Behaviour"),
            _BEHAVIOUR,
            (
                Op("at_least", gettext_lazy("happened at least"), BEHAVIOUR),
                Op("fewer_than", gettext_lazy("happened fewer than"), BEHAVIOUR),
            ),
        ),
    )
}

# --- behaviour sources: a registry later issues plug into ------------------------------------------------------


@dataclass(frozen=True)
class BehaviourSource:
    """Rows that each record one thing a customer did or had happen, with a time.

    `rows(since, params)` returns a queryset with a `customer_id` column of the rows at or after `since`;
    `id_range` (lo, hi) narrows it to a chunk of customers when given.
    """

    key: str
    label: Promise
    rows: Callable[[dt.datetime, dict], QuerySet]
    # A source that counts changes of one tag takes a tag id as a parameter.
    takes_tag: bool = False


BEHAVIOUR_SOURCES: dict[str, BehaviourSource] = {}


def register_behaviour_source(source: BehaviourSource) -> None:
    """Add a source of behaviour counts (messages received, links clicked, tasks done …)."""
    BEHAVIOUR_SOURCES[source.key] = source


def _tag_changes(action: str):
    def rows(since, params):
        changes = TagChange.objects.filter(action=action, at__gte=since)
        if params.get("tag"):
            changes = changes.filter(tag_id=params["tag"])
        return changes

    return rows


for _source in (
    BehaviourSource(
        "follow_added",
        gettext_lazy("added an operator on WeCom"),
        lambda since, params: FollowRelationship.objects.filter(added_at__gte=since),
    ),
    BehaviourSource(
        "follow_deleted_by_customer",
        gettext_lazy("deleted their operator on WeCom"),
        lambda since, params: FollowRelationship.objects.filter(
            deleted_at__gte=since, deleted_by=FollowRelationship.DeletedBy.CUSTOMER
        ),
    ),
    BehaviourSource(
        "follow_deleted",
        gettext_lazy("lost a WeCom contact (any reason)"),
        lambda since, params: FollowRelationship.objects.filter(deleted_at__gte=since),
    ),
    BehaviourSource(
        "tag_added", gettext_lazy("was given the tag"), _tag_changes(TagChange.Action.ADDED), takes_tag=True
    ),
    BehaviourSource(
        "tag_removed", gettext_lazy("lost the tag"), _tag_changes(TagChange.Action.REMOVED), takes_tag=True
    ),
):
    register_behaviour_source(_source)


def _event_rows(kind: str):
    return lambda since, params: CustomerEvent.objects.filter(kind=kind, occurred_at__gte=since)


def _event_label(label: Promise) -> Promise:
    return lazy(lambda: _("timeline: %(kind)s") % {"kind": label}, str)()


for _kind, _label in CustomerEvent.Kind.choices:
    register_behaviour_source(BehaviourSource(f"event:{_kind}", _event_label(_label), _event_rows(_kind)))


# --- errors ----------------------------------------------------------------------------------------------------


class ConditionError(ValidationError):
    """Every problem found in a condition, each message naming its row."""


@dataclass
class _Checker:
    user: object | None
    errors: list[str] = field(default_factory=list)
    rows: int = 0

    def fail(self, message: str) -> None:
        self.errors.append(message)


def _row_name(path: tuple[int, ...]) -> str:
    return ".".join(str(index) for index in path)


# --- validation ------------------------------------------------------------------------------------------------


def empty_condition() -> dict:
    return {"match": "all", "rules": []}


def is_group(node) -> bool:
    return isinstance(node, dict) and "match" in node


def validate(condition, *, user=None, allow_empty: bool = False) -> dict:
    """The condition normalised (typed values, sorted id lists), or ConditionError naming each bad row.

    With `user`, branches and operators must be within that user's data scope; tags must exist.
    `allow_empty`: an empty top group is valid (it matches every customer) — the builder's starting state.
    """
    checker = _Checker(user)
    if not is_group(condition):
        raise ConditionError([_("The condition is not in the expected form. Build it again in the editor.")])
    clean = _check_group(condition, (), 1, checker, allow_empty=allow_empty)
    if checker.rows > MAX_ROWS:
        checker.fail(
            _("A condition may have at most %(max)s rows; this one has %(n)s.") % {"max": MAX_ROWS, "n": checker.rows}
        )
    if checker.errors:
        raise ConditionError(checker.errors)
    return clean


def _check_group(node: dict, path: tuple[int, ...], depth: int, checker: _Checker, *, allow_empty=False) -> dict:
    name = _row_name(path)
    match = node.get("match")
    if match not in MATCHES:
        checker.fail(
            _("Group %(row)s: choose whether all, any or none of its conditions must match.") % {"row": name}
            if path
            else _("Choose whether all, any or none of the conditions must match.")
        )
    rules = node.get("rules")
    if not isinstance(rules, list):
        rules = []
    if not rules and not (allow_empty and not path):
        checker.fail(
            _("Group %(row)s is empty: add a condition to it or remove it.") % {"row": name}
            if path
            else _("Add at least one condition.")
        )
    if depth > MAX_DEPTH:
        checker.fail(
            _("Group %(row)s is nested too deeply (at most %(max)s levels).") % {"row": name, "max": MAX_DEPTH}
        )
    clean_rules = []
    for index, child in enumerate(rules, start=1):
        child_path = (*path, index)
        if is_group(child):
            clean_rules.append(_check_group(child, child_path, depth + 1, checker))
        else:
            checker.rows += 1
            clean_rules.append(_check_row(child, child_path, checker))
    return {"match": match, "rules": clean_rules}


def _check_row(node, path: tuple[int, ...], checker: _Checker) -> dict:
    row = _row_name(path)
    if not isinstance(node, dict) or not node.get("field"):
        checker.fail(_("Condition %(row)s: choose a field.") % {"row": row})
        return {}
    field_key = node["field"]
    spec = FIELDS.get(field_key)
    if spec is None:
        checker.fail(_("Condition %(row)s: there is no field “%(field)s”.") % {"row": row, "field": field_key})
        return dict(node)
    op = spec.op(node.get("op") or "")
    if op is None:
        checker.fail(
            _("Condition %(row)s: choose how to compare %(field)s.") % {"row": row, "field": spec.label}
            if not node.get("op")
            else _("Condition %(row)s: “%(op)s” cannot be used with %(field)s.")
            % {"row": row, "op": node.get("op"), "field": spec.label}
        )
        return dict(node)
    context = {"row": row, "field": spec.label}
    try:
        value = _check_value(spec, op, node.get("value"), context, checker)
    except _BadValue as bad:
        checker.fail(str(bad))
        return dict(node)
    clean = {"field": field_key, "op": op.key}
    if op.value != NONE:
        clean["value"] = value
    return clean


class _BadValue(Exception):
    pass


def _number(raw, context, *, whole=False, low=None, high=None) -> Decimal:
    try:
        number = Decimal(str(raw).strip().replace(",", ""))
    except (InvalidOperation, ValueError):
        raise _BadValue(_("Condition %(row)s: enter a number for %(field)s.") % context) from None
    if not number.is_finite():
        raise _BadValue(_("Condition %(row)s: enter a number for %(field)s.") % context)
    if whole and number != number.to_integral_value():
        raise _BadValue(_("Condition %(row)s: enter a whole number for %(field)s.") % context)
    if (low is not None and number < low) or (high is not None and number > high):
        raise _BadValue(
            _("Condition %(row)s: %(field)s must be between %(min)s and %(max)s.")
            % {**context, "min": low, "max": high}
        )
    return number


def _days(raw, context, low, high) -> int:
    if raw in (None, ""):
        raise _BadValue(_("Condition %(row)s: enter the number of days.") % context)
    try:
        days = int(str(raw).strip())
    except ValueError:
        raise _BadValue(_("Condition %(row)s: enter the number of days as a whole number.") % context) from None
    if not low <= days <= high:
        raise _BadValue(
            _("Condition %(row)s: the window must be between %(min)s and %(max)s days.")
            % {**context, "min": low, "max": high}
        )
    return days


def _date(raw, context) -> str:
    try:
        value = dt.date.fromisoformat(str(raw))
    except (TypeError, ValueError):
        raise _BadValue(_("Condition %(row)s: choose a date.") % context) from None
    if not 1900 <= value.year <= 2100:
        raise _BadValue(_("Condition %(row)s: the date must be between 1900 and 2100.") % context)
    return value.isoformat()


def _ids(raw, context, empty_message) -> list[int]:
    if not isinstance(raw, list | tuple):
        raw = [raw] if raw not in (None, "") else []
    try:
        ids = sorted({int(item) for item in raw})
    except (TypeError, ValueError):
        raise _BadValue(empty_message % context) from None
    if not ids:
        raise _BadValue(empty_message % context)
    return ids


def _check_value(spec: Field, op: Op, raw, context: dict, checker: _Checker):
    kind = op.value
    if kind == NONE:
        return None
    if kind == NUMBER:
        if raw in (None, ""):
            raise _BadValue(_("Condition %(row)s: enter a number for %(field)s.") % context)
        if spec.key == "aum":
            return str(_number(raw, context, low=0, high=MAX_AUM).quantize(Decimal("0.01")))
        return int(_number(raw, context, whole=True, low=op.min, high=op.max))
    if kind == NUMBER_RANGE:
        if not isinstance(raw, list | tuple) or len(raw) != 2 or raw[0] in (None, "") or raw[1] in (None, ""):
            raise _BadValue(_("Condition %(row)s: enter both ends of the range for %(field)s.") % context)
        if spec.key == "aum":
            low, high = (_number(item, context, low=0, high=MAX_AUM).quantize(Decimal("0.01")) for item in raw)
        else:
            low, high = (_number(item, context, whole=True, low=op.min, high=op.max) for item in raw)
        if low > high:
            raise _BadValue(_("Condition %(row)s: the range of %(field)s starts above its end.") % context)
        return [str(low), str(high)] if spec.key == "aum" else [int(low), int(high)]
    if kind == DAYS:
        return _days(raw, context, op.min, op.max)
    if kind == DATE:
        return _date(raw, context)
    if kind == CHOICES:
        allowed = {str(value): value for value, _label in spec.choices}
        values = raw if isinstance(raw, list | tuple) else ([raw] if raw not in (None, "") else [])
        if not values:
            raise _BadValue(_("Condition %(row)s: choose at least one value of %(field)s.") % context)
        unknown = [str(value) for value in values if str(value) not in allowed]
        if unknown:
            raise _BadValue(
                _("Condition %(row)s: %(values)s is not a value of %(field)s.")
                % {**context, "values": ", ".join(unknown)}
            )
        return sorted({allowed[str(value)] for value in values}, key=str)
    if kind == TAGS:
        ids = _ids(raw, context, _("Condition %(row)s: choose at least one tag."))
        known = set(Tag.objects.filter(pk__in=ids, is_active=True).values_list("pk", flat=True))
        if missing := [str(pk) for pk in ids if pk not in known]:
            raise _BadValue(
                _("Condition %(row)s: tag %(ids)s no longer exists.") % {**context, "ids": ", ".join(missing)}
            )
        return ids
    if kind == BRANCHES:
        ids = _ids(raw, context, _("Condition %(row)s: choose at least one branch."))
        branches = Branch.objects.all()
        if checker.user is not None:
            from workbench.org.scope import visible_branches

            branches = visible_branches(checker.user)
        known = set(branches.filter(pk__in=ids).values_list("pk", flat=True))
        if [pk for pk in ids if pk not in known]:
            raise _BadValue(_("Condition %(row)s: a chosen branch is not within your data scope.") % context)
        return ids
    if kind == OPERATORS:
        ids = _ids(raw, context, _("Condition %(row)s: choose at least one operator."))
        operators = Operator.objects.all()
        if checker.user is not None:
            from workbench.org.scope import visible_operators

            operators = visible_operators(checker.user)
        known = set(operators.filter(pk__in=ids).values_list("pk", flat=True))
        if [pk for pk in ids if pk not in known]:
            raise _BadValue(_("Condition %(row)s: a chosen operator is not within your data scope.") % context)
        return ids
    if kind == PRODUCT:
        raw = raw if isinstance(raw, dict) else {}
        category = raw.get("category") or ""
        if category and category not in ProductCategory.values:
            raise _BadValue(_("Condition %(row)s: choose a product category from the list.") % context)
        min_amount = raw.get("min_amount")
        if min_amount not in (None, ""):
            min_amount = str(
                _number(min_amount, {**context, "field": _("the amount")}, low=0, high=MAX_AUM).quantize(
                    Decimal("0.01")
                )
            )
        else:
            min_amount = ""
        maturity = raw.get("maturity_within_days")
        maturity = None if maturity in (None, "") else _days(maturity, context, 0, MAX_DAYS)
        return {"category": category, "min_amount": min_amount, "maturity_within_days": maturity}
    if kind == BEHAVIOUR:
        raw = raw if isinstance(raw, dict) else {}
        source = BEHAVIOUR_SOURCES.get(raw.get("source") or "")
        if source is None:
            raise _BadValue(_("Condition %(row)s: choose what the customer did.") % context)
        days = _days(raw.get("days"), context, 1, 365)
        count_raw = raw.get("count")
        if count_raw in (None, ""):
            raise _BadValue(_("Condition %(row)s: enter how many times.") % context)
        count = int(_number(count_raw, {**context, "field": _("the number of times")}, whole=True, low=1, high=100000))
        tag = None
        if source.takes_tag and raw.get("tag") not in (None, ""):
            (tag,) = _ids([raw.get("tag")], context, _("Condition %(row)s: choose a tag."))
            if not Tag.objects.filter(pk=tag, is_active=True).exists():
                raise _BadValue(_("Condition %(row)s: tag %(ids)s no longer exists.") % {**context, "ids": tag})
        return {"source": source.key, "days": days, "count": count, "tag": tag}
    raise _BadValue(_("Condition %(row)s: this comparison is not supported.") % context)  # pragma: no cover


# --- resolving relative dates (shared by the SQL and the bitmap evaluation) ------------------------------------


def local_today() -> dt.date:
    return timezone.localdate()


def local_midnight(day: dt.date) -> dt.datetime:
    """The start of a local calendar day as an aware datetime."""
    return timezone.make_aware(dt.datetime.combine(day, dt.time.min), timezone.get_current_timezone())


def years_before(day: dt.date, years: int) -> dt.date:
    """The same calendar day `years` earlier; 29 February becomes 28 February in a common year."""
    year = day.year - years
    if year < 1:
        return dt.date.min
    if day.month == 2 and day.day == 29 and not calendar.isleap(year):
        return dt.date(year, 2, 28)
    return dt.date(year, day.month, day.day)


@dataclass(frozen=True)
class DateBound:
    """`lower <= date < upper` (either side open when None): every date comparison resolves to this."""

    lower: dt.date | None
    upper: dt.date | None


def resolve_date_bound(field_key: str, op: str, value, today: dt.date) -> DateBound:
    if field_key == "age":
        # age >= n  <=>  born on or before the day n years ago  <=>  birth_date < that day + 1
        if op == "gte":
            return DateBound(None, years_before(today, int(value)) + dt.timedelta(days=1))
        if op == "lte":
            return DateBound(years_before(today, int(value) + 1) + dt.timedelta(days=1), None)
        low, high = value
        return DateBound(
            years_before(today, int(high) + 1) + dt.timedelta(days=1),
            years_before(today, int(low)) + dt.timedelta(days=1),
        )
    if op == "within_days":
        return DateBound(today - dt.timedelta(days=int(value)), None)
    if op == "before_days":
        return DateBound(None, today - dt.timedelta(days=int(value)))
    if op == "on_or_after":
        return DateBound(dt.date.fromisoformat(value), None)
    if op == "before":
        return DateBound(None, dt.date.fromisoformat(value))
    raise ValueError(op)


def birthday_pairs(today: dt.date, days: int) -> list[tuple[int, int]]:
    """(month, day) of every birthday falling within the next `days` days, today included.

    People born on 29 February celebrate on 28 February in a common year.
    """
    pairs = set()
    for offset in range(days + 1):
        day = today + dt.timedelta(days=offset)
        pairs.add((day.month, day.day))
        if day.month == 2 and day.day == 28 and not calendar.isleap(day.year):
            pairs.add((2, 29))
    return sorted(pairs)


def payday_days(today: dt.date, days_ahead: int) -> list[int]:
    """The pay-day values due on the day `days_ahead` from today.

    On the last day of a month, the later pay days of longer months (29–31) are paid as well.
    """
    day = today + dt.timedelta(days=days_ahead)
    last = calendar.monthrange(day.year, day.month)[1]
    if day.day == last:
        return list(range(day.day, 32))
    return [day.day]


def behaviour_since(today: dt.date, days: int) -> dt.datetime:
    """A window of `days` calendar days ending today: 1 = today, 7 = today and the six days before."""
    return local_midnight(today - dt.timedelta(days=days - 1))


def resolve_branch_ids(ids: Iterable[int]) -> list[int]:
    """Every branch in the subtrees of the given branches."""
    paths = list(Branch.objects.filter(pk__in=list(ids)).values_list("path", flat=True))
    if not paths:
        return []
    subtree = Q()
    for path in paths:
        subtree |= Q(path__startswith=path)
    return sorted(Branch.objects.filter(subtree).values_list("pk", flat=True))


# --- compiling to SQL ------------------------------------------------------------------------------------------


@dataclass
class CompileContext:
    today: dt.date
    # (lo, hi): only customers with lo <= id < hi matter; pushed into the subqueries (rule evaluation chunks).
    id_range: tuple[int, int] | None = None


def compile_q(condition: dict, *, today: dt.date | None = None, id_range: tuple[int, int] | None = None) -> Q:
    """One Q over Customer for a validated condition. Every leaf yields TRUE or FALSE, never NULL, so that
    "none of" is the exact complement of "any of" (NULL columns are guarded explicitly)."""
    return _compile(condition, CompileContext(today or local_today(), id_range))


def _compile(node: dict, ctx: CompileContext) -> Q:
    if is_group(node):
        parts = [_compile(child, ctx) for child in node["rules"]]
        if not parts:
            return Q() if node["match"] != "none" else Q(pk__in=[])  # empty "all" matches everyone
        combined = parts[0]
        for part in parts[1:]:
            combined = combined & part if node["match"] == "all" else combined | part
        return ~combined if node["match"] == "none" else combined
    return compile_leaf(node, ctx)


def _customers_in(queryset: QuerySet, ctx: CompileContext, column: str = "customer_id") -> Q:
    if ctx.id_range is not None:
        lo, hi = ctx.id_range
        queryset = queryset.filter(**{f"{column}__gte": lo, f"{column}__lt": hi})
    return Q(pk__in=queryset.values(column))


def _date_q(column: str, bound: DateBound, *, is_datetime: bool) -> Q:
    q = Q(**{f"{column}__isnull": False})
    if bound.lower is not None:
        q &= Q(**{f"{column}__gte": local_midnight(bound.lower) if is_datetime else bound.lower})
    if bound.upper is not None:
        q &= Q(**{f"{column}__lt": local_midnight(bound.upper) if is_datetime else bound.upper})
    return q


def _not_null(column: str, q: Q) -> Q:
    return Q(**{f"{column}__isnull": False}) & q


def compile_leaf(leaf: dict, ctx: CompileContext) -> Q:
    key, op, value = leaf["field"], leaf["op"], leaf.get("value")
    if key == "aum":
        if op == "gte":
            return Q(aum__gte=Decimal(value))
        if op == "lte":
            return Q(aum__lte=Decimal(value))
        return Q(aum__gte=Decimal(value[0]), aum__lte=Decimal(value[1]))
    if key in ("occupation_group", "gender"):
        q = Q(**{f"{key}__in": value})
        return q if op == "in" else ~q
    if key == "risk_level":
        if op == "is_empty":
            return Q(risk_level__isnull=True)
        q = _not_null("risk_level", Q(risk_level__in=value))
        return q if op == "in" else ~q
    if key == "payroll":
        q = ~Q(payroll_employer="")
        return q if op == "is_set" else ~q
    if key == "payday":
        if op == "is_empty":
            return Q(payday__isnull=True)
        days = payday_days(ctx.today, value) if op == "in_days" else value
        return _not_null("payday", Q(payday__in=days))
    if key == "age":
        return _date_q("birth_date", resolve_date_bound("age", op, value, ctx.today), is_datetime=False)
    if key == "birthday":
        by_month: dict[int, list[int]] = {}
        for month, day in birthday_pairs(ctx.today, value):
            by_month.setdefault(month, []).append(day)
        q = Q(pk__in=[])
        for month, days in by_month.items():
            q |= Q(birth_date__month=month, birth_date__day__in=days)
        return _not_null("birth_date", q)
    if key in ("last_transaction_date", "created_at"):
        if op == "is_empty":
            return Q(**{f"{key}__isnull": True})
        return _date_q(key, resolve_date_bound(key, op, value, ctx.today), is_datetime=key == "created_at")
    if key == "branch":
        q = _not_null("branch_id", Q(branch_id__in=resolve_branch_ids(value)))
        return q if op == "in_subtree" else ~q
    if key == "owner":
        if op == "is_empty":
            return Q(owner_id__isnull=True)
        q = _not_null("owner_id", Q(owner_id__in=value))
        return q if op == "in" else ~q
    if key == "wecom":
        q = _customers_in(FollowRelationship.objects.filter(deleted_at__isnull=True), ctx)
        return q if op == "is_set" else ~q
    if key == "tag":
        if op == "has_all":
            q = Q()
            for tag_id in value:
                q &= _customers_in(CustomerTag.objects.filter(tag_id=tag_id), ctx)
            return q
        q = _customers_in(CustomerTag.objects.filter(tag_id__in=value), ctx)
        return q if op == "has_any" else ~q
    if key == "product":
        q = _customers_in(product_holdings(value, ctx.today), ctx)
        return q if op == "holds" else ~q
    if key == "behaviour":
        q = _customers_in(behaviour_customers(value, ctx.today), ctx)
        return q if op == "at_least" else ~q
    raise ValueError(f"unknown field {key!r}")


def product_holdings(value: dict, today: dt.date) -> QuerySet:
    holdings = ProductHolding.objects.all()
    if value.get("category"):
        holdings = holdings.filter(product__category=value["category"])
    if value.get("min_amount"):
        holdings = holdings.filter(amount__gte=Decimal(value["min_amount"]))
    if value.get("maturity_within_days") is not None:
        holdings = holdings.filter(
            maturity_date__gte=today, maturity_date__lte=today + dt.timedelta(days=value["maturity_within_days"])
        )
    return holdings


def behaviour_customers(value: dict, today: dt.date) -> QuerySet:
    """Rows of customers for whom the behaviour happened at least `count` times in the window."""
    source = BEHAVIOUR_SOURCES[value["source"]]
    rows = source.rows(behaviour_since(today, value["days"]), value).order_by()
    if value["count"] <= 1:
        return rows
    return rows.values("customer_id").annotate(times=Count("*")).filter(times__gte=value["count"])


def references_tags(condition: dict) -> set[int]:
    """Tag ids a condition reads (has tag, tag added/removed)."""
    found: set[int] = set()

    def walk(node):
        if is_group(node):
            for child in node.get("rules", []):
                walk(child)
        elif node.get("field") == "tag":
            found.update(node.get("value") or [])
        elif node.get("field") == "behaviour" and (node.get("value") or {}).get("tag"):
            found.add(node["value"]["tag"])

    walk(condition)
    return found
