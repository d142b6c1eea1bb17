"""WeCom callbacks: the URL check, verified and de-duplicated storage, and what each event does to our data.

Every encrypted request here is built twice over: by wechatpy's `WeChatCrypto` and by an implementation of the
documented algorithm written below with `cryptography` alone, so the endpoint is held to WeCom's specification
rather than to the library it happens to use.
"""

import base64
import hashlib
import os
import struct
import time
from datetime import UTC, datetime, timedelta
from urllib.parse import urlencode

import pytest
import xmltodict
from celery.signals import task_postrun
from cryptography.hazmat.primitives.ciphers import Cipher, algorithms, modes
from django.conf import settings
from django.db import connection
from django.test import Client
from django.urls import reverse
from django.utils import timezone
from wechatpy.work.crypto import WeChatCrypto

from integrations.wecom.callbacks import crypto, handlers, services
from integrations.wecom.callbacks.services import MAX_ATTEMPTS, dedupe_key, receive_callback
from integrations.wecom.callbacks.tasks import PROCESS_MAX_RETRIES, process_event, reprocess_stuck, send_welcome
from integrations.wecom.errors import WeComTransientError
from integrations.wecom.models import CallbackEvent, ContactTransfer
from tagging.models import AddWay, Customer, CustomerEvent, FollowRelationship
from tagging.selectors import customer_timeline
from tests.factories import CustomerFactory
from tests.wecom_sandbox import sandbox, wecom_sandbox  # noqa: F401

pytestmark = pytest.mark.django_db

CREATE_TIME = 1_790_000_000
OTHER_AES_KEY = "ZYXWVUTSRQPONMLKJIHGFEDCBA9876543210zyxwvut"


def url(**query) -> str:
    return f"{reverse('wecom_callbacks:callback')}?{urlencode(query)}" if query else reverse("wecom_callbacks:callback")


# --- the documented algorithm, independently of wechatpy --------------------------------------------------


def independent_encrypt(text: str, *, receiveid: str, aes_key: str) -> str:
    """AES-256-CBC, key = b64decode(EncodingAESKey + "="), IV = key[:16], PKCS#7 to a multiple of 32 over
    16 random bytes + 4-byte big-endian length + message + receiveid."""
    key = base64.b64decode(aes_key + "=")
    message = text.encode()
    plain = os.urandom(16) + struct.pack(">I", len(message)) + message + receiveid.encode()
    pad = 32 - len(plain) % 32
    plain += bytes([pad]) * pad
    encryptor = Cipher(algorithms.AES(key), modes.CBC(key[:16])).encryptor()
    return base64.b64encode(encryptor.update(plain) + encryptor.finalize()).decode()


def independent_decrypt(ciphertext: str, *, aes_key: str) -> tuple[str, str]:
    """(message, receiveid): the inverse, to check what wechatpy produces against the specification."""
    key = base64.b64decode(aes_key + "=")
    decryptor = Cipher(algorithms.AES(key), modes.CBC(key[:16])).decryptor()
    plain = decryptor.update(base64.b64decode(ciphertext)) + decryptor.finalize()
    plain = plain[: -plain[-1]]
    (length,) = struct.unpack(">I", plain[16:20])
    return plain[20 : 20 + length].decode(), plain[20 + length :].decode()


def independent_sign(token: str, timestamp: str, nonce: str, encrypt: str) -> str:
    return hashlib.sha1("".join(sorted([token, timestamp, nonce, encrypt])).encode()).hexdigest()  # noqa: S324


def wechatpy_encrypt(text: str, *, receiveid: str, aes_key: str, nonce: str, timestamp: str) -> tuple[str, str]:
    """(Encrypt, MsgSignature) as wechatpy builds them."""
    crypto_ = WeChatCrypto(settings.WECOM_CALLBACK_TOKEN, aes_key, receiveid)
    envelope = xmltodict.parse(crypto_.encrypt_message(text, nonce, timestamp))["xml"]
    return envelope["Encrypt"], envelope["MsgSignature"]


def encrypt(text: str, *, how: str, receiveid: str | None = None, aes_key: str | None = None, nonce="n0nce"):
    """(query, Encrypt) for `text`, signed with our token."""
    receiveid = receiveid if receiveid is not None else settings.WECOM_CORP_ID
    aes_key = aes_key or settings.WECOM_CALLBACK_AES_KEY
    timestamp = str(CREATE_TIME)
    if how == "wechatpy":
        ciphertext, signature = wechatpy_encrypt(
            text, receiveid=receiveid, aes_key=aes_key, nonce=nonce, timestamp=timestamp
        )
    else:
        ciphertext = independent_encrypt(text, receiveid=receiveid, aes_key=aes_key)
        signature = independent_sign(settings.WECOM_CALLBACK_TOKEN, timestamp, nonce, ciphertext)
    return {"msg_signature": signature, "timestamp": timestamp, "nonce": nonce}, ciphertext


