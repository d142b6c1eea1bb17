"""Due deliveries → send tasks → `add_msg_template`, each mass send created in WeCom once.

1. `assemble_due` (the beat tick): claims due planned deliveries, whole senders at a time, with
   `FOR UPDATE SKIP LOCKED`, runs the contact policy again, and groups what may go per sender and content into
   SendTask rows of at most 10,000 recipients — in one transaction, so a crash leaves either nothing or all of it.
2. `send_one` (workers on the `wecom` queue): claims one SendTask by a conditional update (status `calling`, a
   lease and a claim token, committed before anything else), renders the content for it (tracked links per task),
   writes the request down, and makes ONE call. Its answer decides:
   - a msgid → `submitted` (fail_list stored, those deliveries failed);
   - an errcode (-1, 45009, 45033 …): WeCom answered, so nothing was created → `pending` again with backoff, or
     `failed` for a permanent errcode;
   - no answer (timeout, connection lost, HTTP error) → `unknown`: the call may have created the task.
3. A task `unknown`, or `calling` whose lease ran out (its worker died mid-call), is never simply called again:
   once DELIVERY_SETTLE_SECONDS have passed since the call, `find_in_wecom` lists the mass messages created since
   the first call and looks for the task's marker (marker.py) — or, when the text could not carry one, for a
   message with the same text whose member task and recipients are this task's. Found: the msgid is adopted.
   Not found: the call never took effect, and the task goes back to `pending`.

The WeCom client's own retries are off for `add_msg_template` (`sending_client`): a retry after a timeout is
exactly how a mass send gets created twice.
"""

import logging
import os
import random
import secrets
import threading
import time
from collections import Counter, defaultdict
from datetime import timedelta

from django.conf import settings
from django.db import IntegrityError, connection, transaction
from django.db.models import F, Q
from django.utils import timezone

from campaigns.content.models import TEXT_MAX_BYTES, ContentItem, ContentVersion
from campaigns.content.render import message_for
from campaigns.content.services import ContentError
from campaigns.delivery import db, marker, policy
from campaigns.delivery.models import Delivery, Reason, SendTask, Suppression
from campaigns.links.models import TrackedLink
from integrations.wecom.client import WeComClient, get_client
from integrations.wecom.errors import WeComError, WeComRateLimited
from workbench.org.models import Operator

logger = logging.getLogger(__name__)

TASK_RECIPIENTS_MAX = 10_000  # add_msg_template's external_userid
CLAIM_ROWS = 100_000  # due deliveries claimed per transaction
BULK_ROWS = 20_000  # claims above this are planned as bulk work (hash joins), below as index lookups
ASSEMBLER_LOCK = 74_210  # advisory lock: one assembler at a time
MAX_ATTEMPTS = 30
BACKOFF_BASE_SECONDS = 5.0  # doubles per attempt, with jitter
BACKOFF_CAP_SECONDS = 300
LIST_MARGIN = timedelta(minutes=10)  # around the call, for clocks that differ a little
LIST_SPAN_MAX = timedelta(days=30)  # get_groupmsg_list_v2 takes at most a month


def settle_seconds() -> float:
    """How long a call whose answer was lost may still take effect at WeCom: before that it is not looked for."""
    return float(getattr(settings, "DELIVERY_SETTLE_SECONDS", 120))


def poll_seconds() -> float:
    return float(getattr(settings, "DELIVERY_POLL_SECONDS", 60))


# --- the client without retries --------------------------------------------------------------------------------

_clients: dict[tuple, WeComClient] = {}
_clients_lock = threading.Lock()
os.register_at_fork(after_in_child=_clients.clear)


def sending_client() -> WeComClient:
    """The WeCom client for `add_msg_template`: the same token, limits and base URL, but no retries of its own."""
    base = get_client()
    key = (base.base_url, base.corp_id, base.secret, base.agent_id, base.timeout)
    with _clients_lock:
        client = _clients.get(key)
        if client is None:
            client = _clients[key] = WeComClient(
                base_url=base.base_url,
                corp_id=base.corp_id,
                secret=base.secret,
                agent_id=base.agent_id,
                timeout=base.timeout,
                max_retries=0,
            )
        return client


