"""The REST API: token auth, the customer filters and paging, the error shape, the schema and its docs."""

import re
from urllib.parse import urlparse

import pytest
from django.conf import settings
from django.contrib.staticfiles import finders
from django.urls import reverse
from rest_framework.authtoken.models import Token
from rest_framework.test import APIClient

from tests.factories import PASSWORD, CustomerFactory
from workbench.audit.models import AuditAction, AuditEvent

TOKEN_URL = "/api/v1/auth/token"
CUSTOMERS_URL = "/api/v1/customers/"


def _keys(bank, response) -> set[str]:
    by_pk = {customer.pk: key for key, customer in bank.customers.items()}
    return {by_pk[row["id"]] for row in response.json()["results"]}


def _assert_error_shape(response, status: int, code: str | None = None) -> dict:
    assert response.status_code == status, response.content
    body = response.json()
    assert set(body) == {"error"}
    assert isinstance(body["error"]["message"], str) and body["error"]["message"]
    if code is not None:
        assert body["error"]["code"] == code
    return body["error"]


# --- token ---------------------------------------------------------------------------------------------------


def test_token_for_username_and_password(bank):
    response = APIClient().post(TOKEN_URL, {"username": "operator_a", "password": PASSWORD}, format="json")
    assert response.status_code == 200
    token = response.json()["token"]
    assert Token.objects.get(user=bank.user("operator_a")).key == token
    assert AuditEvent.objects.filter(action=AuditAction.API_TOKEN_ISSUED, actor=bank.user("operator_a")).exists()
    # The same token is handed out again, not a new one per call.
    again = APIClient().post(TOKEN_URL, {"username": "operator_a", "password": PASSWORD}, format="json")
    assert again.json()["token"] == token


def test_token_with_wrong_password(bank):
    response = APIClient().post(TOKEN_URL, {"username": "operator_a", "password": "wrong"}, format="json")
    _assert_error_shape(response, 401, "authentication_failed")
    assert not Token.objects.filter(user=bank.user("operator_a")).exists()
    failed = AuditEvent.objects.get(action=AuditAction.LOGIN_FAILED)
    assert failed.actor_username == "operator_a"
    assert failed.ip_address == "127.0.0.1"


@pytest.mark.parametrize("persona", ["nobody", "resigned"])
def test_token_refused_to_logins_without_access(bank, persona):
    response = APIClient().post(TOKEN_URL, {"username": persona, "password": PASSWORD}, format="json")
    _assert_error_shape(response, 401, "authentication_failed")


def test_token_with_missing_fields(db):
    response = APIClient().post(TOKEN_URL, {"username": "someone"}, format="json")
    error = _assert_error_shape(response, 400, "invalid")
    assert "password" in error["fields"]


def test_token_authentication(bank, api_as):
    assert api_as("operator_a").get(CUSTOMERS_URL).status_code == 200
    _assert_error_shape(APIClient().get(CUSTOMERS_URL), 401)
    forged = APIClient()
    forged.credentials(HTTP_AUTHORIZATION="Token 0123456789abcdef0123456789abcdef01234567")
    _assert_error_shape(forged.get(CUSTOMERS_URL), 401, "authentication_failed")


def test_token_of_a_resigned_operator_stops_working(bank):
    token = Token.objects.create(user=bank.user("resigned"))
    client = APIClient()
    client.credentials(HTTP_AUTHORIZATION=f"Token {token.key}")
    _assert_error_shape(client.get(CUSTOMERS_URL), 401)


def test_token_of_a_login_without_profile_sees_nothing(bank, api_as):
    response = api_as("nobody").get(CUSTOMERS_URL)
    assert response.status_code == 200
    assert response.json()["results"] == []


# --- customers -----------------------------------------------------------------------------------------------


def test_list_is_scoped(bank, api_as):
    assert _keys(bank, api_as("operator_a").get(CUSTOMERS_URL)) == {"a_own", "a_followed", "b_shared"}
    assert _keys(bank, api_as("manager_b").get(CUSTOMERS_URL)) == {"b_own", "b_shared"}
    assert len(api_as("admin").get(CUSTOMERS_URL).json()["results"]) == len(bank.customers)


def test_list_row_shape(bank, api_as):
    rows = api_as("manager_b").get(CUSTOMERS_URL, {"q": "CB0000000001"}).json()["results"]
    assert len(rows) == 1
    row = rows[0]
    assert row["customer_no"] == "CB0000000001"
    assert row["owner"] == "operator_b"  # the owner's WeCom userid
    assert row["owner_name"] == "孙乙"
    assert row["branch"] == "乙网点"
    assert row["mobile_masked"] == "139****4321"
    assert "mobile" not in row and "id_number" not in row


@pytest.mark.parametrize(
    ("params", "expected"),
    [
        ({"q": "CB0000000001"}, {"b_own"}),
        ({"q": "cb0000000001"}, {"b_own"}),
        ({"q": "乙客户"}, {"b_own", "b_shared"}),
        ({"q": "13987654321"}, {"b_own"}),
        ({"q": "139****4321"}, {"b_own"}),
        ({"q": "4321"}, {"b_own"}),
        ({"branch": "branch_b"}, {"b_own", "b_shared"}),
        ({"branch": "branch_a"}, {"a_own", "a_followed", "a_unfollowed", "a_branch"}),
        ({"branch": "outlet_a"}, {"a_own", "a_followed", "a_unfollowed"}),
        ({"owner": "operator_b"}, {"b_own", "b_shared"}),
        ({"occupation_group": "retiree"}, {"b_own"}),
        ({"aum_min": "200000"}, {"b_own"}),
        ({"aum_min": "250000", "aum_max": "250000"}, {"b_own"}),
        ({"aum_max": "199999.99"}, {"a_own", "a_followed", "a_unfollowed", "a_branch", "b_shared", "unowned"}),
        ({"external_userid": "wmBOWN0001"}, {"b_own"}),
        ({"external_userid": "wmNOBODY"}, set()),
        ({"branch": "branch_b", "q": "乙客户贰"}, {"b_shared"}),
    ],
)
def test_list_filters(bank, api_as, params, expected):
    resolved = {}
    for key, value in params.items():
        if key == "branch":
            value = getattr(bank, value).pk
        elif key == "owner":
            value = bank.operators[value].pk
        resolved[key] = value
    response = api_as("admin").get(CUSTOMERS_URL, resolved)
    assert response.status_code == 200, response.content
    assert _keys(bank, response) == expected


