"""Reads of segments and rules. Every count, sample and member list starts from the data-scope selector."""

import time
from dataclasses import dataclass, field
from datetime import datetime
from decimal import Decimal

from django.db.models import Q, QuerySet
from django.http import Http404
from django.utils.translation import gettext as _
from pyroaring import BitMap

from tagging.models import Customer, ProductCategory, Tag
from tagging.segments import conditions as lang
from tagging.segments.bitmaps import (
    ATTRIBUTES,
    MEMBERS,
    BitmapsUnavailable,
    Reader,
    evaluate,
    sql_ids,
    tag_family,
)
from tagging.segments.models import BitmapFamily, Rule, RuleRun, Segment
from workbench.org.models import Branch, Operator
from workbench.org.roles import Scope
from workbench.org.scope import (
    has_access,
    may_manage_rules,
    viewer_for,
    visible_branch_ids,
    visible_branches,
    visible_customers,
    visible_operators,
)

SAMPLE_SIZE = 10
OPERATOR_OPTIONS_MAX = 20

# --- segments --------------------------------------------------------------------------------------------------


def visible_segments(user) -> QuerySet[Segment]:
    """The user's own segments and the shared ones (their members are still computed within the user's scope)."""
    if not has_access(user):
        return Segment.objects.none()
    return Segment.objects.filter(Q(owner=user) | Q(shared=True)).select_related("owner")


def get_visible_segment(user, pk) -> Segment:
    try:
        return visible_segments(user).get(pk=pk)
    except (Segment.DoesNotExist, ValueError, TypeError):
        raise Http404("No such segment.") from None


def may_edit_segment(user, segment: Segment) -> bool:
    return has_access(user) and (segment.owner_id == user.pk or may_manage_rules(user))


def segment_members(user, condition: dict, *, today=None) -> QuerySet[Customer]:
    """The customers matching a validated condition within the user's scope, by SQL (exact, current).
    `user` None: the whole bank (the system acting, e.g. a campaign's snapshot)."""
    base = Customer.objects.all() if user is None else visible_customers(user)
    return base.filter(lang.compile_q(condition, today=today))


def segment_export_customers(user, params: dict) -> QuerySet[Customer]:
    """What the exports app writes for kind "segment": the segment's members in the requester's scope."""
    try:
        segment = get_visible_segment(user, params.get("segment"))
        condition = lang.validate(segment.condition)
    except (Http404, lang.ConditionError):
        return Customer.objects.none()
    return segment_members(user, condition).select_related("owner", "branch")


def scope_bitmap(user, reader: Reader) -> BitMap | None:
    """The user's visible customers as a bitmap; None for the whole bank (nothing to intersect)."""
    viewer = viewer_for(user)
    if viewer.scope == Scope.BANK:
        return None
    if viewer.scope == Scope.BRANCH:
        return reader.union(ATTRIBUTES, [f"branch:{pk}" for pk in visible_branch_ids(user)])
    if viewer.scope == Scope.SELF:
        return sql_ids(visible_customers(user))
    return BitMap()


@dataclass
class CountResult:
    count: int
    sample: list = field(default_factory=list)
    method: str = "bitmaps"  # or "sql" (no bitmaps built yet)
    sql_rows: list[str] = field(default_factory=list)
    built_at: datetime | None = None
    elapsed_ms: float = 0.0


def segment_count(user, condition: dict, *, sample_size: int = SAMPLE_SIZE, today=None) -> CountResult:
    """How many of the user's customers match, and the newest few of them, from the bitmaps (SQL only for the
    rows bitmaps cannot answer); by SQL alone while no bitmaps exist yet."""
    started = time.perf_counter()
    if not has_access(user):
        return CountResult(0)
    try:
        evaluation = evaluate(condition, today=today)
    except BitmapsUnavailable:
        members = segment_members(user, condition, today=today)
        sample = list(members.select_related("owner", "branch").order_by("-pk")[:sample_size]) if sample_size else []
        return CountResult(members.count(), sample, "sql", elapsed_ms=(time.perf_counter() - started) * 1000)
    scope = scope_bitmap(user, evaluation.reader)
    result = evaluation.bitmap if scope is None else evaluation.bitmap & scope
    sample = []
    if sample_size and result:
        ids = list(result[-sample_size:])
        sample = list(
            visible_customers(user).filter(pk__in=ids).select_related("owner", "branch").order_by("-pk")[:sample_size]
        )
    return CountResult(
        len(result),
        sample,
        "bitmaps",
        evaluation.sql_rows,
        evaluation.built_at,
        (time.perf_counter() - started) * 1000,
    )


