"""Customers, follows, holdings and timeline events for the demo bank, generated fast and deterministically.

`generate_chunk(plan, index)` is pure Python (no database): it returns the rows of one chunk of customer
ids as tuples of column text, ready for PostgreSQL COPY or an SQLite INSERT. A chunk is seeded from the
plan's seed and its own index, so the data does not depend on how many processes generate it.

PII goes through `tagging.services.pii_columns` (masks and look-up hashes) and `workbench.pii.encrypt`: the
mobile and ID number columns only ever hold Fernet ciphertext.
"""

import base64
import gc
import json
import random
from bisect import bisect
from dataclasses import dataclass, field
from datetime import date
from itertools import accumulate
from operator import mul

from tagging.models import AddWay, OccupationGroup
from tagging.services import pii_columns
from workbench.demo.names import person_name
from workbench.pii import encrypt

CHUNK_SIZE = 50_000

CUSTOMER_COLUMNS = [
    "id", "customer_no", "name", "gender", "external_userid", "unionid", "owner_id", "branch_id", "mobile",
    "mobile_masked", "mobile_last4", "mobile_hash", "id_number", "id_number_masked", "id_number_hash", "aum",
    "payroll_employer", "payday", "birth_date", "occupation_group", "risk_level", "last_transaction_date",
    "created_at", "updated_at",
]  # fmt: skip
FOLLOW_COLUMNS = [
    "customer_id", "operator_id", "added_at", "add_way", "state", "remark", "description", "deleted_at",
    "deleted_by",
]  # fmt: skip
HOLDING_COLUMNS = ["customer_id", "product_id", "amount", "opened_on", "maturity_date"]
EVENT_COLUMNS = ["customer_id", "occurred_at", "kind", "summary", "operator_id", "data"]

WHITE, WORKER, RETIREE, OTHER = (
    OccupationGroup.WHITE_COLLAR.value,
    OccupationGroup.INDUSTRIAL_WORKER.value,
    OccupationGroup.RETIREE.value,
    OccupationGroup.OTHER.value,
)
GROUPS = [WHITE, WORKER, RETIREE, OTHER]
_GROUP_CUM = list(accumulate([30, 30, 25, 15]))
# Per group: ages, share of men, AUM median and spread (lognormal), risk level weights (None, C1..C5) and
# number of products held (weights for 0, 1, 2, 3), each in percent.
_PROFILE = {
    WHITE: ((23, 55), 0.50, 15_000, 1.5, [5, 5, 25, 40, 20, 5], [20, 40, 30, 10]),
    WORKER: ((20, 58), 0.58, 6_000, 1.3, [5, 20, 45, 25, 5, 0], [30, 50, 17, 3]),
    RETIREE: ((60, 86), 0.46, 30_000, 1.6, [5, 35, 45, 15, 0, 0], [15, 45, 30, 10]),
    OTHER: ((18, 80), 0.50, 8_000, 1.7, [10, 20, 35, 25, 8, 2], [35, 45, 15, 5]),
}
_PROFILE = {
    group: (*head, list(accumulate(risk)), list(accumulate(held))) for group, (*head, risk, held) in _PROFILE.items()
}
_RISKS = (None, 1, 2, 3, 4, 5)
_MOBILE_PREFIXES = [
    "130", "131", "132", "133", "134", "135", "136", "137", "138", "139", "139", "138", "137", "135", "136", "150",
    "151", "152", "153", "155", "156", "157", "158", "159", "166", "173", "175", "176", "177", "178", "180", "181",
    "182", "183", "185", "186", "187", "188", "189", "191", "195", "198", "199", "147",
]  # fmt: skip
_OTHER_REGIONS = ["320102", "340104", "360103", "350102", "430102", "510104", "410105", "420106", "370102"]
_ID_WEIGHTS = [7, 9, 10, 5, 8, 4, 2, 1, 6, 3, 7, 9, 10, 5, 8, 4, 2]
_ID_CHECK = "10X98765432"
_ADD_WAYS = [
    (AddWay.QR_CODE, 45),
    (AddWay.ADMIN_ASSIGNED, 25),
    (AddWay.MOBILE_SEARCH, 15),
    (AddWay.CARD_SHARE, 6),
    (AddWay.WECHAT_CONTACTS, 4),
    (AddWay.INTERNAL_SHARE, 3),
    (AddWay.GROUP_CHAT, 2),
]
_ADD_WAY_VALUES = [str(int(way)) for way, _ in _ADD_WAYS]
_ADD_WAY_CUM = list(accumulate(weight for _, weight in _ADD_WAYS))
_QR = str(int(AddWay.QR_CODE))
_NOTES = [
    "电话回访：客户关注大额存单利率", "客户咨询个人养老金账户开户", "已邀请客户参加网点理财沙龙",
    "客户表示近期有购车贷款需求", "客户反馈手机银行登录问题，已协助处理", "节日问候已送达，客户回复感谢",
    "客户询问定期存款到期转存方式", "客户对基金净值波动有顾虑，已做风险提示", "代发工资卡权益已介绍",
    "客户子女明年上大学，关注教育储蓄",
]  # fmt: skip
_MASTER_DATA = ["联系地址变更", "预留手机号变更", "证件有效期更新", "职业信息更新", "婚姻状况更新"]
_B62 = "0123456789ABCDEFGHIJKLMNOPQRSTUVWXYZabcdefghijklmnopqrstuvwxyz"