# --- 1. assembling send tasks --------------------------------------------------------------------------------------


def _usable_versions(version_ids, now) -> dict[int, bool]:
    usable = {}
    for version in ContentVersion.objects.filter(pk__in=version_ids).select_related("item"):
        usable[version.pk] = (
            version.status == ContentVersion.Status.APPROVED
            and version.item.current_id == version.pk
            and not version.is_expired(now)
            and version.item.use == ContentItem.Use.MASS
        )
    return usable


def assemble_due(*, now=None, budget_seconds: float = 60.0) -> Counter:
    """Turn due planned deliveries into send tasks until none is left (or the time budget is spent)."""
    now = now or timezone.now()
    started = time.monotonic()
    stats: Counter = Counter()
    while time.monotonic() - started < budget_seconds:
        if assemble_batch(now=now, stats=stats) == 0:
            break
    return stats


def assemble_batch(*, now, stats: Counter) -> int:
    """One transaction: claim due deliveries (a whole sender's at a time), check them, group them into send tasks.
    Returns how many deliveries it decided (0: nothing due, or another tick is assembling right now)."""
    rules = policy.get_policy()
    quiet = policy.quiet_until(rules, now)
    with transaction.atomic(), connection.cursor() as cursor:
        if db.is_postgres():
            # One assembler at a time (the others return at once): two ticks at once would split a sender's due
            # customers into two send tasks, i.e. two confirmations for the operator. SQLite has one writer anyway.
            cursor.execute("SELECT pg_try_advisory_xact_lock(%s)", [ASSEMBLER_LOCK])
            if not cursor.fetchone()[0]:
                return 0
        # Whole senders, up to CLAIM_ROWS deliveries (at least one sender, however many it has due).
        cursor.execute(
            "SELECT sender_id, COUNT(*) FROM delivery_delivery WHERE status = 'planned' AND due_at <= %s"
            " GROUP BY sender_id ORDER BY sender_id",
            [db.dt(now)],
        )
        senders, total = [], 0
        for sender_id, n in cursor.fetchall():
            if senders and total + n > CLAIM_ROWS:
                break
            senders.append(sender_id)
            total += n
        if not senders:
            return 0
        known = [pk for pk in senders if pk is not None]
        where = f"sender_id IN ({', '.join(['%s'] * len(known))})" if known else "1 = 0"
        if None in senders:
            where = f"({where} OR sender_id IS NULL)"
        cursor.execute(
            f"SELECT id, sender_id FROM delivery_delivery WHERE status = 'planned' AND due_at <= %s AND {where}"
            f" ORDER BY id{db.skip_locked()}",
            [db.dt(now), *known],
        )
        claimed = cursor.fetchall()
        if not claimed:
            return 0
        policy.tune(cursor, bulk=len(claimed) > BULK_ROWS)
        params = policy.verdict_params(policy=rules, at=now, kind=policy.KIND_MASS_SEND)
        with db.temp_table(cursor, "id bigint", ((pk,) for pk, _sender in claimed)) as claim:
            source = (
                "SELECT d.id AS k, d.customer_id, d.sender_id AS cur_sender, d.priority, d.id AS self_id "
                f"FROM {claim} t JOIN delivery_delivery d ON d.id = t.id"
            )
            cursor.execute(
                "SELECT v.k, v.customer_id, v.sender_id, v.reason, d.content_version_id, d.source_kind, d.source_id,"
                f" d.step_key FROM ({policy.verdict_sql(source)}) v JOIN delivery_delivery d ON d.id = v.k",
                params,
            )
            rows = cursor.fetchall()
        usable = _usable_versions({row[4] for row in rows}, now)
        changes = []  # (id, status, reason, send_task_id, sender_id, due_at, result_at)
        history: dict[tuple, list] = defaultdict(list)
        groups: dict[tuple, list[int]] = defaultdict(list)
        for pk, customer_id, sender_id, reason, version_id, source_kind, source_id, step_key in rows:
            key = (source_kind, source_id, step_key)
            if reason:
                changes.append((pk, Delivery.Status.SUPPRESSED, reason, None, None, None, now))
                history[(Suppression.Action.SUPPRESSED, reason)].append((pk, customer_id, key))
                stats[f"suppressed_{reason}"] += 1
            elif not usable.get(version_id):
                changes.append((pk, Delivery.Status.FAILED, Reason.CONTENT_UNUSABLE, None, None, None, now))
                stats["content_unusable"] += 1
            elif quiet is not None:
                changes.append((pk, Delivery.Status.PLANNED, Reason.QUIET_HOURS, None, None, quiet, None))
                history[(Suppression.Action.DEFERRED, Reason.QUIET_HOURS)].append((pk, customer_id, key))
                stats["deferred"] += 1
            else:
                groups[(sender_id, version_id, *key)].append(pk)
        deadline = task_deadline(rules, now)
        parts, tasks = [], []
        for (sender_id, version_id, source_kind, source_id, step_key), members in groups.items():
            members.sort()
            for start in range(0, len(members), TASK_RECIPIENTS_MAX):
                part = members[start : start + TASK_RECIPIENTS_MAX]
                parts.append((sender_id, part))
                tasks.append(
                    SendTask(
                        source_kind=source_kind,
                        source_id=source_id,
                        step_key=step_key,
                        sender_id=sender_id,
                        content_version_id=version_id,
                        recipients=len(part),
                        deadline_at=deadline,
                        next_attempt_at=now,
                    )
                )
        for task, (sender_id, part) in zip(create_tasks(tasks), parts, strict=True):
            changes += [(pk, Delivery.Status.QUEUED, "", task.pk, sender_id, now, None) for pk in part]
            stats["tasks"] += 1
            stats["queued"] += len(part)
        _apply(cursor, changes)
        for (action, reason), items in history.items():
            _history(items, action=action, reason=reason, now=now, until=quiet if action == "deferred" else None)
    return len(rows)


