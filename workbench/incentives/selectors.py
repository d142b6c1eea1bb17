"""Reads: schemes, leaderboards, score cards and the home page's card — each through the data-scope module.

Who sees what: every operator may see the leaderboard of their own team, branch and the bank — names, totals and
ranks. A breakdown (how the points were earned) is shown only for operators in the viewer's data scope
(`visible_operators`): an operator their own, a team lead or branch manager their subtree's, head office all.
"""

from dataclasses import dataclass, field
from datetime import date
from decimal import Decimal

from django.http import Http404
from django.urls import reverse

from workbench.incentives.metrics import METRICS
from workbench.incentives.models import Scheme, Score, ScoreRun
from workbench.incentives.periods import period_label
from workbench.incentives.services import region_path
from workbench.org.models import Branch
from workbench.org.scope import viewer_for, visible_branches, visible_operators

LEVELS = ("team", "region", "bank")
BOARD_ROWS_SHOWN = 500


def schemes():
    return Scheme.objects.prefetch_related("versions__lines", "versions__branches")


def scored_schemes():
    """Schemes with at least one computed period: what a leaderboard can show."""
    return Scheme.objects.filter(scores__isnull=False).distinct().order_by("-is_active", "name")


def scored_periods(scheme: Scheme) -> list[tuple[date, str]]:
    rows = Score.objects.filter(scheme=scheme).values_list("period_start", "version__period_kind").distinct()
    return sorted({(start, period_label(start, kind)) for start, kind in rows}, reverse=True)


def latest_run(scheme: Scheme) -> ScoreRun | None:
    return scheme.runs.order_by("-created_at").first()


def get_run(pk) -> ScoreRun:
    try:
        return ScoreRun.objects.select_related("scheme").get(pk=pk)
    except (ScoreRun.DoesNotExist, ValueError, TypeError):
        raise Http404("No such run.") from None


# --- leaderboards -----------------------------------------------------------------------------------------------


@dataclass
class Board:
    scheme: Scheme
    period_start: date
    level: str
    anchor: Branch | None
    anchors: list[Branch]
    rows: list[Score] = field(default_factory=list)
    total_rows: int = 0
    metric_lines: list[dict] = field(default_factory=list)


def board_anchors(user, level: str) -> list[Branch]:
    """The teams (or 分行) whose board this user may open: their own, and those in their data scope."""
    viewer = viewer_for(user)
    own = viewer.operator.branch if viewer.operator else None
    visible = visible_branches(user)
    if level == "team":
        return list(visible.order_by("path"))
    paths = {branch.path for branch in visible.filter(level__lte=Branch.Level.BRANCH)}
    if own is not None:
        paths.add(region_path(own.path))
    return list(Branch.objects.filter(path__in=paths).order_by("path"))


def board_for(user, *, scheme: Scheme, period_start: date, level: str, anchor_id=None, limit=BOARD_ROWS_SHOWN):
    if level not in LEVELS:
        level = "team"
    anchors = board_anchors(user, level) if level != "bank" else []
    anchor = None
    if level != "bank":
        if anchor_id not in (None, ""):
            anchor = next((branch for branch in anchors if str(branch.pk) == str(anchor_id)), None)
            if anchor is None:
                raise Http404("No such board.")
        else:
            anchor = _default_anchor(user, level, anchors)
    scores = Score.objects.filter(scheme=scheme, period_start=period_start)
    if level == "team":
        scores = scores.filter(team=anchor)
        order = ["rank_team", "operator__name"]
    elif level == "region":
        scores = scores.filter(region=anchor)
        order = ["rank_region", "operator__name"]
    else:
        order = ["rank_bank", "operator__name"]
    scores = scores.select_related("operator", "team", "region", "version").order_by(*order)
    board = Board(scheme, period_start, level, anchor, anchors, total_rows=scores.count())
    rows = list(scores[:limit] if limit else scores)
    own = _own_row(user, scores) if limit else None
    if own is not None and own not in rows:
        rows.append(own)
    if rows:
        board.metric_lines = [_line_meta(entry) for entry in rows[0].breakdown]
    _mark_breakdowns(user, rows, [line["metric"] for line in board.metric_lines])
    board.rows = rows
    return board


def _default_anchor(user, level: str, anchors: list[Branch]) -> Branch | None:
    viewer = viewer_for(user)
    if viewer.operator is not None:
        wanted = viewer.operator.branch.path if level == "team" else region_path(viewer.operator.branch.path)
        for branch in anchors:
            if branch.path == wanted:
                return branch
    return anchors[0] if anchors else None


