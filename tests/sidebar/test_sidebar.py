"""The WeCom chat sidebar against the sandbox: identity from WeCom's OAuth, the follow check on every request,
the emulated JS-SDK refusing forged signatures, tags, tasks, and sending a quick reply as a recorded 1:1 touch."""

import json
import re
from datetime import timedelta
from urllib.parse import parse_qs, urlsplit

import pytest
import requests
from django.test import Client
from django.urls import reverse
from django.utils import timezone

from campaigns.content.models import ContentItem
from campaigns.delivery.models import ChatMessage, OperatorTask
from campaigns.delivery.services import create_operator_task
from tagging.models import Customer, TagChange, TagPush, TagSource
from tagging.tags import services as tag_services
from tagging.tags.wecom import push_pending
from tests.sidebar.support import approved_item, open_chat, seed_sandbox_from_bank, sign_in
from tests.wecom_sandbox import sandbox, wecom_sandbox  # noqa: F401 - fixtures
from workbench.audit.models import AuditAction, AuditEvent

pytestmark = pytest.mark.django_db
PAGE_URL = "http://testserver/sidebar/"


@pytest.fixture
def corp(bank, sandbox, settings):  # noqa: F811
    settings.WECOM_OAUTH_AUTHORIZE_URL = f"{sandbox.url}/connect/oauth2/authorize"
    sandbox.settings(sidebar_url=PAGE_URL)
    seed_sandbox_from_bank(sandbox)
    return sandbox


@pytest.fixture
def as_operator_a(corp):
    client = Client()
    assert sign_in(client, corp, "operator_a").status_code == 302
    return client


def _agent_config(page) -> dict:
    found = re.search(r'<script id="agent-config"[^>]*>(.*?)</script>', page.content.decode(), re.S)
    return json.loads(found.group(1))


def _refusals(reason: str) -> int:
    return AuditEvent.objects.filter(action=AuditAction.SIDEBAR_REFUSED, detail__reason=reason).count()


# --- identity ---------------------------------------------------------------------------------------------------


def test_without_a_sidebar_session_the_page_goes_to_wecoms_oauth_and_nothing_else_answers(corp, bank):
    client = Client()
    response = client.get(reverse("sidebar:page"))
    assert response.status_code == 302
    target = urlsplit(response["Location"])
    query = {key: values[0] for key, values in parse_qs(target.query).items()}
    assert f"{target.scheme}://{target.netloc}{target.path}" == f"{corp.url}/connect/oauth2/authorize"
    assert query["appid"] == corp.corp_id and query["scope"] == "snsapi_base"
    assert query["redirect_uri"] == "http://testserver/sidebar/oauth/" and query["state"]
    customer = bank.customers["a_own"]
    assert client.get(reverse("sidebar:chat"), {"external_userid": customer.external_userid}).status_code == 403
    assert client.post(reverse("sidebar:record", args=[customer.pk]), {"item": 1}).status_code == 403
    assert _refusals("no_session") == 2
    for _ in range(5):  # hammering one URL without a session: audited once a minute, not once a request
        client.post(reverse("sidebar:record", args=[customer.pk]), {"item": 1})
    assert _refusals("no_session") == 2
    # A workbench login is not a sidebar identity either.
    workbench = Client()
    workbench.force_login(bank.users["operator_a"])
    assert workbench.get(reverse("sidebar:chat"), {"external_userid": customer.external_userid}).status_code == 403


def test_oauth_signs_the_member_in_and_the_page_is_signed_for_its_own_url(corp, bank):
    client = Client()
    back = sign_in(client, corp, "operator_a")
    assert back.status_code == 302 and back["Location"] == reverse("sidebar:page")
    signed_in = AuditEvent.objects.get(action=AuditAction.SIDEBAR_SIGNED_IN)
    assert signed_in.actor == bank.users["operator_a"]
    page = client.get(reverse("sidebar:page"))
    assert page.status_code == 200 and "赵甲" in page.content.decode()
    # Opening the page again asks WeCom again: the identity is always the member in the client now.
    assert "/connect/oauth2/authorize" in client.get(reverse("sidebar:page"))["Location"]
    config = _agent_config(page)
    assert config["corpid"] == corp.corp_id and config["agentid"] == corp.agent_id
    # The emulated WeCom client accepts the signature for exactly this page.
    answer = (
        open_chat(corp, "operator_a", bank.customers["a_own"].external_userid)
        .post(
            f"{corp.url}/jssdk/api/agent_config",
            data=json.dumps(config | {"url": PAGE_URL, "jsApiList": ["getContext"]}),
        )
        .json()
    )
    assert answer["errMsg"] == "agentConfig:ok"
    # The sidebar session did not log anybody into the workbench.
    assert client.get(reverse("home")).status_code == 302
    # Another member signs in on the same browser: the sidebar is theirs from then on.
    sign_in(client, corp, "operator_a2")
    assert client.get(reverse("sidebar:page")).context["operator"] == bank.operators["operator_a2"]