def task_deadline(rules, now):
    """Unconfirmed by then, a send task is cancelled: `stale_after_hours`, and the end of its day at the latest."""
    return min(now + timedelta(hours=rules.stale_after_hours), policy.end_of_day(now))


def create_tasks(tasks: list[SendTask]) -> list[SendTask]:
    """Insert the send tasks (ids back in order), each with a fresh random marker."""
    for _attempt in range(5):
        for task in tasks:
            task.marker = marker.new()
        try:
            with transaction.atomic():
                return SendTask.objects.bulk_create(tasks, batch_size=1000)
        except IntegrityError:  # a marker drawn twice (one chance in 2^40 per pair): draw them all again
            for task in tasks:
                task.pk = None
    raise RuntimeError("could not draw unique send task markers")


_APPLY = """
UPDATE delivery_delivery SET
    status = c.status,
    reason = c.reason,
    send_task_id = COALESCE(c.send_task_id, delivery_delivery.send_task_id),
    sender_id = COALESCE(c.sender_id, delivery_delivery.sender_id),
    due_at = COALESCE(c.due_at, delivery_delivery.due_at),
    result_at = COALESCE(c.result_at, delivery_delivery.result_at)
FROM {table} c
WHERE delivery_delivery.id = c.id
"""


def _apply(cursor, changes: list[tuple]) -> None:
    """Every decided delivery's new state in one UPDATE … FROM a temporary table."""
    if not changes:
        return
    columns = "id bigint, status varchar(12), reason varchar(24), send_task_id bigint, sender_id bigint," \
              " due_at timestamp with time zone, result_at timestamp with time zone"  # fmt: skip
    rows = ((pk, status, reason, task, sender, db.dt(due) if due else None, db.dt(at) if at else None)
            for pk, status, reason, task, sender, due, at in changes)  # fmt: skip
    with db.temp_table(cursor, columns, rows) as table:
        cursor.execute(_APPLY.format(table=table))


