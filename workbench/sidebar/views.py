"""The WeCom chat sidebar (聊天工具栏 H5) at /sidebar/: thin views over `identity`, `services` and `selectors`.

- `/sidebar/` — the page WeCom opens beside a chat. Each opening sends the browser through WeCom's web OAuth
  (silent in the client) and, back from it, renders the shell and the wx.agentConfig signature for its own URL.
  The script (static/sidebar/sidebar.js) then asks the JS-SDK for the chat's customer and loads their panel.
- every other URL answers for one customer, and only while the session's operator follows them in WeCom: 403
  (audited) otherwise. POSTs are CSRF-protected like the rest of the workbench.
"""

import secrets
from functools import wraps

from django.conf import settings
from django.core.exceptions import ValidationError
from django.http import HttpResponseRedirect, JsonResponse
from django.shortcuts import render
from django.urls import reverse
from django.utils.translation import gettext as _
from django.views.decorators.cache import never_cache
from django.views.decorators.http import require_GET, require_POST

from campaigns.content.models import Scenario
from campaigns.content.services import ContentError
from campaigns.delivery.models import OperatorTask
from campaigns.delivery.services import DeliveryError
from campaigns.links.services import oauth_configured, oauth_url
from integrations.wecom.errors import WeComError
from tagging.models import Tag
from tagging.tags.services import TagError
from workbench.sidebar import identity, jssdk, selectors, services
from workbench.sidebar.services import SidebarRefused

JSSDK_API_LIST = ["getContext", "getCurExternalContact", "sendChatMessage"]


def _refused(request, message: str, *, status: int = 403):
    """JSON for the script's POSTs, a fragment for the panel's requests, a whole page for a navigation."""
    if request.headers.get("Accept", "").startswith("application/json"):
        return JsonResponse({"ok": False, "error": message}, status=status)
    template = "sidebar/_refused.html" if request.headers.get("HX-Request") else "sidebar/refused.html"
    return render(request, template, {"message": message}, status=status)


def sidebar_operator_required(view):
    """The session's sidebar operator as `request.sidebar_operator`; 403 (audited) without one."""

    @wraps(view)
    @never_cache
    def wrapped(request, *args, **kwargs):
        operator = identity.current_operator(request)
        if operator is None:
            services.refusal_record(
                operator=None, reason="no_session", detail={"path": request.path[:200]}, request=request
            )
            return _refused(request, _("Open the sidebar from a chat in WeCom first."))
        request.sidebar_operator = operator
        return view(request, *args, **kwargs)

    return wrapped


def for_followed_customer(view):
    """The chat's customer as `request.sidebar_customer`, re-checked on every request (403 when not followed)."""

    @sidebar_operator_required
    @wraps(view)
    def wrapped(request, pk, *args, **kwargs):
        try:
            request.sidebar_customer = services.chat_customer(operator=request.sidebar_operator, customer_id=pk)
        except SidebarRefused as exc:
            return _refused(request, str(exc))
        return view(request, pk, *args, **kwargs)

    return wrapped


# --- the page and the OAuth round trip ------------------------------------------------------------------------


@never_cache
@require_GET
def page(request):
    operator = identity.current_operator(request)
    if operator is None or not identity.take_page_grant(request.session):
        if not oauth_configured():
            return _refused(request, _("WeCom is not configured: the sidebar cannot identify you."), status=503)
        redirect_uri = request.build_absolute_uri(reverse("sidebar:oauth"))
        return HttpResponseRedirect(oauth_url(redirect_uri, identity.oauth_state(request.session)))
    context = {"operator": operator, "jssdk_url": settings.WECOM_JSSDK_URL, "api_list": JSSDK_API_LIST}
    try:
        context["agent_config"] = jssdk.agent_config(request.build_absolute_uri())
    except WeComError as exc:
        context["config_error"] = _("WeCom did not issue the JS-SDK ticket (%(error)s). Reopen the sidebar.") % {
            "error": exc
        }
    return render(request, "sidebar/page.html", context)


@never_cache
@require_GET
def oauth(request):
    """WeCom's OAuth page sends the browser back here with a code (and our state)."""
    expected = identity.take_oauth_state(request.session)
    # Whoever was signed in before, this round trip names the member now: when it fails, nobody is (a device that
    # changed hands to a non-member or a resigned one must not keep the previous member's sidebar).
    identity.sign_out(request.session)
    code = request.GET.get("code", "")
    # Bytes: compare_digest raises TypeError for a str with non-ASCII characters (a forged state, not a 500).
    state = request.GET.get("state", "").encode()
    if not code or not expected or not secrets.compare_digest(state, expected.encode()):
        services.refusal_record(operator=None, reason="oauth_state", request=request)
        return _refused(request, _("The sign-in link is not valid any more. Close the sidebar and open it again."))
    try:
        services.sign_in_with_code(request, code)
    except SidebarRefused as exc:
        return _refused(request, str(exc))
    return HttpResponseRedirect(reverse("sidebar:page"))


