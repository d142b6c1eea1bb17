"""The starter library for banks, and the demo bank's customer tags.

`seed_starter_library()` creates the groups and tags below when they are missing and changes nothing else, so it
is safe to run again (and leaves an admin's edits alone). The tags are "waiting for WeCom" until the library sync
creates their corp tags. Rule tags get their rules from the rules editor; here they are only the tags.
"""

from django.db import transaction
from django.db.models import F

from tagging.models import Customer, ProductCategory, ProductHolding, Tag, TagGroup, TagSource, WeComState
from tagging.tags import wecom
from tagging.tags.services import tag_add

RULE, IMPORTED, MANUAL = Tag.Kind.RULE, Tag.Kind.IMPORTED, Tag.Kind.MANUAL

# (group, kind, what the group means, [(tag, what the tag means)])
STARTER_LIBRARY = [
    (
        "资产等级",
        RULE,
        "按客户在本行的金融资产（AUM）分层，由规则每日计算；决定服务方式与可推荐的产品。",
        [
            ("百万级", "AUM 100 万元及以上的高净值客户，优先由专属客户经理一对一服务。"),
            ("50万级", "AUM 50 万（含）至 100 万元的富裕客户，重点做资产配置与升级。"),
            ("10万级", "AUM 10 万（含）至 50 万元的潜力客户，适合理财、基金的规模化经营。"),
            ("大众", "AUM 低于 10 万元的大众客户，以直营批量经营和提升活跃为主。"),
        ],
    ),
    (
        "代发客群",
        RULE,
        "按代发工资单位与职业信息划分的客群，决定触达的时间（发薪日）与话术。",
        [
            ("白领", "代发单位为机关、事业单位或企业管理岗位，收入稳定、线上渠道使用多。"),
            ("产业工人", "代发单位为制造、建筑、物流等产业企业的一线员工，关注存款与稳健产品。"),
            ("退休", "领取养老金或已到退休年龄的客户，关注养老、健康与资金安全。"),
        ],
    ),
    (
        "生命周期",
        RULE,
        "客户与本行关系所处的阶段，由开户、交易和企业微信互动计算；每位客户同时只处于一个阶段。",
        [
            ("新客", "添加企业微信或开户 30 天以内的新客户，重点做首次配置与关系建立。"),
            ("活跃", "近 30 天内有交易或与客户经理有互动的客户。"),
            ("沉默", "90 天以上既无交易也无互动的客户，需要唤醒。"),
            ("流失预警", "资产明显流出、长期未互动或删除客户经理等流失信号出现的客户，需要尽快挽留。"),
        ],
    ),
    (
        "有效客户",
        RULE,
        "是否达到本行有效客户的考核口径，是直营团队的核心考核指标。",
        [("有效客户", "月日均资产达到有效客户标准且企业微信关系正常的客户（口径以行内考核办法为准）。")],
    ),
    (
        "产品持有",
        IMPORTED,
        "客户当前持有的产品类别，来自行内产品持仓数据，每次导入后更新。",
        [
            ("存款", "持有定期存款、大额存单或结构性存款。"),
            ("理财", "持有银行理财产品。"),
            ("基金", "持有公募基金（含代销）。"),
            ("保险", "持有代销保险产品。"),
            ("养老金", "开立个人养老金账户或持有养老金融产品。"),
            ("贷款", "有个人贷款（消费贷、经营贷、房贷等）。"),
            ("信用卡", "持有本行信用卡。"),
        ],
    ),
    (
        "风险偏好",
        IMPORTED,
        "客户风险承受能力测评结果（C1–C5），来自行内风险测评；推荐产品的风险等级（R1–R5）不得高于客户的等级。",
        [
            ("C1 保守型", "只能接受本金基本无损失的产品。"),
            ("C2 稳健型", "可接受较低风险以换取略高于存款的收益。"),
            ("C3 平衡型", "可接受一定的本金波动以换取中等收益。"),
            ("C4 成长型", "可接受较大的本金波动以追求较高收益。"),
            ("C5 进取型", "可接受本金大幅波动甚至损失以追求高收益。"),
        ],
    ),
    (
        "客户意向",
        MANUAL,
        "客户经理在沟通中记录的意向与跟进事项，由人手工标记（也可在企业微信客户端标记）。",
        [
            ("有理财意向", "客户表达了购买理财产品的兴趣，适合推送理财产品与收益说明。"),
            ("有保险意向", "客户关心保障类产品，适合安排保险顾问跟进。"),
            ("需要回访", "客户有未解决的问题或约定了再次联系，客户经理需要回访。"),
        ],
    ),
]

