"""The demo bank's organisation: the branch tree, its operators, the persona logins and the product catalogue.

江南省农商银行 is fictional. The tree is 总行 → 3–6 分行 (one per prefecture city) → 支行 → 网点, scaled with
the number of operators; branches go through `branch_create` so their materialised paths are right.
"""

import itertools
import random
from dataclasses import dataclass, field
from datetime import timedelta

from django.contrib.auth import get_user_model
from django.contrib.auth.hashers import make_password
from django.contrib.auth.models import Permission
from django.utils import timezone

from tagging.models import Product, ProductCategory
from workbench.demo.names import UseridAllocator, person_name
from workbench.org.models import Branch, Operator
from workbench.org.roles import Role
from workbench.org.services import branch_create

BANK_NAME = "江南省农商银行"
PASSWORD = "demo12345"  # noqa: S105 - the documented demo password

# (city, ID-card region prefix of the prefecture); the first is the provincial capital and the largest.
CITIES = [("临江", "3301"), ("青州", "3302"), ("云阳", "3303"), ("宁川", "3304"), ("安平", "3305"), ("白沙", "3306")]
_DISTRICTS = [
    "城东", "城西", "城南", "城北", "开发区", "高新区", "江滨", "人民路", "解放路", "中山路", "新华路", "文化路",
    "建设路", "湖滨", "火车站", "大学城", "工业园", "滨海", "金桥", "光明", "和平", "长安", "东湖", "西山", "南湖",
    "北苑", "新城", "老城", "桥南", "桥北", "港区", "商贸城", "翠苑", "朝阳", "金山", "银湖", "凤凰", "龙泉",
    "白云", "望江", "双塔", "五里亭", "七星", "九龙", "梅园", "兰亭", "丰收", "富春",
]  # fmt: skip
_PLACES = [
    "幸福里", "春晖", "锦绣", "杏花", "梧桐", "桂花", "丽水", "青年路", "育才路", "胜利路", "环城东路", "迎宾路",
    "工农路", "车站路", "滨江路", "南门", "北门", "东门", "西门", "金色家园", "阳光新村", "紫荆", "月湖", "荷塘",
    "柳岸", "新河", "石桥", "茶园", "果园", "枫林", "松柏", "竹园", "太平", "永安", "长乐", "福田",
]  # fmt: skip
_OUTLET_SUFFIXES = ["分理处", "社区网点", "营业室"]

# (code, name, category, risk level, term in days)
PRODUCTS = [
    ("DEP-CUR", "活期储蓄", ProductCategory.DEPOSIT, 1, None),
    ("DEP-T03", "整存整取定期存款（3个月）", ProductCategory.DEPOSIT, 1, 91),
    ("DEP-T06", "整存整取定期存款（6个月）", ProductCategory.DEPOSIT, 1, 182),
    ("DEP-T12", "整存整取定期存款（1年）", ProductCategory.DEPOSIT, 1, 365),
    ("DEP-T36", "整存整取定期存款（3年）", ProductCategory.DEPOSIT, 1, 1095),
    ("DEP-T60", "整存整取定期存款（5年）", ProductCategory.DEPOSIT, 1, 1825),
    ("CD-12", "大额存单2025年第6期（1年）", ProductCategory.DEPOSIT, 1, 365),
    ("CD-36", "大额存单2024年第11期（3年）", ProductCategory.DEPOSIT, 1, 1095),
    ("WM-CASH", "江南理财·天天宝现金管理", ProductCategory.WEALTH, 1, None),
    ("WM-030", "江南理财·月月享30天", ProductCategory.WEALTH, 2, 30),
    ("WM-090", "江南理财·季季盈90天", ProductCategory.WEALTH, 2, 90),
    ("WM-180", "江南理财·稳健半年盈180天", ProductCategory.WEALTH, 2, 180),
    ("WM-365", "江南理财·年年丰365天", ProductCategory.WEALTH, 3, 365),
    ("WM-540", "江南理财·睿享18个月混合类", ProductCategory.WEALTH, 3, 540),
    ("FD-MMF", "江南货币市场基金A", ProductCategory.FUND, 1, None),
    ("FD-BND", "稳健债券基金C", ProductCategory.FUND, 2, None),
    ("FD-300", "沪深300指数增强基金", ProductCategory.FUND, 4, None),
    ("FD-NEV", "新能源产业混合基金", ProductCategory.FUND, 5, None),
    ("INS-CI", "安康终身重大疾病保险", ProductCategory.INSURANCE, 1, None),
    ("INS-AN", "鑫享年金保险（分红型）", ProductCategory.INSURANCE, 2, None),
    ("PEN-ACC", "个人养老金资金账户", ProductCategory.PENSION, 1, None),
    ("PEN-2040", "养老目标日期2040三年持有期基金", ProductCategory.PENSION, 3, 1095),
    ("PEN-WM5", "稳健养老理财（5年封闭）", ProductCategory.PENSION, 2, 1825),
    ("LN-EDAI", "江南e贷（消费贷）", ProductCategory.LOAN, None, 365),
    ("LN-CAR", "安心车贷", ProductCategory.LOAN, None, 1095),
    ("CC-GOLD", "江南信用卡·金卡", ProductCategory.CREDIT_CARD, None, None),
    ("CC-PLAT", "江南信用卡·白金卡", ProductCategory.CREDIT_CARD, None, None),
]