def test_oauth_refuses_a_replayed_state_a_customer_and_a_non_member(corp, bank):
    client = Client()
    assert client.get(reverse("sidebar:oauth"), {"code": "x", "state": "forged"}).status_code == 403
    assert _refusals("oauth_state") == 1
    # A customer (not a member) opening the sidebar's OAuth: getuserinfo names no userid.
    response = client.get(reverse("sidebar:page"))
    query = {key: values[0] for key, values in parse_qs(urlsplit(response["Location"]).query).items()}
    picked = requests.get(
        f"{corp.url}/connect/oauth2/authorize/pick",
        params=query | {"external_userid": bank.customers["a_own"].external_userid},
        allow_redirects=False,
        timeout=10,
    )
    back = urlsplit(picked.headers["Location"])
    refused = client.get(back.path, {key: values[0] for key, values in parse_qs(back.query).items()})
    assert refused.status_code == 403 and _refusals("not_an_operator") == 1
    assert client.get(reverse("sidebar:page")).status_code == 302  # still no identity


def test_a_compliance_reviewer_does_not_get_the_sidebar(corp, bank):
    """Reviewers read in the workbench; the sidebar tags customers and closes tasks, so it is not theirs."""
    client = Client()
    refused = sign_in(client, corp, bank.operators["reviewer"].wecom_userid)
    assert refused.status_code == 403 and _refusals("not_an_operator") == 1
    assert client.get(reverse("sidebar:page")).status_code == 302  # no identity


def test_the_emulated_agent_config_refuses_what_wecom_refuses(corp, bank):
    client = Client()
    sign_in(client, corp, "operator_a")
    config = _agent_config(client.get(reverse("sidebar:page")))
    browser = open_chat(corp, "operator_a", bank.customers["a_own"].external_userid)

    def configure(**changes):
        payload = config | {"url": PAGE_URL, "jsApiList": ["getCurExternalContact"]} | changes
        return browser.post(f"{corp.url}/jssdk/api/agent_config", data=json.dumps(payload)).json()

    wrong = configure(signature="0" * 40)
    assert wrong["errMsg"].startswith("agentConfig:invalid signature") and wrong["errCode"] == 40093
    assert configure(url=PAGE_URL + "?other=1")["errCode"] == 40093  # signed for another URL
    assert configure(corpid="wwsomeoneelse")["errCode"] == 40013
    assert configure(url="http://evil.example/sidebar/")["errCode"] == 80001
    # Without a successful agentConfig no api answers.
    refused = browser.post(
        f"{corp.url}/jssdk/api/invoke", data=json.dumps({"token": "nope", "api": "getCurExternalContact"})
    ).json()
    assert refused["err_msg"] == "getCurExternalContact:fail no permission"
    token = configure()["token"]
    contact = browser.post(
        f"{corp.url}/jssdk/api/invoke", data=json.dumps({"token": token, "api": "getCurExternalContact"})
    ).json()
    assert contact == {"err_msg": "getCurExternalContact:ok", "userId": bank.customers["a_own"].external_userid}
    not_listed = browser.post(f"{corp.url}/jssdk/api/invoke", data=json.dumps({"token": token, "api": "getContext"}))
    assert not_listed.json()["err_msg"] == "getContext:fail no permission"
    token = configure(jsApiList=["sendChatMessage"])["token"]

    def send(args):
        payload = {"token": token, "api": "sendChatMessage", "args": args}
        return browser.post(f"{corp.url}/jssdk/api/invoke", data=json.dumps(payload)).json()["err_msg"]

    assert send({"msgtype": "image", "image": {"mediaid": "forged"}}) == "sendChatMessage:fail invalid mediaid"
    assert send({"msgtype": "voice"}) == "sendChatMessage:fail invalid msgtype"
    assert send({"msgtype": "text", "text": {"content": ""}}) == "sendChatMessage:fail invalid text content"
    assert corp.received()["chat_messages"] == []