def _history(items, *, action: str, reason: str, now, until=None) -> None:
    Suppression.objects.bulk_create(
        [
            Suppression(
                customer_id=customer_id,
                at=now,
                action=action,
                reason=reason,
                until=until,
                kind=policy.KIND_MASS_SEND,
                source_kind=key[0],
                source_id=key[1],
                step_key=key[2],
            )
            for _pk, customer_id, key in items
        ],
        batch_size=5000,
    )


# --- 2. calling WeCom ----------------------------------------------------------------------------------------------


def backoff(attempts: int) -> float:
    ceiling = min(BACKOFF_CAP_SECONDS, BACKOFF_BASE_SECONDS * 2 ** max(attempts - 1, 0))
    return random.uniform(ceiling / 2, ceiling)  # noqa: S311 - jitter, not security


def waiting_count(now=None) -> int:
    """Send tasks to call or to look for in WeCom now."""
    now = now or timezone.now()
    to_call = Q(status__in=SendTask.TO_CALL, next_attempt_at__lte=now)
    return SendTask.objects.filter(to_call | Q(status=SendTask.Status.CALLING, lease_until__lt=now)).count()


def send_waiting(*, budget_seconds: float = 50.0) -> Counter:
    """Work through the send tasks that are due, one at a time, until none is left or the budget is spent."""
    started = time.monotonic()
    stats: Counter = Counter()
    while time.monotonic() - started < budget_seconds:
        outcome = send_one()
        if outcome is None:
            break
        stats[outcome] += 1
    return stats


def _claim(now) -> tuple[SendTask, str, str] | None:
    """(task, mode, claim token): a task whose worker died mid-call first, else the next one due."""
    token = secrets.token_hex(8)
    with transaction.atomic():
        base = SendTask.objects.select_for_update(skip_locked=True, of=("self",)).select_related("sender")
        task = base.filter(status=SendTask.Status.CALLING, lease_until__lt=now).order_by("lease_until", "pk").first()
        if task is None:
            task = (
                base.filter(status__in=SendTask.TO_CALL, next_attempt_at__lte=now)
                .order_by("next_attempt_at", "pk")
                .first()
            )
        if task is None:
            return None
        mode = "call" if task.status == SendTask.Status.PENDING else "reconcile"
        if mode == "call" and (task.deadline_at <= now or task.attempts >= MAX_ATTEMPTS):
            mode = "expire"
        task.status = SendTask.Status.CALLING
        task.claim_token = token
        task.lease_until = now + timedelta(seconds=settle_seconds())
        fields = ["status", "claim_token", "lease_until"]
        if mode == "call":
            task.attempts += 1
            fields.append("attempts")
        task.save(update_fields=fields)
    return task, mode, token


def _update(task: SendTask, token: str, **fields) -> bool:
    """Write to the task only while this worker's claim holds (a claim whose lease ran out may be taken over)."""
    return bool(SendTask.objects.filter(pk=task.pk, claim_token=token, status=SendTask.Status.CALLING).update(**fields))


def send_one() -> str | None:
    """Claim one send task and call WeCom for it (or find out what an earlier call did). None when idle."""
    now = timezone.now()
    claimed = _claim(now)
    if claimed is None:
        return None
    task, mode, token = claimed
    if mode == "expire":
        _fail(task, token, Reason.EXPIRED, error="not accepted by WeCom before its deadline")
        return "expired"
    if mode == "reconcile":
        return _reconcile(task, token)
    return _call(task, token)


