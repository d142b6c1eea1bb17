"""Reminders of operator tasks (待办) through WeCom app messages.

One card per operator per round, listing what is due: WeCom drops app messages past 30 a minute per member
without telling anyone, so the engine never sends more than one per operator per round, and a member whose
minute is used up (our limiter says so before the call) is simply tried in the next round. A task is reminded
once when it falls due (again after it is postponed); overdue tasks are listed on the page, not messaged again.
"""

import logging
from collections import Counter, defaultdict
from datetime import timedelta

from django.conf import settings
from django.db.models import F
from django.utils import timezone, translation
from django.utils.translation import gettext as _
from django.utils.translation import pgettext

from campaigns.delivery.models import OperatorTask
from campaigns.delivery.results import workbench_url
from integrations.wecom.client import get_client
from integrations.wecom.errors import WeComError, WeComRateLimited
from workbench.org.models import Operator

logger = logging.getLogger(__name__)

LEAD_TIME = timedelta(minutes=15)  # remind this long before a task falls due
OPERATORS_PER_ROUND = 500


def remind_operator_tasks(*, now=None) -> Counter:
    now = now or timezone.now()
    stats: Counter = Counter()
    due = (
        OperatorTask.objects.filter(
            status__in=OperatorTask.PENDING,
            due_at__lte=now + LEAD_TIME,
            operator__status=Operator.Status.ACTIVE,
            operator__wecom_userid__isnull=False,
        )
        .exclude(kind=OperatorTask.Kind.CONFIRM_SEND)  # reminded with the mass send itself (results.py)
        .filter(last_reminded_at__isnull=True)  # postponing a task clears it: the new due time is reminded again
        .select_related("operator", "customer")
        .order_by("operator_id", "due_at")
    )
    by_operator: dict[int, list[OperatorTask]] = defaultdict(list)
    for task in due[:20_000]:
        if len(by_operator) >= OPERATORS_PER_ROUND and task.operator_id not in by_operator:
            break
        by_operator[task.operator_id].append(task)
    client = get_client()
    for tasks in by_operator.values():
        operator = tasks[0].operator
        overdue = sum(1 for task in tasks if task.due_at < now)
        with translation.override(settings.LANGUAGE_CODE):
            lines = "；".join(
                f"{task.title}" + (f"（{task.customer.name}）" if task.customer_id else "") for task in tasks[:3]
            )
            card = {
                "title": _("Today's tasks"),
                "description": (
                    _("%(n)s tasks due, %(overdue)s overdue: %(lines)s")
                    % {"n": len(tasks), "overdue": overdue, "lines": lines}
                )[:150],
                "url": workbench_url("delivery:tasks-today"),
                "btntxt": pgettext("card button", "Open")[:4],
            }
        try:
            client.send_app_message([operator.wecom_userid], "textcard", card)
        except WeComRateLimited:
            stats["deferred"] += 1
            continue
        except WeComError as exc:
            logger.info("task reminder to %s not sent: %s", operator.wecom_userid, exc)
            stats["error"] += 1
            continue
        OperatorTask.objects.filter(pk__in=[task.pk for task in tasks]).update(
            last_reminded_at=now, reminders_sent=F("reminders_sent") + 1
        )
        stats["cards"] += 1
        stats["tasks"] += len(tasks)
    return stats
