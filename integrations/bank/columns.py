"""The file formats: for each kind of import, its columns, the header names accepted for them (Chinese and
English) and how a cell is read. docs/imports.md describes the same tables for people; keep them in step.
"""

import re
from collections.abc import Callable
from dataclasses import dataclass
from functools import partial

from django.utils.functional import Promise
from django.utils.translation import gettext_lazy as _

from integrations.bank import values


@dataclass(frozen=True)
class Column:
    name: str
    label: Promise  # how the error report names the column
    aliases: tuple[str, ...]  # accepted header names, compared after `header_key`
    parse: Callable
    required: bool = False  # the header must be present and no cell may be empty
    pii: bool = False  # rejected values are masked in the error report


_HEADER_JUNK = re.compile(r"[\s_\-.:：*()（）/\\\[\]【】#]+")


def header_key(name) -> str:
    """Header names compared without case, spaces, punctuation and required-markers ("*客户号")."""
    return _HEADER_JUNK.sub("", values.text(name).lstrip("\ufeff")).lower()


CUSTOMER_NO = Column(
    "customer_no",
    _("Customer number"),
    (
        "客户号",
        "客户编号",
        "客户号码",
        "客户代码",
        "核心客户号",
        "customer_no",
        "customer_number",
        "cust_no",
        "customer_id",
    ),
    values.customer_no,
    required=True,
)
PRODUCT_CODE = Column(
    "product_code", _("Product code"), ("产品代码", "产品编号", "产品号", "product_code", "product"), values.code,
    required=True,
)  # fmt: skip
PRODUCT_NAME = Column(
    "product_name", _("Product name"), ("产品名称", "product_name"), partial(values.limited, limit=128)
)
CATEGORY = Column(
    "category", _("Product category"), ("产品类别", "产品类型", "category", "product_category"), values.category
)

CUSTOMERS = [
    CUSTOMER_NO,
    Column(
        "name", _("Name"), ("姓名", "客户姓名", "客户名称", "name", "customer_name"), partial(values.limited, limit=64),
        required=True,
    ),
    Column("gender", _("Gender"), ("性别", "gender", "sex"), values.gender),
    Column(
        "mobile", _("Mobile"), ("手机号", "手机号码", "移动电话", "联系手机", "mobile", "mobile_phone", "phone"),
        values.mobile, pii=True,
    ),
    Column(
        "id_number", _("ID number"),
        ("证件号码", "身份证号", "身份证号码", "证件号", "id_number", "id_no", "id_card", "id_card_no"),
        values.id_number, pii=True,
    ),
    Column("aum", _("AUM"), ("资产", "金融资产", "资产余额", "管理资产", "aum", "aum_yuan"), values.amount),
    Column(
        "payroll_employer", _("Payroll employer"), ("代发单位", "代发工资单位", "payroll_employer", "employer"),
        partial(values.limited, limit=128),
    ),
    Column("payday", _("Pay day"), ("发薪日", "代发日", "payday", "pay_day"), values.day_of_month),
    Column(
        "birth_date", _("Birth date"), ("出生日期", "生日", "birth_date", "birthday", "date_of_birth"),
        values.date_value,
    ),
    Column(
        "occupation_group", _("Occupation group"), ("客群", "职业类别", "职业分类", "occupation_group", "occupation"),
        values.occupation_group,
    ),
    Column("risk_level", _("Risk level"), ("风险等级", "风险评级", "风险承受能力", "risk_level"), values.risk_level),
    Column(
        "last_transaction_date", _("Last transaction date"),
        ("最近交易日", "最近交易日期", "最后交易日期", "last_transaction_date", "last_txn_date"), values.date_value,
    ),
    Column(
        "owner", _("Owner operator"),
        ("客户经理", "管户客户经理", "客户经理企业微信账号", "管户人", "owner", "owner_userid", "operator_userid"),
        partial(values.code, limit=64),
    ),
    Column("branch_code", _("Branch code"), ("机构号", "归属机构号", "机构代码", "网点号", "branch_code"), values.code),
]  # fmt: skip

