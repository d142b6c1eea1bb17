"""Reads behind the dashboards, the Excel reports and the WeCom reports: sums of `OperatorDay` rows in SQL.

A report is about a node of the bank — the whole bank, a branch, a team (any branch node) or one operator — and a
period of closed days. Nodes come only from `workbench/org/scope.py`, so a viewer never reaches a node outside
their data scope. Every figure is an aggregate over `branch_path` prefixes and `day` ranges, which the
(day, branch_path) and (branch_path, day) indexes of `OperatorDay` answer; nothing is cached.
"""

from dataclasses import dataclass, replace
from decimal import Decimal

from django.db.models import Count, Max, Q, Sum
from django.db.models.functions import Substr
from django.http import Http404
from django.utils.translation import gettext_lazy as _

from workbench.org.models import Branch, Operator
from workbench.org.roles import Scope
from workbench.org.scope import get_visible_operator, viewer_for, visible_branches
from workbench.reports.periods import Period
from workbench.supervision import selectors as supervision
from workbench.supervision.models import OperatorDay

# Figures that add up over days (WeCom's chat counts are not reported here), and those that are a level on a day
# (customers followed): a period reports a stock on its last day with facts.
SUMMED = [name for name in supervision.SUMMED if name not in ("chats", "messages", "negative_feedback")]
STOCKS = supervision.STOCKS

# What the ranking can order by: (key, label). Ratios come from `derive`.
RANK_METRICS = [
    ("conversions", _("Conversions")),
    ("conversion_amount", _("AUM converted")),
    ("customers_owned", _("Customers")),
    ("customers_new", _("New customers")),
    ("lost", _("Lost customers")),
    ("effective_ratio", _("Effective-customer ratio")),
    ("on_time_rate", _("Tasks on time")),
    ("confirm_rate", _("Mass-send confirmation rate")),
    ("clicks", _("Clicks")),
    ("reply_5min_rate", _("5-minute reply rate")),
]
RANK_KEYS = {key for key, _label in RANK_METRICS}


@dataclass(frozen=True)
class Node:
    """What a report is about. `path` is a branch-path prefix ("/" is the whole bank); an operator node has one."""

    name: str
    path: str
    branch: Branch | None = None
    operator: Operator | None = None

    @property
    def is_operator(self) -> bool:
        return self.operator is not None

    @property
    def is_bank(self) -> bool:
        return self.branch is None and self.operator is None

    @property
    def level_label(self) -> str:
        if self.operator is not None:
            return str(_("Operator"))
        if self.branch is None:
            return str(_("Whole bank"))
        return self.branch.get_level_display()


BANK = Node(name=str(_("Whole bank")), path="/")


def branch_node(branch: Branch) -> Node:
    return Node(name=branch.name, path=branch.path, branch=branch)


def operator_node(operator: Operator) -> Node:
    return Node(name=operator.name, path="", operator=operator)


# --- nodes within the viewer's scope -----------------------------------------------------------------------------


def bank_node() -> Node:
    """The whole bank: its single head office when there is one (the usual tree), else every root."""
    roots = list(Branch.objects.filter(parent__isnull=True)[:2])
    return branch_node(roots[0]) if len(roots) == 1 else BANK


def top_node_for(user) -> Node:
    """Where `/reports/` starts: the bank, the viewer's branch or team, or the operator themselves."""
    viewer = viewer_for(user)
    if viewer.scope == Scope.BANK:
        return bank_node()
    if viewer.scope == Scope.BRANCH:
        return branch_node(viewer.operator.branch)
    if viewer.scope == Scope.SELF:
        return operator_node(viewer.operator)
    raise Http404("No report in scope.")


def get_branch_node(user, pk) -> Node:
    """A branch dashboard: only for viewers who see a branch subtree (an operator sees their own page only)."""
    if viewer_for(user).scope not in (Scope.BANK, Scope.BRANCH):
        raise Http404("No such branch report.")
    try:
        return branch_node(visible_branches(user).get(pk=pk))
    except (Branch.DoesNotExist, ValueError, TypeError):
        raise Http404("No such branch report.") from None


