"""Data-scope probes of the WeCom chat sidebar (/sidebar/), for tests/test_url_scope.py.

The sidebar sits outside the workbench login (its identity comes from WeCom's OAuth), so its routes are PUBLIC to
the anonymous checks there: without a sidebar session the page goes to WeCom's OAuth and everything else answers
403. Its data scope is narrower than an operator's workbench scope: only customers the session's operator follows
in WeCom right now. Each probe asks operator_a's sidebar for branch B's customer (refused, nothing shown) and has its
positive control: operator_b, once following that customer, is answered.
"""

from django.core.cache import cache
from django.test import Client
from django.urls import reverse
from django.utils import timezone

from tests.factories import FollowFactory
from workbench.sidebar import identity, jssdk

B_MARKERS = ("CB0000000001", "乙客户壹", "139****4321")


def sidebar_client(operator) -> Client:
    """A browser whose session holds a sidebar identity, as WeCom's OAuth round trip leaves it."""
    client = Client()
    session = client.session
    session[identity.SESSION_OPERATOR] = operator.pk
    session[identity.SESSION_PAGE_GRANT] = True
    session.save()
    return client


def _text(response) -> str:
    return response.content.decode(errors="replace")


def _assert_absent(response, where: str) -> None:
    for marker in B_MARKERS:
        assert marker not in _text(response), f"{where}: {marker!r} leaked"


def _b_followed_by_b(ctx):
    customer = ctx.bank.customers["b_own"]
    if not customer.follows.filter(operator=ctx.bank.operators["operator_b"], deleted_at__isnull=True).exists():
        FollowFactory(customer=customer, operator=ctx.bank.operators["operator_b"])
    return customer


def probe_page(ctx, name: str):
    cache.set(jssdk._ticket_cache().key, "probe-ticket", 300)  # no WeCom needed to sign the page
    anonymous = Client().get(reverse(name))
    assert anonymous.status_code == 302 and "/connect/oauth2/authorize" in anonymous["Location"]
    workbench = ctx.login("manager_b").get(reverse(name))  # a workbench login is no sidebar identity
    assert workbench.status_code == 302 and "/connect/oauth2/authorize" in workbench["Location"]
    page = sidebar_client(ctx.bank.operators["operator_a"]).get(reverse(name))
    assert page.status_code == 200 and "赵甲" in _text(page)
    _assert_absent(page, name)


def probe_oauth(ctx, name: str):
    client = sidebar_client(ctx.bank.operators["operator_a"])
    response = client.get(reverse(name), {"code": "forged", "state": "forged"})
    assert response.status_code == 403
    _assert_absent(response, name)


def probe_chat(ctx, name: str):
    customer = _b_followed_by_b(ctx)
    for client in (sidebar_client(ctx.bank.operators["operator_a"]), ctx.login("manager_b"), Client()):
        response = client.get(reverse(name), {"external_userid": customer.external_userid})
        assert response.status_code == 403, response.status_code
        _assert_absent(response, name)
    control = sidebar_client(ctx.bank.operators["operator_b"]).get(
        reverse(name), {"external_userid": customer.external_userid}
    )
    assert control.status_code == 200 and "乙客户壹" in _text(control)


def probe_customer_route(method: str, *, extra_args=(), data=None, control_status=200):
    def probe(ctx, name: str):
        customer = _b_followed_by_b(ctx)
        url = reverse(name, args=[customer.pk, *extra_args])
        for client in (sidebar_client(ctx.bank.operators["operator_a"]), ctx.login("manager_b"), Client()):
            response = getattr(client, method)(url, data or {})
            assert response.status_code == 403, (name, response.status_code)
            _assert_absent(response, name)
        control = getattr(sidebar_client(ctx.bank.operators["operator_b"]), method)(url, data or {})
        assert control.status_code == control_status, (name, control.status_code)

    return probe


def _unfollowed_after_all(ctx, name: str):
    """A follow deleted in WeCom ends the sidebar's access at once (the workbench scope rule is the same)."""
    customer = _b_followed_by_b(ctx)
    customer.follows.update(deleted_at=timezone.now())
    response = sidebar_client(ctx.bank.operators["operator_b"]).get(reverse(name, args=[customer.pk]))
    assert response.status_code == 403


def probe_customer_panel(ctx, name: str):
    probe_customer_route("get")(ctx, name)
    _unfollowed_after_all(ctx, name)


def probe_quick_replies(ctx, name: str):
    """The quick-reply page fills in a customer only the viewer may see: another branch's is a 404."""
    from tests.sidebar.support import approved_item

    approved_item(
        author=ctx.bank.users["admin"], reviewer=ctx.bank.users["reviewer"], title="问候", text="{{customer_name}}您好"
    )
    customer = ctx.bank.customers["b_own"]
    for persona in ("operator_a", "lead_a", "manager_a"):
        for params in ({"customer": customer.pk}, {"who": "乙客户壹"}, {"who": "CB0000000001"}):
            response = ctx.login(persona).get(reverse(name), params)
            assert response.status_code in (200, 404), (persona, params)
            body = _text(response).replace("乙客户壹", "", 1) if "who" in params else _text(response)
            assert "乙客户壹您好" not in body and "CB0000000001 " not in body, (persona, params)
            if response.status_code == 200:
                assert response.context["matches"] == [] and response.context["customer"] is None
    control = ctx.login("manager_b").get(reverse(name), {"customer": customer.pk})
    assert "乙客户壹您好" in _text(control)


PROBES = {
    "content:quick-replies": probe_quick_replies,
    "sidebar:page": probe_page,
    "sidebar:oauth": probe_oauth,
    "sidebar:chat": probe_chat,
    "sidebar:customer": probe_customer_panel,
    "sidebar:replies": probe_customer_route("get"),
    "sidebar:tags": probe_customer_route("post", data={"op": "add", "tag": "0"}),
    "sidebar:task-done": probe_customer_route("post", extra_args=[0], data={"outcome": "reached"}),
    "sidebar:prepare": probe_customer_route("post", data={"item": "0"}, control_status=400),
    "sidebar:record": probe_customer_route("post", data={"item": "0"}, control_status=400),
}

# Outside the workbench login: identity from WeCom's OAuth (see the module docstring); probed above all the same.
PUBLIC = {key for key in PROBES if key.startswith("sidebar:")}