def event_xml(**fields) -> str:
    values = {
        "ToUserName": settings.WECOM_CORP_ID,
        "FromUserName": "sys",
        "CreateTime": CREATE_TIME,
        "MsgType": "event",
        "Event": "change_external_contact",
    } | fields
    body = "".join(
        f"<{name}>{value}</{name}>" if name == "CreateTime" else f"<{name}><![CDATA[{value}]]></{name}>"
        for name, value in values.items()
        if value is not None
    )
    return f"<xml>{body}</xml>"


def envelope(ciphertext: str, *, to_user: str | None = None) -> str:
    to_user = settings.WECOM_CORP_ID if to_user is None else to_user
    return (
        f"<xml><ToUserName><![CDATA[{to_user}]]></ToUserName><AgentID><![CDATA[1000002]]></AgentID>"
        f"<Encrypt><![CDATA[{ciphertext}]]></Encrypt></xml>"
    )


def post_event(client: Client, xml: str, *, how: str = "wechatpy", to_user: str | None = None, **encrypt_kwargs):
    query, ciphertext = encrypt(xml, how=how, **encrypt_kwargs)
    return client.post(url(**query), envelope(ciphertext, to_user=to_user), content_type="text/xml")


def added(external_userid="wmNEW0001", userid="operator_a", **fields) -> str:
    return event_xml(
        ChangeType="add_external_contact",
        UserID=userid,
        ExternalUserID=external_userid,
        State="qr_outlet_a",
        WelcomeCode="WELCOME-CODE-1",
        **fields,
    )


# --- the algorithm itself ---------------------------------------------------------------------------------


def test_wechatpy_and_the_documented_algorithm_agree():
    ciphertext, signature = wechatpy_encrypt(
        "<xml>hi</xml>", receiveid="wwtestcorp", aes_key=settings.WECOM_CALLBACK_AES_KEY, nonce="n", timestamp="1"
    )
    assert independent_decrypt(ciphertext, aes_key=settings.WECOM_CALLBACK_AES_KEY) == ("<xml>hi</xml>", "wwtestcorp")
    assert signature == independent_sign(settings.WECOM_CALLBACK_TOKEN, "1", "n", ciphertext)
    assert len(base64.b64decode(ciphertext)) % 32 == 0


# --- URL verification (GET) -------------------------------------------------------------------------------


@pytest.mark.parametrize("how", ["wechatpy", "independent"])
def test_url_verification_answers_the_decrypted_echostr_as_plain_text(how):
    query, echostr = encrypt("6204717396658290561", how=how)
    response = Client().get(url(**query, echostr=echostr))
    assert response.status_code == 200
    assert response.content == b"6204717396658290561"  # no quotes, BOM or newline
    assert response["Content-Type"].startswith("text/plain")


def test_url_verification_survives_an_unencoded_plus_in_echostr():
    for _ in range(20):  # random padding: find an echostr with a '+' in it
        query, echostr = encrypt("1234567890", how="independent")
        if "+" in echostr:
            break
    assert "+" in echostr
    raw_query = urlencode(query) + "&echostr=" + echostr  # '+' left as is: Django decodes it as a space
    response = Client().get(f"{url()}?{raw_query}")
    assert response.status_code == 200 and response.content == b"1234567890"


def test_url_verification_with_a_bad_signature_is_forbidden():
    query, echostr = encrypt("1234567890", how="independent")
    query["msg_signature"] = "0" * 40
    assert Client().get(url(**query, echostr=echostr)).status_code == 403


def test_url_verification_of_another_corp_is_forbidden():
    query, echostr = encrypt("1234567890", how="wechatpy", receiveid="wwothercorp")
    assert Client().get(url(**query, echostr=echostr)).status_code == 403


def test_url_verification_without_parameters():
    query, echostr = encrypt("1234567890", how="independent")
    assert Client().get(url()).status_code == 400
    assert Client().get(url(**query)).status_code == 400  # no echostr
    assert Client().get(url(echostr=echostr)).status_code == 403  # no signature


def test_callbacks_are_refused_while_not_configured(settings):
    settings.WECOM_CALLBACK_TOKEN = ""
    query, echostr = encrypt("1234567890", how="independent")
    assert Client().get(url(**query, echostr=echostr)).status_code == 403


# --- events (POST) ----------------------------------------------------------------------------------------


@pytest.mark.parametrize("how", ["wechatpy", "independent"])
def test_an_event_is_stored_and_answered_with_an_empty_200(how, django_capture_on_commit_callbacks):
    xml = added()
    # As WeCom posts it: anonymous, no CSRF token, no session.
    client = Client(enforce_csrf_checks=True)
    with django_capture_on_commit_callbacks(execute=False) as callbacks:
        response = post_event(client, xml, how=how)
    assert response.status_code == 200
    assert response.content == b""
    event = CallbackEvent.objects.get()
    assert (event.event, event.change_type) == ("change_external_contact", "add_external_contact")
    assert event.status == CallbackEvent.Status.RECEIVED
    assert event.raw_xml == xml
    assert event.payload["ExternalUserID"] == "wmNEW0001" and event.payload["State"] == "qr_outlet_a"
    assert (event.deliveries, event.attempts, event.processed_at, event.error) == (1, 0, None, "")
    assert event.dedupe_key == "sys|1790000000|change_external_contact|add_external_contact|operator_a|wmNEW0001"
    assert len(callbacks) == 1  # processing is enqueued once the row is committed (no welcome text configured)
    assert "sessionid" not in response.cookies


