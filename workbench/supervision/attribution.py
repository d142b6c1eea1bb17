"""Attribution: each imported purchase credited to the operator and touch that last reached the customer.

One rule, one row per purchase (`Attribution.purchase` is one-to-one), so no conversion counts twice:

- touches are delivered mass-send deliveries (at `result_at`, by their sender), done operator tasks with a
  customer (at `done_at`, by their operator) and 1:1 sidebar messages (at `sent_at`, by their operator);
- a touch counts when `purchased_at − window ≤ touched_at < purchased_at`: the older edge is inside the window,
  a touch at the very instant of the purchase or after it is not (it cannot have caused it);
- the last such touch wins; ties on time go to the more personal touch (1:1 message, then task, then mass
  send), then to the higher id — deterministic, so a re-run writes the same rows;
- a purchase no touch reached gets a row with no operator: counted once, as unattributed.

The window is the contact policy's conversion window (触达规则, default 7 days, set by head office): the same
one the campaign monitor shows, so there is one rule for every conversion figure. One INSERT … SELECT … ON CONFLICT
(purchase) DO UPDATE per run, on PostgreSQL and SQLite alike.
"""

import logging
from datetime import date, datetime

from django.db import connection, transaction
from django.utils import timezone

from campaigns.delivery.models import ChatMessage, Delivery, OperatorTask
from integrations.bank.models import ProductPurchase
from workbench.supervision.models import Attribution, TouchKind
from workbench.supervision.services import day_bounds, dialect

logger = logging.getLogger(__name__)


def window_days() -> int:
    from campaigns.delivery.policy import get_policy

    return get_policy().conversion_window_days


def _attribution_sql(purchases_where: str, days: int) -> str:
    sql = dialect()
    t = {
        "purchase": ProductPurchase._meta.db_table,
        "delivery": Delivery._meta.db_table,
        "task": OperatorTask._meta.db_table,
        "chat": ChatMessage._meta.db_table,
        "attr": Attribution._meta.db_table,
    }
    since = sql.minus_days("p.purchased_at", days)
    columns = (
        "purchase_id, customer_id, operator_id, touch_kind, touch_id, touched_at, source_kind, source_id, amount,"
        " purchased_at, window_days, computed_at"
    )
    updates = ", ".join(f"{name} = excluded.{name}" for name in columns.split(", ")[1:])
    return f"""
    WITH p AS (
        SELECT id, customer_id, amount, purchased_at FROM {t["purchase"]} pp WHERE {purchases_where}
    ),
    touches AS (
        SELECT p.id AS purchase_id, '{TouchKind.DELIVERY}' AS kind, 3 AS rank, d.id AS touch_id,
            d.sender_id AS operator_id, d.result_at AS at, d.source_kind, d.source_id
        FROM p JOIN {t["delivery"]} d ON d.customer_id = p.customer_id
        WHERE d.status = 'delivered' AND d.sender_id IS NOT NULL AND d.due_at <= p.purchased_at
            AND d.result_at >= {since} AND d.result_at < p.purchased_at
        UNION ALL
        SELECT p.id, '{TouchKind.TASK}', 2, k.id, k.operator_id, k.done_at, k.source_kind, k.source_id
        FROM p JOIN {t["task"]} k ON k.customer_id = p.customer_id
        WHERE k.status = 'done' AND k.done_at >= {since} AND k.done_at < p.purchased_at
        UNION ALL
        SELECT p.id, '{TouchKind.CHAT}', 1, m.id, m.operator_id, m.sent_at, '', NULL
        FROM p JOIN {t["chat"]} m ON m.customer_id = p.customer_id
        WHERE m.sent_at >= {since} AND m.sent_at < p.purchased_at
    ),
    ranked AS (
        SELECT touches.*, ROW_NUMBER() OVER (
            PARTITION BY purchase_id ORDER BY at DESC, rank, touch_id DESC
        ) AS n
        FROM touches
    )
    INSERT INTO {t["attr"]} ({columns})
    SELECT p.id, p.customer_id, r.operator_id, COALESCE(r.kind, ''), r.touch_id, r.at,
        COALESCE(r.source_kind, ''), r.source_id, p.amount, p.purchased_at, {int(days)}, %(now)s
    FROM p LEFT JOIN ranked r ON r.purchase_id = p.id AND r.n = 1
    WHERE 1 = 1
    ON CONFLICT (purchase_id) DO UPDATE SET {updates}
    """


def _run(purchases_where: str, params: dict) -> None:
    params = params | {"now": connection.ops.adapt_datetimefield_value(timezone.now())}
    with transaction.atomic(), connection.cursor() as cursor:
        cursor.execute(_attribution_sql(purchases_where, window_days()), params)


def attribute_between(start: datetime, end: datetime) -> int:
    """(Re)attribute every purchase made in [start, end); replaces their rows. Returns the rows written."""
    adapt = connection.ops.adapt_datetimefield_value
    where = "pp.purchased_at >= %(start)s AND pp.purchased_at < %(end)s"
    _run(where, {"start": adapt(start), "end": adapt(end)})
    # Counted, not the cursor's rowcount: SQLite reports none for an INSERT behind a WITH.
    written = ProductPurchase.objects.filter(purchased_at__gte=start, purchased_at__lt=end).count()
    logger.info("attributed %s purchases between %s and %s", written, start, end)
    return written


def attribute_days(first: date, last: date) -> int:
    """(Re)attribute the purchases of the China-time days `first` … `last`, both included."""
    return attribute_between(day_bounds(first)[0], day_bounds(last)[1])


def attribute_new_purchases() -> set[date]:
    """Attribute the purchases that have no row yet (new imports); returns their purchase days (China time)."""
    new = ProductPurchase.objects.filter(attribution__isnull=True)
    days = {timezone.localtime(at).date() for at in new.values_list("purchased_at", flat=True).distinct()}
    if days:
        attr = Attribution._meta.db_table
        _run(f"NOT EXISTS (SELECT 1 FROM {attr} a WHERE a.purchase_id = pp.id)", {})
    return days
