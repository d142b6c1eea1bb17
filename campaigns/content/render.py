"""Content as a WeCom message body: what welcome messages, playbooks and the sidebar send.

`message_for` refuses anything but the approved, unexpired version in use; it fills the variables (the sender's
always, the customer's only where the item's use allows them), rewrites every link to its tracked redirect and
turns attachments into WeCom's shapes, uploading media that WeCom does not hold (or holds too old).
"""

from django.utils.translation import gettext as _

from campaigns.content import variables
from campaigns.content.media import asset_image_url, asset_media_id
from campaigns.content.models import TEXT_MAX_BYTES, ContentAsset, ContentItem, ContentVersion
from campaigns.content.selectors import usable_version
from campaigns.content.services import ContentError
from campaigns.links.services import rewrite_text, tracked_url


class ContentNotUsable(ContentError):
    """Not approved, superseded or expired: nothing of it may reach a customer."""


def require_usable(item: ContentItem, *, now=None) -> ContentVersion:
    version = usable_version(item, now=now)
    if version is None:
        raise ContentNotUsable(_("%(title)s has no approved, unexpired version.") % {"title": item.title})
    return version


def message_for(
    version: ContentVersion,
    *,
    context: str,
    sender=None,
    customer=None,
    customer_name: str = "",
    customer_gender: str = "",
    external_userid: str = "",
    context_id: int | None = None,
    now=None,
    client=None,
) -> dict:
    """{"text": {"content": …}?, "attachments": […]} for add_msg_template / send_welcome_msg.

    Raises ContentNotUsable for a version that is not the item's approved, unexpired one, ContentError when the
    filled-in text is too long, WeComError when an upload fails.
    """
    item = ContentItem.objects.select_related("current").get(pk=version.item_id)  # fresh: approval may be recent
    if usable_version(item, now=now) is None or item.current_id != version.pk:
        raise ContentNotUsable(_("Only the approved version in use may be sent."))
    sender_values = variables.sender_values(sender)
    values = dict(sender_values)
    if item.per_customer_allowed:
        if customer is not None:
            customer_name, customer_gender = customer.name, customer.gender
        values |= variables.customer_values(name=customer_name, gender=customer_gender)
    send = {
        "context": context,
        "context_id": context_id,
        "version": version,
        "sender": sender,
        "customer": customer,
        "external_userid": external_userid,
    }
    # The template's variables, not the filled text's: a value (a customer's WeChat nickname "{{vip}}") is text.
    missing = [key for key in variables.used(version.text) if key not in values]
    if missing:
        raise ContentError(_("The text still has variables without a value: %(keys)s.") % {"keys": missing})
    # Links are rewritten in the approved text with the sender's values only, and the customer's values come
    # after: a customer's name (a WeChat nickname "https://…") is text, never a link the bank tracks.
    text = variables.fill(rewrite_text(variables.fill(version.text, sender_values), **send), values)
    if len(text.encode()) > TEXT_MAX_BYTES:
        raise ContentError(_("With its variables filled in the text exceeds WeCom's 4000 bytes."))
    assets = {
        asset.pk: asset
        for asset in ContentAsset.objects.filter(
            pk__in=[a["asset"] for a in version.attachments if a.get("asset")]
        ).defer("data")
    }
    attachments = [
        _attachment(a, assets, values=values, send=send, now=now, client=client) for a in version.attachments
    ]
    message = {"attachments": attachments}
    if text.strip():
        message["text"] = {"content": text}
    return message


def _attachment(attachment: dict, assets: dict, *, values: dict, send: dict, now, client) -> dict:
    kind = attachment["type"]
    asset = assets.get(attachment.get("asset"))
    if kind in ("image", "file", "video"):
        if asset is None:
            raise ContentError(_("An attachment's file is missing."))
        return {"msgtype": kind, kind: {"media_id": asset_media_id(asset, now=now, client=client)}}
    if kind == "link":
        link = {
            "title": variables.fill(attachment["title"], values),
            "url": tracked_url(attachment["url"], **send),
        }
        if attachment.get("desc"):
            link["desc"] = variables.fill(attachment["desc"], values)
        if asset is not None:
            link["picurl"] = asset_image_url(asset, client=client)
        return {"msgtype": "link", "link": link}
    if kind == "miniprogram":
        if asset is None:
            raise ContentError(_("A mini-program needs its cover image."))
        return {
            "msgtype": "miniprogram",
            "miniprogram": {
                "title": variables.fill(attachment["title"], values),
                "pic_media_id": asset_media_id(asset, now=now, client=client),
                "appid": attachment["appid"],
                "page": attachment["page"],
            },
        }
    raise ContentError(_("Unknown attachment type %(kind)s.") % {"kind": kind})