def _call(task: SendTask, token: str) -> str:
    sender: Operator = task.sender
    if not sender.is_active or not sender.wecom_userid:
        _fail(task, token, Reason.NO_RELATIONSHIP, error="the sender is no longer an active WeCom member")
        return "failed"
    recipients = list(
        Delivery.objects.filter(send_task=task, status=Delivery.Status.QUEUED)
        .order_by("pk")
        .values_list("customer__external_userid", flat=True)
    )
    if not recipients:
        _update(task, token, status=SendTask.Status.DONE, finished_at=timezone.now(), lease_until=None)
        return "empty"
    version = ContentVersion.objects.select_related("item").get(pk=task.content_version_id)
    try:
        message = message_for(
            version, context=TrackedLink.Context.PLAYBOOK, sender=sender, context_id=task.pk, client=get_client()
        )
    except ContentError as exc:
        _fail(task, token, Reason.CONTENT_UNUSABLE, error=str(exc))
        return "failed"
    except WeComError as exc:  # an attachment's media upload
        if not exc.transient:
            _fail(task, token, Reason.REJECTED, errcode=exc.errcode, error=str(exc))
            return "failed"
        _retry(task, token, delay=backoff(task.attempts), error=str(exc), count_attempt=False)
        return "retry"
    stamped = marker.stamp((message.get("text") or {}).get("content", ""), task.marker, max_bytes=TEXT_MAX_BYTES)
    if stamped is not None:
        message["text"] = {"content": stamped}
    now = timezone.now()
    # Written (and committed) before the call: from here on a call may have happened.
    if not _update(
        task,
        token,
        payload=message,
        last_called_at=now,
        first_called_at=task.first_called_at or now,
        lease_until=now + timedelta(seconds=settle_seconds()),
    ):
        return "lost_claim"
    body = {"chat_type": "single", "external_userid": recipients, "sender": sender.wecom_userid, **message}
    try:
        answer = sending_client().add_msg_template(body)
    except WeComRateLimited as exc:  # our own limiter: the request never left
        _retry(task, token, delay=exc.retry_after, error=str(exc), count_attempt=False)
        return "rate_limited"
    except WeComError as exc:
        if exc.errcode is None:  # no answer: the task may or may not exist in WeCom
            _set_unknown(task, token, error=str(exc))
            return "unknown"
        if exc.transient:  # WeCom answered with an error: nothing was created
            _retry(task, token, delay=backoff(task.attempts), errcode=exc.errcode, error=str(exc))
            return "retry"
        reason = Reason.NOT_SENDABLE if exc.errcode == 41048 else Reason.REJECTED
        _fail(task, token, reason, errcode=exc.errcode, error=str(exc))
        return "failed"
    _submitted(task, token, msgid=answer["msgid"], fail_list=answer.get("fail_list") or [], adopted=False)
    return "submitted"


def _retry(task, token, *, delay: float, error: str = "", errcode=None, count_attempt: bool = True) -> None:
    fields = {
        "status": SendTask.Status.PENDING,
        "next_attempt_at": timezone.now() + timedelta(seconds=max(delay, 0)),
        "lease_until": None,
        "errcode": errcode,
        "error": error[:255],
    }
    if not count_attempt:
        fields["attempts"] = F("attempts") - 1 if task.attempts else 0
    _update(task, token, **fields)


def _set_unknown(task, token, *, error: str) -> None:
    _update(
        task,
        token,
        status=SendTask.Status.UNKNOWN,
        next_attempt_at=timezone.now() + timedelta(seconds=settle_seconds()),
        lease_until=None,
        errcode=None,
        error=error[:255],
    )


def _fail(task, token, reason: str, *, errcode=None, error: str = "") -> None:
    now = timezone.now()
    with transaction.atomic():
        if not _update(
            task,
            token,
            status=SendTask.Status.FAILED,
            finished_at=now,
            lease_until=None,
            errcode=errcode,
            error=error[:255],
        ):
            return
        Delivery.objects.filter(send_task=task, status=Delivery.Status.QUEUED).update(
            status=Delivery.Status.FAILED, reason=reason, result_at=now
        )


def _submitted(task, token, *, msgid: str, fail_list: list, adopted: bool) -> bool:
    from campaigns.delivery.services import confirm_task_for

    now = timezone.now()
    fail_list = [external for external in fail_list if isinstance(external, str)][:TASK_RECIPIENTS_MAX]
    with transaction.atomic():
        if not _update(
            task,
            token,
            status=SendTask.Status.SUBMITTED,
            msgid=msgid,
            adopted=adopted,
            fail_list=fail_list,
            accepted=max(task.recipients - len(fail_list), 0),
            submitted_at=now,
            next_poll_at=now + timedelta(seconds=min(poll_seconds(), 10)),
            lease_until=None,
            errcode=None,
            error="",
        ):
            logger.warning("send task %s: claim lost before msgid %s was saved; its marker finds it", task.pk, msgid)
            return False
        Delivery.objects.filter(send_task=task, status=Delivery.Status.QUEUED).update(status=Delivery.Status.SUBMITTED)
        if fail_list:
            Delivery.objects.filter(
                send_task=task, status=Delivery.Status.SUBMITTED, customer__external_userid__in=fail_list
            ).update(status=Delivery.Status.FAILED, reason=Reason.NOT_SENDABLE, result_at=now)
        task.accepted = max(task.recipients - len(fail_list), 0)
        confirm_task_for(task)
    return True