def get_operator_node(user, pk) -> Node:
    """An operator's page as this viewer may see it: a branch viewer sees only the days the operator spent in
    their subtree (the path each day was computed under), not those from before a move into it."""
    node = operator_node(get_visible_operator(user, pk))
    viewer = viewer_for(user)
    return replace(node, path=viewer.branch_path) if viewer.scope == Scope.BRANCH else node


def node_from_key(user, key: str) -> Node:
    """ "top", "branch:<pk>" or "operator:<pk>" (export parameters), resolved in the user's scope."""
    kind, _sep, pk = (key or "top").partition(":")
    if kind == "branch":
        return get_branch_node(user, pk)
    if kind == "operator":
        return get_operator_node(user, pk)
    return top_node_for(user)


def node_key(node: Node) -> str:
    if node.operator is not None:
        return f"operator:{node.operator.pk}"
    if node.branch is not None:
        return f"branch:{node.branch.pk}"
    return "top"


def breadcrumb(user, node: Node) -> list[Node]:
    """The node's ancestors the viewer may open, top first (a lead's crumbs start at their team)."""
    if viewer_for(user).scope not in (Scope.BANK, Scope.BRANCH):
        return []  # an operator's own page has no level above it they may open
    if node.operator is not None:
        path = node.operator.branch.path
    elif node.branch is not None:
        path = node.branch.parent.path if node.branch.parent_id else ""
    else:
        return []
    ancestors = [path[: i + 10] for i in range(0, len(path) - 1, 9)]
    branches = visible_branches(user).filter(path__in=ancestors).order_by("path")
    return [branch_node(branch) for branch in branches]


def branch_choices(user) -> list[tuple[int, str]]:
    """The branch filter: every branch the viewer may open, indented by depth."""
    if viewer_for(user).scope not in (Scope.BANK, Scope.BRANCH):
        return []
    branches = visible_branches(user).filter(is_active=True).only("pk", "name", "path")
    return [(b.pk, "\u3000" * max(0, b.path.count("/") - 2) + b.name) for b in branches]


# --- figures -----------------------------------------------------------------------------------------------------


def _rows(node: Node, period: Period):
    rows = OperatorDay.objects.filter(day__gte=period.start, day__lte=period.end)
    if node.operator is not None:
        rows = rows.filter(operator=node.operator)
        return rows.filter(branch_path__startswith=node.path) if node.path else rows
    if node.path != "/":
        return rows.filter(branch_path__startswith=node.path)
    return rows


def _last_day(rows):
    return rows.aggregate(last=Max("day"))["last"]


def _sums(last_day) -> dict:
    sums = {name: Sum(name) for name in SUMMED}
    for name in STOCKS:
        sums[name] = Sum(name, filter=Q(day=last_day))
    return sums


def _ratio(part, whole) -> float | None:
    return float(part) / float(whole) if whole else None


def derive(figures: dict) -> dict:
    """Totals (None → 0) plus the rates every report shows; a rate without a denominator is None."""
    out = {name: figures.get(name) or 0 for name in [*SUMMED, *STOCKS]}
    out["conversion_amount"] = Decimal(out["conversion_amount"])
    out["lost"] = out["lost_by_customer"] + out["lost_by_operator"]
    out["effective_ratio"] = _ratio(out["effective_customers"], out["customers_owned"])
    # As supervision's rollup and the incentive scores count them: on time among the tasks done.
    out["on_time_rate"] = _ratio(out["tasks_on_time"], out["tasks_done"])
    out["confirm_rate"] = _ratio(out["mass_tasks_confirmed"], out["mass_tasks_received"])
    out["reply_5min_rate"] = _ratio(out["replied_within_5min"], out["conversations_started"])
    out["click_rate"] = _ratio(out["clicks"], out["deliveries"])
    delay = _ratio(out["confirm_delay_seconds"], out["mass_tasks_confirmed"])
    out["avg_confirm_minutes"] = delay / 60 if delay is not None else None
    for key in ("operator_id", "child", "day"):
        if key in figures:
            out[key] = figures[key]
    return out


def kpis(node: Node, period: Period) -> dict:
    return overview(node, period)[0]


