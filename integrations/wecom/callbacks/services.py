"""Callbacks as rows: stored and de-duplicated when WeCom delivers them, processed later by the worker.

Life of an event: `receive_callback` (in the request) writes it once, `received`, or `ignored` when we have no
handler for it; a WeCom retry of the same event only counts another delivery. After the commit a task runs
`process_callback`, which claims the row, runs the event's handler and ends in `processed` or `failed`.
Transient failures leave it `received` for the task's own retries and, after those, for
`reprocess_stuck_callbacks`. The `error` column keeps one line per problem met, processing or welcome message.
"""

import hashlib
import json
import logging
import random
import time
import uuid
from collections.abc import Iterator
from contextlib import contextmanager
from datetime import timedelta
from xml.parsers.expat import ExpatError

import xmltodict
from django.core.cache import cache
from django.db import IntegrityError, OperationalError, connection, transaction
from django.db.models import Case, F, TextField, Value, When
from django.db.models.functions import Concat
from django.utils import timezone

from integrations.wecom.callbacks import handlers, welcome
from integrations.wecom.callbacks.crypto import MalformedCallback
from integrations.wecom.errors import WeComError, WeComPermanentError, WeComTransientError
from integrations.wecom.models import CallbackEvent

logger = logging.getLogger(__name__)

Status = CallbackEvent.Status

# Beyond FromUserName + CreateTime + Event + ChangeType + UserID + ExternalUserID, what tells two events apart.
_EXTRA_KEY_FIELDS = {
    handlers.TAG_EVENT: ("Id", "TagType", "StrategyId"),
    handlers.CHAT_EVENT: ("ChatId", "UpdateDetail"),
}
_KEY_FIELDS = ("FromUserName", "CreateTime", "Event", "ChangeType", "UserID", "ExternalUserID")

# A worker killed by an event over and over would otherwise take it back forever (acks_late redelivers it).
MAX_ATTEMPTS = 20
# Events still `received` this long after they arrived are handed to the queue again.
STUCK_AFTER = timedelta(minutes=10)
STUCK_BATCH = 500
# Events of one contact are handled one at a time, so that a deletion cannot overtake the add it follows.
CONTACT_LOCK_SECONDS = 120
CONTACT_LOCK_WAIT_SECONDS = 10


class ContactBusy(Exception):
    """Another event of the same contact is being handled; try again shortly."""


# Worth another try later: WeCom busy or unreachable, a concurrent write of the same contact, a database blip.
RETRYABLE = (WeComTransientError, ContactBusy, IntegrityError, OperationalError)


# --- receiving --------------------------------------------------------------------------------------------


def _text(value) -> str:
    return value if isinstance(value, str) else ""


def parse_event(xml: str) -> dict:
    """The decrypted event as a dict of its elements (strings, or nested dicts for structured ones)."""
    try:
        payload = xmltodict.parse(xml, disable_entities=True).get("xml")
    except (ExpatError, ValueError, TypeError, AttributeError) as exc:
        raise MalformedCallback(f"decrypted event is not XML ({type(exc).__name__})") from exc
    if not isinstance(payload, dict):
        raise MalformedCallback("decrypted event has no <xml> element")
    return payload


def dedupe_key(payload: dict) -> str:
    """Equal for WeCom's retries of one event, different for different events (at most 255 characters)."""
    event = _text(payload.get("Event")) or _text(payload.get("MsgType"))
    fields = _KEY_FIELDS + _EXTRA_KEY_FIELDS.get(event, ())
    parts = [_text(payload.get(name)) for name in fields]
    if event not in handlers.KNOWN_EVENTS:
        # An event we do not know: its ids are unknown too, so the whole content tells it apart.
        parts.append(hashlib.sha256(json.dumps(payload, sort_keys=True).encode()).hexdigest()[:32])
    key = "|".join(parts)
    if len(key) > 255:
        key = "sha256:" + hashlib.sha256(key.encode()).hexdigest()
    return key