# --- the follow check --------------------------------------------------------------------------------------------


def test_the_panel_shows_a_followed_customer(as_operator_a, bank):
    for key in ("a_own", "a_followed", "b_shared"):
        customer = bank.customers[key]
        response = as_operator_a.get(reverse("sidebar:chat"), {"external_userid": customer.external_userid})
        assert response.status_code == 200, key
        body = response.content.decode()
        assert customer.name in body and customer.mobile_masked in body
    again = as_operator_a.get(reverse("sidebar:customer", args=[bank.customers["a_own"].pk]))
    assert "138****5678" in again.content.decode() and "13812345678" not in again.content.decode()


@pytest.mark.parametrize("key", ["b_own", "a_unfollowed", "a_branch", "unowned"])
def test_another_operators_or_an_unfollowed_customer_is_refused_everywhere(as_operator_a, bank, key):
    customer = bank.customers[key]
    by_external = as_operator_a.get(reverse("sidebar:chat"), {"external_userid": customer.external_userid})
    assert by_external.status_code == 403 and customer.name not in by_external.content.decode()
    for name, method in (("customer", "get"), ("replies", "get"), ("tags", "post"), ("prepare", "post"),
                         ("record", "post")):  # fmt: skip
        response = getattr(as_operator_a, method)(reverse(f"sidebar:{name}", args=[customer.pk]), {"item": 1})
        assert response.status_code == 403, name
        assert customer.name not in response.content.decode()
    assert _refusals("not_followed") == 6
    refusal = AuditEvent.objects.filter(action=AuditAction.SIDEBAR_REFUSED).first()
    assert refusal.actor == bank.users["operator_a"]
    assert not ChatMessage.objects.exists()


def test_a_follow_deleted_after_the_page_opened_is_refused_from_then_on(as_operator_a, bank):
    customer = bank.customers["a_followed"]
    url = reverse("sidebar:customer", args=[customer.pk])
    assert as_operator_a.get(url).status_code == 200
    customer.follows.filter(operator=bank.operators["operator_a"]).update(deleted_at=timezone.now())
    assert as_operator_a.get(url).status_code == 403


def test_a_resigned_member_loses_the_sidebar(as_operator_a, bank):
    from workbench.org.services import operator_resign

    operator_resign(operator=bank.operators["operator_a"])
    customer = bank.customers["a_own"]
    assert as_operator_a.get(reverse("sidebar:chat"), {"external_userid": customer.external_userid}).status_code == 403


# --- tags and tasks ----------------------------------------------------------------------------------------------


def test_a_tag_added_in_the_sidebar_is_a_tag_change_and_reaches_wecom(as_operator_a, bank, corp):
    group = tag_services.tag_group_create(name="客户意向")
    tag = tag_services.tag_create(group=group, name="有理财意向")
    customer = bank.customers["a_own"]
    response = as_operator_a.post(reverse("sidebar:tags", args=[customer.pk]), {"op": "add", "tag": tag.pk})
    assert response.status_code == 200 and "有理财意向" in response.content.decode()
    change = TagChange.objects.get(customer=customer, tag=tag)
    assert change.action == TagChange.Action.ADDED and change.source == TagSource.MANUAL
    assert change.actor == bank.users["operator_a"]
    push = TagPush.objects.get(tag=tag)
    assert push.follow.operator == bank.operators["operator_a"] and push.status == TagPush.Status.PENDING
    push_pending()
    follow = corp.api("externalcontact/get", external_userid=customer.external_userid)["follow_user"][0]
    assert [t["tag_id"] for t in follow["tags"]] == [tag.wecom_tag_id]
    removed = as_operator_a.post(reverse("sidebar:tags", args=[customer.pk]), {"op": "remove", "tag": tag.pk})
    assert removed.status_code == 200 and not customer.tags.filter(tag=tag).exists()