def overview(node: Node, period: Period, *, metric: str = "conversions") -> tuple[dict, list[dict]]:
    """(the node's figures, its ranked children). A branch node's figures are the sums of its children's, so the
    facts under it are scanned once, not once for the totals and again for the ranking."""
    rows = _rows(node, period)
    last_day = _last_day(rows)
    if last_day is None:
        return derive({}) | {"last_day": None, "operators": 0}, []
    if node.operator is not None:
        figures = derive(rows.aggregate(**_sums(last_day)))
        return figures | {"last_day": last_day, "operators": 1}, []
    entries, totals = _children(node, rows, last_day)
    summed = {name: sum(total[name] for total in totals) for name in [*SUMMED, *STOCKS, "operators"]}
    figures = derive(summed) | {"last_day": last_day, "operators": summed["operators"]}
    return figures, rank(entries, metric)


def trend(node: Node, period: Period) -> list[dict]:
    """One entry per day with facts: stocks of that day and that day's sums."""
    sums = {name: Sum(name) for name in [*SUMMED, *STOCKS]}
    rows = _rows(node, period).order_by().values("day").annotate(**sums).order_by("day")
    return [derive(row) for row in rows]


def children(node: Node, period: Period, *, metric: str = "conversions") -> list[dict]:
    """The node's child branches (rolled up) and the operators placed directly at it, ranked by `metric`."""
    return overview(node, period, metric=metric)[1]


def _children(node: Node, rows, last_day) -> tuple[list[dict], list[dict]]:
    """(named child entries, every grouped row): child branches by the path one level down, plus the operators
    whose own branch is the node."""
    sums = _sums(last_day) | {"operators": Count("pk", filter=Q(day=last_day))}
    below = rows.exclude(branch_path=node.path) if node.path != "/" else rows
    child_length = len(node.path) + 9
    grouped = below.annotate(child=Substr("branch_path", 1, child_length)).values("child").annotate(**sums)
    by_branch = {row["child"]: derive(row) | {"operators": row["operators"]} for row in grouped.order_by()}
    branches = {branch.path: branch for branch in Branch.objects.filter(path__in=list(by_branch))}
    entries = [
        {"kind": "branch", "pk": branches[path].pk, "name": branches[path].name, **figures}
        for path, figures in by_branch.items()
        if path in branches
    ]
    direct = {}
    if node.path != "/":
        grouped = rows.filter(branch_path=node.path).values("operator_id").annotate(**sums).order_by()
        direct = {row["operator_id"]: derive(row) | {"operators": row["operators"]} for row in grouped}
        names = dict(Operator.objects.filter(pk__in=list(direct)).values_list("pk", "name"))
        entries += [{"kind": "operator", "pk": pk, "name": names[pk], **figures} for pk, figures in direct.items()]
    return entries, [*by_branch.values(), *direct.values()]


def rank(entries: list[dict], metric: str) -> list[dict]:
    metric = metric if metric in RANK_KEYS else "conversions"
    ordered = sorted(entries, key=lambda entry: (entry.get(metric) is None, -(entry.get(metric) or 0), entry["name"]))
    for position, entry in enumerate(ordered, start=1):
        entry["rank"] = position
    return ordered


def operator_totals(node: Node, period: Period):
    """Every operator with facts under the node, their period totals: the Excel report's detail sheet."""
    rows = _rows(node, period)
    last_day = _last_day(rows)
    if last_day is None:
        return []
    grouped = rows.values("operator_id").annotate(**_sums(last_day)).order_by("operator_id")
    return [derive(row) for row in grouped]


def operator_days(node: Node, period: Period):
    """Raw facts rows under the node, for the Excel report's daily sheet (iterated, never held in memory)."""
    fields = ["day", "operator_id", "branch_id", *STOCKS, *SUMMED]
    return _rows(node, period).order_by("day", "branch_path", "operator_id").values_list(*fields).iterator(2000)


def operator_days_count(node: Node, period: Period) -> int:
    return _rows(node, period).count()


def operator_labels(operator_ids) -> dict[int, tuple[str, str]]:
    """operator id → (name, branch name)."""
    rows = Operator.objects.filter(pk__in=list(operator_ids)).values_list("pk", "name", "branch__name")
    return {pk: (name, branch) for pk, name, branch in rows}
