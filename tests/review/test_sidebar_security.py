"""Review of the WeCom chat sidebar and quick replies: each test pins down one finding of the security review."""

import pytest
from django.test import Client
from django.urls import reverse

from campaigns.content import quick_replies
from campaigns.content.services import ContentError
from campaigns.links.models import TrackedLink
from tests.sidebar.support import approved_item
from workbench.audit.models import AuditAction, AuditEvent
from workbench.sidebar import identity, services

pytestmark = pytest.mark.django_db


def _sidebar_client(operator) -> Client:
    """A browser holding a sidebar identity, as WeCom's OAuth round trip leaves it (the round trip itself is
    tested in tests/sidebar against the sandbox)."""
    client = Client()
    session = client.session
    session[identity.SESSION_OPERATOR] = operator.pk
    session.save()
    return client


def _reply(bank, text: str, title: str = "话术"):
    return approved_item(author=bank.users["admin"], reviewer=bank.users["reviewer"], title=title, text=text)


# --- OAuth state ------------------------------------------------------------------------------------------------


def test_a_non_ascii_oauth_state_is_a_refusal_not_a_server_error(settings):
    settings.WECOM_CORP_ID = settings.WECOM_CORP_ID or "wwcorp"
    settings.WECOM_OAUTH_AUTHORIZE_URL = "https://open.weixin.qq.com/connect/oauth2/authorize"
    client = Client()
    assert client.get(reverse("sidebar:page")).status_code == 302  # a state is now kept in the session
    # secrets.compare_digest raises TypeError for a str with non-ASCII characters: a 500, and no audit row.
    response = client.get(reverse("sidebar:oauth"), {"code": "x", "state": "状态"})
    assert response.status_code == 403
    assert AuditEvent.objects.filter(action=AuditAction.SIDEBAR_REFUSED, detail__reason="oauth_state").count() == 1


def test_a_failed_oauth_round_trip_leaves_nobody_signed_in(bank, settings):
    """The docs: every opening goes through OAuth "so the sidebar is always the member signed into the WeCom client
    now, even when a device changes hands". A round trip that ended in a refusal (a non-member, a resigned member,
    WeCom refusing the code, a stale state) kept the previous member's identity for every panel URL."""
    settings.WECOM_CORP_ID = settings.WECOM_CORP_ID or "wwcorp"
    settings.WECOM_OAUTH_AUTHORIZE_URL = "https://open.weixin.qq.com/connect/oauth2/authorize"
    client = _sidebar_client(bank.operators["operator_a"])
    customer_url = reverse("sidebar:customer", args=[bank.customers["a_own"].pk])
    assert client.get(customer_url).status_code == 200
    assert client.get(reverse("sidebar:page")).status_code == 302  # the sidebar opened again: OAuth round trip
    assert client.get(reverse("sidebar:oauth"), {"code": "someone-elses", "state": "stale"}).status_code == 403
    assert client.get(customer_url).status_code == 403


# --- ids posted by the page ---------------------------------------------------------------------------------------


@pytest.mark.parametrize("value", ["²", "1²", "9" * 30])
def test_non_decimal_digits_in_posted_ids_are_refused_not_a_server_error(bank, value):
    client = _sidebar_client(bank.operators["operator_a"])
    customer = bank.customers["a_own"]
    # "²".isdigit() is True but int("²") raises ValueError: the views answered 500.
    tags = client.post(reverse("sidebar:tags", args=[customer.pk]), {"op": "add", "tag": value})
    assert tags.status_code == 200 and 'role="alert"' in tags.content.decode()
    for name in ("prepare", "record"):
        response = client.post(reverse(f"sidebar:{name}", args=[customer.pk]), {"item": value})
        assert response.status_code == 400, name