def test_a_forged_signature_is_forbidden_and_nothing_is_stored():
    query, ciphertext = encrypt(added(), how="independent")
    query["msg_signature"] = independent_sign("notOurToken", query["timestamp"], query["nonce"], ciphertext)
    response = Client().post(url(**query), envelope(ciphertext), content_type="text/xml")
    assert response.status_code == 403
    assert not CallbackEvent.objects.exists()


def test_a_signature_over_other_parameters_is_forbidden():
    query, ciphertext = encrypt(added(), how="wechatpy")
    query["timestamp"] = str(CREATE_TIME + 1)
    assert Client().post(url(**query), envelope(ciphertext), content_type="text/xml").status_code == 403
    assert not CallbackEvent.objects.exists()


@pytest.mark.parametrize("how", ["wechatpy", "independent"])
def test_an_event_encrypted_for_another_corp_is_forbidden(how):
    response = post_event(Client(), added(), how=how, receiveid="wwothercorp")
    assert response.status_code == 403
    assert not CallbackEvent.objects.exists()


def test_an_envelope_addressed_to_another_corp_is_forbidden():
    response = post_event(Client(), added(), to_user="wwothercorp")
    assert response.status_code == 403
    assert not CallbackEvent.objects.exists()


def test_an_event_encrypted_with_another_key_is_forbidden():
    response = post_event(Client(), added(), how="independent", aes_key=OTHER_AES_KEY)
    assert response.status_code == 403
    assert not CallbackEvent.objects.exists()


@pytest.mark.parametrize(
    "body",
    [
        "",
        "not xml at all",
        "<xml><ToUserName>wwtestcorp</ToUserName>",
        "<xml><ToUserName>wwtestcorp</ToUserName><AgentID/></xml>",  # no Encrypt
        "<xml><ToUserName>wwtestcorp</ToUserName><Encrypt/></xml>",  # empty Encrypt
        '<!DOCTYPE xml [<!ENTITY e "x">]><xml><Encrypt>&e;</Encrypt></xml>',  # entities are refused
        "<other>x</other>",
    ],
)
def test_malformed_bodies_are_bad_requests_and_nothing_is_stored(body):
    query, _ciphertext = encrypt(added(), how="wechatpy")
    response = Client().post(url(**query), body, content_type="text/xml")
    assert response.status_code == 400
    assert not CallbackEvent.objects.exists()


@pytest.mark.parametrize("garbage", ["!!!not-base64!!!", base64.b64encode(b"short").decode(), "QUJD" * 8])
def test_garbage_ciphertext_signed_correctly_is_forbidden_and_nothing_is_stored(garbage):
    # Signed with our token (as anyone who learnt it could) but not encrypted with our key.
    timestamp, nonce = str(CREATE_TIME), "n0nce"
    query = {
        "msg_signature": independent_sign(settings.WECOM_CALLBACK_TOKEN, timestamp, nonce, garbage),
        "timestamp": timestamp,
        "nonce": nonce,
    }
    response = Client().post(url(**query), envelope(garbage), content_type="text/xml")
    assert response.status_code == 403
    assert not CallbackEvent.objects.exists()


def test_a_decrypted_message_that_is_not_xml_is_a_bad_request():
    response = post_event(Client(), "plain text, not xml", how="independent")
    assert response.status_code == 400
    assert not CallbackEvent.objects.exists()


@pytest.mark.parametrize("method", ["put", "patch", "delete", "head", "options"])
def test_other_methods_are_not_allowed(method):
    assert getattr(Client(), method)(url()).status_code == 405


def test_a_retried_event_is_stored_once_and_enqueued_once(django_capture_on_commit_callbacks):
    xml = event_xml(ChangeType="del_follow_user", UserID="operator_a", ExternalUserID="wmNEW0001")
    with django_capture_on_commit_callbacks(execute=False) as first:
        assert post_event(Client(), xml, how="wechatpy", nonce="first").status_code == 200
    # WeCom's retry: the same event, encrypted afresh with another nonce.
    with django_capture_on_commit_callbacks(execute=False) as retry:
        assert post_event(Client(), xml, how="independent", nonce="retry").status_code == 200
    event = CallbackEvent.objects.get()
    assert event.deliveries == 2
    assert (len(first), len(retry)) == (1, 0)