# --- 3. a call whose answer was lost ----------------------------------------------------------------------------


def _reconcile(task: SendTask, token: str) -> str:
    now = timezone.now()
    if task.first_called_at is None:  # the worker died before it called: nothing to look for
        _retry(task, token, delay=0, count_attempt=False)
        return "never_called"
    settled = task.last_called_at + timedelta(seconds=settle_seconds())
    if now < settled:
        _update(task, token, status=SendTask.Status.UNKNOWN, next_attempt_at=settled, lease_until=None)
        return "settling"
    try:
        msgid = find_in_wecom(task, now=now)
    except WeComError as exc:
        _update(
            task,
            token,
            status=SendTask.Status.UNKNOWN,
            next_attempt_at=now + timedelta(seconds=backoff(2)),
            lease_until=None,
            error=str(exc)[:255],
        )
        return "unknown"
    if msgid is not None:
        _submitted(task, token, msgid=msgid, fail_list=[], adopted=True)
        return "adopted"
    if now >= task.deadline_at:
        _fail(task, token, Reason.EXPIRED, error="not accepted by WeCom before its deadline")
        return "expired"
    _retry(task, token, delay=0, count_attempt=False, error="not found in WeCom: calling again")
    return "not_found"


def find_in_wecom(task: SendTask, *, now=None) -> str | None:
    """The msgid of the mass message an earlier call of this task created, or None if there is none."""
    now = now or timezone.now()
    client = get_client()
    end = now + LIST_MARGIN
    start = max(task.first_called_at - LIST_MARGIN, end - LIST_SPAN_MAX)
    payload = task.payload or {}
    ours_text = marker.visible((payload.get("text") or {}).get("content", ""))
    ours_types = [attachment.get("msgtype") for attachment in payload.get("attachments") or []]
    candidates = []
    cursor = ""
    while True:
        page = client.get_groupmsg_list_v2(
            chat_type="single",
            start_time=int(start.timestamp()),
            end_time=int(end.timestamp()),
            filter_type=0,
            limit=100,
            cursor=cursor,
        )
        messages = page.get("group_msg_list") or []
        taken = set(
            SendTask.objects.filter(msgid__in=[m.get("msgid") for m in messages])
            .exclude(pk=task.pk)
            .values_list("msgid", flat=True)
        )
        for message in messages:
            if message.get("msgid") in taken:
                continue
            text = (message.get("text") or {}).get("content") or ""
            found = marker.read(text)
            if found == task.marker:
                return message["msgid"]
            types = [attachment.get("msgtype") for attachment in message.get("attachments") or []]
            if found is None and marker.visible(text) == ours_text and types == ours_types:
                candidates.append(message["msgid"])
        cursor = page.get("next_cursor") or ""
        if not cursor:
            break
    if not candidates:
        return None
    # The text carried no marker (too long, no text, or WeCom dropped it): the same text from the same member to
    # our recipients is ours.
    recipients = set(Delivery.objects.filter(send_task=task).values_list("customer__external_userid", flat=True))
    userid = task.sender.wecom_userid
    for msgid in candidates:
        members = {entry.get("userid") for entry in client.get_groupmsg_task(msgid).get("task_list") or []}
        if userid not in members:
            continue
        sent = client.get_groupmsg_send_result(msgid, userid, limit=1000).get("send_list") or []
        if {row.get("external_userid") for row in sent} & recipients:
            return msgid
    return None
