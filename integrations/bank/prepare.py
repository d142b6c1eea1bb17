"""Turning raw rows into rows ready to write: every cell parsed, every rule checked, PII encrypted.

Pure Python, no database: a chunk can be prepared in another process (large files use a pool, see
services). What needs the database (does the customer exist? the product?) is checked set-wise when the
chunk is written (appliers).
"""

from dataclasses import dataclass, field
from datetime import date, datetime
from decimal import Decimal

from django.utils.translation import gettext_lazy as _

from integrations.bank.columns import Mapping
from integrations.bank.values import Invalid, text
from tagging.services import pii_columns
from workbench.pii import encrypt, mask_id_number, mask_mobile


@dataclass(frozen=True)
class RowError:
    row: int
    field: str  # the column's label, as the report shows it
    reason: str
    customer_no: str = ""
    value: str = ""


@dataclass
class References:
    """What rows refer to by code, loaded once per run: operators by WeCom userid, branches by code."""

    operators: dict[str, tuple[int, int, bool, str]] = field(
        default_factory=dict
    )  # userid → (id, branch, active, name)
    branches: dict[str, int] = field(default_factory=dict)  # code → id


@dataclass
class Prepared:
    rows: list[tuple] = field(default_factory=list)  # the kind's STAGE columns, row number first
    errors: list[RowError] = field(default_factory=list)
    rejected: int = 0  # rows with at least one error
    # Rows whose mobile or ID number was not encrypted because the customer already has that value (its keyed
    # hash): row number → (mobile or None, ID number or None) in plaintext, for the writer to encrypt after all
    # should the stored value have changed in the meantime. Never staged in the database.
    pending: dict[int, tuple[str | None, str | None]] = field(default_factory=dict)


def _shown(value, pii: bool) -> str:
    """The offending value as the report shows it: PII masked, long values cut."""
    shown = text(value)
    if pii and shown:
        shown = mask_id_number(shown) if len(shown) > 11 else mask_mobile(shown)
    return shown[:100]


REQUIRED = _("is required")
UNREADABLE = _("contains characters that cannot be read in the file's encoding; choose the right encoding")


def _parse(mapping: Mapping, number: int, cells: list, errors: list[RowError]) -> dict | None:
    """The row's parsed fields, or None after adding an error per bad cell (a row is reported entirely)."""
    parsed: dict = {}
    row_errors = []
    width = len(cells)
    for column, index in mapping.positions:
        raw = cells[index] if index < width else None
        if raw is None or (isinstance(raw, str) and not raw.strip()):
            if column.required:
                row_errors.append((column, REQUIRED, raw))
            parsed[column.name] = None
            continue
        if isinstance(raw, str) and "\ufffd" in raw:
            row_errors.append((column, UNREADABLE, raw))
            continue
        try:
            parsed[column.name] = column.parse(raw)
        except Invalid as invalid:
            row_errors.append((column, invalid.message, raw))
    if row_errors:
        customer_no = parsed.get("customer_no") or ""
        for column, reason, raw in row_errors:
            errors.append(RowError(number, str(column.label), str(reason), customer_no, _shown(raw, column.pii)))
        return None
    return parsed


class RowInvalid(Exception):
    def __init__(self, column_label, reason, value=""):
        super().__init__(reason)
        self.column_label, self.reason, self.value = column_label, reason, value


# --- customers -----------------------------------------------------------------------------------------------

CUSTOMER_STAGE = [
    ("row_no", "integer"), ("customer_no", "text"), ("name", "text"), ("gender", "text"),
    ("mobile", "text"), ("mobile_masked", "text"), ("mobile_last4", "text"), ("mobile_hash", "text"),
    ("id_number", "text"), ("id_number_masked", "text"), ("id_number_hash", "text"),
    ("aum", "numeric"), ("payroll_employer", "text"), ("payday", "smallint"), ("birth_date", "date"),
    ("occupation_group", "text"), ("risk_level", "smallint"), ("last_transaction_date", "date"),
    ("owner_id", "bigint"), ("branch_id", "bigint"),
]  # fmt: skip
ZERO = Decimal("0.00")
NO_OWNER = _("no operator has this WeCom userid")
OWNER_RESIGNED = _("the operator has resigned")
NO_BRANCH = _("no branch has this code")
OWNER_ELSEWHERE = _("the owner operator belongs to another branch than the branch code says")


