"""Data-scope probes of the performance reports, for tests/test_url_scope.py.

A dashboard is a node of the bank: a team lead or branch manager opens their subtree's branches and operators, an
operator only their own page, head office everything; anything else is 404 (existence not revealed). Exports
name their node the same way; the send-now button sends only the viewer's own report. Each probe has its
positive control.
"""

from datetime import timedelta

from django.urls import reverse
from django.utils import timezone

B_NAMES = ("乙分行", "乙支行", "乙网点", "孙乙", "郑行长", "周组长")
PERSONAS = ("operator_a", "lead_a", "manager_a")


def _facts(ctx):
    from workbench.supervision.models import OperatorDay

    yesterday = timezone.localdate() - timedelta(days=1)
    for persona in ("operator_a", "operator_b"):
        operator = ctx.bank.operators[persona]
        OperatorDay.objects.create(
            day=yesterday,
            operator=operator,
            branch=operator.branch,
            branch_path=operator.branch.path,
            customers_owned=7,
            conversions=3,
        )


def _assert_absent(response, where):
    body = response.content.decode(errors="replace")
    for marker in B_NAMES:
        assert marker not in body, f"{where}: {marker!r} leaked"


def probe_index(ctx, name):
    _facts(ctx)
    for persona in PERSONAS:
        for params in ({}, {"period": "90d"}, {"metric": "customers_owned"}):
            response = ctx.login(persona).get(reverse(name), params)
            assert response.status_code == 200, (persona, params)
            _assert_absent(response, f"{name} as {persona} with {params}")
        branch_b = ctx.login(persona).get(reverse(name), {"branch": ctx.bank.branch_b.pk})
        assert branch_b.status_code == 404, persona
    control = ctx.login("admin").get(reverse(name), {"period": "7d"})
    assert "乙分行" in control.content.decode()


def probe_branch(ctx, name):
    _facts(ctx)
    bank = ctx.bank
    for persona in PERSONAS:
        for branch in (bank.branch_b, bank.sub_b, bank.outlet_b, bank.head):
            response = ctx.login(persona).get(reverse(name, args=[branch.pk]))
            assert response.status_code == 404, (persona, branch.name, response.status_code)
            _assert_absent(response, f"{name} {branch.name} as {persona}")
    assert ctx.login("operator_a").get(reverse(name, args=[bank.outlet_a.pk])).status_code == 404
    control = ctx.login("manager_b").get(reverse(name, args=[bank.branch_b.pk]), {"period": "7d"})
    assert control.status_code == 200 and "乙支行" in control.content.decode()


def probe_operator(ctx, name):
    _facts(ctx)
    url = reverse(name, args=[ctx.bank.operators["operator_b"].pk])
    for persona in PERSONAS:
        response = ctx.login(persona).get(url)
        assert response.status_code == 404, (persona, response.status_code)
        _assert_absent(response, f"{name} as {persona}")
    assert ctx.login("operator_a").get(reverse(name, args=[ctx.bank.operators["operator_a2"].pk])).status_code == 404
    control = ctx.login("lead_b").get(url, {"period": "7d"})
    assert control.status_code == 200 and control.context["figures"]["conversions"] == 3


def probe_export(ctx, name):
    from workbench.exports.models import ExportJob

    _facts(ctx)
    bank = ctx.bank
    nodes = [f"branch:{bank.branch_b.pk}", f"branch:{bank.outlet_b.pk}", f"operator:{bank.operators['operator_b'].pk}"]
    for persona in ("lead_a", "manager_a"):
        for node in nodes:
            response = ctx.login(persona).post(reverse(name), {"node": node, "period": "7d"})
            assert response.status_code == 404, (persona, node, response.status_code)
    for persona in ("operator_a", "reviewer", "nobody"):
        assert ctx.login(persona).post(reverse(name), {"node": "top"}).status_code == 403, persona
    assert not ExportJob.objects.exists()
    control = ctx.login("manager_b").post(reverse(name), {"node": nodes[0], "period": "7d"})
    assert control.status_code == 302
    assert ExportJob.objects.get().requested_by == bank.user("manager_b")


def probe_send_now(ctx, name, settings=None):
    from django.test import override_settings

    from workbench.reports.models import ReportDispatch

    _facts(ctx)
    for persona in ("operator_a", "reviewer", "nobody"):
        assert ctx.login(persona).post(reverse(name), {"kind": "weekly"}).status_code == 403, persona
    # No WeCom here: the send fails as a transient error, but the row says whose report it was.
    with override_settings(WECOM_API_BASE_URL="http://127.0.0.1:9/cgi-bin/", WECOM_MAX_RETRIES=0):
        data = {"kind": "weekly", "manager": ctx.bank.operators["manager_b"].pk}
        response = ctx.login("manager_a").post(reverse(name), data)
    assert response.status_code == 302
    assert list(ReportDispatch.objects.values_list("manager__name", flat=True)) == ["吴行长"]


PROBES = {
    "reports:index": probe_index,
    "reports:branch": probe_branch,
    "reports:operator": probe_operator,
    "reports:export": probe_export,
    "reports:send-now": probe_send_now,
}
