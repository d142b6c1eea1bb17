"""What happened to a mass send after WeCom accepted it: the member confirming it, each customer's result, the
reminders to members who have not confirmed, and the cancellation of those who never do.

- `poll_due`: `get_groupmsg_task` until the member has sent it (status 2), then `get_groupmsg_send_result` page by
  page: status 1 delivered, 2 failed `not_friend`, 3 failed `over_quota`; 41063 (still dispatching) is asked
  again shortly. A recipient WeCom does not list at all was in its fail_list (`not_sendable`).
- `remind_unconfirmed`: `remind_groupmsg_send` (WeCom allows three a message in 24 hours) and one WeCom app message
  card per operator, within the per-member limit.
- `cancel_stale`: unconfirmed by the deadline → `cancel_groupmsg_send`; the deadline is at the latest the end of
  the day the task was created, because WeCom counts a mass message on the day it is sent: a send confirmed a
  day late could reach a customer over that day's quota (or over our daily cap).
"""

import logging
import time
from collections import Counter, defaultdict
from datetime import UTC, datetime, timedelta

from django.conf import settings
from django.db import transaction
from django.urls import reverse
from django.utils import timezone, translation
from django.utils.translation import gettext as _
from django.utils.translation import pgettext

from campaigns.delivery import dispatch, policy
from campaigns.delivery.models import Delivery, Reason, SendTask
from integrations.wecom.client import get_client
from integrations.wecom.errors import WeComError, WeComRateLimited

logger = logging.getLogger(__name__)

STILL_DISPATCHING = 41063
REMINDS_PER_DAY = 3  # remind_groupmsg_send: WeCom's limit per mass message in 24 hours
RESULT_PAGE = 1000
STATUS_REASONS = {2: Reason.NOT_FRIEND, 3: Reason.OVER_QUOTA}


def _at(seconds) -> datetime | None:
    try:
        return datetime.fromtimestamp(int(seconds), tz=UTC) if seconds else None
    except (TypeError, ValueError):
        return None


def poll_due(*, budget_seconds: float = 50.0) -> Counter:
    started = time.monotonic()
    stats: Counter = Counter()
    while time.monotonic() - started < budget_seconds:
        task = _claim_poll()
        if task is None:
            break
        try:
            stats[poll_task(task)] += 1
        except WeComError as exc:
            delay = 10 if exc.transient else dispatch.poll_seconds() * 10
            SendTask.objects.filter(pk=task.pk).update(
                next_poll_at=timezone.now() + timedelta(seconds=delay), error=str(exc)[:255]
            )
            stats["error"] += 1
    return stats


def _claim_poll() -> SendTask | None:
    """The next open task due a poll; its next poll is pushed back at once (that is the claim)."""
    now = timezone.now()
    with transaction.atomic():
        task = (
            SendTask.objects.select_for_update(skip_locked=True, of=("self",))
            .select_related("sender")
            .filter(status__in=SendTask.OPEN, next_poll_at__lte=now)
            .order_by("next_poll_at", "pk")
            .first()
        )
        if task is not None:
            SendTask.objects.filter(pk=task.pk).update(next_poll_at=now + timedelta(seconds=dispatch.poll_seconds()))
    return task


def poll_task(task: SendTask) -> str:
    client = get_client()
    userid = task.sender.wecom_userid
    if task.status == SendTask.Status.SUBMITTED:
        sent_at = _member_sent_at(client, task.msgid, userid)
        if sent_at is None:
            return "waiting"
        _mark_sent(task, sent_at)
    try:
        return _read_results(client, task, userid)
    except WeComError as exc:
        if exc.errcode == STILL_DISPATCHING:
            SendTask.objects.filter(pk=task.pk).update(next_poll_at=timezone.now() + timedelta(seconds=5))
            return "dispatching"
        raise