def customer_row(number: int, p: dict, refs: References, known: dict, out: Prepared) -> tuple:
    mobile, id_number = p.get("mobile") or "", p.get("id_number") or ""
    pii = pii_columns(mobile=mobile, id_number=id_number)
    # Encryption is most of the work of a row; a value the customer already has (same keyed hash) keeps its
    # stored ciphertext, so it is not encrypted at all (a daily full export is mostly such rows).
    stored_mobile_hash, stored_id_hash = known.get(p["customer_no"], ("", ""))
    skip_mobile = bool(mobile) and pii["mobile_hash"] == stored_mobile_hash
    skip_id = bool(id_number) and pii["id_number_hash"] == stored_id_hash
    if skip_mobile or skip_id:
        out.pending[number] = (pii["mobile"] if skip_mobile else None, pii["id_number"] if skip_id else None)
    owner_id = branch_id = None
    userid = p.get("owner")
    if userid:
        found = refs.operators.get(userid)
        if found is None:
            raise RowInvalid(_("Owner operator"), NO_OWNER, userid)
        owner_id, branch_id, active, _name = found
        if not active:
            raise RowInvalid(_("Owner operator"), OWNER_RESIGNED, userid)
    code = p.get("branch_code")
    if code:
        coded = refs.branches.get(code)
        if coded is None:
            raise RowInvalid(_("Branch code"), NO_BRANCH, code)
        if branch_id is not None and branch_id != coded:
            raise RowInvalid(_("Branch code"), OWNER_ELSEWHERE, code)
        branch_id = coded
    return (
        number,
        p["customer_no"],
        p["name"],
        p.get("gender") or "U",
        encrypt(pii["mobile"]) if mobile and not skip_mobile else "",
        pii["mobile_masked"],
        pii["mobile_last4"],
        pii["mobile_hash"],
        encrypt(pii["id_number"]) if id_number and not skip_id else "",
        pii["id_number_masked"],
        pii["id_number_hash"],
        p.get("aum") or ZERO,
        p.get("payroll_employer") or "",
        p.get("payday"),
        p.get("birth_date"),
        p.get("occupation_group") or "",
        p.get("risk_level"),
        p.get("last_transaction_date"),
        owner_id,
        branch_id,
    )


# --- payroll credits, holdings, purchases --------------------------------------------------------------------

PAYROLL_STAGE = [
    ("row_no", "integer"), ("customer_no", "text"), ("employer", "text"), ("amount", "numeric"),
    ("credit_date", "date"), ("reference", "text"),
]  # fmt: skip


def payroll_row(number: int, p: dict, refs: References, known: dict, out: Prepared) -> tuple:
    return (number, p["customer_no"], p["employer"], p["amount"], p["credit_date"], p.get("reference") or "")


HOLDING_STAGE = [
    ("row_no", "integer"), ("customer_no", "text"), ("product_code", "text"), ("product_name", "text"),
    ("category", "text"), ("amount", "numeric"), ("opened_on", "date"), ("maturity_date", "date"),
    ("closed", "boolean"),
]  # fmt: skip
MATURITY_BEFORE_OPENING = _("is before the opening date")


def holding_row(number: int, p: dict, refs: References, known: dict, out: Prepared) -> tuple:
    maturity: date | None = p.get("maturity_date")
    if maturity is not None and maturity < p["opened_on"]:
        raise RowInvalid(_("Maturity date"), MATURITY_BEFORE_OPENING, maturity.isoformat())
    return (
        number,
        p["customer_no"],
        p["product_code"],
        p.get("product_name") or "",
        p.get("category") or "",
        p["amount"],
        p["opened_on"],
        maturity,
        bool(p.get("closed")),
    )


PURCHASE_STAGE = [
    ("row_no", "integer"), ("reference", "text"), ("customer_no", "text"), ("product_code", "text"),
    ("product_name", "text"), ("category", "text"), ("amount", "numeric"), ("purchased_at", "timestamptz"),
    ("channel", "text"),
]  # fmt: skip


def purchase_row(number: int, p: dict, refs: References, known: dict, out: Prepared) -> tuple:
    purchased_at: datetime = p["purchased_at"]
    return (
        number,
        p["reference"],
        p["customer_no"],
        p["product_code"],
        p.get("product_name") or "",
        p.get("category") or "",
        p["amount"],
        purchased_at,
        p.get("channel") or "",
    )


BUILDERS = {
    "customers": customer_row,
    "payroll": payroll_row,
    "holdings": holding_row,
    "purchases": purchase_row,
}
STAGES = {
    "customers": CUSTOMER_STAGE,
    "payroll": PAYROLL_STAGE,
    "holdings": HOLDING_STAGE,
    "purchases": PURCHASE_STAGE,
}


def prepare_chunk(
    kind: str, mapping: Mapping, records: list[tuple[int, list]], refs: References, known: dict | None = None
) -> Prepared:
    """`known`: customer number → (mobile hash, ID number hash) of customers in the database (see customer_row)."""
    build = BUILDERS[kind]
    out = Prepared()
    known = known or {}
    for number, cells in records:
        parsed = _parse(mapping, number, cells, out.errors)
        if parsed is None:
            out.rejected += 1
            continue
        try:
            out.rows.append(build(number, parsed, refs, known, out))
        except RowInvalid as invalid:
            out.errors.append(
                RowError(
                    number,
                    str(invalid.column_label),
                    str(invalid.reason),
                    parsed.get("customer_no") or "",
                    text(invalid.value)[:100],
                )
            )
            out.rejected += 1
    return out
