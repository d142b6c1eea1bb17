"""Writing prepared rows, set-wise: a chunk is loaded into a temporary staging table (COPY on PostgreSQL) and
applied with a few INSERT … SELECT / UPDATE … FROM statements that only touch rows whose values differ.

Each applier answers how many rows it applied and which rows the database side rejected (a customer number
or product code that does not exist). Rows whose values are already there count as unchanged: nothing is
written for them, not even `updated_at`. PII ciphertext is never compared (Fernet ciphertexts of one value
differ); its keyed hash is, and the stored ciphertext is kept while the hash is unchanged.
"""

from collections import defaultdict
from dataclasses import dataclass, field
from datetime import date, datetime
from decimal import Decimal

from django.db import connection
from django.utils import timezone
from django.utils.translation import gettext as _

from integrations.bank.prepare import STAGES, RowError
from tagging.models import CustomerEvent
from workbench.org.models import Operator
from workbench.pii import encrypt


def _is_postgres() -> bool:
    return connection.vendor == "postgresql"


_SQLITE_TYPES = {"numeric": "NUMERIC", "text": "TEXT", "date": "TEXT", "timestamptz": "TEXT", "boolean": "INTEGER"}


class Stage:
    """A temporary table holding one batch of prepared rows (emptied before every load)."""

    def __init__(self, kind: str):
        self.name = f"bank_import_stage_{kind}"
        self.columns = STAGES[kind]
        self.names = [name for name, _type in self.columns]

    def load(self, cursor, rows: list[tuple]) -> None:
        if _is_postgres():
            # A batch of a few thousand rows meets tables of millions: probe their indexes row by row. A merge
            # join walks the big index across the batch's key range (all of it for a shuffled file), a hash
            # join scans the whole table — per chunk. LOCAL: only this chunk's transaction.
            cursor.execute("SET LOCAL enable_mergejoin = off")
            cursor.execute("SET LOCAL enable_hashjoin = off")
            columns = ", ".join(f"{name} {sql_type}" for name, sql_type in self.columns)
            cursor.execute(f"CREATE TEMPORARY TABLE IF NOT EXISTS {self.name} ({columns}) ON COMMIT DELETE ROWS")
            cursor.execute(f"TRUNCATE {self.name}")
            with cursor.cursor.copy(f"COPY {self.name} ({', '.join(self.names)}) FROM STDIN") as copy:
                for row in rows:
                    copy.write_row(row)
        else:
            columns = ", ".join(f"{name} {_SQLITE_TYPES.get(sql_type, 'INTEGER')}" for name, sql_type in self.columns)
            cursor.execute(f"CREATE TEMPORARY TABLE IF NOT EXISTS {self.name} ({columns})")
            cursor.execute(f"DELETE FROM {self.name}")
            placeholders = ", ".join(["%s"] * len(self.columns))
            cursor.executemany(
                f"INSERT INTO {self.name} ({', '.join(self.names)}) VALUES ({placeholders})",
                [tuple(map(_sqlite_value, row)) for row in rows],
            )


def _sqlite_value(value):
    if isinstance(value, datetime):
        return connection.ops.adapt_datetimefield_value(value)
    if isinstance(value, date):
        return value.isoformat()
    if isinstance(value, Decimal):
        return str(value)
    if isinstance(value, bool):
        return int(value)
    return value


def _distinct(left: str, right: str) -> str:
    """Null-safe inequality (SQLite's IS NOT predates its IS DISTINCT FROM)."""
    return f"{left} IS DISTINCT FROM {right}" if _is_postgres() else f"{left} IS NOT {right}"


def _returned(cursor, sql: str, params=()) -> list[tuple]:
    cursor.execute(sql, params)
    return cursor.fetchall()


@dataclass
class Context:
    job_id: int
    present: frozenset[str]  # the fields the file has


@dataclass
class Outcome:
    applied: int = 0
    rejected: list[RowError] = field(default_factory=list)
    counters: dict = field(default_factory=lambda: defaultdict(int))  # extra figures for the job's details

    def add(self, other: "Outcome") -> None:
        self.applied += other.applied
        self.rejected += other.rejected
        for name, value in other.counters.items():
            self.counters[name] += value


class Applier:
    kind = ""
    table = ""
    customer_no_at = 1  # where the customer number is in a prepared row

    def __init__(self, context: Context):
        self.context = context
        self.stage = Stage(self.kind)

    def key(self, row: tuple):
        """The business key within the file: two rows with one key are applied one after the other."""
        return None

    def apply(self, cursor, rows: list[tuple], pending: dict) -> Outcome:
        """Write the rows. `pending`: see `Prepared.pending` (customers only)."""
        raise NotImplementedError


