"""Writes of the WeCom chat sidebar. Every one starts from the live follow between the operator and the customer.

The sidebar never trusts the page for who is chatting with whom: the operator comes from the session WeCom's OAuth
established (`identity.py`), the customer from `getCurExternalContact`, and each request is accepted only while
that operator follows that customer in WeCom right now. Refusals are audited: a request for another operator's
customer, or for one whose follow was deleted, is either a stale page or somebody trying.
"""

import re
import secrets

from django.core.cache import cache
from django.core.exceptions import ValidationError
from django.db import IntegrityError, transaction
from django.utils.translation import gettext as _
from django.utils.translation import gettext_lazy

from campaigns.content.models import ContentItem
from campaigns.content.render import message_for
from campaigns.delivery.models import ChatMessage, OperatorTask
from campaigns.delivery.services import task_done
from integrations.wecom.client import get_client
from integrations.wecom.errors import WeComError
from tagging.models import Customer, Tag
from tagging.tags.services import customer_tag_add_by_hand, customer_tag_remove_by_hand
from workbench.audit.middleware import client_ip_of
from workbench.audit.models import AuditAction
from workbench.audit.services import audit_record
from workbench.org.models import Operator
from workbench.org.roles import Role
from workbench.org.scope import followed_customers
from workbench.sidebar import identity
from workbench.sidebar.chat import chat_messages

# The context tracked links of a sidebar message carry (clicks credited to the operator and the content).
LINK_CONTEXT = "sidebar"
# The audit log's names of the sidebar's actions (AuditAction), repeated so that this app's catalog translates them.
AUDIT_LABELS = (gettext_lazy("Opened the WeCom chat sidebar"), gettext_lazy("Was refused by the WeCom chat sidebar"))


class SidebarRefused(Exception):
    """The request is refused (HTTP 403); the message is for the operator."""


def _actor(operator: Operator):
    return operator.user if operator.user_id else None


# Refusals of nobody (no session, a forged state) cost an attacker nothing: one audit row per address, reason and
# path a minute is evidence enough and keeps the audit log from being flooded.
ANONYMOUS_REFUSAL_EVERY = 60


def refusal_record(*, operator: Operator | None, reason: str, detail: dict | None = None, request=None) -> None:
    if operator is None and request is not None:
        key = f"sidebar:refused:{reason}:{client_ip_of(request)}:{request.path}"
        if not cache.add(key, 1, ANONYMOUS_REFUSAL_EVERY):
            return
    audit_record(
        actor=_actor(operator) if operator else None,
        username=operator.wecom_userid if operator else "",
        action=AuditAction.SIDEBAR_REFUSED,
        object_type="org.operator" if operator else "",
        object_id=str(operator.pk) if operator else "",
        object_repr=str(operator) if operator else "",
        detail={"reason": reason, **(detail or {})},
    )


# --- identity --------------------------------------------------------------------------------------------------


def sign_in_with_code(request, code: str) -> Operator:
    """The member WeCom's OAuth code names, signed into the sidebar; SidebarRefused for anybody else."""
    try:
        answer = get_client().oauth_user_info(code)
    except WeComError as exc:
        refusal_record(operator=None, reason="oauth_code", detail={"errcode": exc.errcode})
        raise SidebarRefused(_("WeCom did not confirm who you are. Close the sidebar and open it again.")) from exc
    operator = identity.operator_for_userid(answer.get("userid", ""))
    if operator is None or operator.role == Role.COMPLIANCE_REVIEWER:  # reviewers read; the sidebar writes
        refusal_record(operator=None, reason="not_an_operator", detail={"userid": answer.get("userid", "")})
        raise SidebarRefused(_("The sidebar is for the bank's operators: your WeCom account is not one of them."))
    identity.sign_in(request, operator)
    audit_record(
        actor=_actor(operator),
        username=operator.wecom_userid,
        action=AuditAction.SIDEBAR_SIGNED_IN,
        obj=operator,
    )
    return operator


# --- the chat's customer -----------------------------------------------------------------------------------------


def chat_customer(*, operator: Operator, external_userid: str = "", customer_id=None) -> Customer:
    """The customer of this chat, if the operator follows them in WeCom right now; SidebarRefused otherwise."""
    customers = followed_customers(operator)
    if external_userid:
        customer = customers.filter(external_userid=external_userid).first()
    elif str(customer_id or "").isdecimal():
        customer = customers.filter(pk=int(customer_id)).first()
    else:
        customer = None
    if customer is None:
        refusal_record(
            operator=operator,
            reason="not_followed",
            detail={"external_userid": external_userid[:64], "customer_id": str(customer_id or "")[:20]},
        )
        raise SidebarRefused(_("This customer is not your WeCom contact: the sidebar shows nothing about them."))
    return customer


# --- what the operator does ------------------------------------------------------------------------------------


def tag_change(*, operator: Operator, customer: Customer, tag: Tag, add: bool) -> bool:
    """Add or remove a manual tag by hand; the tagging services record the change and queue `mark_tag`."""
    if tag.kind != Tag.Kind.MANUAL or not tag.is_active:
        raise SidebarRefused(_("Only manual tags are changed from the sidebar."))
    if add:
        return customer_tag_add_by_hand(customer=customer, tag=tag, actor=_actor(operator))
    return customer_tag_remove_by_hand(customer=customer, tag=tag, actor=_actor(operator))


def open_task_done(*, operator: Operator, customer: Customer, task_id, outcome: str, note: str = "") -> OperatorTask:
    task = OperatorTask.objects.filter(
        pk=task_id if str(task_id).isdecimal() else 0,
        operator=operator,
        customer=customer,
        status__in=OperatorTask.PENDING,
    ).first()
    if task is None:
        raise SidebarRefused(_("This task is not one of your open tasks for this customer."))
    return task_done(task=task, actor=_actor(operator), outcome=outcome, note=note)


def message_prepare(*, operator: Operator, customer: Customer, item: ContentItem) -> tuple[list[dict], str]:
    """The approved content as `sendChatMessage` calls, and the text the record keeps.

    Raises ContentError (not approved, expired, too long) and WeComError (an attachment upload failed).
    """
    message = message_for(
        item.current,
        context=LINK_CONTEXT,
        sender=operator,
        customer=customer,
        external_userid=customer.external_userid or "",
    )
    return chat_messages(message)


SEND_KEY = re.compile(r"[0-9a-f]{32}")


def new_send_key() -> str:
    return secrets.token_hex(16)


def chat_message_record(*, operator: Operator, customer: Customer, item: ContentItem, send_key: str) -> ChatMessage:
    """The 1:1 touch, written once the WeCom client said the message went into the chat.

    The text is built again on the server (the same tracked links: they are unique per send), never taken from
    the page, so the record says what the approved content said. `send_key` (issued by the prepare step) makes a
    repeated record — a double click, a retried request — return the touch already written instead of a second.
    """
    if not SEND_KEY.fullmatch(send_key or ""):
        raise ValidationError(_("This send has no valid key; open the sidebar again."))
    existing = ChatMessage.objects.filter(send_key=send_key).first()
    if existing is not None:
        if (existing.operator_id, existing.customer_id) != (operator.pk, customer.pk):
            raise ValidationError(_("This send key belongs to another chat."))
        return existing
    _calls, text = message_prepare(operator=operator, customer=customer, item=item)
    try:
        with transaction.atomic():
            return ChatMessage.objects.create(
                customer=customer, operator=operator, content_version=item.current, text=text, send_key=send_key
            )
    except IntegrityError:  # the same key recorded concurrently: that row is the touch
        return ChatMessage.objects.get(send_key=send_key, operator=operator, customer=customer)