def _own_row(user, scores) -> Score | None:
    operator = viewer_for(user).operator
    return scores.filter(operator=operator).first() if operator else None


def _mark_breakdowns(user, rows: list[Score], metrics: list[str]) -> None:
    """Each row's points per metric, in the board's column order — only where the viewer may see the breakdown."""
    ids = {row.operator_id for row in rows}
    may_see = set(visible_operators(user).filter(pk__in=ids).values_list("pk", flat=True))
    own = viewer_for(user).operator
    for row in rows:
        row.shows_breakdown = row.operator_id in may_see
        row.is_own = own is not None and row.operator_id == own.pk
        points = {entry["metric"]: Decimal(entry["points"]) for entry in row.breakdown} if row.shows_breakdown else {}
        row.metric_points = [points.get(metric) for metric in metrics]


def _line_meta(entry: dict) -> dict:
    metric = METRICS.get(entry["metric"])
    return {"metric": entry["metric"], "label": metric.label if metric else entry["metric"]}


# --- score cards ------------------------------------------------------------------------------------------------


def get_visible_score(user, pk) -> Score:
    """One score with its breakdown, if the user may see that operator's details; 404 otherwise."""
    try:
        return (
            Score.objects.select_related("operator", "team", "region", "version", "scheme")
            .filter(operator__in=visible_operators(user).values("pk"))
            .get(pk=pk)
        )
    except (Score.DoesNotExist, ValueError, TypeError):
        raise Http404("No such score.") from None


def scores_of(operator, *, period_start: date | None = None):
    scores = Score.objects.filter(operator=operator).select_related("scheme", "version", "team", "region")
    if period_start is not None:
        scores = scores.filter(period_start=period_start)
    return scores.order_by("-period_start", "scheme__name")


def explain(score: Score) -> list[dict]:
    """The breakdown with labels and a bar length per line (points against the largest cap on the card)."""
    lines = []
    longest = max((abs(Decimal(entry["points"])) for entry in score.breakdown), default=Decimal(0))
    for entry in score.breakdown:
        metric = METRICS.get(entry["metric"])
        points = Decimal(entry["points"])
        lines.append(
            {
                **entry,
                "label": metric.label if metric else entry["metric"],
                "unit": metric.unit if metric else "count",
                "lower_is_better": bool(metric and metric.lower_is_better),
                "value_text": format_amount(entry["value"], metric.unit if metric else "count"),
                "target_text": format_amount(entry["target"], metric.unit if metric else "count"),
                "points_value": points,
                "bar": int(abs(points) * 100 / longest) if longest else 0,
                "negative": points < 0,
            }
        )
    return lines


def format_amount(value: str | None, unit: str) -> str:
    """A metric's value or target as the card shows it: 87.5%, 1,234 or ¥1,234,567."""
    if value is None:
        return "—"
    number = Decimal(value).normalize()
    if unit == "percent":
        return f"{number:f}%"
    if unit == "yuan":
        return f"¥{Decimal(value):,.0f}"
    return f"{Decimal(value):,.0f}" if number == number.to_integral() else f"{number:,f}"


def period_name(score: Score) -> str:
    return period_label(score.period_start, score.version.period_kind)


def applicable_schemes(operator):
    """Active schemes whose current version names this operator's role and covers their branch."""
    found = []
    for scheme in Scheme.objects.filter(is_active=True).order_by("name"):
        version = scheme.current
        if version is None or operator.role not in version.roles:
            continue
        paths = [branch.path for branch in version.branches.all()]
        if not paths or any(operator.branch.path.startswith(path) for path in paths):
            found.append(scheme)
    return found


def home_card(operator) -> dict | None:
    """The operator's latest score of the first scheme that applies to them, for the home page; None when no
    active scheme applies."""
    if operator is None:
        return None
    schemes_found = applicable_schemes(operator)
    if not schemes_found:
        return None
    scheme = schemes_found[0]
    score = Score.objects.filter(scheme=scheme, operator=operator).select_related("version").order_by("-period_start")
    score = score.first()
    card = {"scheme": scheme, "score": score, "url": reverse("incentives:my-card")}
    if score is None:
        return card
    lines = explain(score)
    card |= {
        "period": period_name(score),
        "total": score.total,
        "ranks": [
            {"level": "team", "rank": score.rank_team, "of": score.team_size},
            {"level": "region", "rank": score.rank_region, "of": score.region_size},
            {"level": "bank", "rank": score.rank_bank, "of": score.bank_size},
        ],
        "top_metrics": sorted(lines, key=lambda line: line["points_value"], reverse=True)[:3],
    }
    return card
