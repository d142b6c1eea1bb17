"""Logging in and out: audited with the client address, throttled by django-axes on the web and the API."""

import pytest
from django.conf import settings
from django.test import Client
from django.urls import reverse
from rest_framework.authtoken.models import Token
from rest_framework.test import APIClient

from tests.factories import PASSWORD
from workbench.audit.models import AuditAction, AuditEvent

LOGIN_URL = reverse("login")
TOKEN_URL = reverse("api:token")


def _web_login(client, username, password, ip="10.0.0.7"):
    return client.post(LOGIN_URL, {"username": username, "password": password}, REMOTE_ADDR=ip)


def _logged_in(client) -> bool:
    return "_auth_user_id" in client.session


def test_login_page_renders(db):
    response = Client().get(LOGIN_URL)
    assert response.status_code == 200
    assert 'name="password"' in response.content.decode()


def test_login_and_logout_are_audited_with_the_ip(bank):
    client = Client()
    response = _web_login(client, "operator_a", PASSWORD)
    assert response.status_code == 302
    assert response["Location"] == reverse(settings.LOGIN_REDIRECT_URL)
    assert _logged_in(client)
    event = AuditEvent.objects.get(action=AuditAction.LOGIN)
    assert (event.actor, event.ip_address) == (bank.user("operator_a"), "10.0.0.7")

    response = client.post(reverse("logout"), REMOTE_ADDR="10.0.0.8")
    assert response.status_code == 302
    assert not _logged_in(client)
    event = AuditEvent.objects.get(action=AuditAction.LOGOUT)
    assert (event.actor, event.ip_address) == (bank.user("operator_a"), "10.0.0.8")


def test_failed_login_is_audited_with_the_ip(bank):
    client = Client()
    response = _web_login(client, "operator_a", "wrong-password", ip="10.9.9.9")
    assert response.status_code == 200  # the form again, with an error
    assert not _logged_in(client)
    event = AuditEvent.objects.get(action=AuditAction.LOGIN_FAILED)
    assert event.actor is None
    assert (event.actor_username, event.ip_address) == ("operator_a", "10.9.9.9")
    assert "wrong-password" not in str(event.detail)


def test_five_failures_lock_the_username(bank):
    client = Client()
    for _ in range(settings.AXES_FAILURE_LIMIT - 1):
        assert _web_login(client, "operator_a", "wrong").status_code == 200
    assert _web_login(client, "operator_a", "wrong").status_code == 429  # the fifth failure locks
    locked = _web_login(client, "operator_a", PASSWORD)
    assert locked.status_code == 429
    assert not _logged_in(client)
    assert not AuditEvent.objects.filter(action=AuditAction.LOGIN).exists()
    # The API refuses the same username as well.
    response = APIClient().post(TOKEN_URL, {"username": "operator_a", "password": PASSWORD}, REMOTE_ADDR="10.0.0.7")
    assert response.status_code == 429
    assert not Token.objects.filter(user=bank.user("operator_a")).exists()
    # Other usernames are unaffected.
    assert _web_login(Client(), "operator_b", PASSWORD).status_code == 302


def test_four_failures_then_success_resets_the_count(bank):
    client = Client()
    for _ in range(settings.AXES_FAILURE_LIMIT - 1):
        _web_login(client, "operator_a", "wrong")
    assert _web_login(client, "operator_a", PASSWORD).status_code == 302
    other = Client()
    for _ in range(settings.AXES_FAILURE_LIMIT - 1):
        _web_login(other, "operator_a", "wrong")
    assert _web_login(other, "operator_a", PASSWORD).status_code == 302


def test_failed_token_requests_count_toward_the_lockout(bank):
    api = APIClient()
    for attempt in range(1, settings.AXES_FAILURE_LIMIT + 1):
        response = api.post(TOKEN_URL, {"username": "manager_a", "password": "wrong"}, REMOTE_ADDR="10.0.0.7")
        assert response.status_code == (429 if attempt == settings.AXES_FAILURE_LIMIT else 401)
    assert AuditEvent.objects.filter(action=AuditAction.LOGIN_FAILED, actor_username="manager_a").count() == 5
    # Correct password, too late: neither the API nor the web form lets the username in.
    response = api.post(TOKEN_URL, {"username": "manager_a", "password": PASSWORD}, REMOTE_ADDR="10.0.0.7")
    assert response.status_code == 429
    assert response.json()["error"]["code"] == "locked_out"  # the API's error shape, not the HTML page
    assert int(response["Retry-After"]) == settings.AXES_COOLOFF_TIME.total_seconds()
    assert not Token.objects.filter(user=bank.user("manager_a")).exists()
    client = Client()
    assert _web_login(client, "manager_a", PASSWORD).status_code == 429
    assert not _logged_in(client)


def test_logged_in_user_is_sent_on_from_the_login_page(bank, login):
    response = login("operator_a").get(LOGIN_URL)
    assert response.status_code == 302


@pytest.mark.parametrize("persona", ["nobody"])
def test_login_without_operator_profile_gets_no_workbench(bank, persona):
    client = Client()
    assert _web_login(client, persona, PASSWORD).status_code == 302
    assert client.get(reverse("customers:list")).status_code == 403


def test_resigned_operator_cannot_log_in(bank):
    client = Client()
    response = _web_login(client, "resigned", PASSWORD)
    assert response.status_code == 200
    assert not _logged_in(client)


def test_session_cookie_is_http_only(bank):
    client = Client()
    _web_login(client, "operator_a", PASSWORD)
    cookie = client.cookies[settings.SESSION_COOKIE_NAME]
    assert cookie["httponly"]
    assert cookie["samesite"] == "Lax"


def test_login_form_needs_a_csrf_token(bank):
    client = Client(enforce_csrf_checks=True)
    response = _web_login(client, "operator_a", PASSWORD)
    assert response.status_code == 403
    assert not _logged_in(client)