def segment_list_counts(user, segments) -> dict[int, int | None]:
    """Member counts within the user's scope for a page of segments (None: the condition no longer validates)."""
    counts = {}
    for segment in segments:
        try:
            condition = lang.validate(segment.condition)
        except lang.ConditionError:
            counts[segment.pk] = None
            continue
        counts[segment.pk] = segment_count(user, condition, sample_size=0).count
    return counts


# --- rules -----------------------------------------------------------------------------------------------------


def rules_overview() -> list[Rule]:
    """Every rule with its tag, last run and member count (from the tag's active bitmap)."""
    rules = list(Rule.objects.filter(tag__is_active=True).select_related("tag__group", "last_run"))
    families = {tag_family(rule.tag_id): rule for rule in rules}
    counts = dict(
        BitmapFamily.objects.filter(name__in=families, active__isnull=False).values_list("name", "active__keys")
    )
    active_runs = {
        run.rule_id: run for run in RuleRun.objects.filter(rule__in=rules, status__in=RuleRun.ACTIVE).order_by()
    }
    for rule in rules:
        keys = counts.get(tag_family(rule.tag_id))
        rule.member_count = keys.get(MEMBERS, 0) if keys is not None else None
        rule.active_run = active_runs.get(rule.pk)
    return rules


def rule_tags_without_rules() -> list[Tag]:
    """Rule-kind tags still waiting for their condition (the starter library creates the tags only)."""
    return list(
        Tag.objects.filter(kind=Tag.Kind.RULE, is_active=True, rule__isnull=True)
        .select_related("group")
        .order_by("group__order", "group__name", "order", "name")
    )


def recent_runs(rule: Rule, limit: int = 10) -> list[RuleRun]:
    return list(rule.runs.select_related("requested_by")[:limit])


# --- the builder -----------------------------------------------------------------------------------------------