@pytest.mark.parametrize(
    ("params", "field"),
    [
        ({"aum_min": "-5"}, "aum_min"),
        ({"aum_max": "lots"}, "aum_max"),
        ({"occupation_group": "bogus"}, "occupation_group"),
        ({"branch": "not-a-number"}, "branch"),
        ({"owner": "999999999"}, "owner"),
    ],
)
def test_invalid_filters_answer_400_with_the_error_shape(bank, api_as, params, field):
    error = _assert_error_shape(api_as("admin").get(CUSTOMERS_URL, params), 400, "invalid")
    assert field in error["fields"]


def test_filters_cannot_name_out_of_scope_branches_or_owners(bank, api_as):
    client = api_as("operator_a")
    for params in ({"branch": bank.branch_b.pk}, {"owner": bank.operators["operator_b"].pk}):
        error = _assert_error_shape(client.get(CUSTOMERS_URL, params), 400, "invalid")
        assert set(error["fields"]) == set(params)
        assert "CB0000000001" not in str(error)


def test_cursor_pagination_walks_every_row_newest_first(bank, api_as):
    client = api_as("admin")
    seen = []
    url, params = CUSTOMERS_URL, {"page_size": 2}
    for _ in range(10):
        response = client.get(url, params)
        assert response.status_code == 200
        body = response.json()
        assert len(body["results"]) <= 2
        assert "count" not in body  # no COUNT(*) over millions of rows
        seen.extend(row["id"] for row in body["results"])
        if not body["next"]:
            break
        url, params = body["next"], None
    assert seen == sorted((c.pk for c in bank.customers.values()), reverse=True)


def test_page_size_is_capped(bank, api_as):
    CustomerFactory.create_batch(3, owner=bank.operators["operator_a"])
    response = api_as("admin").get(CUSTOMERS_URL, {"page_size": 100000})
    assert response.status_code == 200
    assert len(response.json()["results"]) == len(bank.customers) + 3  # all fit under the cap of 200


def test_invalid_cursor(bank, api_as):
    _assert_error_shape(api_as("admin").get(CUSTOMERS_URL, {"cursor": "garbage"}), 404, "not_found")


def test_detail(bank, api_as):
    customer = bank.customers["a_followed"]
    body = api_as("operator_a").get(reverse("api:customer-detail", args=[customer.pk])).json()
    assert body["customer_no"] == "CA0000000002"
    assert {follow["operator"] for follow in body["follows"]} == {"operator_a", "operator_a2"}
    assert body["holdings"] == []


@pytest.mark.parametrize("name", ["api:customer-detail", "api:customer-pii"])
def test_detail_and_pii_out_of_scope_are_404(bank, api_as, name):
    for persona in ("operator_a", "manager_a", "lead_a"):
        response = api_as(persona).get(reverse(name, args=[bank.customers["b_own"].pk]))
        _assert_error_shape(response, 404, "not_found")
        assert "CB0000000001" not in response.content.decode()
    _assert_error_shape(api_as("admin").get(reverse(name, args=[2_000_000_000])), 404, "not_found")


def test_org_endpoints_are_scoped(bank, api_as):
    client = api_as("lead_a")
    branches = client.get(reverse("api:branch-list")).json()
    assert {row["name"] for row in branches} == {"甲支行", "甲网点"}
    operators = client.get(reverse("api:operator-list")).json()
    assert operators["next"] is None
    assert {row["wecom_userid"] for row in operators["results"]} == {"lead_a", "operator_a", "operator_a2", "resigned"}


# --- schema and docs -----------------------------------------------------------------------------------------


def test_openapi_schema(db):
    response = APIClient().get("/api/schema/", HTTP_ACCEPT="application/vnd.oai.openapi+json")
    assert response.status_code == 200
    schema = response.json()
    assert schema["openapi"].startswith("3.")
    for path in ("/api/v1/auth/token", "/api/v1/customers/", "/api/v1/customers/{id}/", "/api/v1/customers/{id}/pii/"):
        assert path in schema["paths"], sorted(schema["paths"])
    parameters = {p["name"] for p in schema["paths"]["/api/v1/customers/"]["get"]["parameters"]}
    assert {"q", "branch", "owner", "occupation_group", "aum_min", "aum_max", "external_userid", "cursor"} <= parameters


def test_api_docs_use_only_local_assets(db):
    response = APIClient().get("/api/docs/")
    assert response.status_code == 200
    html = response.content.decode()
    assert "swagger" in html.lower()
    foreign = [
        url
        for url in re.findall(r"""https?://[^\s"'<>)]+""", html)
        if urlparse(url).hostname not in {"testserver", "localhost", "127.0.0.1"}
    ]
    assert foreign == []
    # The assets it does reference are served by this site.
    assets = re.findall(r"""(?:src|href)=["']([^"']+)["']""", html)
    assert assets and all(asset.startswith(settings.STATIC_URL) for asset in assets), assets
    for asset in assets:
        assert finders.find(asset.removeprefix(settings.STATIC_URL)), f"{asset} is not a static file of this site"
