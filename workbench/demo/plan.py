"""From the built organisation to a `Plan`: who owns customers, who follows them, who pays them, what they hold."""

import random
from datetime import date

from workbench.demo.bank import Bank
from workbench.demo.customers import OTHER, RETIREE, WHITE, WORKER, Plan
from workbench.org.models import Branch, Operator
from workbench.org.roles import Role

_BRANDS = [
    "恒信", "华创", "博远", "中联", "天元", "瑞丰", "东方", "明德", "金石", "远航", "众合", "新纪元", "宏达",
    "永盛", "嘉禾", "鼎盛", "万通", "汇丰源", "正泰", "光华", "长城", "星辰", "海纳", "德润", "盛世", "安达",
    "百川", "九州", "锦程", "同方",
]  # fmt: skip
_WHITE_TRADES = [
    "科技有限公司", "信息技术有限公司", "网络科技有限公司", "会计师事务所", "律师事务所", "建筑设计院有限公司",
    "医药有限公司", "教育咨询有限公司", "传媒有限公司", "证券营业部",
]  # fmt: skip
_PUBLIC_EMPLOYERS = ["第一人民医院", "中医院", "实验中学", "第二中学", "自来水有限公司", "供电公司", "城市投资集团"]
_WORKER_TRADES = [
    "纺织有限公司", "机械制造有限公司", "汽车零部件有限公司", "电子有限公司", "化工有限公司", "食品有限公司",
    "建材有限公司", "服装有限公司", "五金制品厂", "物流有限公司", "包装材料有限公司", "家具制造有限公司",
]  # fmt: skip
# Pay days cluster on the 5th, 10th, 15th and 25th; the rest spread over the month.
_PAYDAYS = [5] * 20 + [10] * 25 + [15] * 20 + [25] * 15 + [20] * 5 + [1, 8, 12, 18, 28, 30, 31] * 2
_REGION_SUFFIXES = ["02", "03", "04", "05", "06", "08", "10", "21", "22", "81", "82"]

_PRODUCT_WEIGHTS = {
    WHITE: "DEP-CUR 3 DEP-T12 3 DEP-T36 1 CD-12 1 CD-36 1 WM-CASH 4 WM-030 2 WM-090 3 WM-180 2 WM-365 2 WM-540 1 "
    "FD-MMF 2 FD-BND 2 FD-300 2 FD-NEV 1 INS-CI 1 INS-AN 1 PEN-ACC 2 PEN-2040 1 LN-EDAI 3 LN-CAR 1 CC-GOLD 4 "
    "CC-PLAT 2",
    WORKER: "DEP-CUR 5 DEP-T03 2 DEP-T06 2 DEP-T12 4 DEP-T36 1 WM-CASH 3 WM-030 1 WM-090 1 FD-MMF 1 INS-CI 0.5 "
    "LN-EDAI 2 CC-GOLD 4",
    RETIREE: "DEP-CUR 3 DEP-T03 2 DEP-T06 3 DEP-T12 5 DEP-T36 4 DEP-T60 2 CD-12 2 CD-36 3 WM-CASH 1 WM-090 2 "
    "WM-180 2 WM-365 1 INS-AN 1 PEN-ACC 2 PEN-WM5 2 FD-BND 0.5",
    OTHER: "DEP-CUR 4 DEP-T12 3 DEP-T36 1 CD-36 0.5 WM-CASH 2 WM-090 1 WM-180 1 FD-MMF 1 FD-300 0.5 LN-EDAI 1 "
    "CC-GOLD 2 INS-CI 0.5",
}


def _weights(spec: str) -> dict[str, float]:
    items = spec.split()
    return {code: float(weight) for code, weight in zip(items[::2], items[1::2], strict=True)}


def _employers(rng: random.Random, city: str) -> dict[str, list[tuple[str, int]]]:
    white = [
        f"{city}{brand}{trade}"
        for brand, trade in zip(rng.sample(_BRANDS, 24), rng.choices(_WHITE_TRADES, k=24), strict=False)
    ]
    white += [f"{city}市{name}" for name in _PUBLIC_EMPLOYERS]
    worker = [
        f"{city}{brand}{trade}"
        for brand, trade in zip(rng.sample(_BRANDS, 24), rng.choices(_WORKER_TRADES, k=24), strict=False)
    ]
    return {
        WHITE: [(name, rng.choice(_PAYDAYS)) for name in dict.fromkeys(white)],
        WORKER: [(name, rng.choice(_PAYDAYS)) for name in dict.fromkeys(worker)],
    }


def _ownership_weight(rng: random.Random, op: Operator, persona: bool) -> float:
    """How large a book of customers (管户) an operator carries, relative to a typical 客户经理."""
    if op.role == Role.OPERATOR:
        if op.status == Operator.Status.RESIGNED:
            return 0.25  # customers waiting to be transferred
        return 1.0 if persona else rng.uniform(0.6, 1.4)
    if op.role == Role.TEAM_LEAD:
        return 0.2
    if op.role == Role.BRANCH_MANAGER and op.branch.level == Branch.Level.SUB_BRANCH:
        return 0.05
    return 0.0


def make_plan(rng: random.Random, bank: Bank, *, customers: int, seed: int, today: date, copy: bool) -> Plan:
    branches = {b.pk: b for b in [bank.head, *bank.fens, *bank.zhis, *bank.outlets]}
    persona_ids = {op.pk for op in bank.personas.values()}
    owners, weights, colleagues, former = [], [], {}, {}
    for op in bank.operators:
        branch = branches[op.branch_id]
        op.branch = branch
        if branch.level < Branch.Level.SUB_BRANCH:
            continue
        zhi, fen = bank.zhi_of(branch), bank.fen_of(branch)
        if op.role == Role.OPERATOR:
            former.setdefault(fen.pk, []).append(op.pk)
        if op.status == Operator.Status.ACTIVE and op.role in (Role.OPERATOR, Role.TEAM_LEAD):
            colleagues.setdefault(zhi.pk, []).append(op.pk)
        weight = _ownership_weight(rng, op, op.pk in persona_ids)
        if weight:
            owners.append((op.pk, branch.pk, zhi.pk, fen.pk))
            weights.append(weight)
    cum, total = [], 0.0
    for weight in weights:
        total += weight
        cum.append(total)
    for fen in bank.fens:
        former.setdefault(fen.pk, [owner[0] for owner in owners])
    return Plan(
        seed=seed,
        customers=customers,
        today=today,
        null="\\N" if copy else None,
        tz="+00" if copy else "",
        owners=owners,
        owner_cum=cum,
        colleagues=colleagues,
        former=former,
        employers={fen_id: _employers(rng, city) for fen_id, (city, _) in bank.cities.items()},
        pension={
            fen_id: (f"{city}市社会保险事业管理中心", rng.choice([5, 10, 15, 20]))
            for fen_id, (city, _) in bank.cities.items()
        },
        regions={
            fen_id: [region + suffix for suffix in _REGION_SUFFIXES] for fen_id, (_, region) in bank.cities.items()
        },
        products={p.code: (p.pk, p.category, p.risk_level, p.term_days) for p in bank.products},
        weights={group: _weights(spec) for group, spec in _PRODUCT_WEIGHTS.items()},
    )