def _insert_or_count_delivery(event: CallbackEvent) -> tuple[int, int]:
    """One statement: insert the event, or add a delivery to the row with the same dedupe_key.

    Returns (pk, deliveries); deliveries == 1 means this call inserted it. `INSERT … ON CONFLICT DO UPDATE …
    RETURNING` is the same in PostgreSQL and SQLite ≥ 3.35 (the demo); the ORM cannot increment on conflict.
    """
    meta = CallbackEvent._meta
    quote = connection.ops.quote_name
    fields = [field for field in meta.concrete_fields if not field.primary_key]
    values = [field.get_db_prep_save(field.pre_save(event, add=True), connection) for field in fields]
    table = quote(meta.db_table)
    deliveries = quote(meta.get_field("deliveries").column)
    sql = (
        f"INSERT INTO {table} ({', '.join(quote(field.column) for field in fields)}) "
        f"VALUES ({', '.join(['%s'] * len(fields))}) "
        f"ON CONFLICT ({quote(meta.get_field('dedupe_key').column)}) "
        f"DO UPDATE SET {deliveries} = {table}.{deliveries} + 1 "
        f"RETURNING {quote(meta.pk.column)}, {deliveries}"
    )
    with connection.cursor() as cursor:
        cursor.execute(sql, values)
        pk, count = cursor.fetchone()
    return pk, count


def receive_callback(xml: str) -> tuple[CallbackEvent, bool]:
    """Store a decrypted callback unless it is a retry of one we have; (event, created).

    Nothing slow happens here (WeCom waits for our answer): one write, then, after the commit, the processing
    task and, for a new contact, the welcome message are enqueued.
    """
    payload = parse_event(xml)
    name = (_text(payload.get("Event")) or _text(payload.get("MsgType")))[:64]
    change_type = _text(payload.get("ChangeType"))[:64]
    known = handlers.handler_for(name, change_type) is not None
    event = CallbackEvent(
        dedupe_key=dedupe_key(payload),
        event=name,
        change_type=change_type,
        payload=payload,
        raw_xml=xml,
        status=Status.RECEIVED if known else Status.IGNORED,
        processed_at=None if known else timezone.now(),
    )
    with transaction.atomic():
        pk, deliveries = _insert_or_count_delivery(event)
        if deliveries > 1:
            logger.info("WeCom callback %s delivered again (%d deliveries)", pk, deliveries)
            return CallbackEvent.objects.get(pk=pk), False
        event.pk = pk
        event._state.adding = False
        if known:
            # robust: a broker that is down must not turn WeCom's delivery into an error (WeCom would only
            # retry into the de-duplication); the event stays `received` and reprocess_stuck enqueues it.
            transaction.on_commit(lambda: _enqueue_processing(pk), robust=True)
            deadline = welcome.welcome_deadline(event)
            if deadline is not None:
                transaction.on_commit(lambda: _enqueue_welcome(pk, deadline), robust=True)
    return event, True


def _enqueue_processing(event_id: int) -> None:
    from integrations.wecom.callbacks.tasks import process_event  # the tasks module imports this one

    process_event.delay(event_id)


def _enqueue_welcome(event_id: int, deadline) -> None:
    from integrations.wecom.callbacks.tasks import send_welcome

    send_welcome.apply_async((event_id,), expires=deadline)


# --- processing -------------------------------------------------------------------------------------------


def _note(text: str):
    """The `error` column with one more line (an expression: concurrent notes do not overwrite each other)."""
    line = f"{timezone.localtime():%Y-%m-%d %H:%M:%S} {text}"
    return Case(
        When(error="", then=Value(line)),
        default=Concat(F("error"), Value("\n" + line)),
        output_field=TextField(),
    )


def _add_note(event_id: int, text: str) -> None:
    CallbackEvent.objects.filter(pk=event_id).update(error=_note(text))


def _finish(event: CallbackEvent, status: str, note: str = "") -> None:
    # Conditional: a concurrent run that already processed the event keeps its result; `processed` may
    # replace `failed` (a later run succeeded), nothing replaces `processed` or `ignored`.
    allowed = [Status.RECEIVED, Status.FAILED] if status == Status.PROCESSED else [Status.RECEIVED]
    updates = {"status": status}
    if status in (Status.PROCESSED, Status.IGNORED):
        updates["processed_at"] = timezone.now()
    if note:
        updates["error"] = _note(note)
    CallbackEvent.objects.filter(pk=event.pk, status__in=allowed).update(**updates)
    event.refresh_from_db()


