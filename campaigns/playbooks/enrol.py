"""Putting customers into a playbook: set-based, idempotent, respecting the re-entry rule.

`enrol(version, rows)` takes (customer id, trigger key, due at) rows — whatever the trigger found — and writes
one `Enrolment` per customer that may enter, in statements of `CHUNK` rows:

    INSERT INTO enrolment (…) SELECT … FROM <rows> WHERE <no active or blocking earlier entry>
    ON CONFLICT DO NOTHING RETURNING customer_id

A customer may enter when they have no enrolment in progress in this playbook and, by the version's re-entry
rule, either never entered before ("never") or last entered more than the cool-down ago ("cooldown"). The same
trigger event (its key) never enrols a customer twice, and concurrent enrolments of one customer cannot both win:
the unique constraints decide and the loser is skipped. The audience criteria are applied first, in SQL.
"""

import datetime as dt
from collections.abc import Iterable

from django.db import connection, transaction
from django.utils import timezone

from campaigns.playbooks import spec
from campaigns.playbooks.models import Enrolment, Playbook, PlaybookVersion
from campaigns.playbooks.sqlrows import db_time, quote, rows_source
from tagging.models import Customer

CHUNK = 5000
# A big enrolment refreshes the planner's statistics as the table grows: planned on the figures of an empty table,
# the per-row "earlier entry" subqueries become sequential scans of a table that ends up a million rows long.
ANALYZE_EVERY_ROWS = 100_000


def may_enrol(version: PlaybookVersion) -> bool:
    playbook = version.playbook
    return playbook.status == Playbook.Status.ACTIVE and playbook.live_version_id == version.pk


def enrol(
    version: PlaybookVersion,
    rows: Iterable[tuple[int, str, dt.datetime]],
    *,
    now: dt.datetime | None = None,
    check_live: bool = True,
) -> list[int]:
    """Enrol these customers; returns the ids actually enrolled (sorted)."""
    if check_live and not may_enrol(version):
        return []
    if not version.steps:
        return []
    now = now or timezone.now()
    unique: dict[int, tuple[int, str, dt.datetime]] = {}
    for customer_id, key, due_at in rows:
        unique.setdefault(int(customer_id), (int(customer_id), key[:64], due_at or now))
    ordered = [unique[pk] for pk in sorted(unique)]
    enrolled: list[int] = []
    for start in range(0, len(ordered), CHUNK):
        if start and start % ANALYZE_EVERY_ROWS == 0:
            _refresh_statistics()
        chunk = ordered[start : start + CHUNK]
        if version.audience:
            allowed = set(
                Customer.objects.filter(spec.audience_q(version.audience), pk__in=[row[0] for row in chunk])
                .order_by()
                .values_list("pk", flat=True)
            )
            chunk = [row for row in chunk if row[0] in allowed]
        if chunk:
            with transaction.atomic():
                enrolled += _insert(version, chunk, now)
    return sorted(enrolled)


def _refresh_statistics() -> None:
    if connection.vendor == "postgresql":
        with connection.cursor() as cursor:
            cursor.execute(f"ANALYZE {quote(Enrolment._meta.db_table)}")


def _insert(version: PlaybookVersion, rows: list[tuple[int, str, dt.datetime]], now: dt.datetime) -> list[int]:
    table = quote(Enrolment._meta.db_table)
    customers = quote(Customer._meta.db_table)
    source, source_params = rows_source(
        [("cid", "int"), ("tkey", "text"), ("due", "timestamptz")], [(pk, key, due) for pk, key, due in rows]
    )
    if version.reentry == PlaybookVersion.Reentry.COOLDOWN:
        blocking, blocking_params = "e.entered_at > %s", [db_time(now - dt.timedelta(days=version.cooldown_days))]
    else:
        blocking, blocking_params = "1 = 1", []
    first_step = version.steps[0]["key"]
    playbook_id = version.playbook_id
    sql = (
        f"INSERT INTO {table} (playbook_id, version_id, customer_id, entry, trigger_key, state, step, due_at,"
        " step_until, arm, entered_at, finished_at, exit_reason)"
        f" SELECT %s, %s, r.cid,"
        f" COALESCE((SELECT MAX(e.entry) FROM {table} e WHERE e.playbook_id = %s AND e.customer_id = r.cid), 0) + 1,"
        " r.tkey, %s, %s, r.due, NULL, '', %s, NULL, ''"
        f" FROM ({source}) r JOIN {customers} c ON c.id = r.cid"
        f" WHERE NOT EXISTS (SELECT 1 FROM {table} e WHERE e.playbook_id = %s AND e.customer_id = r.cid"
        f" AND (e.state = %s OR {blocking}))"
        " ON CONFLICT DO NOTHING RETURNING customer_id"
    )
    params = [
        playbook_id,
        version.pk,
        playbook_id,
        Enrolment.State.ACTIVE,
        first_step,
        db_time(now),
        *source_params,
        playbook_id,
        Enrolment.State.ACTIVE,
        *blocking_params,
    ]
    with connection.cursor() as cursor:
        cursor.execute(sql, params)
        return [row[0] for row in cursor.fetchall()]
