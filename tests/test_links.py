"""Tracked links: the redirect, click counting and de-duplication, and attribution through WeCom's web OAuth."""

from urllib.parse import parse_qs, urlsplit

import pytest
import requests
from django.test import Client

from campaigns.links import selectors, services
from campaigns.links.models import LinkClick, TrackedLink
from tests.campaigns_support import approved, corp, seed_words
from tests.factories import CustomerFactory
from tests.wecom_sandbox import sandbox, wecom_sandbox  # noqa: F401

pytestmark = pytest.mark.django_db

WECHAT = (
    "Mozilla/5.0 (iPhone; CPU iPhone OS 17_0 like Mac OS X) AppleWebKit/605.1.15 MicroMessenger/8.0.49 NetType/WIFI"
)
BROWSER = "Mozilla/5.0 (X11; Linux x86_64) AppleWebKit/537.36 Chrome/124.0 Safari/537.36"
TARGET = "https://bank.example/wm030?from=wecom"


@pytest.fixture
def version(bank):
    seed_words()
    return approved(bank, text="详情：https://bank.example/wm030?from=wecom").current


def link_of(version, bank, **send) -> TrackedLink:
    return services.tracked_link(
        TARGET, context=TrackedLink.Context.PLAYBOOK, version=version, sender=bank.operators["operator_a"], **send
    )


def path_of(link: TrackedLink) -> str:
    return urlsplit(services.public_url(link)).path


def test_links_in_text_are_rewritten_once_per_send(bank, version, settings):
    settings.TRACKED_LINK_BASE_URL = "https://wb.bank.example"
    send = {"context": "playbook", "context_id": 3, "version": version, "sender": bank.operators["operator_a"]}
    text = services.rewrite_text("点击https://bank.example/a?x=1，或 http://bank.example/b。谢谢", **send)
    a, b = TrackedLink.objects.order_by("pk")
    assert (a.url, b.url) == ("https://bank.example/a?x=1", "http://bank.example/b")
    assert text == f"点击https://wb.bank.example/l/{a.token}，或 https://wb.bank.example/l/{b.token}。谢谢"
    assert services.rewrite_text("https://bank.example/a?x=1", **send) == f"https://wb.bank.example/l/{a.token}"
    assert TrackedLink.objects.count() == 2
    services.rewrite_text("https://bank.example/a?x=1", **(send | {"context_id": 4}))
    assert TrackedLink.objects.count() == 3


def test_a_click_is_counted_once_and_redirected(bank, version):
    link = link_of(version, bank)
    client = Client(HTTP_USER_AGENT=BROWSER)
    response = client.get(path_of(link))
    assert response.status_code == 302 and response["Location"] == TARGET
    assert response["Cache-Control"] == "no-store"
    click = LinkClick.objects.get()
    assert (click.link, click.customer, click.in_wechat, click.identified_by) == (link, None, False, "")
    client.get(path_of(link))  # a reload a moment later: the same visitor, not a new click
    Client(HTTP_USER_AGENT=BROWSER, REMOTE_ADDR="10.0.0.9").get(path_of(link))  # someone else
    Client(HTTP_USER_AGENT="Mozilla/5.0 (compatible; bingbot/2.0)").get(path_of(link))  # a crawler
    assert Client().head(path_of(link)).status_code == 302  # a preview's HEAD
    assert LinkClick.objects.count() == 2
    assert Client().get("/l/no-such-token").status_code == 404


def test_a_link_sent_to_one_customer_credits_that_customer_without_oauth(bank, version):
    customer = bank.customers["a_own"]
    link = link_of(version, bank, customer=customer, context_id=9)
    response = Client(HTTP_USER_AGENT=WECHAT).get(path_of(link))
    assert response["Location"] == TARGET  # no OAuth round trip needed
    click = LinkClick.objects.get()
    assert (click.customer, click.identified_by, click.in_wechat) == (customer, "link", True)
    # Known only by external_userid when sent (a welcome message to a contact being stored at that moment).
    fresh = link_of(version, bank, external_userid="wmBOWN0001", context_id=10)
    Client(HTTP_USER_AGENT=WECHAT).get(path_of(fresh))
    assert LinkClick.objects.get(link=fresh).customer == bank.customers["b_own"]


def follow_oauth(sandbox, location: str, **who) -> str:  # noqa: F811
    """What a phone does on WeCom's OAuth page: pick the identity, get sent back with code and state."""
    authorize = urlsplit(location)
    query = {key: values[0] for key, values in parse_qs(authorize.query).items()}
    page = requests.get(f"{sandbox.url}{authorize.path}", params=query, timeout=5)
    assert page.status_code == 200
    picked = requests.get(
        f"{sandbox.url}/connect/oauth2/authorize/pick", params=query | who, allow_redirects=False, timeout=5
    )
    assert picked.status_code == 302
    return picked.headers["Location"]