# The demo's imported tags come from its own data: holdings by product category, the risk assessment.
_PRODUCT_TAGS = {
    ProductCategory.DEPOSIT: "存款",
    ProductCategory.WEALTH: "理财",
    ProductCategory.FUND: "基金",
    ProductCategory.INSURANCE: "保险",
    ProductCategory.PENSION: "养老金",
    ProductCategory.LOAN: "贷款",
    ProductCategory.CREDIT_CARD: "信用卡",
}
_RISK_TAGS = {1: "C1 保守型", 2: "C2 稳健型", 3: "C3 平衡型", 4: "C4 成长型", 5: "C5 进取型"}
# Manual intentions for a deterministic few demo customers: (tag, every n-th customer id).
_DEMO_INTENTIONS = [("有理财意向", 23), ("有保险意向", 41), ("需要回访", 37)]
# The demo tags customers up to this id: all of the default 20,000; a benchmark's million gets the library and
# the first 20,000 tagged, so that seeding stays fast (tagging writes history and WeCom pushes for every row).
DEMO_TAGGED_CUSTOMERS = 20_000


@transaction.atomic
def seed_starter_library() -> dict:
    """Create the starter groups and tags that are missing; returns how many of each were created."""
    created = {"groups": 0, "tags": 0}
    for order, (group_name, kind, group_description, tags) in enumerate(STARTER_LIBRARY):
        group, group_created = TagGroup.objects.get_or_create(
            name=group_name,
            defaults={"description": group_description, "order": order * 10, "wecom_state": WeComState.PENDING},
        )
        created["groups"] += group_created
        for tag_order, (tag_name, tag_description) in enumerate(tags):
            _tag, tag_created = Tag.objects.get_or_create(
                group=group,
                name=tag_name,
                defaults={
                    "kind": kind,
                    "description": tag_description,
                    "order": tag_order * 10,
                    "wecom_state": WeComState.PENDING,
                },
            )
            created["tags"] += tag_created
    if created["tags"]:
        transaction.on_commit(wecom.kick_library_sync)
    return created


def _tag(group: str, name: str) -> Tag | None:
    return Tag.objects.filter(group__name=group, name=name, is_active=True).first()


def seed_demo_customer_tags() -> dict:
    """The demo's imported tags (from its holdings and risk assessments) and a few manual intentions, set-based."""
    counts = {}
    customers = Customer.objects.filter(pk__lte=DEMO_TAGGED_CUSTOMERS)
    for category, name in _PRODUCT_TAGS.items():
        tag = _tag("产品持有", name)
        if tag is not None:
            holders = ProductHolding.objects.filter(product__category=category).values("customer_id")
            counts[name] = tag_add(customers.filter(pk__in=holders), tag, source=TagSource.IMPORT)
    for level, name in _RISK_TAGS.items():
        tag = _tag("风险偏好", name)
        if tag is not None:
            counts[name] = tag_add(customers.filter(risk_level=level), tag, source=TagSource.IMPORT)
    for name, every in _DEMO_INTENTIONS:
        tag = _tag("客户意向", name)
        if tag is not None:
            chosen = customers.annotate(bucket=F("pk") % every).filter(bucket=0)
            counts[name] = tag_add(chosen, tag, source=TagSource.MANUAL)
    return counts


def seed_demo_tags() -> dict:
    """What `seed_demo` runs once the customers are in: the starter library and the demo customers' tags."""
    return seed_starter_library() | {"customer_tags": seed_demo_customer_tags()}