def _claim(event_id: int) -> CallbackEvent | None:
    """The event with one more attempt counted, or None when it is gone or already finished."""
    with transaction.atomic():
        event = CallbackEvent.objects.select_for_update().filter(pk=event_id).first()
        if event is None or event.status != Status.RECEIVED:
            return None
        event.attempts += 1
        event.save(update_fields=["attempts"])
    return event


@contextmanager
def _one_contact_at_a_time(external_userid: str) -> Iterator[None]:
    if not external_userid:
        yield
        return
    key = f"wecom:callbacks:contact:{hashlib.sha256(external_userid.encode()).hexdigest()[:32]}"
    token = uuid.uuid4().hex
    deadline = time.monotonic() + CONTACT_LOCK_WAIT_SECONDS
    while not cache.add(key, token, CONTACT_LOCK_SECONDS):
        if time.monotonic() > deadline:
            raise ContactBusy(f"another event of contact {external_userid} is being handled")
        time.sleep(0.05 + random.random() * 0.1)  # noqa: S311 - jitter, not security
    try:
        yield
    finally:
        if cache.get(key) == token:  # not ours any more if it outlived CONTACT_LOCK_SECONDS
            cache.delete(key)


def process_callback(*, event_id: int) -> CallbackEvent | None:
    """Run the handler of one stored event. Idempotent: a finished event is left alone.

    Raises the RETRYABLE errors (the event stays `received`) for the task to try again; a permanent WeCom error
    marks it `failed`; any other exception marks it `failed` and propagates (a bug to see in the logs).
    """
    event = _claim(event_id)
    if event is None:
        return None
    if event.attempts > MAX_ATTEMPTS:
        _finish(event, Status.FAILED, f"gave up after {MAX_ATTEMPTS} attempts")
        return event
    handler = handlers.handler_for(event.event, event.change_type)
    if handler is None:
        _finish(event, Status.IGNORED)
        return event
    try:
        with _one_contact_at_a_time(_text(event.payload.get("ExternalUserID"))):
            handler(event)
    except RETRYABLE as exc:
        _add_note(event.pk, f"attempt {event.attempts}: {type(exc).__name__}: {exc}")
        raise
    except WeComPermanentError as exc:
        logger.warning("WeCom callback %s failed: %s", event.pk, exc)
        _finish(event, Status.FAILED, f"attempt {event.attempts}: {exc}")
        return event
    except Exception as exc:
        _finish(event, Status.FAILED, f"attempt {event.attempts}: {type(exc).__name__}: {exc}")
        raise
    _finish(event, Status.PROCESSED)
    return event


def retry_delay(retries: int) -> float:
    """Seconds before the task's next try: 30, 60, 120 … with jitter, so retries of a burst spread out."""
    ceiling = 30.0 * 2**retries
    return random.uniform(ceiling / 2, ceiling)  # noqa: S311 - jitter, not security


def send_callback_welcome(*, event_id: int) -> bool:
    """Send the welcome message of an add event, once, within the code's lifetime. True when it was sent.

    Not retried: the client already retried transient errors, and the code is single-use and short-lived.
    """
    event = CallbackEvent.objects.filter(pk=event_id).first()
    if event is None:
        return False
    deadline = welcome.welcome_deadline(event)
    if deadline is None:
        return False
    if timezone.now() > deadline:
        _add_note(event.pk, "welcome message not sent: the welcome code had expired")
        return False
    try:
        welcome.welcome_send(event)
    except WeComError as exc:
        logger.warning("WeCom welcome message for callback %s not sent: %s", event.pk, exc)
        _add_note(event.pk, f"welcome message not sent: {exc}")
        return False
    return True


def reprocess_stuck_callbacks(*, older_than: timedelta = STUCK_AFTER, limit: int = STUCK_BATCH) -> int:
    """Enqueue again the events still `received` long after they arrived (lost enqueue, retries used up)."""
    cutoff = timezone.now() - older_than
    stuck = list(
        CallbackEvent.objects.filter(status=Status.RECEIVED, received_at__lt=cutoff)
        .order_by("received_at")
        .values_list("pk", flat=True)[:limit]
    )
    for event_id in stuck:
        _enqueue_processing(event_id)
    if stuck:
        logger.warning("re-enqueued %d WeCom callbacks still unprocessed after %s", len(stuck), older_than)
    return len(stuck)