PAYROLL = [
    CUSTOMER_NO,
    Column(
        "employer", _("Payroll employer"), ("代发单位", "代发工资单位", "付款单位", "employer", "payroll_employer"),
        partial(values.limited, limit=128), required=True,
    ),
    Column(
        "amount", _("Amount"), ("代发金额", "入账金额", "金额", "amount"), partial(values.amount, positive=True),
        required=True,
    ),
    Column(
        "credit_date", _("Credit date"), ("入账日期", "代发日期", "交易日期", "credit_date", "date"), values.date_value,
        required=True,
    ),
    Column(
        "reference", _("Bank reference"), ("流水号", "交易流水号", "业务流水号", "reference", "ref"),
        partial(values.code, limit=64),
    ),
]  # fmt: skip

HOLDINGS = [
    CUSTOMER_NO,
    PRODUCT_CODE,
    PRODUCT_NAME,
    CATEGORY,
    Column(
        "amount", _("Amount held"), ("持有金额", "持仓金额", "余额", "金额", "amount", "balance"), values.amount,
        required=True,
    ),
    Column(
        "opened_on", _("Opened on"), ("开户日期", "购买日期", "起息日", "开立日期", "opened_on", "open_date"),
        values.date_value, required=True,
    ),
    Column(
        "maturity_date", _("Maturity date"), ("到期日", "到期日期", "maturity_date"),
        partial(values.date_value, not_future=False),
    ),
    Column("closed", _("Status"), ("状态", "持有状态", "status"), values.holding_closed),
]  # fmt: skip

PURCHASES = [
    Column(
        "reference", _("Bank transaction reference"), ("交易流水号", "流水号", "业务流水号", "reference", "ref"),
        partial(values.code, limit=64), required=True,
    ),
    CUSTOMER_NO,
    PRODUCT_CODE,
    PRODUCT_NAME,
    CATEGORY,
    Column(
        "amount", _("Amount"), ("购买金额", "交易金额", "金额", "amount"), partial(values.amount, positive=True),
        required=True,
    ),
    Column(
        "purchased_at", _("Purchased at"), ("交易时间", "购买时间", "交易日期", "purchased_at", "time"),
        values.datetime_value, required=True,
    ),
    Column("channel", _("Channel"), ("渠道", "交易渠道", "channel"), partial(values.limited, limit=32)),
]  # fmt: skip

COLUMNS: dict[str, list[Column]] = {
    "customers": CUSTOMERS,
    "payroll": PAYROLL,
    "holdings": HOLDINGS,
    "purchases": PURCHASES,
}


class HeaderProblem(ValueError):
    pass


@dataclass(frozen=True)
class Mapping:
    """Which file column holds which field; fields the file does not have are left alone on existing rows."""

    positions: tuple[tuple[Column, int], ...]
    ignored: tuple[str, ...]

    @property
    def present(self) -> frozenset[str]:
        return frozenset(column.name for column, _ in self.positions)


def map_header(kind: str, header: list) -> Mapping:
    by_alias = {header_key(alias): column for column in COLUMNS[kind] for alias in (column.name, *column.aliases)}
    positions: dict[str, tuple[Column, int]] = {}
    ignored = []
    for index, cell in enumerate(header):
        name = values.text(cell)
        column = by_alias.get(header_key(name))
        if column is None:
            if name:
                ignored.append(name)
            continue
        if column.name in positions:
            raise HeaderProblem(
                _("Two columns of the file are both read as “%(column)s”: %(first)s and %(second)s.")
                % {
                    "column": column.label,
                    "first": values.text(header[positions[column.name][1]]),
                    "second": name,
                }
            )
        positions[column.name] = (column, index)
    missing = [str(column.label) for column in COLUMNS[kind] if column.required and column.name not in positions]
    if missing:
        raise HeaderProblem(_("The file has no column for: %(columns)s.") % {"columns": "、".join(missing)})
    order = {column.name: n for n, column in enumerate(COLUMNS[kind])}
    return Mapping(tuple(sorted(positions.values(), key=lambda p: order[p[0].name])), tuple(ignored))


def looks_like_header(kind: str, row: list) -> bool:
    """A row naming the kind's first required column (customer number, or the reference for purchases)."""
    first = next(column for column in COLUMNS[kind] if column.required)
    keys = {header_key(alias) for alias in (first.name, *first.aliases)}
    return any(header_key(cell) in keys for cell in row if cell is not None)
