"""Helpers of the sidebar tests: the sandbox's corp mirrored from the workbench bank, a chat opened on the sandbox
page, WeCom's OAuth round trip as the sidebar does it, and approved content."""

from urllib.parse import parse_qs, urlsplit

import requests
from django.test import Client
from django.urls import reverse

from campaigns.content import services as content_services
from campaigns.content.models import ContentItem, Scenario
from tagging.models import Customer, FollowRelationship
from workbench.org.models import Operator


def seed_sandbox_from_bank(sandbox) -> None:
    """Members, contacts and live follows of the test bank into the sandbox (what a sync would find there)."""
    members = [
        {"userid": op.wecom_userid, "name": op.name, "department": [1],
         "status": 1 if op.status == Operator.Status.ACTIVE else 5}
        for op in Operator.objects.exclude(wecom_userid__isnull=True)
    ]  # fmt: skip
    contacts = [
        {"external_userid": c.external_userid, "name": c.name}
        for c in Customer.objects.exclude(external_userid__isnull=True)
    ]
    follows = [
        {"userid": f.operator.wecom_userid, "external_userid": f.customer.external_userid, "createtime": 1_700_000_000}
        for f in FollowRelationship.objects.filter(deleted_at__isnull=True).select_related("operator", "customer")
        if f.operator.wecom_userid and f.customer.external_userid
    ]
    sandbox.seed(
        {"departments": [{"id": 1, "name": "示范银行", "parentid": 0}], "members": members, "contacts": contacts,
         "follows": follows}
    )  # fmt: skip


def sign_in(client: Client, sandbox, userid: str):
    """The sidebar's OAuth round trip: /sidebar/ → WeCom's authorize page → a member's code → /sidebar/oauth/."""
    response = client.get(reverse("sidebar:page"))
    assert response.status_code == 302, response.status_code
    authorize = urlsplit(response["Location"])
    query = {key: values[0] for key, values in parse_qs(authorize.query).items()}
    # The sandbox's picker issues the code for the member a person picks.
    picked = requests.get(
        f"{sandbox.url}/connect/oauth2/authorize/pick", params=query | {"userid": userid}, allow_redirects=False,
        timeout=10,
    )  # fmt: skip
    assert picked.status_code == 302, picked.text[:300]
    back = urlsplit(picked.headers["Location"])
    return client.get(back.path, {key: values[0] for key, values in parse_qs(back.query).items()})


def open_chat(sandbox, userid: str, external_userid: str) -> requests.Session:
    """The sandbox page's 「打开聊天工具栏」: a browser session (cookie jar) now 'in' this chat."""
    browser = requests.Session()
    opened = browser.post(
        f"{sandbox.url}/sandbox/chat/open", data={"userid": userid, "external_userid": external_userid},
        allow_redirects=False, timeout=10,
    )  # fmt: skip
    assert opened.status_code == 303, opened.text[:300]
    return browser


def approved_item(*, author, reviewer, title: str, text: str, use=ContentItem.Use.QUICK_REPLY,
                  scenario=Scenario.GENERAL, approve: bool = True) -> ContentItem:  # fmt: skip
    item = content_services.content_create(actor=author, title=title, use=use, text=text, scenario=scenario)
    version = content_services.content_submit(version=item.versions.get(), actor=author)
    if approve:
        content_services.content_approve(version=version, reviewer=reviewer)
    item.refresh_from_db()
    return item