# --- customers -----------------------------------------------------------------------------------------------

_SIMPLE = [
    "name", "gender", "aum", "payroll_employer", "payday", "birth_date", "occupation_group", "risk_level",
    "last_transaction_date",
]  # fmt: skip


class CustomerApplier(Applier):
    kind = "customers"
    table = "tagging_customer"

    def __init__(self, context: Context):
        super().__init__(context)
        present = context.present
        # A row whose mobile or ID number was left unencrypted (the customer had that value when the chunk was
        # prepared, see prepare.customer_row) is "stale" if the stored value differs by now, or the customer is
        # gone: it is left out here and written again, encrypted, by `apply`.
        pii = [name for name in ("mobile", "id_number") if name in present]
        unencrypted = [f"s.{name} = '' AND s.{name}_hash <> ''" for name in pii]
        differs = [_distinct(f"c.{name}_hash", f"s.{name}_hash") for name in pii]
        self.unencrypted = " OR ".join(f"({cell})" for cell in unencrypted) or "1 = 0"
        self.stale = " OR ".join(f"({cell} AND {d})" for cell, d in zip(unencrypted, differs, strict=True)) or "1 = 0"
        self.update_sql, self.insert_sql = self._statements(present)
        self.stale_sql = (
            f"SELECT s.row_no FROM {self.stage.name} AS s LEFT JOIN {self.table} AS c "
            f"ON c.customer_no = s.customer_no WHERE {self.stale}"
        )

    def key(self, row: tuple):
        return row[1]  # customer_no

    def _statements(self, present: frozenset[str]) -> tuple[str, str]:
        sets: list[tuple[str, str, bool]] = []  # (column, new value, compared)
        for name in _SIMPLE:
            if name in present:
                sets.append((name, f"s.{name}", True))
        for pii in ("mobile", "id_number"):
            if pii in present:
                # Keep the stored ciphertext while the value (its keyed hash) is the same.
                sets.append(
                    (pii, f"CASE WHEN {_distinct('c.' + pii + '_hash', 's.' + pii + '_hash')} THEN s.{pii} "
                     f"ELSE c.{pii} END", False)
                )  # fmt: skip
                suffixes = ("_masked", "_last4", "_hash") if pii == "mobile" else ("_masked", "_hash")
                sets += [(f"{pii}{suffix}", f"s.{pii}{suffix}", True) for suffix in suffixes]
        if "owner" in present:
            # A file can assign owners but not take them away: an empty cell leaves the owner as it is.
            sets.append(("owner_id", "COALESCE(s.owner_id, c.owner_id)", True))
        if "owner" in present or "branch_code" in present:
            # The branch follows the owner; a branch code alone places only customers nobody owns.
            sets.append(
                ("branch_id", "CASE WHEN s.owner_id IS NOT NULL THEN s.branch_id "
                 "WHEN c.owner_id IS NULL AND s.branch_id IS NOT NULL THEN s.branch_id ELSE c.branch_id END", True)
            )  # fmt: skip
        stage = self.stage.name
        changed = " OR ".join(_distinct(f"c.{column}", value) for column, value, compared in sets if compared)
        assignments = ", ".join(f"{column} = {value}" for column, value, _compared in sets)
        update = (
            f"UPDATE {self.table} AS c SET {assignments}, updated_at = %s FROM {stage} AS s "
            f"WHERE c.customer_no = s.customer_no AND ({changed}) AND NOT ({self.stale}) RETURNING 1"
        )
        columns = [name for name in self.stage.names if name != "row_no"]
        # New customers only: an INSERT … ON CONFLICT would draw an id from the sequence for every row of
        # every re-import, and customer ids must stay dense.
        insert = (
            f"INSERT INTO {self.table} ({', '.join(columns)}, created_at, updated_at) "
            f"SELECT {', '.join('s.' + name for name in columns)}, %s, %s FROM {stage} AS s "
            f"WHERE NOT ({self.unencrypted}) "
            f"AND NOT EXISTS (SELECT 1 FROM {self.table} AS c WHERE c.customer_no = s.customer_no) "
            f"ORDER BY s.row_no ON CONFLICT (customer_no) DO NOTHING RETURNING 1"
        )
        return update, insert

    def apply(self, cursor, rows: list[tuple], pending: dict) -> Outcome:
        self.stage.load(cursor, rows)
        now = timezone.now()
        if connection.vendor != "postgresql":
            now = connection.ops.adapt_datetimefield_value(now)
        moves = []
        if "owner" in self.context.present:
            moves = _returned(
                cursor,
                f"SELECT c.id, c.owner_id, s.owner_id FROM {self.stage.name} AS s "
                f"JOIN {self.table} AS c ON c.customer_no = s.customer_no "
                f"WHERE s.owner_id IS NOT NULL AND {_distinct('c.owner_id', 's.owner_id')} AND NOT ({self.stale})",
            )
        updated = len(_returned(cursor, self.update_sql, [now]))
        inserted = len(_returned(cursor, self.insert_sql, [now, now]))
        if moves:
            self._record_owner_moves(moves)
        outcome = Outcome(applied=updated + inserted)
        outcome.counters["customers_created"] = inserted
        outcome.counters["owners_changed"] = len(moves)
        if any(row[0] in pending for row in rows):
            stale = {row_no for (row_no,) in _returned(cursor, self.stale_sql)}
            if stale:  # rare: the value changed since the chunk was prepared
                redo = [_encrypted(row, pending[row[0]]) for row in rows if row[0] in stale]
                outcome.add(self.apply(cursor, redo, {}))
        return outcome

    def _record_owner_moves(self, moves: list[tuple[int, int | None, int]]) -> None:
        """A timeline line per owner change, as `tagging.services.customer_set_owner` writes one."""
        names = dict(
            Operator.objects.filter(pk__in={o for _c, old, new in moves for o in (old, new) if o}).values_list(
                "pk", "name"
            )
        )
        now = timezone.now()
        CustomerEvent.objects.bulk_create(
            CustomerEvent(
                customer_id=customer_id,
                occurred_at=now,
                kind=CustomerEvent.Kind.OWNER_CHANGED,
                summary=f"{names.get(old, '—')} → {names.get(new, '—')}",
                data={"from": old, "to": new, "import": self.context.job_id},
            )
            for customer_id, old, new in moves
        )