@dataclass
class Plan:
    """Everything a generating process needs, picklable: the bank's shape and the run's parameters."""

    seed: int
    customers: int
    today: date
    null: str | None  # how NULL is written: "\\N" for COPY, None for INSERT parameters
    tz: str  # suffix of timestamps: "+00" for PostgreSQL, "" for SQLite (naive UTC, as Django stores it)
    owners: list[tuple[int, int, int, int]]  # (operator id, branch id, 支行 id, 分行 id)
    owner_cum: list[float]
    colleagues: dict[int, list[int]]  # 支行 id → active operators of that 支行 and its 网点
    former: dict[int, list[int]]  # 分行 id → operators who may have followed a customer before
    employers: dict[int, dict[str, list[tuple[str, int]]]]  # 分行 id → group → [(employer, pay day)]
    pension: dict[int, tuple[str, int]]  # 分行 id → (pension payer, pay day)
    regions: dict[int, list[str]]  # 分行 id → ID-card region codes
    products: dict[str, tuple[int, str, int | None, int | None]]  # code → (id, category, risk, term days)
    weights: dict[str, dict[str, float]] = field(default_factory=dict)  # group → product code → weight

    def chunks(self) -> list[int]:
        return list(range((self.customers + CHUNK_SIZE - 1) // CHUNK_SIZE))


@dataclass
class Chunk:
    customers: list[tuple] = field(default_factory=list)
    follows: list[tuple] = field(default_factory=list)
    holdings: list[tuple] = field(default_factory=list)
    events: list[tuple] = field(default_factory=list)


def id_number_check(first17: str) -> str:
    """The GB 11643 check character of an 18-character resident ID number."""
    return _ID_CHECK[sum(map(mul, map(int, first17), _ID_WEIGHTS)) % 11]


def _scrambled(value: int) -> str:
    """Six base-62 characters, a bijection of ids below 62**6: keeps random-looking WeCom ids unique."""
    value = (value * 2_654_435_761) % 62**6
    chars = []
    for _ in range(6):
        value, digit = divmod(value, 62)
        chars.append(_B62[digit])
    return "".join(chars)


def _candidates(plan: Plan, group: str, risk: int | None, aum_tier: int) -> tuple[list[str], list[float]]:
    """Products a customer of this kind could plausibly hold, with cumulative weights."""
    codes, cum, total = [], [], 0.0
    ceiling = risk or 2
    for code, weight in plan.weights[group].items():
        _, category, product_risk, _ = plan.products[code]
        if product_risk is not None and product_risk > ceiling:
            continue
        if code.startswith("CD-") and aum_tier < 2 or category == "wealth" and code != "WM-CASH" and aum_tier < 1:
            continue
        total += weight
        codes.append(code)
        cum.append(total)
    return codes, cum


class _Generator:
    """One chunk's worth of rows. Hot path: date strings and clock times are looked up, not formatted."""

    def __init__(self, plan: Plan, index: int):
        self.plan, self.rng = plan, random.Random(plan.seed * 1_000_003 + index)
        self.r = self.rng.random
        self.null, self.today = plan.null, plan.today.toordinal()
        self.days = [date.fromordinal(self.today - ago).isoformat() for ago in range(-2000, 2001)]
        self.clock = [f" {hour:02d}:{minute:02d}:00{plan.tz}" for hour in range(14) for minute in range(60)]
        self.candidates: dict[tuple, tuple[list[str], list[float]]] = {}
        self.out = Chunk()

    def between(self, low: int, high: int) -> int:
        return low + int(self.r() * (high - low + 1))

    def pick(self, seq):
        return seq[int(self.r() * len(seq))]

    def day(self, days_ago: int) -> str:
        return self.days[2000 + days_ago]

    def stamp(self, days_ago: int) -> str:
        """A time of day in business hours (08:00–21:59 in China, stored in UTC)."""
        return self.days[2000 + days_ago] + self.clock[int(self.r() * 840)]

    def run(self, first: int, count: int) -> Chunk:
        choices = self.rng.choices
        owners = choices(self.plan.owners, cum_weights=self.plan.owner_cum, k=count)
        groups = choices(GROUPS, cum_weights=_GROUP_CUM, k=count)
        for offset in range(count):
            self.customer(first + offset, owners[offset], groups[offset])
        return self.out

    def customer(self, cid: int, owner: tuple[int, int, int, int], group: str) -> None:
        plan, rng, r, between, pick, null = self.plan, self.rng, self.r, self.between, self.pick, self.null
        owner_id, branch_id, zhi_id, fen_id = owner
        (age_lo, age_hi), male_share, median, spread, risk_cum, holding_cum = _PROFILE[group]
        male = r() < male_share
        birth = date.fromordinal(self.today - between(age_lo * 365 + 1, age_hi * 365 + 300))
        name = person_name(rng, "M" if male else "F", birth.year)
        region = pick(plan.regions[fen_id]) if r() < 0.85 else pick(_OTHER_REGIONS)
        first17 = f"{region}{birth:%Y%m%d}{between(0, 499) * 2 + male:03d}"
        pii = pii_columns(
            mobile=f"{pick(_MOBILE_PREFIXES)}{between(0, 99_999_999):08d}",
            id_number=first17 + id_number_check(first17),
        )
        aum = 0.0 if r() < 0.03 else min(rng.lognormvariate(0, spread) * median, 50_000_000)
        risk = _RISKS[bisect(risk_cum, r() * 100)]
        employer, payday = "", None
        if group == RETIREE and r() < 0.9:
            employer, payday = plan.pension[fen_id]
        elif group in (WHITE, WORKER) and r() < 0.88:
            employer, payday = pick(plan.employers[fen_id][group])
        activity = r()
        if activity < (0.85 if payday else 0.65):
            last_txn = between(0, 30)
        elif activity < 0.9:
            last_txn = between(31, 90)
        else:
            last_txn = between(91, 900)
        wecom, suffix = r() < 0.92, _scrambled(cid)
        self.out.customers.append(
            (
                str(cid),
                f"C{(cid * 48_271 + 3_520_000_000) % 10**10:010d}",
                name,
                "M" if male else "F",
                "wm" + _token(rng, 18) + suffix if wecom else null,
                "o" + _token(rng, 15) + suffix if wecom and r() < 0.9 else null,
                str(owner_id),
                str(branch_id),
                encrypt(pii["mobile"]),
                pii["mobile_masked"],
                pii["mobile_last4"],
                pii["mobile_hash"],
                encrypt(pii["id_number"]),
                pii["id_number_masked"],
                pii["id_number_hash"],
                f"{aum:.2f}",
                employer,
                str(payday) if payday else null,
                birth.isoformat(),
                group,
                str(risk) if risk else null,
                self.day(last_txn),
                self.stamp(between(30, 1100)),
                self.stamp(between(0, 30)),
            )
        )
        if wecom:
            self.follows(cid, name, owner)
        n_holdings = bisect(holding_cum, r() * 100)
        if n_holdings:
            self.holdings(cid, group, risk, aum, n_holdings)
        if r() < 0.3:
            self.events(cid, owner_id, group, risk, employer, payday)

    def follows(self, cid: int, name: str, owner: tuple[int, int, int, int]) -> None:
        """The owner's follow; for some a colleague's too, or a deleted one with a former operator."""
        r, between, stamp, null, append = self.r, self.between, self.stamp, self.null, self.out.follows.append
        owner_id, branch_id, zhi_id, fen_id = owner
        added = between(1, 1095)
        way = _ADD_WAY_VALUES[bisect(_ADD_WAY_CUM, r() * _ADD_WAY_CUM[-1])]
        state = f"qr_branch_{branch_id}" if way == _QR and r() < 0.7 else ""
        remark = name if r() < 0.3 else ""
        if r() < 0.02:
            deleted_at, deleted_by = stamp(between(0, added - 1)), "customer" if r() < 0.75 else "operator"
        else:
            deleted_at, deleted_by = null, ""
        cid_text = str(cid)
        append((cid_text, str(owner_id), stamp(added), way, state, remark, "", deleted_at, deleted_by))
        roll = r()
        if roll < 0.15:
            mates = self.plan.colleagues.get(zhi_id, ())
            mate = self.pick(mates) if mates else owner_id
            if mate != owner_id:
                added2 = between(1, added)
                deleted = r() < 0.05
                gone, by = (stamp(between(0, added2 - 1)), "operator") if deleted else (null, "")
                append((cid_text, str(mate), stamp(added2), "201", "", "", "", gone, by))
        elif roll < 0.19:
            former = self.pick(self.plan.former[fen_id])
            added2 = between(added, 1400)
            by = "operator" if r() < 0.6 else "customer"
            append((cid_text, str(former), stamp(added2), _QR, "", "", "", stamp(between(added, added2)), by))

    def holdings(self, cid: int, group: str, risk: int | None, aum: float, count: int) -> None:
        """Products consistent with the customer: risk level, assets, and what people of the group buy."""
        r, rng, between, today, null = self.r, self.rng, self.between, self.today, self.null
        key = (group, risk, 2 if aum >= 200_000 else 1 if aum >= 10_000 else 0)
        if key not in self.candidates:
            self.candidates[key] = _candidates(self.plan, *key)
        codes, cum = self.candidates[key]
        for code in set(rng.choices(codes, cum_weights=cum, k=count)) if codes else ():
            product_id, category, _, term = self.plan.products[code]
            if category == "loan":
                amount = between(20, 300) * 1000.0
            elif category == "credit_card":
                amount = between(0, 3000) * 10.0
            elif code.startswith("CD-"):
                amount = max(200_000.0, round(aum * rng.uniform(0.3, 0.8), -4))
            else:
                amount = max(1000.0, round(max(aum, 2000.0) * rng.uniform(0.05, 0.6), -2))
            if term:  # most mature in the coming months: maturity campaigns have something to work on
                due = today + (between(-30, min(term, 180)) if r() < 0.6 or term <= 181 else between(181, term))
                opened, maturity = date.fromordinal(due - term).isoformat(), date.fromordinal(due).isoformat()
            else:
                opened, maturity = self.day(between(30, 2000)), null
            self.out.holdings.append((str(cid), str(product_id), f"{amount:.2f}", opened, maturity))

    def events(self, cid: int, owner_id: int, group: str, risk: int | None, employer: str, payday) -> None:
        """A few timeline lines: pay credited, master data changed, an operator's note."""
        r, between = self.r, self.between
        for _ in range(1 if r() < 0.6 else between(2, 3)):
            kind, operator, data = "note", self.null, {}
            pick = r()
            if payday and pick < 0.45:
                pay = (between(25, 60) if group == RETIREE else between(40, 250 if group == WHITE else 90)) * 100
                what = "养老金入账" if group == RETIREE else "工资入账"
                kind, summary, data = (
                    "transaction",
                    f"{what} {pay:,.2f} 元",
                    {"amount": f"{pay:.2f}", "payer": employer},
                )
            elif pick < 0.65:
                kind, summary = "master_data", self.pick(_MASTER_DATA)
                if risk and r() < 0.5:
                    summary, data = f"风险测评更新为 C{risk}", {"risk_level": risk}
            else:
                summary, operator = self.pick(_NOTES), str(owner_id)
            data_text = json.dumps(data, ensure_ascii=False)
            self.out.events.append((str(cid), self.stamp(between(0, 90)), kind, summary, operator, data_text))


def _token(rng: random.Random, nbytes: int) -> str:
    return base64.urlsafe_b64encode(rng.getrandbits(nbytes * 8).to_bytes(nbytes, "little")).decode()


def generate_chunk(plan: Plan, index: int) -> Chunk:
    first = index * CHUNK_SIZE + 1
    last = min(plan.customers, first + CHUNK_SIZE - 1)
    # Hundreds of thousands of new tuples and no reference cycles: the cyclic collector would only rescan them.
    collecting = gc.isenabled()
    gc.disable()
    try:
        return _Generator(plan, index).run(first, max(0, last - first + 1))
    finally:
        if collecting:
            gc.enable()