def test_different_events_of_the_same_second_are_kept_apart():
    client = Client()
    common = {"UserID": "operator_a", "ExternalUserID": "wmNEW0001"}
    post_event(client, event_xml(ChangeType="add_external_contact", **common))
    post_event(client, event_xml(ChangeType="edit_external_contact", **common))
    post_event(client, event_xml(ChangeType="edit_external_contact", UserID="operator_a2", ExternalUserID="wmNEW0001"))
    for tag_id in ("etTAG1", "etTAG2"):
        post_event(client, event_xml(Event="change_external_tag", ChangeType="update", Id=tag_id, TagType="tag"))
    assert CallbackEvent.objects.count() == 5
    assert set(CallbackEvent.objects.values_list("deliveries", flat=True)) == {1}


@pytest.mark.parametrize(
    "xml",
    [
        event_xml(Event="change_external_chat", ChatId="wrCHAT1", ChangeType="update", UpdateDetail="add_member"),
        event_xml(Event="some_future_event", Whatever="1"),
        event_xml(ChangeType="some_future_change", UserID="operator_a", ExternalUserID="wmNEW0001"),
        event_xml(MsgType="text", Event=None, Content="你好", MsgId="1234567"),
    ],
    ids=["chat", "unknown-event", "unknown-change-type", "not-an-event"],
)
def test_events_we_do_not_handle_are_stored_ignored_and_acknowledged(xml, django_capture_on_commit_callbacks):
    with django_capture_on_commit_callbacks(execute=False) as callbacks:
        response = post_event(Client(), xml, how="independent")
    assert response.status_code == 200 and response.content == b""
    event = CallbackEvent.objects.get()
    assert event.status == CallbackEvent.Status.IGNORED
    assert event.processed_at is not None
    assert callbacks == []  # nothing to process


def test_unknown_events_of_the_same_second_with_different_content_are_kept_apart():
    post_event(Client(), event_xml(Event="some_future_event", Whatever="1"))
    post_event(Client(), event_xml(Event="some_future_event", Whatever="2"))
    post_event(Client(), event_xml(Event="some_future_event", Whatever="2"))
    assert sorted(CallbackEvent.objects.values_list("deliveries", flat=True)) == [1, 2]


def test_dedupe_key_stays_within_its_column():
    payload = {"FromUserName": "sys", "CreateTime": "1", "Event": "change_external_tag", "Id": "x" * 400}
    key = dedupe_key(payload)
    assert len(key) <= 255 and key.startswith("sha256:")
    assert dedupe_key(payload) == key


def test_crypto_wrapper_turns_every_failure_into_callback_rejected():
    query, ciphertext = encrypt(added(), how="wechatpy", receiveid="wwothercorp")
    with pytest.raises(crypto.CallbackRejected):  # wechatpy's InvalidCorpIdException
        crypto.decrypt_event(body=envelope(ciphertext).encode(), **query)
    query, ciphertext = encrypt(added(), how="wechatpy")
    with pytest.raises(crypto.CallbackRejected):  # wechatpy's InvalidSignatureException (checked by us first)
        crypto.decrypt_event(body=envelope(ciphertext).encode(), **(query | {"nonce": "other"}))
    assert crypto.decrypt_event(body=envelope(ciphertext).encode(), **query) == added()


# --- processing: the events that need nothing from WeCom --------------------------------------------------


def stored(xml: str) -> CallbackEvent:
    """The event as the endpoint stores it (the enqueue is a captured on_commit callback, never run here)."""
    event, created = receive_callback(xml)
    assert created
    return event


def contact_event(change_type: str, customer, userid: str, **fields) -> str:
    return event_xml(ChangeType=change_type, UserID=userid, ExternalUserID=customer.external_userid, **fields)


def test_the_customer_deleting_the_operator_ends_the_follow_and_shows_on_the_timeline(bank):
    customer = bank.customers["a_own"]
    event = stored(contact_event("del_follow_user", customer, "operator_a"))

    process_event(event.pk)

    event.refresh_from_db()
    assert (event.status, event.attempts, event.error) == ("processed", 1, "")
    assert event.processed_at is not None
    follow = FollowRelationship.objects.get(customer=customer, operator=bank.operators["operator_a"])
    assert follow.deleted_by == FollowRelationship.DeletedBy.CUSTOMER
    assert follow.deleted_at == datetime.fromtimestamp(CREATE_TIME, tz=UTC)  # WeCom's time, not ours
    # The churn signal supervision reads: the timeline says the customer deleted the operator.
    churn = [entry for entry in customer_timeline(customer) if entry.kind == "follow_deleted"]
    assert [(entry.summary, entry.operator) for entry in churn] == [
        (FollowRelationship.DeletedBy.CUSTOMER.label, "赵甲")
    ]


def test_the_operator_deleting_the_customer(bank):
    customer = bank.customers["a_own"]
    event = stored(contact_event("del_external_contact", customer, "operator_a"))
    process_event(event.pk)
    follow = FollowRelationship.objects.get(customer=customer, operator=bank.operators["operator_a"])
    assert follow.deleted_by == FollowRelationship.DeletedBy.OPERATOR