def _member_sent_at(client, msgid: str, userid: str) -> datetime | None:
    cursor = ""
    while True:
        page = client.get_groupmsg_task(msgid, cursor=cursor)
        for entry in page.get("task_list") or []:
            if entry.get("userid") == userid and entry.get("status") == 2:
                return _at(entry.get("send_time")) or timezone.now()
        cursor = page.get("next_cursor") or ""
        if not cursor:
            return None


def _mark_sent(task: SendTask, sent_at: datetime) -> None:
    from campaigns.delivery.services import close_confirm_task

    with transaction.atomic():
        SendTask.objects.filter(pk=task.pk, status=SendTask.Status.SUBMITTED).update(
            status=SendTask.Status.SENT, confirmed_at=sent_at, next_poll_at=timezone.now()
        )
        close_confirm_task(task.pk, sent=True)
    task.status = SendTask.Status.SENT
    task.confirmed_at = sent_at


def _read_results(client, task: SendTask, userid: str) -> str:
    results: dict[int, list[str]] = defaultdict(list)
    sent_time: dict[str, datetime | None] = {}
    pending = 0
    cursor = ""
    while True:
        page = client.get_groupmsg_send_result(task.msgid, userid, cursor=cursor, limit=RESULT_PAGE)
        for row in page.get("send_list") or []:
            external = row.get("external_userid")
            status = row.get("status")
            if not external:
                continue
            if status == 0:
                pending += 1
            else:
                results[status].append(external)
                sent_time[external] = _at(row.get("send_time"))
        cursor = page.get("next_cursor") or ""
        if not cursor:
            break
    now = timezone.now()
    with transaction.atomic():
        for status, externals in results.items():
            ours = Delivery.objects.filter(send_task=task, status=Delivery.Status.SUBMITTED)
            for start in range(0, len(externals), 5000):
                part = ours.filter(customer__external_userid__in=externals[start : start + 5000])
                if status == 1:
                    part.update(status=Delivery.Status.DELIVERED, reason="", result_at=task.confirmed_at or now)
                else:
                    part.update(
                        status=Delivery.Status.FAILED,
                        reason=STATUS_REASONS.get(status, Reason.NOT_SENDABLE),
                        result_at=task.confirmed_at or now,
                    )
        if pending:
            SendTask.objects.filter(pk=task.pk).update(next_poll_at=now + timedelta(seconds=10))
            return "partial"
        # Every result is in: whoever WeCom does not list was never sendable (the fail_list of a call whose answer
        # was lost, or a customer who left before the task was created).
        Delivery.objects.filter(send_task=task, status=Delivery.Status.SUBMITTED).update(
            status=Delivery.Status.FAILED, reason=Reason.NOT_SENDABLE, result_at=now
        )
        SendTask.objects.filter(pk=task.pk).update(status=SendTask.Status.DONE, finished_at=now, next_poll_at=None)
    return "done"


# --- reminders and cancellation --------------------------------------------------------------------------------


def _recent(reminders: list, now: datetime) -> list:
    cutoff = (now - timedelta(hours=24)).timestamp()
    return [at for at in reminders if isinstance(at, int | float) and at > cutoff]


def remind_unconfirmed(*, now=None) -> Counter:
    """WeCom's own reminder for each task the member has not confirmed (≤ 3 a day, spaced), plus one app message
    card per operator listing how many wait."""
    now = now or timezone.now()
    rules = policy.get_policy()
    after = timedelta(minutes=rules.remind_after_minutes)
    spacing = max(after, timedelta(hours=1))
    stats: Counter = Counter()
    client = get_client()
    waiting: dict[int, list[SendTask]] = defaultdict(list)
    due = SendTask.objects.filter(
        status=SendTask.Status.SUBMITTED, submitted_at__lte=now - after, deadline_at__gt=now
    ).select_related("sender")
    for task in due.order_by("submitted_at")[:2000]:
        recent = _recent(task.reminders, now)
        if len(recent) >= REMINDS_PER_DAY or (recent and max(recent) > (now - spacing).timestamp()):
            continue
        try:
            client.remind_groupmsg_send(task.msgid)
        except WeComError as exc:
            if exc.errcode == 45009 and not isinstance(exc, WeComRateLimited):  # WeCom's three a day are used up
                recent = recent + [now.timestamp()] * (REMINDS_PER_DAY - len(recent))
                SendTask.objects.filter(pk=task.pk).update(reminders=recent)
            stats["remind_error"] += 1
            continue
        SendTask.objects.filter(pk=task.pk).update(reminders=recent + [now.timestamp()])
        stats["reminded"] += 1
        waiting[task.sender_id].append(task)
    for tasks in waiting.values():
        if _card_to_operator(client, tasks[0].sender, tasks):
            stats["cards"] += 1
    return stats