@pytest.fixture
def wecom(sandbox, settings, bank):  # noqa: F811
    settings.WECOM_OAUTH_AUTHORIZE_URL = f"{sandbox.url}/connect/oauth2/authorize"
    corp(
        sandbox,
        ["operator_a", "operator_b"],
        contacts=[
            {"external_userid": "wmBOWN0001", "name": "乙客户壹", "unionid": "oUnionB1"},
            {"external_userid": "wmNEWCOMER", "name": "新客户", "unionid": "oUnionLinked"},
            {"external_userid": "wmSTRANGER", "name": "陌生人"},
        ],
        follows=[
            {"userid": "operator_b", "external_userid": "wmBOWN0001", "createtime": 1700000000},
            {"userid": "operator_a", "external_userid": "wmNEWCOMER", "createtime": 1700000000},
        ],
    )
    return sandbox


def test_inside_wechat_oauth_credits_the_click_to_the_customer(bank, version, wecom):
    link = link_of(version, bank)
    client = Client(HTTP_USER_AGENT=WECHAT)
    first = client.get(path_of(link))
    assert first.status_code == 302 and first["Location"].startswith(f"{wecom.url}/connect/oauth2/authorize?")
    assert first["Location"].endswith("#wechat_redirect")
    query = parse_qs(urlsplit(first["Location"]).query)
    assert query["appid"] == [wecom.corp_id] and query["scope"] == ["snsapi_base"]
    assert query["redirect_uri"] == [services.public_url(link)]  # TRACKED_LINK_BASE_URL, a trusted domain
    assert not LinkClick.objects.exists()  # counted when WeCom sends the visitor back

    back = urlsplit(follow_oauth(wecom, first["Location"].split("#")[0], external_userid="wmBOWN0001"))
    assert back.path == path_of(link)
    landed = client.get(f"{back.path}?{back.query}")
    assert landed["Location"] == TARGET
    click = LinkClick.objects.get()
    assert (click.customer, click.identified_by, click.external_userid) == (
        bank.customers["b_own"],
        "oauth",
        "wmBOWN0001",
    )
    assert click.openid.startswith("o") and click.in_wechat
    client.get(f"{back.path}?{back.query}")  # the page reloaded: the code is spent, the click already counted
    assert LinkClick.objects.count() == 1


def test_a_contact_not_stored_yet_is_found_by_unionid(bank, version, wecom):
    customer = CustomerFactory(owner=bank.operators["operator_a"], external_userid=None, unionid="oUnionLinked")
    link = link_of(version, bank)
    client = Client(HTTP_USER_AGENT=WECHAT)
    start = client.get(path_of(link))["Location"].split("#")[0]
    back = urlsplit(follow_oauth(wecom, start, external_userid="wmNEWCOMER"))
    client.get(f"{back.path}?{back.query}")
    assert LinkClick.objects.get().customer == customer


def test_visitors_who_are_not_our_customers_are_counted_anonymously(bank, version, wecom):
    link = link_of(version, bank)
    for who in ({"external_userid": "wmSTRANGER"}, {"visitor": "wechat"}, {"userid": "operator_a"}):
        client = Client(HTTP_USER_AGENT=WECHAT)
        start = client.get(path_of(link))["Location"].split("#")[0]
        back = urlsplit(follow_oauth(wecom, start, **who))
        assert client.get(f"{back.path}?{back.query}")["Location"] == TARGET
    clicks = list(LinkClick.objects.order_by("pk"))
    assert [click.customer for click in clicks] == [None, None, None]
    assert clicks[0].external_userid == "" and clicks[0].openid  # WeCom names no contact nobody follows
    assert clicks[2].openid == ""  # a member: WeCom answers a userid


def test_a_refused_or_broken_oauth_still_counts_the_click(bank, version, wecom):
    link = link_of(version, bank)
    response = Client(HTTP_USER_AGENT=WECHAT).get(path_of(link), {"code": "forged", "state": "l"})
    assert response["Location"] == TARGET
    assert LinkClick.objects.get().customer is None


def test_click_counts_per_content_and_sender(bank, version):
    first = link_of(version, bank)
    other_sender = services.tracked_link(
        TARGET, context="playbook", version=version, sender=bank.operators["operator_b"]
    )
    for address in ("10.0.0.1", "10.0.0.2", "10.0.0.3"):
        Client(HTTP_USER_AGENT=BROWSER, REMOTE_ADDR=address).get(path_of(first))
    Client(HTTP_USER_AGENT=BROWSER).get(path_of(other_sender))
    Client(HTTP_USER_AGENT=WECHAT).get(path_of(link_of(version, bank, customer=bank.customers["a_own"])))
    by_sender = {row["key"]: (row["clicks"], row["customers"]) for row in selectors.click_counts(by="sender")}
    assert by_sender == {bank.operators["operator_a"].pk: (4, 1), bank.operators["operator_b"].pk: (1, 0)}
    assert selectors.click_counts(by="version") == [{"key": version.pk, "clicks": 5, "customers": 1}]
    assert selectors.clicks_of_version(version) == {"clicks": 5, "customers": 1}