def test_a_deletion_by_transfer_is_a_hand_over_not_churn(bank):
    customer = bank.customers["a_own"]
    event = stored(contact_event("del_external_contact", customer, "operator_a", Source="DELETE_BY_TRANSFER"))
    process_event(event.pk)
    follow = FollowRelationship.objects.get(customer=customer, operator=bank.operators["operator_a"])
    assert follow.deleted_by == FollowRelationship.DeletedBy.TRANSFER
    assert not FollowRelationship.objects.filter(deleted_by=FollowRelationship.DeletedBy.CUSTOMER, customer=customer)


def test_a_deletion_we_never_knew_about_is_processed_without_changes(bank):
    event = stored(event_xml(ChangeType="del_follow_user", UserID="operator_a", ExternalUserID="wmNOBODY"))
    process_event(event.pk)
    event.refresh_from_db()
    assert event.status == "processed"


def test_processing_twice_changes_nothing_the_second_time(bank):
    customer = bank.customers["a_own"]
    event = stored(contact_event("del_follow_user", customer, "operator_a"))
    process_event(event.pk)
    process_event(event.pk)  # a redelivered message, or reprocess_stuck racing the first run
    event.refresh_from_db()
    assert (event.status, event.attempts) == ("processed", 1)
    assert FollowRelationship.objects.filter(customer=customer, deleted_by="customer").count() == 1


def test_a_worker_killed_after_the_handler_but_before_the_status_is_redone_to_the_same_result(bank):
    customer = bank.customers["a_own"]
    event = stored(contact_event("del_follow_user", customer, "operator_a"))
    # The first run ended the follow, then died before marking the event: it is still `received`, one attempt.
    handlers.customer_deleted_operator(event)
    CallbackEvent.objects.filter(pk=event.pk).update(attempts=1)

    process_event(event.pk)  # the redelivered message

    event.refresh_from_db()
    assert (event.status, event.attempts) == ("processed", 2)
    assert FollowRelationship.objects.filter(customer=customer).exclude(deleted_at=None).count() == 1
    assert FollowRelationship.objects.filter(customer=customer, deleted_at=None).count() == 0


def test_a_refused_transfer_is_settled(bank):
    customer = bank.customers["a_own"]
    transfer = ContactTransfer.objects.create(
        kind=ContactTransfer.Kind.ON_THE_JOB,
        customer=customer,
        external_userid=customer.external_userid,
        handover=bank.operators["operator_a"],
        takeover=bank.operators["operator_a2"],
        status=ContactTransfer.Status.WAITING,
    )
    event = stored(contact_event("transfer_fail", customer, "operator_a2", FailReason="customer_refused"))
    process_event(event.pk)
    process_event(event.pk)
    transfer.refresh_from_db()
    assert transfer.status == ContactTransfer.Status.REFUSED
    assert CustomerEvent.objects.filter(customer=customer, kind=CustomerEvent.Kind.TRANSFER).count() == 1
    event.refresh_from_db()
    assert event.status == "processed"


class SentTasks(list):
    def send_task(self, name, **options):
        self.append((name, options))


def test_corp_tag_changes_refresh_the_corp_tags_once_per_burst(bank, monkeypatch):
    sent = SentTasks()
    monkeypatch.setattr(handlers, "current_app", sent)
    events = [
        stored(event_xml(Event="change_external_tag", ChangeType=change, Id=tag_id, TagType="tag"))
        for change, tag_id in (("create", "et1"), ("update", "et2"), ("delete", "et3"))
    ]
    for event in events:
        process_event(event.pk)
    assert sent == [("integrations.wecom.tasks.sync_corp_tags", {"countdown": handlers.TAG_SYNC_DEBOUNCE_SECONDS})]
    assert set(CallbackEvent.objects.values_list("status", flat=True)) == {"processed"}


def test_an_event_that_is_gone_or_finished_is_left_alone(bank):
    process_event(987654)  # deleted meanwhile: nothing to do, no error
    event = stored(event_xml(Event="some_future_event"))
    process_event(event.pk)
    event.refresh_from_db()
    assert (event.status, event.attempts) == ("ignored", 0)


def test_an_event_that_keeps_killing_its_worker_is_given_up(bank):
    event = stored(contact_event("del_follow_user", bank.customers["a_own"], "operator_a"))
    CallbackEvent.objects.filter(pk=event.pk).update(attempts=MAX_ATTEMPTS)
    process_event(event.pk)
    event.refresh_from_db()
    assert event.status == "failed" and f"gave up after {MAX_ATTEMPTS} attempts" in event.error
    # Nothing was done: the follow is still live.
    assert FollowRelationship.objects.filter(customer=bank.customers["a_own"], deleted_at=None).exists()