def builder_config(user, condition: dict | None = None) -> dict:
    """Everything the condition builder shows, as JSON: fields and operators, and the choices within the user's
    scope (branches; tags; the operators a saved condition names — more are found through the search)."""
    fields = [
        {
            "key": spec.key,
            "label": str(spec.label),
            "category": str(spec.category),
            "choices": [[value, str(label)] for value, label in spec.choices],
            "ops": [
                {
                    "key": op.key,
                    "label": str(op.label),
                    "value": op.value,
                    "min": op.min,
                    "max": op.max,
                    "unit": str(op.unit) if op.unit else "",
                }
                for op in spec.ops
            ],
        }
        for spec in lang.FIELDS.values()
    ]
    branch_rows = list(visible_branches(user).order_by("path").values_list("pk", "name", "path"))
    top = min((len(path) for _pk, _name, path in branch_rows), default=0)
    referenced = _referenced_ids(condition or {}, "owner")
    operators = list(visible_operators(user).filter(pk__in=referenced).values("pk", "name", "wecom_userid"))
    return {
        "fields": fields,
        "tags": [
            {"id": pk, "name": name, "group": group, "kind": kind}
            for pk, name, group, kind in Tag.objects.filter(is_active=True)
            .order_by("group__order", "group__name", "order", "name")
            .values_list("pk", "name", "group__name", "kind")
        ],
        "branches": [{"id": pk, "name": name, "depth": (len(path) - top) // 9} for pk, name, path in branch_rows],
        "operators": [
            {"id": row["pk"], "name": f"{row['name']} ({row['wecom_userid']})" if row["wecom_userid"] else row["name"]}
            for row in operators
        ],
        "behaviour": [
            {"key": source.key, "label": str(source.label), "takes_tag": source.takes_tag}
            for source in lang.BEHAVIOUR_SOURCES.values()
        ],
        "product_categories": [[value, str(label)] for value, label in ProductCategory.choices],
    }


def _referenced_ids(node: dict, field_key: str) -> set[int]:
    found: set[int] = set()
    if lang.is_group(node):
        for child in node.get("rules", []):
            found |= _referenced_ids(child, field_key)
    elif isinstance(node, dict) and node.get("field") == field_key and isinstance(node.get("value"), list):
        found.update(value for value in node["value"] if isinstance(value, int))
    return found


def operator_options(user, query: str) -> list[dict]:
    """Operators within the user's scope whose name or WeCom userid starts with the query."""
    query = (query or "").strip()
    if not query:
        return []
    operators = visible_operators(user).filter(Q(name__startswith=query) | Q(wecom_userid__startswith=query))
    return [
        {"id": pk, "name": f"{name} ({userid})" if userid else name}
        for pk, name, userid in operators.order_by("name", "pk").values_list("pk", "name", "wecom_userid")[
            :OPERATOR_OPTIONS_MAX
        ]
    ]


# --- describing a condition in words ---------------------------------------------------------------------------


def describe(condition: dict, user) -> str:
    """The condition in one line of words. Branches and operators outside the user's scope are not named."""
    names = _Names(user, condition)
    text = _describe(condition, names, top=True)
    return text or _("Every customer")


def _amount(value) -> str:
    """50000.00 → "50,000"; 1234.5 → "1,234.50"."""
    number = Decimal(str(value))
    return f"{int(number):,}" if number == number.to_integral_value() else f"{number:,.2f}"


def _days_phrase(field_key: str, op: str, days: int) -> str:
    if field_key == "payday" and days in (0, 1):
        return _("is today") if days == 0 else _("is tomorrow")
    phrases = {
        "within_days": _("within the last %(n)s days"),
        "before_days": _("more than %(n)s days ago"),
        "in_days": _("is in %(n)s days"),
        "within_next_days": _("within the next %(n)s days"),
    }
    return phrases.get(op, "%(n)s") % {"n": days}


class _Names:
    def __init__(self, user, condition):
        self.tags = dict(Tag.objects.filter(pk__in=lang.references_tags(condition)).values_list("pk", "name"))
        branch_ids = _referenced_ids(condition, "branch")
        operator_ids = _referenced_ids(condition, "owner")
        branches = visible_branches(user) if user is not None else Branch.objects.all()
        operators = visible_operators(user) if user is not None else Operator.objects.all()
        self.branches = dict(branches.filter(pk__in=branch_ids).values_list("pk", "name"))
        self.operators = dict(operators.filter(pk__in=operator_ids).values_list("pk", "name"))

    @staticmethod
    def hidden(pk) -> str:
        return _("#%(id)s (outside your scope)") % {"id": pk}


def _describe(node: dict, names: _Names, *, top: bool = False) -> str:
    if lang.is_group(node):
        parts = [_describe(child, names) for child in node.get("rules", [])]
        if not parts:
            return ""
        if node.get("match") == "none":
            return _("none of (%(items)s)") % {"items": _("; ").join(parts)}
        joiner = _(" and ") if node.get("match") == "all" else _(" or ")
        text = joiner.join(parts)
        return text if top or len(parts) == 1 else f"({text})"
    return _describe_row(node, names)


def _describe_row(row: dict, names: _Names) -> str:  # noqa: C901 - one branch per value kind
    spec = lang.FIELDS.get(row.get("field", ""))
    if spec is None:
        return _("unknown field")
    op = spec.op(row.get("op", ""))
    if op is None:
        return str(spec.label)
    value = row.get("value")
    choice_labels = {str(key): str(label) for key, label in spec.choices}
    if op.value == lang.NONE:
        shown = ""
    elif op.value == lang.NUMBER:
        shown = f"{_amount(value)} {op.unit or ''}".strip()
    elif op.value == lang.NUMBER_RANGE:
        shown = f"{_amount(value[0])} – {_amount(value[1])} {op.unit or ''}".strip()
    elif op.value == lang.DAYS:
        return f"{spec.label} {_days_phrase(spec.key, op.key, value)}"
    elif op.value == lang.DATE:
        shown = value
    elif op.value == lang.CHOICES:
        shown = _("、").join(choice_labels.get(str(item), str(item)) for item in value)
    elif op.value == lang.TAGS:
        shown = _("、").join(names.tags.get(pk, f"#{pk}") for pk in value)
    elif op.value == lang.BRANCHES:
        shown = _("、").join(names.branches.get(pk) or names.hidden(pk) for pk in value)
    elif op.value == lang.OPERATORS:
        shown = _("、").join(names.operators.get(pk) or names.hidden(pk) for pk in value)
    elif op.value == lang.PRODUCT:
        parts = [dict(ProductCategory.choices).get(value.get("category"), _("any product"))]
        if value.get("min_amount"):
            parts.append(_("amount ≥ %(amount)s") % {"amount": _amount(value["min_amount"])})
        if value.get("maturity_within_days") is not None:
            parts.append(_("maturing within %(n)s days") % {"n": value["maturity_within_days"]})
        shown = ", ".join(str(part) for part in parts)
    elif op.value == lang.BEHAVIOUR:
        source = lang.BEHAVIOUR_SOURCES.get(value.get("source"))
        label = str(source.label) if source else value.get("source")
        if value.get("tag"):
            label = f"{label} {names.tags.get(value['tag'], '#' + str(value['tag']))}"
        return _("%(what)s: %(op)s %(count)s times in the last %(days)s days") % {
            "what": label,
            "op": op.label,
            "count": value.get("count"),
            "days": value.get("days"),
        }
    else:
        shown = str(value)
    return " ".join(str(part) for part in (spec.label, op.label, shown) if part)