PERSONAS = [
    ("admin", Role.HEAD_OFFICE_ADMIN, "总行运营管理员"),
    ("manager", Role.BRANCH_MANAGER, "分行管理者"),
    ("lead", Role.TEAM_LEAD, "团队长"),
    ("operator", Role.OPERATOR, "客户经理"),
    ("operator2", Role.OPERATOR, "客户经理（另一分行）"),
    ("reviewer", Role.COMPLIANCE_REVIEWER, "合规审核员"),
]


@dataclass
class Bank:
    head: Branch
    cities: dict[int, tuple[str, str]] = field(default_factory=dict)  # 分行 id → (city, region prefix)
    fens: list[Branch] = field(default_factory=list)
    zhis: list[Branch] = field(default_factory=list)
    outlets: list[Branch] = field(default_factory=list)
    operators: list[Operator] = field(default_factory=list)
    personas: dict[str, Operator] = field(default_factory=dict)
    products: list[Product] = field(default_factory=list)

    @property
    def size(self) -> int:
        return 1 + len(self.fens) + len(self.zhis) + len(self.outlets)

    def fen_of(self, branch: Branch) -> Branch:
        return next(fen for fen in self.fens if branch.path.startswith(fen.path))

    def zhi_of(self, branch: Branch) -> Branch | None:
        return next((zhi for zhi in self.zhis if branch.path.startswith(zhi.path)), None)