def test_a_bug_in_a_handler_marks_the_event_failed_and_is_raised(bank, monkeypatch):
    def broken(event):
        raise KeyError("UserID")

    monkeypatch.setitem(handlers.HANDLERS, ("change_external_contact", "del_follow_user"), broken)
    event = stored(contact_event("del_follow_user", bank.customers["a_own"], "operator_a"))
    with pytest.raises(KeyError):
        process_event(event.pk)
    event.refresh_from_db()
    assert event.status == "failed" and "KeyError" in event.error


def test_reprocess_stuck_enqueues_only_events_received_long_ago(bank, monkeypatch):
    enqueued = []
    monkeypatch.setattr(services, "_enqueue_processing", enqueued.append)
    old = stored(contact_event("del_follow_user", bank.customers["a_own"], "operator_a"))
    fresh = stored(contact_event("del_follow_user", bank.customers["a_followed"], "operator_a"))
    done = stored(contact_event("del_follow_user", bank.customers["b_shared"], "operator_a"))
    ignored = stored(event_xml(Event="some_future_event"))
    long_ago = timezone.now() - timedelta(minutes=30)
    CallbackEvent.objects.filter(pk__in=[old.pk, done.pk, ignored.pk]).update(received_at=long_ago)
    CallbackEvent.objects.filter(pk=done.pk).update(status="processed")

    assert reprocess_stuck() == 1

    assert enqueued == [old.pk]
    assert fresh.pk not in enqueued


# --- processing against the WeCom sandbox -----------------------------------------------------------------

MEMBERS = ("operator_a", "operator_a2", "operator_b")


@pytest.fixture
def wecom(sandbox):  # noqa: F811 - the fixture imported above
    """The WeCom sandbox holding our members; the Django settings point at it for the test."""
    sandbox.seed(
        {
            "departments": [{"id": 1, "name": "示范银行", "parentid": 0}],
            "members": [{"userid": userid, "name": userid, "department": [1]} for userid in MEMBERS],
        }
    )
    return sandbox


def deliver(wecom, **spec) -> CallbackEvent:
    """The sandbox applies a client-side event and hands us its callback XML; we post it as WeCom would."""
    answer = wecom.event(**spec)
    assert post_event(Client(), answer["xml"], how="independent").status_code == 200
    return CallbackEvent.objects.get(raw_xml=answer["xml"])


def test_an_add_creates_an_unmatched_contact_with_its_channel(bank, wecom, api_as):
    event = deliver(
        wecom, change_type="add_external_contact", userid="operator_a", external_userid="wmNEW0001", state="qr_a"
    )
    assert CallbackEvent.objects.get(pk=event.pk).status == "received"

    process_event(event.pk)

    event.refresh_from_db()
    assert (event.status, event.attempts, event.error) == ("processed", 1, "")
    customer = Customer.objects.get(external_userid="wmNEW0001")
    assert customer.is_unmatched_contact
    assert customer.owner == bank.operators["operator_a"]  # its earliest follower sees it at once
    follow = customer.follows.get()
    assert (follow.operator, follow.state, follow.add_way, follow.deleted_at) == (
        bank.operators["operator_a"],
        "qr_a",
        AddWay.QR_CODE,
        None,
    )
    # And the bank side sees it through the API.
    rows = api_as("operator_a").get("/api/v1/customers/", {"external_userid": "wmNEW0001"}).json()["results"]
    assert [(row["external_userid"], row["customer_no"]) for row in rows] == [("wmNEW0001", None)]


def test_an_add_is_matched_by_unionid_to_the_bank_customer(bank, wecom):
    known = CustomerFactory(external_userid=None, unionid="oUNION0001", owner=bank.operators["operator_a"])
    event = deliver(
        wecom,
        change_type="add_half_external_contact",
        userid="operator_a",
        external_userid="wmNEW0002",
        unionid="oUNION0001",
    )
    process_event(event.pk)
    known.refresh_from_db()
    assert known.external_userid == "wmNEW0002" and not known.is_unmatched_contact
    assert Customer.objects.filter(external_userid="wmNEW0002").count() == 1
    assert known.follows.get(deleted_at=None).operator == bank.operators["operator_a"]


def test_processing_an_add_twice_or_a_retried_add_creates_nothing_twice(bank, wecom):
    answer = wecom.event(change_type="add_external_contact", userid="operator_a", external_userid="wmNEW0003")
    for how in ("wechatpy", "independent"):  # WeCom's retry of the same event
        assert post_event(Client(), answer["xml"], how=how).status_code == 200
    event = CallbackEvent.objects.get()
    assert event.deliveries == 2
    process_event(event.pk)
    process_event(event.pk)
    handlers.refresh_contact(event)  # even the handler itself, run again, changes nothing
    event.refresh_from_db()
    assert (event.status, event.attempts) == ("processed", 1)
    assert Customer.objects.filter(external_userid="wmNEW0003").count() == 1
    assert FollowRelationship.objects.filter(customer__external_userid="wmNEW0003").count() == 1