# --- the chat's customer ---------------------------------------------------------------------------------------


def _panel(request, customer, **extra):
    operator = request.sidebar_operator
    rows = selectors.tags_of(customer)
    replies_shown, replies_total = selectors.replies(operator, customer)
    context = {
        "operator": operator,
        "card": selectors.customer_card(operator, customer),
        "customer": customer,
        "tag_rows": rows,
        "addable_tags": selectors.addable_tags(rows),
        "tasks": selectors.open_tasks(operator, customer),
        "outcomes": OperatorTask.Outcome.choices,
        "recommended": selectors.recommended(operator, customer, rows),
        "replies": replies_shown,
        "replies_total": replies_total,
        "scenarios": Scenario.choices,
        "messages_sent": selectors.recent_messages(operator, customer),
        **extra,
    }
    return render(request, "sidebar/_panel.html", context)


@sidebar_operator_required
@require_GET
def chat(request):
    """The panel for the customer `getCurExternalContact` named, if the operator follows them."""
    try:
        customer = services.chat_customer(
            operator=request.sidebar_operator, external_userid=request.GET.get("external_userid", "")
        )
    except SidebarRefused as exc:
        return _refused(request, str(exc))
    return _panel(request, customer)


@for_followed_customer
@require_GET
def customer(request, pk):
    return _panel(request, request.sidebar_customer)


@for_followed_customer
@require_POST
def tags(request, pk):
    customer, error = request.sidebar_customer, ""
    tag = Tag.objects.filter(pk=request.POST.get("tag") if request.POST.get("tag", "").isdecimal() else 0).first()
    op = request.POST.get("op")
    if tag is None or op not in ("add", "remove"):
        error = _("Choose a tag.")
    else:
        try:
            services.tag_change(operator=request.sidebar_operator, customer=customer, tag=tag, add=op == "add")
        except (SidebarRefused, TagError) as exc:
            error = getattr(exc, "message", None) or str(exc)
    rows = selectors.tags_of(customer)
    context = {"customer": customer, "tag_rows": rows, "addable_tags": selectors.addable_tags(rows), "error": error}
    return render(request, "sidebar/_tags.html", context)


@for_followed_customer
@require_POST
def task_done(request, pk, task_id):
    operator, customer, error = request.sidebar_operator, request.sidebar_customer, ""
    try:
        services.open_task_done(
            operator=operator,
            customer=customer,
            task_id=task_id,
            outcome=request.POST.get("outcome", ""),
            note=request.POST.get("note", ""),
        )
    except (SidebarRefused, DeliveryError) as exc:
        error = str(exc)
    context = {
        "customer": customer,
        "tasks": selectors.open_tasks(operator, customer),
        "outcomes": OperatorTask.Outcome.choices,
        "error": error,
    }
    return render(request, "sidebar/_tasks.html", context)


@for_followed_customer
@require_GET
def replies(request, pk):
    found, total = selectors.replies(
        request.sidebar_operator,
        request.sidebar_customer,
        q=request.GET.get("q", ""),
        scenario=request.GET.get("scenario", ""),
    )
    context = {"replies": found, "replies_total": total, "customer": request.sidebar_customer}
    return render(request, "sidebar/_replies.html", context)


def _sendable(request):
    item = selectors.sendable_item(request.sidebar_operator, request.POST.get("item", ""))
    if item is None:
        raise ValidationError(_("This content is not approved for you to send."))
    return item


@for_followed_customer
@require_POST
def prepare(request, pk):
    """The sendChatMessage calls for an approved item, filled for this customer and this operator."""
    try:
        calls, _text = services.message_prepare(
            operator=request.sidebar_operator, customer=request.sidebar_customer, item=_sendable(request)
        )
    except ValidationError as exc:
        return JsonResponse({"ok": False, "error": exc.messages[0]}, status=400)
    except (ContentError, WeComError) as exc:
        return JsonResponse({"ok": False, "error": str(exc)}, status=409)
    return JsonResponse({"ok": True, "messages": calls, "send_key": services.new_send_key()})


@for_followed_customer
@require_POST
def record(request, pk):
    """The WeCom client sent the message into the chat: keep the 1:1 touch."""
    try:
        message = services.chat_message_record(
            operator=request.sidebar_operator,
            customer=request.sidebar_customer,
            item=_sendable(request),
            send_key=request.POST.get("send_key", ""),
        )
    except ValidationError as exc:
        return JsonResponse({"ok": False, "error": exc.messages[0]}, status=400)
    except (ContentError, WeComError) as exc:
        return JsonResponse({"ok": False, "error": str(exc)}, status=409)
    return JsonResponse({"ok": True, "id": message.pk})
