"""Callback messages as WeCom sends them: event XML, encrypted and signed with the corp's Token and EncodingAESKey.

The AES and signature work is wechatpy's `WeChatCrypto` (the same code the product uses to decrypt); this module
only builds the XML around it (wecom-api.md §4).
"""

import xmltodict
from wechatpy.work.crypto import WeChatCrypto


def _cdata(value: str) -> str:
    # "]]>" cannot appear inside CDATA: split it across two sections.
    return "<![CDATA[" + str(value).replace("]]>", "]]]]><![CDATA[>") + "]]>"


def event_xml(*, corp_id: str, create_time: int, fields: dict) -> str:
    """`<xml>` with ToUserName=corpid, FromUserName=sys, CreateTime, MsgType=event, then `fields` in order."""
    parts = [
        f"<ToUserName>{_cdata(corp_id)}</ToUserName>",
        f"<FromUserName>{_cdata('sys')}</FromUserName>",
        f"<CreateTime>{int(create_time)}</CreateTime>",
        f"<MsgType>{_cdata('event')}</MsgType>",
    ]
    parts += [f"<{name}>{_cdata(value)}</{name}>" for name, value in fields.items() if value is not None]
    return "<xml>" + "".join(parts) + "</xml>"


def encrypt(
    *, token: str, aes_key: str, corp_id: str, agent_id: int, xml: str, nonce: str, timestamp: str
) -> tuple[str, str]:
    """(request body, msg_signature): the body is `<xml><ToUserName/><Encrypt/><AgentID/></xml>`."""
    envelope = xmltodict.parse(WeChatCrypto(token, aes_key, corp_id).encrypt_message(xml, nonce, timestamp))["xml"]
    body = (
        f"<xml><ToUserName>{_cdata(corp_id)}</ToUserName><Encrypt>{_cdata(envelope['Encrypt'])}</Encrypt>"
        f"<AgentID>{_cdata(agent_id)}</AgentID></xml>"
    )
    return body, envelope["MsgSignature"]


def echo(*, token: str, aes_key: str, corp_id: str, text: str, nonce: str, timestamp: str) -> tuple[str, str]:
    """(echostr, msg_signature) for the URL check WeCom makes when a callback URL is saved."""
    envelope = xmltodict.parse(WeChatCrypto(token, aes_key, corp_id).encrypt_message(text, nonce, timestamp))["xml"]
    return envelope["Encrypt"], envelope["MsgSignature"]