def _tree_shape(operators: int) -> tuple[int, int, int]:
    fens = min(6, 3 + operators // 400)
    zhis = max(2 * fens, operators // 25)
    outlets = max(2 * zhis, operators // 8)
    return fens, zhis, outlets


def _spread(rng: random.Random, total: int, bins: int, minimum: int, weights: list[float]) -> list[int]:
    """`total` items over `bins` with at least `minimum` each, the rest by weight."""
    counts = [minimum] * bins
    for index in rng.choices(range(bins), weights=weights, k=total - minimum * bins):
        counts[index] += 1
    return counts


def build_branches(rng: random.Random, operators: int) -> Bank:
    n_fen, n_zhi, n_outlet = _tree_shape(operators)
    department = itertools.count(2)  # WeCom department 1 is the corporation's root: the head office
    bank = Bank(head=branch_create(name=f"{BANK_NAME}总行", level=Branch.Level.HEAD_OFFICE, wecom_department_id=1))
    zhi_counts = _spread(rng, n_zhi, n_fen, 2, [2.0] + [1.0] * (n_fen - 1))
    outlet_counts = _spread(rng, n_outlet, n_zhi, 1, [rng.uniform(0.5, 1.5) for _ in range(n_zhi)])
    outlet_counts_iter = iter(outlet_counts)
    for order, (city, region) in enumerate(CITIES[:n_fen], start=1):
        fen = branch_create(
            name=f"{city}分行",
            level=Branch.Level.BRANCH,
            parent=bank.head,
            wecom_department_id=next(department),
            order=order,
        )
        bank.fens.append(fen)
        bank.cities[fen.pk] = (city, region)
        districts = rng.sample(_DISTRICTS, min(len(_DISTRICTS), zhi_counts[order - 1]))
        for index in range(zhi_counts[order - 1]):
            label = districts[index] if index < len(districts) else f"第{index + 1}"
            zhi = branch_create(
                name=f"{city}{label}支行",
                level=Branch.Level.SUB_BRANCH,
                parent=fen,
                wecom_department_id=next(department),
                order=index + 1,
            )
            bank.zhis.append(zhi)
            count = next(outlet_counts_iter)
            for place_index, place in enumerate(rng.sample(_PLACES, min(len(_PLACES), count))):
                outlet = branch_create(
                    name=f"{place}{rng.choice(_OUTLET_SUFFIXES)}",
                    level=Branch.Level.OUTLET,
                    parent=zhi,
                    wecom_department_id=next(department),
                    order=place_index + 1,
                )
                bank.outlets.append(outlet)
    return bank


def _management_slots(bank: Bank, budget: int) -> list[tuple[Branch, str, str]]:
    """Leaders beyond the personas, most important first, as many as a quarter of the staff allows."""
    manager_fen, lead_zhi = bank.fens[0], bank.zhis[0]
    slots = [(zhi, Role.TEAM_LEAD, "团队长") for zhi in bank.zhis if zhi is not lead_zhi]
    slots += [(fen, Role.BRANCH_MANAGER, "分行副行长") for fen in bank.fens if fen is not manager_fen]
    slots += [(bank.head, Role.HEAD_OFFICE_ADMIN, "总行直营运营"), (bank.head, Role.COMPLIANCE_REVIEWER, "合规审查岗")]
    slots += [(zhi, Role.BRANCH_MANAGER, "支行行长") for zhi in bank.zhis]
    slots += [(bank.head, Role.HEAD_OFFICE_ADMIN, "总行直营运营"), (bank.head, Role.COMPLIANCE_REVIEWER, "合规审查岗")]
    return slots[: max(0, budget // 4)]


def _persona_branches(bank: Bank) -> dict[str, Branch]:
    manager_fen, other_fen = bank.fens[0], bank.fens[1]
    lead_zhi = bank.zhis[0]  # the first 支行 of the first 分行
    operator_outlet = next(o for o in bank.outlets if o.parent_id == lead_zhi.pk)
    operator2_outlet = next(o for o in bank.outlets if o.path.startswith(other_fen.path))
    return {
        "admin": bank.head,
        "manager": manager_fen,
        "lead": lead_zhi,
        "operator": operator_outlet,
        "operator2": operator2_outlet,
        "reviewer": bank.head,
    }


def build_operators(rng: random.Random, bank: Bank, operators: int) -> None:
    """Personas with logins, then leaders and operators without (bulk-created: no password hashing)."""
    userid = UseridAllocator()
    now = timezone.now()

    def operator(branch: Branch, role: str, title: str, *, resigned: bool = False) -> Operator:
        birth_year = rng.randint(1970, 2000)
        name = person_name(rng, rng.choice("MF"), birth_year)
        op = Operator(name=name, wecom_userid=userid(name), branch=branch, role=role, title=title)
        if resigned:
            op.status = Operator.Status.RESIGNED
            op.resigned_at = now - timedelta(days=rng.randint(3, 300), minutes=rng.randint(0, 1439))
        return op

    places = _persona_branches(bank)
    persona_ops = {username: operator(places[username], role, title) for username, role, title in PERSONAS}
    budget = max(0, operators - len(PERSONAS))
    leaders = [operator(branch, role, title) for branch, role, title in _management_slots(bank, budget)]
    # Most operators sit in 网点 (some busier than others), a few in the 支行 itself.
    serving = bank.outlets + bank.zhis
    weights = [rng.uniform(0.5, 1.5) for _ in bank.outlets] + [0.4] * len(bank.zhis)
    plain = [
        operator(branch, Role.OPERATOR, "客户经理", resigned=rng.random() < 0.03)
        for branch in rng.choices(serving, weights=weights, k=budget - len(leaders))
    ]
    everyone = list(persona_ops.values()) + leaders + plain
    Operator.objects.bulk_create(everyone, batch_size=2000)
    bank.operators = everyone
    bank.personas = persona_ops
    _create_logins(persona_ops)


def _create_logins(persona_ops: dict[str, Operator]) -> None:
    user_model = get_user_model()
    hashed = make_password(PASSWORD)  # one hash (the slow part) for the six demo logins
    all_permissions = list(Permission.objects.all())
    for username, op in persona_ops.items():
        user = user_model.objects.create_user(username=username, first_name=op.name)
        user.password = hashed
        user.is_staff = username == "admin"
        user.save(update_fields=["password", "is_staff"])
        if username == "admin":
            user.user_permissions.set(all_permissions)  # Django admin shows models by permission
        op.user = user
        op.save(update_fields=["user"])


def build_products() -> list[Product]:
    return Product.objects.bulk_create(
        [
            Product(code=code, name=name, category=category, risk_level=risk, term_days=term)
            for code, name, category, risk, term in PRODUCTS
        ]
    )


def build_bank(rng: random.Random, operators: int) -> Bank:
    bank = build_branches(rng, operators)
    build_operators(rng, bank, operators)
    bank.products = build_products()
    return bank