def test_an_edit_refreshes_the_follow(bank, wecom):
    process_event(deliver(wecom, change_type="add_external_contact", userid="operator_a", external_userid="wmE1").pk)
    event = deliver(
        wecom, change_type="edit_external_contact", userid="operator_a", external_userid="wmE1", remark="王阿姨"
    )
    process_event(event.pk)
    assert FollowRelationship.objects.get(customer__external_userid="wmE1", deleted_at=None).remark == "王阿姨"


def test_a_second_operator_adding_the_customer_adds_a_follow(bank, wecom):
    process_event(deliver(wecom, change_type="add_external_contact", userid="operator_a", external_userid="wmT1").pk)
    process_event(deliver(wecom, change_type="add_external_contact", userid="operator_b", external_userid="wmT1").pk)
    live = FollowRelationship.objects.filter(customer__external_userid="wmT1", deleted_at=None)
    assert {follow.operator.wecom_userid for follow in live} == {"operator_a", "operator_b"}


def test_the_full_life_of_a_follow_in_events(bank, wecom):
    process_event(deliver(wecom, change_type="add_external_contact", userid="operator_a", external_userid="wmL1").pk)
    process_event(deliver(wecom, change_type="del_follow_user", userid="operator_a", external_userid="wmL1").pk)
    follow = FollowRelationship.objects.get(customer__external_userid="wmL1")
    assert follow.deleted_by == FollowRelationship.DeletedBy.CUSTOMER


def test_an_add_overtaken_by_its_deletion_applies_nothing(bank, wecom):
    added_event = deliver(wecom, change_type="add_external_contact", userid="operator_a", external_userid="wmR1")
    deleted_event = deliver(wecom, change_type="del_follow_user", userid="operator_a", external_userid="wmR1")
    process_event(added_event.pk)  # WeCom answers 84061: nobody follows the contact any more
    process_event(deleted_event.pk)
    assert set(CallbackEvent.objects.values_list("status", flat=True)) == {"processed"}
    assert not FollowRelationship.objects.filter(customer__external_userid="wmR1", deleted_at=None).exists()


def test_a_permanent_wecom_error_fails_the_event(bank, wecom):
    # An edit of a contact WeCom does not know at all (40096): nothing a retry can fix.
    event = stored(event_xml(ChangeType="edit_external_contact", UserID="operator_a", ExternalUserID="wmUNKNOWN"))
    process_event(event.pk)
    event.refresh_from_db()
    assert event.status == "failed" and "40096" in event.error
    assert not Customer.objects.filter(external_userid="wmUNKNOWN").exists()


def test_a_transient_wecom_error_leaves_the_event_for_a_retry(bank, wecom):
    event = deliver(wecom, change_type="add_external_contact", userid="operator_a", external_userid="wmBUSY1")
    wecom.faults(error_rate=1.0, path_prefix="externalcontact/")
    with pytest.raises(WeComTransientError):  # called directly, the task re-raises instead of retrying
        process_event(event.pk)
    event.refresh_from_db()
    assert (event.status, event.attempts) == ("received", 1)
    assert "attempt 1: WeComTransientError" in event.error

    wecom.clear_faults()
    process_event(event.pk)  # the retry
    event.refresh_from_db()
    assert (event.status, event.attempts) == ("processed", 2)
    assert "attempt 1" in event.error  # the history stays
    assert Customer.objects.filter(external_userid="wmBUSY1").exists()


def test_a_task_out_of_retries_leaves_the_event_for_reprocess_stuck(bank, wecom):
    event = deliver(wecom, change_type="add_external_contact", userid="operator_a", external_userid="wmBUSY2")
    wecom.faults(error_rate=1.0, path_prefix="externalcontact/")
    process_event.apply(args=(event.pk,), retries=PROCESS_MAX_RETRIES)  # as the last retry would run
    event.refresh_from_db()
    assert (event.status, event.attempts) == ("received", 1)


def test_the_endpoint_calls_nobody_and_enqueues(bank, wecom, django_capture_on_commit_callbacks):
    answer = wecom.event(change_type="add_external_contact", userid="operator_a", external_userid="wmFAST1")
    before = wecom.state()
    with django_capture_on_commit_callbacks(execute=False) as callbacks:
        assert post_event(Client(), answer["xml"]).status_code == 200
    after = wecom.state()
    assert (after["calls"], after["gettoken_calls"]) == (before["calls"], before["gettoken_calls"])
    assert len(callbacks) == 1


# --- the welcome message ----------------------------------------------------------------------------------

WELCOME = "您好，我是您的专属客户经理，很高兴为您服务。"


def test_the_welcome_message_is_sent_with_the_code_of_the_add(
    bank, wecom, settings, django_capture_on_commit_callbacks
):
    settings.WECOM_WELCOME_TEXT = WELCOME
    answer = wecom.event(change_type="add_external_contact", userid="operator_a", external_userid="wmW1")
    with django_capture_on_commit_callbacks(execute=False) as callbacks:
        assert post_event(Client(), answer["xml"]).status_code == 200
    assert len(callbacks) == 2  # processing and the welcome message, both after the commit
    event = CallbackEvent.objects.get()

    send_welcome(event.pk)

    (sent,) = wecom.received()["welcome_messages"]
    assert (sent["code"], sent["external_userid"], sent["text"]["content"]) == (answer["welcome_code"], "wmW1", WELCOME)
    event.refresh_from_db()
    assert event.error == ""

    send_welcome(event.pk)  # once used, WeCom refuses the code (41051): logged on the event, not raised
    event.refresh_from_db()
    assert "welcome message not sent" in event.error and "41051" in event.error
    assert len(wecom.received()["welcome_messages"]) == 1