def test_only_manual_tags_change_in_the_sidebar(as_operator_a, bank, corp):
    group = tag_services.tag_group_create(name="生命周期")
    rule_tag = tag_services.tag_create(group=group, name="沉默客户", kind="rule")
    customer = bank.customers["a_own"]
    response = as_operator_a.post(reverse("sidebar:tags", args=[customer.pk]), {"op": "add", "tag": rule_tag.pk})
    assert response.status_code == 200 and "sb-error" in response.content.decode()
    assert not TagChange.objects.exists()


def test_an_open_task_is_marked_done_with_its_outcome(as_operator_a, bank):
    customer = bank.customers["a_own"]
    task = create_operator_task(
        customer_id=customer.pk, kind="call", title="回访理财到期", due_at=timezone.now() + timedelta(hours=1),
        source_kind="probe", source_id=1, step_key="call",
    )  # fmt: skip
    panel = as_operator_a.get(reverse("sidebar:customer", args=[customer.pk])).content.decode()
    assert "回访理财到期" in panel
    url = reverse("sidebar:task-done", args=[customer.pk, task.pk])
    response = as_operator_a.post(url, {"outcome": "interested", "note": "想了解大额存单"})
    assert response.status_code == 200 and "回访理财到期" not in response.content.decode()
    task.refresh_from_db()
    assert task.status == OperatorTask.Status.DONE and task.outcome == "interested"
    assert task.done_by == bank.users["operator_a"]
    # Another customer's task id through this customer's URL: not found among this customer's open tasks.
    other = create_operator_task(
        customer_id=bank.customers["a_followed"].pk, operator_id=bank.operators["operator_a"].pk, kind="call",
        title="别的任务", due_at=timezone.now(), source_kind="probe", source_id=2, step_key="call",
    )  # fmt: skip
    wrong = as_operator_a.post(reverse("sidebar:task-done", args=[customer.pk, other.pk]), {"outcome": "reached"})
    assert "sb-error" in wrong.content.decode()
    assert OperatorTask.objects.get(pk=other.pk).status == OperatorTask.Status.OPEN


# --- sending ------------------------------------------------------------------------------------------------------


def test_sending_a_quick_reply_goes_into_the_chat_and_is_recorded(as_operator_a, bank, corp):
    customer = bank.customers["a_own"]
    Customer.objects.filter(pk=customer.pk).update(gender="F", name="王丽")
    customer.refresh_from_db()
    item = approved_item(
        author=bank.users["admin"], reviewer=bank.users["reviewer"], title="添加好友后问候",
        text="{{salutation}}您好，我是{{operator_name}}，有事随时找我。详情 https://bank.example/a",
    )  # fmt: skip
    panel = as_operator_a.get(reverse("sidebar:customer", args=[customer.pk])).content.decode()
    assert "王女士您好，我是赵甲" in panel and f'data-item="{item.pk}"' in panel

    prepared = as_operator_a.post(reverse("sidebar:prepare", args=[customer.pk]), {"item": item.pk}).json()
    [message] = prepared["messages"]
    assert message["msgtype"] == "text"
    content = message["text"]["content"]
    assert content.startswith("王女士您好，我是赵甲") and "https://bank.example/a" not in content  # tracked link

    # What sidebar.js does: agentConfig with the page's signature, then sendChatMessage in the open chat.
    config = _agent_config(as_operator_a.get(reverse("sidebar:page")))
    browser = open_chat(corp, "operator_a", customer.external_userid)
    token = browser.post(
        f"{corp.url}/jssdk/api/agent_config",
        data=json.dumps(config | {"url": PAGE_URL, "jsApiList": ["sendChatMessage"]}),
    ).json()["token"]
    sent = browser.post(
        f"{corp.url}/jssdk/api/invoke", data=json.dumps({"token": token, "api": "sendChatMessage", "args": message})
    ).json()
    assert sent == {"err_msg": "sendChatMessage:ok"}

    record = reverse("sidebar:record", args=[customer.pk])
    assert as_operator_a.post(record, {"item": item.pk}).status_code == 400  # no key from the prepare step
    recorded = as_operator_a.post(record, {"item": item.pk, "send_key": prepared["send_key"]}).json()
    again = as_operator_a.post(record, {"item": item.pk, "send_key": prepared["send_key"]}).json()
    assert again["id"] == recorded["id"] and ChatMessage.objects.count() == 1  # a repeated record is the same touch
    chat = ChatMessage.objects.get(pk=recorded["id"])
    assert (chat.customer, chat.operator) == (customer, bank.operators["operator_a"])
    assert chat.content_version == item.current
    assert chat.text == content
    [in_sandbox] = corp.received()["chat_messages"]
    assert in_sandbox["external_userid"] == customer.external_userid and in_sandbox["userid"] == "operator_a"
    assert in_sandbox["body"]["text"]["content"] == content
    dashboard = requests.get(f"{corp.url}/sandbox/", timeout=10).text
    assert "聊天工具栏发出的消息" in dashboard and "王女士您好，我是赵甲" in dashboard