def test_another_operators_task_for_a_followed_customer_cannot_be_closed_from_the_sidebar(bank):
    """operator_a follows b_shared (the follow check passes); operator_b's task for b_shared is still not theirs."""
    import datetime as dt

    from django.utils import timezone

    from campaigns.delivery.models import OperatorTask

    customer, due = bank.customers["b_shared"], timezone.now() + dt.timedelta(hours=1)
    theirs = OperatorTask.objects.create(
        customer=customer, operator=bank.operators["operator_b"], kind="call", title="乙的回访", due_at=due,
        original_due_at=due, source_kind="test", source_id=1, step_key="call",
    )  # fmt: skip
    client = _sidebar_client(bank.operators["operator_a"])
    response = client.post(reverse("sidebar:task-done", args=[customer.pk, theirs.pk]), {"outcome": "reached"})
    assert response.status_code == 200 and 'role="alert"' in response.content.decode()
    assert "乙的回访" not in response.content.decode()
    theirs.refresh_from_db()
    assert theirs.status == OperatorTask.Status.OPEN


def test_sidebar_posts_need_the_csrf_token(bank):
    """The panel's POSTs (tags, task done, prepare, record) ride on the workbench session cookie: CSRF applies."""
    from tests.customer360.support import manual_tag

    client = Client(enforce_csrf_checks=True)
    session = client.session
    session[identity.SESSION_OPERATOR] = bank.operators["operator_a"].pk
    session.save()
    customer, tag = bank.customers["a_own"], manual_tag()
    assert client.get(reverse("sidebar:customer", args=[customer.pk])).status_code == 200
    for name, data in (("tags", {"op": "add", "tag": tag.pk}), ("prepare", {"item": 1}), ("record", {"item": 1})):
        assert client.post(reverse(f"sidebar:{name}", args=[customer.pk]), data).status_code == 403, name
    assert not customer.tags.filter(tag=tag).exists()


def test_the_quick_reply_page_refuses_a_non_decimal_category_quietly(bank, login):
    _reply(bank, "{{salutation}}您好。")
    response = login("operator_a").get(reverse("content:quick-replies"), {"category": "²"})
    assert response.status_code == 200


# --- variables filled without injection ---------------------------------------------------------------------------


def test_a_customer_name_is_filled_in_as_written_never_filled_again(bank):
    """A WeChat nickname (an unmatched contact's name) is the customer's to choose: "{{branch_name}}" must show
    as written, not be replaced by a second fill pass with the variables' samples."""
    customer = bank.customers["a_own"]
    customer.name = "{{branch_name}}"
    item = _reply(bank, "{{customer_name}}您好，我是{{operator_name}}。")
    [shown] = quick_replies.filled([item], operator=bank.operators["operator_a"], customer=customer)
    assert shown.text == "{{branch_name}}您好，我是赵甲。"
    [anonymous] = quick_replies.filled([item], operator=None, customer=customer)
    assert anonymous.text == "{{branch_name}}您好，我是张晓明。"  # the sample only for the missing operator


def test_a_customer_name_that_looks_like_a_variable_does_not_block_sending_to_them(bank):
    """message_for checked for leftover {{…}} in the text *after* filling, so a nickname like "{{vip}}" made every
    quick reply, welcome message and task text for that customer fail with "variables without a value"."""
    customer = bank.customers["a_own"]
    customer.name = "{{vip}}"
    item = _reply(bank, "{{customer_name}}您好。")
    try:
        calls, text = services.message_prepare(operator=bank.operators["operator_a"], customer=customer, item=item)
    except ContentError as exc:  # pragma: no cover - the bug
        pytest.fail(f"refused: {exc}")
    assert text == "{{vip}}您好。" and calls[0]["text"]["content"] == "{{vip}}您好。"
    # A template's own unknown variable is still refused.
    broken = _reply(bank, "{{customer_name}}您好。", title="另一条")
    broken.current.text = "{{nickname}}您好。"
    broken.current.save(update_fields=["text"])
    with pytest.raises(ContentError):
        services.message_prepare(operator=bank.operators["operator_a"], customer=customer, item=broken)


def test_a_url_in_a_customer_name_is_not_turned_into_a_bank_tracked_link(bank):
    customer = bank.customers["a_own"]
    customer.name = "https://evil.example/x"
    item = _reply(bank, "{{customer_name}}您好，详情见 https://bank.example/p")
    services.message_prepare(operator=bank.operators["operator_a"], customer=customer, item=item)
    assert TrackedLink.objects.filter(url="https://bank.example/p").exists()
    assert not TrackedLink.objects.filter(url__startswith="https://evil.example").exists()
