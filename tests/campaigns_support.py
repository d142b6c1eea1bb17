"""Helpers shared by the content, channel and link tests (no fixtures here: each test module declares its own)."""

import time
from urllib.parse import urlencode

import xmltodict
from django.conf import settings
from django.test import Client
from django.urls import reverse
from wechatpy.work.crypto import WeChatCrypto

from campaigns.content import services
from campaigns.content.models import ContentItem, SensitiveWord
from integrations.wecom.models import CallbackEvent

WORDS = ["保本", "保收益", "稳赚", "稳赚不赔", "零风险", "无风险", "刚兑", "保证收益", "高收益无风险", "100%收益"]


def seed_words() -> None:
    """The finance list as the migration seeds it (a transactional test elsewhere may have flushed the table)."""
    for word in WORDS:
        SensitiveWord.objects.get_or_create(word=word)


def approved(bank, *, title="代发工资到账提醒", text="您好，我是{{operator_name}}。", use=ContentItem.Use.MASS,
             author="manager_a", reviewer="reviewer", valid_until=None, attachments=()) -> ContentItem:  # fmt: skip
    """An item written by `author` and approved by `reviewer` through the services."""
    item = services.content_create(actor=bank.user(author), title=title, use=use, text=text, valid_until=valid_until)
    for attachment in attachments:
        services.content_add_attachment(item=item, actor=bank.user(author), attachment=attachment)
    version = services.content_submit(version=item.versions.get(), actor=bank.user(author))
    services.content_approve(version=version, reviewer=bank.user(reviewer))
    item.refresh_from_db()
    return item


def corp(sandbox, userids, contacts=(), follows=()) -> None:
    """Seed the sandbox's corp with these members (one department), contacts and follows."""
    sandbox.seed(
        {
            "departments": [{"id": 1, "name": "示范银行", "parentid": 0}],
            "members": [{"userid": userid, "name": userid, "department": [1]} for userid in userids],
            "contacts": list(contacts),
            "follows": list(follows),
        }
    )


def post_callback(xml: str):
    """Post a decrypted event to our callback URL, encrypted and signed as WeCom does."""
    crypto = WeChatCrypto(settings.WECOM_CALLBACK_TOKEN, settings.WECOM_CALLBACK_AES_KEY, settings.WECOM_CORP_ID)
    nonce, timestamp = "n0nce", str(int(time.time()))
    sealed = xmltodict.parse(crypto.encrypt_message(xml, nonce, timestamp))["xml"]
    query = urlencode({"msg_signature": sealed["MsgSignature"], "timestamp": timestamp, "nonce": nonce})
    body = (
        f"<xml><ToUserName><![CDATA[{settings.WECOM_CORP_ID}]]></ToUserName><AgentID><![CDATA[1]]></AgentID>"
        f"<Encrypt><![CDATA[{sealed['Encrypt']}]]></Encrypt></xml>"
    )
    return Client().post(f"{reverse('wecom_callbacks:callback')}?{query}", body, content_type="text/xml")


def deliver(sandbox, **spec) -> tuple[CallbackEvent, dict]:
    """The sandbox applies a customer's action and gives us its callback; we receive it as from WeCom."""
    answer = sandbox.event(**spec)
    assert post_callback(answer["xml"]).status_code == 200
    return CallbackEvent.objects.get(raw_xml=answer["xml"]), answer