def _encrypted(row: tuple, plaintext: tuple[str | None, str | None]) -> tuple:
    """A prepared customer row with the ciphertexts it was prepared without."""
    mobile, id_number = plaintext
    row = list(row)
    if mobile is not None:
        row[4] = encrypt(mobile)
    if id_number is not None:
        row[8] = encrypt(id_number)
    return tuple(row)


# --- facts that refer to customers (and products) by code ------------------------------------------------------


def _unknown_customers(cursor, stage: str) -> list[RowError]:
    rows = _returned(
        cursor,
        f"SELECT s.row_no, s.customer_no FROM {stage} AS s "
        f"WHERE NOT EXISTS (SELECT 1 FROM tagging_customer AS c WHERE c.customer_no = s.customer_no)",
    )
    label, reason = _("Customer number"), _("no customer has this number; import the customer first")
    return [RowError(row_no, label, reason, customer_no, customer_no) for row_no, customer_no in rows]


class PayrollApplier(Applier):
    kind = "payroll"
    table = "bank_payrollcredit"

    def key(self, row: tuple):
        return row[5] or None  # the reference; rows without one are unique on all their values

    def apply(self, cursor, rows: list[tuple], pending: dict) -> Outcome:
        stage = self.stage.name
        self.stage.load(cursor, rows)
        outcome = Outcome(rejected=_unknown_customers(cursor, stage))
        select = (
            f"SELECT c.id, s.employer, s.amount, s.credit_date, s.reference, %s FROM {stage} AS s "
            f"JOIN tagging_customer AS c ON c.customer_no = s.customer_no"
        )
        columns = "customer_id, employer, amount, credit_date, reference, import_job_id"
        t = self.table
        changed = " OR ".join(
            _distinct(f"{t}.{c}", f"excluded.{c}") for c in ("customer_id", "employer", "amount", "credit_date")
        )
        unkeyed = f"INSERT INTO {t} ({columns}) {select} WHERE s.reference = '' ON CONFLICT DO NOTHING RETURNING 1"
        keyed = (
            f"INSERT INTO {t} ({columns}) {select} WHERE s.reference <> '' "
            f"ON CONFLICT (reference) WHERE NOT (reference = '') DO UPDATE SET customer_id = excluded.customer_id, "
            f"employer = excluded.employer, amount = excluded.amount, credit_date = excluded.credit_date "
            f"WHERE {changed} RETURNING 1"
        )  # fmt: skip
        job = self.context.job_id
        outcome.applied = len(_returned(cursor, unkeyed, [job])) + len(_returned(cursor, keyed, [job]))
        return outcome