def workbench_url(name: str) -> str:
    return settings.TRACKED_LINK_BASE_URL + reverse(name)


def _card_to_operator(client, operator, tasks: list[SendTask]) -> bool:
    if not operator.wecom_userid:
        return False
    customers = sum(task.accepted for task in tasks)
    with translation.override(settings.LANGUAGE_CODE):
        card = {
            "title": _("Mass sends waiting for you")[:40],
            "description": _(
                "%(n)s mass sends to %(customers)s customers are waiting for you to confirm them in WeCom."
            )
            % {"n": len(tasks), "customers": customers},
            "url": workbench_url("delivery:tasks-today"),
            "btntxt": pgettext("card button", "Open")[:4],
        }
    try:
        client.send_app_message([operator.wecom_userid], "textcard", card)
    except WeComRateLimited:
        return False  # the member's 30 a minute are used: the next round tries again
    except WeComError as exc:
        logger.info("reminder card to %s not sent: %s", operator.wecom_userid, exc)
        return False
    return True


def cancel_stale(*, now=None) -> Counter:
    """Tasks the member did not confirm by their deadline are cancelled in WeCom; tasks never accepted by WeCom
    by then are given up (no call is made for them any more)."""
    from campaigns.delivery.services import close_confirm_task

    now = now or timezone.now()
    stats: Counter = Counter()
    client = get_client()
    for task in SendTask.objects.filter(status=SendTask.Status.SUBMITTED, deadline_at__lte=now).select_related(
        "sender"
    )[:500]:
        try:
            client.cancel_groupmsg_send(task.msgid)
            sent_at = _member_sent_at(client, task.msgid, task.sender.wecom_userid)
        except WeComError as exc:
            logger.info("send task %s not cancelled yet: %s", task.pk, exc)
            stats["error"] += 1
            continue
        if sent_at is not None:  # confirmed just before the cancellation reached WeCom
            _mark_sent(task, sent_at)
            stats["sent_before_cancel"] += 1
            continue
        with transaction.atomic():
            if SendTask.objects.filter(pk=task.pk, status=SendTask.Status.SUBMITTED).update(
                status=SendTask.Status.CANCELLED, finished_at=now, next_poll_at=None
            ):
                Delivery.objects.filter(send_task=task, status=Delivery.Status.SUBMITTED).update(
                    status=Delivery.Status.CANCELLED, reason=Reason.NOT_CONFIRMED, result_at=now
                )
                close_confirm_task(task.pk, sent=False)
                stats["cancelled"] += 1
    # Never accepted by WeCom before the deadline: the sender loop gives them up when it claims them next; pending
    # ones are settled here so the funnel does not wait for a claim.
    for task in SendTask.objects.filter(status=SendTask.Status.PENDING, deadline_at__lte=now)[:500]:
        with transaction.atomic():
            if SendTask.objects.filter(pk=task.pk, status=SendTask.Status.PENDING).update(
                status=SendTask.Status.FAILED, finished_at=now, error="not accepted by WeCom before its deadline"
            ):
                Delivery.objects.filter(send_task=task, status=Delivery.Status.QUEUED).update(
                    status=Delivery.Status.FAILED, reason=Reason.EXPIRED, result_at=now
                )
                stats["expired"] += 1
    return stats
