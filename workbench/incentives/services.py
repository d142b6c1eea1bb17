"""Writes: saving schemes (a new version once scores use the current one), activating them, computing scores."""

import logging
from datetime import date, timedelta

from django.db import transaction
from django.db.models import Q, Sum
from django.utils import timezone

from workbench.audit.models import AuditAction
from workbench.audit.services import audit_record
from workbench.incentives.metrics import SUMMED_FIELDS
from workbench.incentives.models import MetricLine, Scheme, SchemeVersion, Score, ScoreRun
from workbench.incentives.periods import period_of
from workbench.incentives.scoring import competition_ranks, score_operator
from workbench.org.models import Branch, Operator
from workbench.supervision.models import OperatorDay

logger = logging.getLogger(__name__)

WRITE_BATCH = 500
# The progress bar moves while operators are scored; the write itself is one transaction (no half board).
PROGRESS_EVERY = 200


def scheme_save(
    *,
    user,
    scheme: Scheme | None,
    name: str,
    period_kind: str,
    roles: list[str],
    branches: list[Branch],
    lines: list[dict],
    note: str = "",
) -> SchemeVersion:
    """Create a scheme, or edit one. The current version is edited in place until scores were computed with
    it; from then on it is frozen and the edit becomes a new version."""
    with transaction.atomic():
        created = scheme is None
        if created:
            scheme = Scheme.objects.create(name=name, created_by=user)
        else:
            scheme = Scheme.objects.select_for_update().get(pk=scheme.pk)
            if scheme.name != name:
                scheme.name = name
                scheme.save(update_fields=["name"])
        current = scheme.current
        if current is not None and not current.scores.exists():
            version = current
            version.lines.all().delete()
            version.period_kind, version.roles, version.note = period_kind, list(roles), note
            version.save(update_fields=["period_kind", "roles", "note"])
        else:
            number = current.number + 1 if current else 1
            version = SchemeVersion.objects.create(
                scheme=scheme, number=number, period_kind=period_kind, roles=list(roles), note=note, created_by=user
            )
        version.branches.set(branches)
        MetricLine.objects.bulk_create(
            MetricLine(version=version, order=index, **line) for index, line in enumerate(lines)
        )
        audit_record(
            actor=user,
            action=AuditAction.INCENTIVE_SCHEME_CHANGED,
            obj=scheme,
            detail={
                "created": created,
                "version": version.number,
                "new_version": version != current,
                "period_kind": period_kind,
                "roles": list(roles),
                "branches": [branch.pk for branch in branches],
                "lines": [{key: str(value) for key, value in line.items()} for line in lines],
            },
        )
    return version


def scheme_set_active(*, user, scheme: Scheme, active: bool) -> Scheme:
    with transaction.atomic():
        scheme.is_active = active
        scheme.save(update_fields=["is_active"])
        audit_record(
            actor=user,
            action=AuditAction.INCENTIVE_SCHEME_ACTIVATED,
            obj=scheme,
            detail={"active": active, "version": scheme.current.number if scheme.current else None},
        )
    return scheme


def applicable_operators(version: SchemeVersion):
    """Active operators whose role the version names, in one of its branch subtrees (or anywhere if none)."""
    operators = Operator.objects.filter(status=Operator.Status.ACTIVE, role__in=version.roles)
    paths = [branch.path for branch in version.branches.all()]
    if paths:
        subtree = Q()
        for path in paths:
            subtree |= Q(branch__path__startswith=path)
        operators = operators.filter(subtree)
    return operators


def region_path(path: str) -> str:
    """The level-2 ancestor's path (分行), or the node's own path for head office itself."""
    segments = [segment for segment in path.split("/") if segment][:2]
    return "/" + "/".join(segments) + "/"


