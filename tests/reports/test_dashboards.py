"""The dashboards: each role's starting level, drill-down links, filters, and the data scope of every page."""

import json

import pytest
from django.urls import reverse

from tests.reports.support import DAY1, DAY2, standard_facts

CUSTOM = {"period": "custom", "start": DAY1.isoformat(), "end": DAY2.isoformat()}


@pytest.fixture
def facts(bank):
    return standard_facts(bank)


def chart_data(response) -> dict:
    body = response.content.decode()
    start = body.index('<script id="report-data" type="application/json">') + len(
        '<script id="report-data" type="application/json">'
    )
    return json.loads(body[start : body.index("</script>", start)])


@pytest.mark.parametrize(
    ("persona", "expected"),
    [("admin", "head"), ("manager_a", "branch_a"), ("lead_a", "sub_a"), ("operator_a", None)],
)
def test_reports_start_at_the_viewers_level(bank, login, facts, persona, expected):
    response = login(persona).get(reverse("reports:index"), CUSTOM)
    assert response.status_code == 200
    node = response.context["node"]
    if expected is None:
        assert node.operator == bank.operators["operator_a"]
        assert response.context["ranked"] == []
        assert response.context["branch_choices"] == []
    else:
        assert node.branch == getattr(bank, expected)


def test_branch_dashboard_shows_figures_charts_and_drill_down_links(bank, login, facts):
    response = login("manager_a").get(reverse("reports:index"), CUSTOM | {"metric": "customers_new"})
    assert response.context["figures"]["customers_owned"] == 23
    body = response.content.decode()
    assert "reports/vendor/chart.umd.min.js" in body and "reports/reports.js" in body
    drill = f"{reverse('reports:branch', args=[bank.sub_a.pk])}?period=custom&amp;start={DAY1}&amp;end={DAY2}"
    assert drill in body
    data = chart_data(response)
    assert data["days"] == [DAY1.isoformat(), DAY2.isoformat()]
    assert data["series"]["customers"] == [17, 23]
    assert data["ranking"]["names"] == ["甲支行"]
    assert data["ranking"]["values"] == [7.0]
    assert data["ranking"]["links"][0].startswith(reverse("reports:branch", args=[bank.sub_a.pk]))
    assert data["churn"] == {"byCustomer": 3, "byOperator": 1}


def test_drill_down_from_team_to_operator(bank, login, facts):
    client = login("lead_a")
    team = client.get(reverse("reports:branch", args=[bank.sub_a.pk]), CUSTOM)
    assert [child["name"] for child in team.context["ranked"]] == ["甲网点", "李组长"]
    outlet = client.get(team.context["ranked"][0]["url"])
    assert [child["name"] for child in outlet.context["ranked"]] == ["钱甲", "赵甲"]
    operator = client.get(outlet.context["ranked"][0]["url"])
    assert operator.status_code == 200
    assert operator.context["node"].operator == bank.operators["operator_a2"]
    assert operator.context["figures"]["conversions"] == 4
    assert [crumb.name for crumb, _url in operator.context["crumbs"]] == ["甲支行", "甲网点"]


def test_period_filter(bank, login, facts):
    client = login("manager_a")
    one_day = client.get(reverse("reports:index"), {"period": "custom", "start": DAY2, "end": DAY2})
    assert one_day.context["figures"]["customers_new"] == 4
    assert one_day.context["period"].days == 1
    whole = client.get(reverse("reports:index"), {"period": "custom", "start": DAY1, "end": DAY2})
    assert whole.context["figures"]["customers_new"] == 7


def test_branch_filter_opens_that_branch(bank, login, facts):
    response = login("admin").get(reverse("reports:index"), CUSTOM | {"branch": bank.branch_b.pk})
    assert response.status_code == 302
    assert response["Location"].startswith(reverse("reports:branch", args=[bank.branch_b.pk]))
    assert "start=" in response["Location"] and "branch=" not in response["Location"]


@pytest.mark.parametrize("persona", ["operator_a", "lead_a", "manager_a"])
def test_nobody_reaches_another_branch(bank, login, facts, persona):
    client = login(persona)
    assert client.get(reverse("reports:branch", args=[bank.branch_b.pk])).status_code == 404
    assert client.get(reverse("reports:index"), {"branch": bank.branch_b.pk}).status_code == 404
    assert client.get(reverse("reports:operator", args=[bank.operators["operator_b"].pk])).status_code == 404
    assert "孙乙" not in client.get(reverse("reports:index"), CUSTOM).content.decode()


def test_an_operator_sees_only_their_own_page(bank, login, facts):
    client = login("operator_a")
    assert client.get(reverse("reports:branch", args=[bank.outlet_a.pk])).status_code == 404
    assert client.get(reverse("reports:operator", args=[bank.operators["operator_a2"].pk])).status_code == 404
    assert client.get(reverse("reports:operator", args=[bank.operators["operator_a"].pk])).status_code == 200


def test_a_team_lead_cannot_climb_above_their_team(bank, login, facts):
    client = login("lead_a")
    assert client.get(reverse("reports:branch", args=[bank.branch_a.pk])).status_code == 404
    assert client.get(reverse("reports:branch", args=[bank.head.pk])).status_code == 404
    response = client.get(reverse("reports:branch", args=[bank.outlet_a.pk]))
    assert [crumb.name for crumb, _url in response.context["crumbs"]] == ["甲支行"]


def test_head_office_reaches_every_branch(bank, login, facts):
    client = login("admin")
    assert (
        client.get(reverse("reports:branch", args=[bank.branch_b.pk]), CUSTOM).context["figures"]["customers_owned"]
        == 99
    )
    assert client.get(reverse("reports:operator", args=[bank.operators["operator_b"].pk])).status_code == 200


@pytest.mark.parametrize("persona", ["nobody"])
def test_logins_without_a_profile_are_refused(bank, login, persona):
    assert login(persona).get(reverse("reports:index")).status_code == 403


def test_empty_period_says_so(bank, login):
    response = login("manager_a").get(reverse("reports:index"))
    assert response.status_code == 200
    assert response.context["figures"]["last_day"] is None
    assert response.context["ranked"] == []
