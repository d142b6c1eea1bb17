"""Signature check and decryption of WeCom callbacks, over wechatpy's `WeChatCrypto`.

WeCom signs every request with sha1(sorted([Token, timestamp, nonce, ciphertext])) and encrypts the message with
AES-256-CBC under the EncodingAESKey; the plaintext ends with the receiver id (our corp id), which wechatpy checks.
Whatever goes wrong — a wrong signature, another corp's message, bytes that are not base64 or not AES output —
ends here as one `CallbackRejected`, so the view has a single answer (403) for anything not genuinely ours.
"""

import binascii
import hashlib
import hmac
import logging
import struct
from collections.abc import Iterator
from contextlib import contextmanager
from xml.parsers.expat import ExpatError

import xmltodict
from django.conf import settings
from wechatpy.exceptions import InvalidSignatureException
from wechatpy.work.crypto import WeChatCrypto
from wechatpy.work.exceptions import InvalidCorpIdException

logger = logging.getLogger(__name__)


class CallbackRejected(Exception):
    """The request is not an authentic callback for our corp (answer 403, store nothing)."""


class MalformedCallback(Exception):
    """The request is not a callback at all: no XML envelope, no Encrypt element (answer 400, store nothing)."""


# What a forged or corrupted ciphertext makes wechatpy raise on its way to the plaintext: bad base64, a length
# that is not a multiple of the AES block, a truncated length prefix, bytes that are not UTF-8.
_UNDECRYPTABLE = (binascii.Error, ValueError, TypeError, IndexError, struct.error, UnicodeDecodeError)


@contextmanager
def _rejecting() -> Iterator[None]:
    try:
        yield
    except InvalidSignatureException as exc:
        raise CallbackRejected("bad signature") from exc
    except InvalidCorpIdException as exc:  # not a subclass of InvalidSignatureException: caught on its own
        raise CallbackRejected("encrypted for another corp id") from exc
    except _UNDECRYPTABLE as exc:
        raise CallbackRejected(f"undecryptable ciphertext ({type(exc).__name__})") from exc


def _crypto(msg_signature: str, timestamp: str, nonce: str, ciphertext: str) -> WeChatCrypto:
    """wechatpy's crypto for the current settings, once the signature is known to be right.

    Built per call: tests and key rotation change the settings, and nothing is read at import time.
    """
    token, aes_key, corp_id = (
        settings.WECOM_CALLBACK_TOKEN,
        settings.WECOM_CALLBACK_AES_KEY,
        settings.WECOM_CORP_ID,
    )
    if not (token and aes_key and corp_id):
        logger.error("WeCom callback refused: WECOM_CALLBACK_TOKEN, WECOM_CALLBACK_AES_KEY or WECOM_CORP_ID is unset")
        raise CallbackRejected("callbacks are not configured")
    if not (msg_signature and timestamp and nonce):
        raise CallbackRejected("msg_signature, timestamp or nonce missing")
    # wechatpy compares the signature too, with `!=`; comparing here first in constant time leaves no timing oracle.
    expected = hashlib.sha1("".join(sorted([token, timestamp, nonce, ciphertext])).encode()).hexdigest()  # noqa: S324
    if not hmac.compare_digest(expected, msg_signature.lower()):
        raise CallbackRejected("bad signature")
    with _rejecting():
        return WeChatCrypto(token, aes_key, corp_id)


def verify_url(*, msg_signature: str, timestamp: str, nonce: str, echostr: str) -> str:
    """The URL check of the WeCom console: the decrypted echostr, to be answered exactly as it is."""
    if not echostr:
        raise MalformedCallback("echostr missing")
    # Base64 has no spaces: a space is a '+' that reached us without URL-encoding and was decoded as a space.
    echostr = echostr.replace(" ", "+")
    crypto = _crypto(msg_signature, timestamp, nonce, echostr)
    with _rejecting():
        return crypto.check_signature(msg_signature, timestamp, nonce, echostr)


def parse_envelope(body: bytes) -> dict:
    """`<xml><ToUserName/><AgentID/><Encrypt/></xml>` as a dict; MalformedCallback when it is not that."""
    try:
        # No DTDs or entities: an envelope never has them, and refusing them closes entity-expansion attacks.
        envelope = xmltodict.parse(body, disable_entities=True).get("xml")
    except (ExpatError, ValueError, TypeError, AttributeError) as exc:
        raise MalformedCallback(f"not XML ({type(exc).__name__})") from exc
    if not isinstance(envelope, dict) or not isinstance(envelope.get("Encrypt"), str) or not envelope["Encrypt"]:
        raise MalformedCallback("no Encrypt element")
    return envelope


def decrypt_event(*, body: bytes, msg_signature: str, timestamp: str, nonce: str) -> str:
    """The decrypted event XML of a callback POST; MalformedCallback or CallbackRejected otherwise."""
    envelope = parse_envelope(body)
    if envelope.get("ToUserName") != settings.WECOM_CORP_ID:
        raise CallbackRejected("ToUserName is not our corp id")
    crypto = _crypto(msg_signature, timestamp, nonce, envelope["Encrypt"])
    with _rejecting():
        return crypto.decrypt_message(envelope, msg_signature, timestamp, nonce)
