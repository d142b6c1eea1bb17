"""Data-scope probes of the incentive pages, for tests/test_url_scope.py.

Leaderboards show names, totals and ranks of the viewer's own team, branch and bank; a breakdown (points per
metric) only for operators in the viewer's data scope. Schemes are whole-bank by design: only head office manages
them. Each probe has its positive control.
"""

from datetime import date

from django.urls import reverse

PERIOD = date(2026, 10, 1)
# operator_b's new-customer points (60 × 13/25): in their breakdown only, never a total anywhere (totals: 71.20
# for operator_b, 47.20 and 52.00 for branch A's operators).
B_POINTS = "31.20"


def _text(response) -> str:
    return response.content.decode(errors="replace")


def _scored(ctx):
    from tests.incentives.support import fact, line, make_scheme
    from workbench.incentives.services import scores_compute

    ops = ctx.bank.operators
    fact(ops["operator_a"], PERIOD, customers_new=3)
    fact(ops["operator_a2"], PERIOD, customers_new=5)
    fact(ops["operator_b"], PERIOD, customers_new=13)
    scheme = make_scheme(
        ctx.bank.user("admin"), lines=[line("new_customers", 60, 25), line("negative_feedback", 40, 2, cap=40)]
    )
    scores_compute(scheme=scheme, period_start=PERIOD)
    return scheme


def _score_of(persona: str, ctx):
    from workbench.incentives.models import Score

    return Score.objects.get(operator=ctx.bank.operators[persona])


def probe_leaderboard(ctx, name: str):
    _scored(ctx)
    url = reverse(name)
    b_score = _score_of("operator_b", ctx)
    for persona in ("operator_a", "lead_a", "manager_a"):
        client = ctx.login(persona)
        for level in ("team", "region", "bank"):
            response = client.get(url, {"level": level, "period": PERIOD.isoformat()})
            assert response.status_code == 200, (persona, level)
            body = _text(response)
            assert B_POINTS not in body, (persona, level)
            assert reverse("incentives:score", args=[b_score.pk]) not in body, (persona, level)
            if level != "bank":  # branch B's operator is on no team or branch board of branch A
                assert "孙乙" not in body, (persona, level)
        for level, anchor in (("team", ctx.bank.outlet_b.pk), ("region", ctx.bank.branch_b.pk)):
            assert client.get(url, {"level": level, "anchor": anchor}).status_code == 404, (persona, level)
    control = ctx.login("manager_b").get(url, {"level": "bank", "period": PERIOD.isoformat()})
    assert B_POINTS in _text(control)


def probe_leaderboard_export(ctx, name: str):
    from openpyxl import load_workbook

    from workbench.exports.models import ExportJob
    from workbench.exports.services import export_path
    from workbench.incentives.export import leaderboard_export_run

    _scored(ctx)
    url = reverse(name)
    assert ctx.login("operator_a").post(url, {"level": "bank"}).status_code == 403
    for persona in ("lead_a", "manager_a"):
        assert ctx.login(persona).post(url, {"level": "team", "anchor": ctx.bank.outlet_b.pk}).status_code == 404
        before = set(ExportJob.objects.values_list("pk", flat=True))
        assert ctx.login(persona).post(url, {"level": "bank"}).status_code == 302
        (job_pk,) = set(ExportJob.objects.values_list("pk", flat=True)) - before
        sheet = load_workbook(export_path(leaderboard_export_run(job_id=job_pk))).active
        rows = {row[1]: row for row in sheet.iter_rows(min_row=2, values_only=True)}
        assert rows["孙乙"][4] == 71.2 and rows["孙乙"][5:] == (None, None), (
            persona
        )  # on the bank board, but no points per metric
    ctx.login("manager_b").post(url, {"level": "bank"})
    control = load_workbook(export_path(leaderboard_export_run(job_id=ExportJob.objects.latest("pk").pk))).active
    assert {row[1]: row for row in control.iter_rows(min_row=2, values_only=True)}["孙乙"][5:] == (31.2, 40)


def probe_my_card(ctx, name: str):
    _scored(ctx)
    for persona in ("operator_a", "lead_a", "manager_a"):
        response = ctx.login(persona).get(reverse(name))
        assert response.status_code == 200
        assert B_POINTS not in _text(response) and "孙乙" not in _text(response), persona
    assert B_POINTS in _text(ctx.login("operator_b").get(reverse(name)))


def probe_score(ctx, name: str):
    _scored(ctx)
    url = reverse(name, args=[_score_of("operator_b", ctx).pk])
    for persona in ("operator_a", "operator_a2", "lead_a", "manager_a"):
        response = ctx.login(persona).get(url)
        assert response.status_code == 404, persona
        assert B_POINTS not in _text(response)
    assert ctx.login("manager_b").get(url).status_code == 200
    assert ctx.login("operator_b").get(url).status_code == 200


def probe_incentives_admin_gate(method: str, *, args=None, data=None):
    """Schemes are whole-bank by design: the gate is the scope. Only head-office admins enter."""

    def probe(ctx, name: str):
        scheme = _scored(ctx)
        url = reverse(name, args=args(ctx, scheme) if args else None)
        payload = data(ctx) if data else {}
        for persona in ("operator_a", "lead_a", "manager_a", "manager_b", "reviewer", "nobody"):
            assert getattr(ctx.login(persona), method)(url, payload).status_code == 403, persona
        assert getattr(ctx.login("admin"), method)(url, payload).status_code in (200, 302)

    return probe


def _scheme_pk(ctx, scheme) -> list[int]:
    return [scheme.pk]


def _run_pk(ctx, scheme) -> list[int]:
    from workbench.incentives.models import ScoreRun

    return [ScoreRun.objects.create(scheme=scheme, period_start=PERIOD).pk]


PROBES = {
    "incentives:leaderboard": probe_leaderboard,
    "incentives:leaderboard-export": probe_leaderboard_export,
    "incentives:my-card": probe_my_card,
    "incentives:score": probe_score,
    "incentives:schemes": probe_incentives_admin_gate("get"),
    "incentives:scheme-new": probe_incentives_admin_gate("get"),
    "incentives:scheme-edit": probe_incentives_admin_gate("get", args=_scheme_pk),
    "incentives:scheme-activate": probe_incentives_admin_gate(
        "post", args=_scheme_pk, data=lambda ctx: {"active": "1"}
    ),
    "incentives:scheme-compute": probe_incentives_admin_gate(
        "post", args=_scheme_pk, data=lambda ctx: {"period": PERIOD.isoformat()}
    ),
    "incentives:run-progress": probe_incentives_admin_gate("get", args=_run_pk),
}