class _ProductFacts(Applier):
    """Holdings and purchases: rows name a product by code; a product the workbench does not know yet is
    created from the row's name and category (and a row without them is rejected)."""

    def _check_and_create_products(self, cursor, outcome: Outcome) -> None:
        stage = self.stage.name
        rejected = _unknown_customers(cursor, stage)
        bad = {error.row for error in rejected}
        # New products first, from rows that are otherwise applied (a rejected row changes nothing); a later
        # row of the same product then needs no name and category.
        created = _returned(
            cursor,
            f"INSERT INTO tagging_product (code, name, category) "
            f"SELECT s.product_code, MAX(s.product_name), MAX(s.category) FROM {stage} AS s "
            f"WHERE s.product_name <> '' AND s.category <> '' "
            f"AND EXISTS (SELECT 1 FROM tagging_customer AS c WHERE c.customer_no = s.customer_no) "
            f"AND NOT EXISTS (SELECT 1 FROM tagging_product AS p WHERE p.code = s.product_code) "
            f"GROUP BY s.product_code ON CONFLICT (code) DO NOTHING RETURNING code",
        )
        unknown = _returned(
            cursor,
            f"SELECT s.row_no, s.customer_no, s.product_code FROM {stage} AS s "
            f"WHERE NOT EXISTS (SELECT 1 FROM tagging_product AS p WHERE p.code = s.product_code)",
        )
        label, reason = _("Product code"), _("unknown product code; give the product name and category to add it")
        rejected += [RowError(r, label, reason, c, code) for r, c, code in unknown if r not in bad]
        outcome.rejected += rejected
        outcome.counters["products_created"] += len(created)

    def _joined(self) -> str:
        return (
            f"FROM {self.stage.name} AS s JOIN tagging_customer AS c ON c.customer_no = s.customer_no "
            f"JOIN tagging_product AS p ON p.code = s.product_code"
        )


class HoldingApplier(_ProductFacts):
    kind = "holdings"
    table = "tagging_productholding"

    def key(self, row: tuple):
        return (row[1], row[2])  # customer number, product code

    def apply(self, cursor, rows: list[tuple], pending: dict) -> Outcome:
        self.stage.load(cursor, rows)
        outcome = Outcome()
        self._check_and_create_products(cursor, outcome)
        t = self.table
        changed = " OR ".join(_distinct(f"{t}.{c}", f"excluded.{c}") for c in ("amount", "opened_on", "maturity_date"))
        held = (
            f"INSERT INTO {t} (customer_id, product_id, amount, opened_on, maturity_date) "
            f"SELECT c.id, p.id, s.amount, s.opened_on, s.maturity_date {self._joined()} WHERE NOT s.closed "
            f"ON CONFLICT (customer_id, product_id) DO UPDATE SET amount = excluded.amount, "
            f"opened_on = excluded.opened_on, maturity_date = excluded.maturity_date WHERE {changed} RETURNING 1"
        )
        closed = (
            f"DELETE FROM {t} WHERE (customer_id, product_id) IN "
            f"(SELECT c.id, p.id {self._joined()} WHERE s.closed) RETURNING 1"
        )
        outcome.applied = len(_returned(cursor, held)) + len(_returned(cursor, closed))
        return outcome


class PurchaseApplier(_ProductFacts):
    kind = "purchases"
    table = "bank_productpurchase"
    customer_no_at = 2

    def key(self, row: tuple):
        return row[1]  # the bank's transaction reference

    def apply(self, cursor, rows: list[tuple], pending: dict) -> Outcome:
        self.stage.load(cursor, rows)
        outcome = Outcome()
        self._check_and_create_products(cursor, outcome)
        t = self.table
        compared = ("customer_id", "product_id", "amount", "purchased_at", "channel")
        changed = " OR ".join(_distinct(f"{t}.{c}", f"excluded.{c}") for c in compared)
        upsert = (
            f"INSERT INTO {t} (customer_id, product_id, amount, purchased_at, reference, channel, import_job_id) "
            f"SELECT c.id, p.id, s.amount, s.purchased_at, s.reference, s.channel, %s {self._joined()} WHERE true "
            f"ON CONFLICT (reference) DO UPDATE SET {', '.join(f'{c} = excluded.{c}' for c in compared)} "
            f"WHERE {changed} RETURNING 1"
        )
        outcome.applied = len(_returned(cursor, upsert, [self.context.job_id]))
        return outcome


APPLIERS = {
    "customers": CustomerApplier,
    "payroll": PayrollApplier,
    "holdings": HoldingApplier,
    "purchases": PurchaseApplier,
}