def test_an_unapproved_or_other_branchs_content_never_shows_or_sends(as_operator_a, bank):
    customer = bank.customers["a_own"]
    pending = approved_item(
        author=bank.users["admin"], reviewer=bank.users["reviewer"], title="待审话术", text="尚未审批的话术",
        approve=False,
    )  # fmt: skip
    panel = as_operator_a.get(reverse("sidebar:customer", args=[customer.pk])).content.decode()
    assert "待审话术" not in panel and "尚未审批的话术" not in panel
    found = as_operator_a.get(reverse("sidebar:replies", args=[customer.pk]), {"q": "尚未审批"}).content.decode()
    assert "尚未审批的话术" not in found
    for name in ("prepare", "record"):
        response = as_operator_a.post(reverse(f"sidebar:{name}", args=[customer.pk]), {"item": pending.pk})
        assert response.status_code == 400, name
    # Approved, but a welcome message is not something the sidebar sends.
    welcome = approved_item(
        author=bank.users["admin"], reviewer=bank.users["reviewer"], title="欢迎语", text="{{salutation}}欢迎",
        use=ContentItem.Use.WELCOME,
    )  # fmt: skip
    assert as_operator_a.post(reverse("sidebar:prepare", args=[customer.pk]), {"item": welcome.pk}).status_code == 400
    assert not ChatMessage.objects.exists()


def test_a_phone_shows_a_handful_of_quick_replies_and_search_finds_the_rest(as_operator_a, bank):
    for number in range(10):
        approved_item(
            author=bank.users["admin"], reviewer=bank.users["reviewer"], title=f"话术{number:02d}",
            text=f"{{{{salutation}}}}，第{number}条话术。",
        )  # fmt: skip
    customer = bank.customers["a_own"]
    panel = as_operator_a.get(reverse("sidebar:customer", args=[customer.pk]))
    assert len(panel.context["replies"]) == 8 and panel.context["replies_total"] == 10
    assert 'data-testid="sidebar-more-replies"' in panel.content.decode()
    found = as_operator_a.get(reverse("sidebar:replies", args=[customer.pk]), {"q": "第9条"})
    assert [reply.item.title for reply in found.context["replies"]] == ["话术09"]
    assert "sidebar-more-replies" not in found.content.decode()


def test_the_panel_costs_the_same_few_queries_however_many_replies_and_tags(as_operator_a, bank, corp):
    from django.db import connection
    from django.test.utils import CaptureQueriesContext

    customer = bank.customers["a_own"]
    url = reverse("sidebar:customer", args=[customer.pk])

    def queries() -> int:
        with CaptureQueriesContext(connection) as captured:
            assert as_operator_a.get(url).status_code == 200
        return len(captured)

    approved_item(author=bank.users["admin"], reviewer=bank.users["reviewer"], title="话术一", text="{{salutation}}好")
    few = queries()
    group = tag_services.tag_group_create(name="客户意向")
    for number in range(4):
        tag = tag_services.tag_create(group=group, name=f"意向{number}")
        tag_services.customer_tag_add_by_hand(customer=customer, tag=tag, actor=bank.users["operator_a"])
        approved_item(
            author=bank.users["admin"], reviewer=bank.users["reviewer"], title=f"话术{number + 2}", text="您好"
        )
    assert queries() == few, few