def scores_compute(*, scheme: Scheme, period_start: date, run: ScoreRun | None = None) -> int:
    """Score every applicable operator for the period holding `period_start` with the scheme's current version.

    One aggregate query reads the period's facts; the arithmetic is Python; the period's old scores of this
    scheme are replaced in the same transaction, so a reader sees either the old board or the new one.
    """
    version = scheme.current
    start, end = period_of(period_start, version.period_kind)
    lines = list(version.lines.all())
    operators = list(applicable_operators(version).select_related("branch").order_by("pk"))
    if run is not None:
        ScoreRun.objects.filter(pk=run.pk).update(status=ScoreRun.Status.RUNNING, total=len(operators), done=0)
    facts = (
        OperatorDay.objects.filter(day__range=(start, end), operator__in=applicable_operators(version).values("pk"))
        .values("operator_id")
        .annotate(**{field: Sum(field) for field in SUMMED_FIELDS})
    )
    sums_of = {row["operator_id"]: row for row in facts}
    regions = {
        branch.path: branch
        for branch in Branch.objects.filter(path__in={region_path(o.branch.path) for o in operators})
    }

    totals, breakdowns = {}, {}
    for index, operator in enumerate(operators, start=1):
        totals[operator.pk], breakdowns[operator.pk] = score_operator(lines, sums_of.get(operator.pk, {}))
        if run is not None and index % PROGRESS_EVERY == 0:
            ScoreRun.objects.filter(pk=run.pk).update(done=index)
    team_of = {operator.pk: operator.branch_id for operator in operators}
    region_of = {operator.pk: region_path(operator.branch.path) for operator in operators}
    team_ranks, team_sizes = competition_ranks(totals, team_of)
    region_ranks, region_sizes = competition_ranks(totals, region_of)
    bank_ranks, bank_sizes = competition_ranks(totals, dict.fromkeys(totals, "bank"))

    now = timezone.now()
    scores = [
        Score(
            scheme=scheme,
            version=version,
            period_start=start,
            period_end=end,
            operator=operator,
            team_id=operator.branch_id,
            region=regions[region_of[operator.pk]],
            team_path=operator.branch.path,
            total=totals[operator.pk],
            breakdown=breakdowns[operator.pk],
            rank_team=team_ranks[operator.pk],
            rank_region=region_ranks[operator.pk],
            rank_bank=bank_ranks[operator.pk],
            team_size=team_sizes[operator.branch_id],
            region_size=region_sizes[region_of[operator.pk]],
            bank_size=bank_sizes["bank"],
            computed_at=now,
        )
        for operator in operators
    ]
    with transaction.atomic():
        Score.objects.filter(scheme=scheme, period_start=start).delete()
        Score.objects.bulk_create(scores, batch_size=WRITE_BATCH)
    return len(scores)


def score_run_request(*, user, scheme: Scheme, period_start: date) -> ScoreRun:
    run = ScoreRun.objects.create(scheme=scheme, period_start=period_start, requested_by=user)
    from workbench.incentives.tasks import run_scores

    transaction.on_commit(lambda: run_scores.delay(run.pk))
    return run


def score_run_execute(*, run_id: int) -> ScoreRun | None:
    """Idempotent: a finished run is left alone; a re-delivered one computes again (scores are replaced)."""
    run = ScoreRun.objects.select_related("scheme").filter(pk=run_id).first()
    if run is None or run.is_finished:
        return run
    try:
        scored = scores_compute(scheme=run.scheme, period_start=run.period_start, run=run)
    except Exception as error:
        logger.exception("score run %s failed", run.pk)
        ScoreRun.objects.filter(pk=run.pk).update(
            status=ScoreRun.Status.FAILED, error=str(error)[:2000], finished_at=timezone.now()
        )
        raise
    ScoreRun.objects.filter(pk=run.pk).update(
        status=ScoreRun.Status.DONE, total=scored, done=scored, finished_at=timezone.now()
    )
    run.refresh_from_db()
    return run


def scores_compute_nightly(*, today: date | None = None) -> dict:
    """Beat, after the facts of yesterday are in: every active scheme's period holding yesterday."""
    yesterday = (today or timezone.localdate()) - timedelta(days=1)
    done = {}
    for scheme in Scheme.objects.filter(is_active=True):
        run = ScoreRun.objects.create(scheme=scheme, period_start=period_of(yesterday, scheme.current.period_kind)[0])
        done[scheme.name] = score_run_execute(run_id=run.pk).done
    return done