def test_no_welcome_message_without_a_text_or_a_code(bank, wecom, settings, django_capture_on_commit_callbacks):
    with_code = wecom.event(change_type="add_external_contact", userid="operator_a", external_userid="wmW2")
    with django_capture_on_commit_callbacks(execute=False) as callbacks:
        post_event(Client(), with_code["xml"])  # WECOM_WELCOME_TEXT is empty: the feature is off
    assert len(callbacks) == 1
    settings.WECOM_WELCOME_TEXT = WELCOME
    no_code = wecom.event(
        change_type="add_external_contact", userid="operator_b", external_userid="wmW2", welcome_code=False
    )
    with django_capture_on_commit_callbacks(execute=False) as callbacks:
        post_event(Client(), no_code["xml"])  # the console has a welcome message of its own: no code
    assert len(callbacks) == 1
    send_welcome(CallbackEvent.objects.get(raw_xml=no_code["xml"]).pk)
    assert wecom.received()["welcome_messages"] == []


def test_a_late_welcome_message_is_not_sent(bank, wecom, settings):
    settings.WECOM_WELCOME_TEXT = WELCOME
    event = deliver(wecom, change_type="add_external_contact", userid="operator_a", external_userid="wmW3")
    CallbackEvent.objects.filter(pk=event.pk).update(received_at=timezone.now() - timedelta(seconds=19))
    send_welcome(event.pk)
    assert wecom.received()["welcome_messages"] == []
    event.refresh_from_db()
    assert "welcome code had expired" in event.error


def test_the_welcome_task_expires_with_the_code(bank, wecom, settings, django_capture_on_commit_callbacks, monkeypatch):
    settings.WECOM_WELCOME_TEXT = WELCOME
    answer = wecom.event(change_type="add_external_contact", userid="operator_a", external_userid="wmW4")
    sent = []
    monkeypatch.setattr(send_welcome, "apply_async", lambda args, **options: sent.append((args, options)))
    with django_capture_on_commit_callbacks(execute=False) as callbacks:
        post_event(Client(), answer["xml"])
    callbacks[1]()  # the welcome's enqueue (the processing one would reach the broker)
    event = CallbackEvent.objects.get()
    assert sent == [((event.pk,), {"expires": event.received_at + timedelta(seconds=18)})]
    assert send_welcome.priority < process_event.priority  # Redis serves 0 first


# --- end to end: the sandbox calls a live server, a real worker processes -------------------------------


@pytest.mark.django_db(transaction=True)
def test_end_to_end_from_wecom_to_the_api(bank, wecom, live_server, api_as):
    from celery.contrib.testing.worker import start_worker

    from workbench.celery import app

    wecom.settings(callback_url=f"{live_server.url}{reverse('wecom_callbacks:callback')}")
    # Saving the URL in the console: WeCom checks it with an encrypted echostr first.
    assert wecom._control("POST", "callback/verify")["ok"] is True

    def close_worker_connection(**_kwargs):
        connection.close()  # the worker thread's own connection, so that the test database can be dropped

    with app.connection_for_write() as broker:
        broker.default_channel.queue_purge("callbacks")  # messages of earlier, interrupted runs
    task_postrun.connect(close_worker_connection, weak=False)
    try:
        with start_worker(app, perform_ping_check=False, queues=["callbacks"], shutdown_timeout=30):
            answer = wecom.event(
                change_type="add_external_contact", userid="operator_a", external_userid="wmE2E0001", state="qr_e2e"
            )
            assert [attempt["status"] for attempt in answer["delivery"]["attempts"]] == [200]
            event = CallbackEvent.objects.get(dedupe_key__endswith="|operator_a|wmE2E0001")
            deadline = time.monotonic() + 30
            while event.status == CallbackEvent.Status.RECEIVED and time.monotonic() < deadline:
                time.sleep(0.1)
                event.refresh_from_db()
    finally:
        task_postrun.disconnect(close_worker_connection)

    assert (event.status, event.attempts, event.error) == ("processed", 1, "")
    rows = api_as("operator_a").get("/api/v1/customers/", {"external_userid": "wmE2E0001"}).json()["results"]
    assert [row["external_userid"] for row in rows] == ["wmE2E0001"]
    detail = api_as("operator_a").get(f"/api/v1/customers/{rows[0]['id']}/").json()
    assert [(follow["operator"], follow["state"]) for follow in detail["follows"]] == [("operator_a", "qr_e2e")]
