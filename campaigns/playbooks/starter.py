"""The demo's starter playbooks, from the seed articles (../shared/seeds), published and running on their own.

1. Payroll customers (代发): a short-term wealth product the day after salary arrives ("基于工资到账时间自动推送短期
   理财产品"), two wordings A/B-tested against a 10 % control group; the operator follows up three days later
   with those who have not bought.
2. Retirees (退休客群): anti-fraud education ("推送金融安全教育内容，例如反诈骗提示") and then safe savings
   products ("退休人员则偏向于安全性较高的储蓄或养老型金融服务") — a one-off broadcast to the retiree segment.
3. New contacts: a 7-day welcome journey (the operator greets them, then tips on day 3 and a first-product offer
   on day 7) — the relationship-building of the seeds' "regular contact mechanism" (定期沟通机制).
4. Silent customers (90 days without a transaction): a re-activation sequence — a message, a phone call by the
   operator if nothing happens within three days, a second message a week later; 20 % held out as a control.

`seed_starter_playbooks()` writes what is missing (approved content through the content services — written by the
head-office admin, approved by the compliance reviewer —, two shared segments, the playbooks) and publishes them.
Running it again changes nothing.
"""

import datetime as dt

from django.contrib.auth import get_user_model
from django.db import transaction
from django.utils import timezone

from campaigns.playbooks import services
from campaigns.playbooks.models import Playbook

WECOM_CONTACT = {
    "kind": "condition",
    "name": "企业微信好友",
    "condition": {"match": "all", "rules": [{"field": "wecom", "op": "is_set"}]},
}
PAYROLL = {
    "kind": "condition",
    "name": "代发工资客户",
    "condition": {"match": "all", "rules": [{"field": "payroll", "op": "is_set"}]},
}
ACTIVE_AGAIN = {
    "kind": "condition",
    "name": "近 3 天有交易",
    "condition": {"match": "all", "rules": [{"field": "last_transaction_date", "op": "within_days", "value": 3}]},
}
STANDARD_EXITS = [{"kind": "unfollowed"}, {"kind": "dnd"}]

# (title, category, text): mass-send content; only sender variables (one text per operator's send task).
CONTENT = {
    "payroll_a": (
        "代发工资到账理财提醒",
        "理财产品",
        "您好，我是{{branch_name}}的客户经理{{operator_name}}。本月工资已到账，江南理财·月月享30天（R2 中低风险，"
        "业绩比较基准 2.10%–2.60%）1 元起购，可随时在手机银行查看。\n理财非存款，产品有风险，投资须谨慎。",
    ),
    "payroll_b": (
        "工资结余打理清单",
        "理财产品",
        "工资到账后的闲钱怎么打理？{{operator_name}}为您准备了本月的短期理财清单（7 天、30 天、90 天期限可选），"
        "回复“理财”即可了解。\n理财非存款，产品有风险，投资须谨慎。",
    ),
    "antifraud": (
        "养老金安全·反诈提醒",
        "反诈宣传",
        "【反诈提醒】{{operator_name}}提醒您：银行工作人员不会以任何理由索要短信验证码和密码，也不会要求您向"
        "“安全账户”转账。接到可疑电话请先挂断，再拨打本行客服电话或联系我核实。",
    ),
    "savings": (
        "稳健储蓄·定期存款与大额存单",
        "存款",
        "{{operator_name}}为您整理了本月定期存款和大额存单的期限与利率，适合养老资金的稳健安排。"
        "欢迎到{{branch_name}}或回复消息了解详情。",
    ),
    "welcome_tips": (
        "新客户·手机银行小贴士",
        "欢迎语",
        "{{operator_name}}分享三个手机银行小技巧：1. 在“消息设置”里开启工资到账提醒；2. 转账前核对收款人信息；"
        "3. 陌生链接不点击、验证码不告诉任何人。有问题随时找我。",
    ),
    "welcome_offer": (
        "新客户·首次理财体验",
        "理财产品",
        "感谢您这一周的信任！新客户的首次理财体验已为您准备好，{{operator_name}}可以一对一为您讲解，回复“了解”即可。"
        "\n理财非存款，产品有风险，投资须谨慎。",
    ),
    "silent_hello": (
        "好久不见·便民服务上新",
        "活动",
        "好久不见！我是{{branch_name}}的客户经理{{operator_name}}。本行近期上线了多项便民服务，"
        "缴费、社保查询都能在手机银行办理，有需要随时联系我。",
    ),
    "silent_gift": (
        "老客户专属回馈",
        "活动",
        "{{operator_name}}为您保留了一份老客户专属回馈，本月内有效，回复“福利”了解详情。",
    ),
}

SEGMENTS = {
    "retirees": (
        "退休客户",
        {"match": "all", "rules": [{"field": "occupation_group", "op": "in", "value": ["retiree"]}]},
    ),
    "silent": (
        "沉默客户（90 天无交易）",
        {"match": "all", "rules": [{"field": "last_transaction_date", "op": "before_days", "value": 90}]},
    ),
}


def _personas():
    from workbench.org.models import Operator
    from workbench.org.roles import Role

    def first(role):
        operator = (
            Operator.objects.filter(role=role, status=Operator.Status.ACTIVE, user__isnull=False)
            .select_related("user")
            .order_by("pk")
            .first()
        )
        return operator.user if operator else None

    admin = get_user_model().objects.filter(username="admin").first() or first(Role.HEAD_OFFICE_ADMIN)
    reviewer = get_user_model().objects.filter(username="reviewer").first() or first(Role.COMPLIANCE_REVIEWER)
    return admin, reviewer


def _content(key: str, admin, reviewer):
    """The approved item for `key`: an existing one with that title, else written, submitted and approved."""
    from campaigns.content import services as content
    from campaigns.content.models import ContentCategory, ContentItem
    from campaigns.content.selectors import usable_version

    title, category, text = CONTENT[key]
    item = ContentItem.objects.filter(title=title, use=ContentItem.Use.MASS).select_related("current").first()
    if item is not None and usable_version(item) is not None:
        return item
    item = content.content_create(
        actor=admin,
        title=title,
        use=ContentItem.Use.MASS,
        text=text,
        category=ContentCategory.objects.filter(name=category).first(),
    )
    version = content.content_submit(version=item.versions.get(), actor=admin)
    content.content_approve(version=version, reviewer=reviewer, note="演示数据")
    item.refresh_from_db()
    return item


def _segment(key: str, admin):
    from tagging.segments.models import Segment
    from tagging.segments.services import segment_create

    name, condition = SEGMENTS[key]
    return Segment.objects.filter(name=name, shared=True).first() or segment_create(
        name=name, condition=condition, shared=True, owner=admin, description="剧本演示用客群"
    )


def _steps(*steps) -> list[dict]:
    return [{"key": f"s{index}", **step} for index, step in enumerate(steps, start=1)]


def definitions(content: dict, segments: dict, now: dt.datetime) -> list[dict]:
    broadcast_at = timezone.localtime(now + dt.timedelta(minutes=5)).replace(second=0, microsecond=0)
    return [
        {
            "key": "payroll_wealth",
            "name": "代发客户·工资到账次日理财推荐",
            "description": (
                "工资到账次日 10:00 推送短期理财（两种话术 A/B 测试，10% 对照组）；3 天未购买的由客户经理一对一跟进。"
            ),
            "priority": 3,
            "draft": {
                "trigger": {"type": "date", "attribute": "payday", "offset_days": 1, "time": "10:00"},
                "audience": [PAYROLL, WECOM_CONTACT],
                "steps": _steps(
                    {
                        "type": "ab_split",
                        "arms": [{"name": "A", "weight": 45, "goto": "s2"}, {"name": "B", "weight": 45, "goto": "s3"}],
                        "control": 10,
                    },
                    {"type": "send", "content_item": content["payroll_a"].pk, "after": "s4"},
                    {"type": "send", "content_item": content["payroll_b"].pk},
                    {"type": "delay", "days": 3},
                    {
                        "type": "task",
                        "kind": "message",
                        "title": "跟进工资理财意向",
                        "script": (
                            "您好，前几天给您发了本月的短期理财介绍，工资结余有打理的打算吗？可以按您的期限需要推荐。"
                        ),
                        "due_hours": 24,
                    },
                ),
                "exits": [{"kind": "converted", "category": "wealth"}, *STANDARD_EXITS],
                "reentry": "cooldown",
                "cooldown_days": 25,
            },
        },
        {
            "key": "retiree_safety",
            "name": "退休客群·反诈教育与稳健储蓄",
            "description": "向退休客群推送反诈骗提示，3 天后推荐定期存款与大额存单；已办理存款的客户不再推送。",
            "priority": 4,
            "draft": {
                "trigger": {"type": "broadcast", "segment": segments["retirees"].pk, "at": broadcast_at.isoformat()},
                "audience": [WECOM_CONTACT],
                "steps": _steps(
                    {"type": "send", "content_item": content["antifraud"].pk},
                    {"type": "delay", "days": 3},
                    {"type": "wait_until", "time": "09:30", "weekdays": [1, 2, 3, 4, 5]},
                    {"type": "send", "content_item": content["savings"].pk},
                ),
                "exits": [{"kind": "converted", "category": "deposit"}, *STANDARD_EXITS],
                "reentry": "never",
            },
        },
        {
            "key": "new_contact_welcome",
            "name": "新客户·7 天欢迎旅程",
            "description": (
                "添加企业微信后：当天客户经理一对一问候，第 3 天推送手机银行小贴士，第 7 天推荐首次理财体验。"
            ),
            "priority": 2,
            "draft": {
                "trigger": {"type": "new_contact", "channel_codes": []},
                "audience": [],
                "steps": _steps(
                    {"type": "delay", "hours": 1},
                    {
                        "type": "task",
                        "kind": "message",
                        "title": "新客户一对一问候",
                        "script": (
                            "您好，我是您的客户经理，以后工资代发、存款理财的问题都可以直接找我。"
                            "方便问一下您平时主要办理哪些业务吗？"
                        ),
                        "due_hours": 24,
                    },
                    {"type": "delay", "days": 2},
                    {"type": "wait_until", "time": "10:00"},
                    {"type": "send", "content_item": content["welcome_tips"].pk},
                    {"type": "delay", "days": 4},
                    {"type": "wait_until", "time": "10:00"},
                    {"type": "send", "content_item": content["welcome_offer"].pk},
                ),
                "exits": STANDARD_EXITS,
                "reentry": "never",
            },
        },
        {
            "key": "silent_reactivation",
            "name": "沉默客户唤醒",
            "description": (
                "90 天无交易的客户：先发问候，3 天内仍无交易由客户经理电话回访，一周后再送专属回馈；20% 为对照组。"
            ),
            "priority": 5,
            "draft": {
                "trigger": {"type": "segment_entry", "segment": segments["silent"].pk, "include_existing": True},
                "audience": [WECOM_CONTACT],
                "steps": _steps(
                    {"type": "ab_split", "arms": [{"name": "A", "weight": 80, "goto": "next"}], "control": 20},
                    {"type": "wait_until", "time": "10:00", "weekdays": [1, 2, 3, 4, 5]},
                    {"type": "send", "content_item": content["silent_hello"].pk},
                    {
                        "type": "wait_condition",
                        "criterion": ACTIVE_AGAIN,
                        "timeout_hours": 72,
                        "on_timeout": "s5",
                        "after": "end",
                    },
                    {
                        "type": "task",
                        "kind": "call",
                        "title": "沉默客户电话回访",
                        "script": (
                            "问候近况；了解是否有账户、缴费或理财方面的需要；如客户不希望被打扰，请在客户页设置免打扰。"
                        ),
                        "due_hours": 48,
                    },
                    {"type": "delay", "days": 7},
                    {"type": "send", "content_item": content["silent_gift"].pk},
                ),
                "exits": [{"kind": "converted"}, *STANDARD_EXITS],
                "reentry": "cooldown",
                "cooldown_days": 90,
            },
        },
    ]


def seed_starter_playbooks(now: dt.datetime | None = None) -> dict:
    """Create and publish the starter playbooks that are missing. Returns {"created": [...], "skipped": [...]}."""
    now = now or timezone.now()
    admin, reviewer = _personas()
    if admin is None or reviewer is None:
        return {"created": [], "skipped": ["no head-office admin and compliance reviewer to write the content"]}
    done = set(Playbook.objects.filter(starter_key__isnull=False).values_list("starter_key", flat=True))
    created, skipped = [], sorted(done)
    with transaction.atomic():
        content = {key: _content(key, admin, reviewer) for key in CONTENT}
        segments = {key: _segment(key, admin) for key in SEGMENTS}
        for spec in definitions(content, segments, now):
            if spec["key"] in done:
                continue
            playbook = services.playbook_create(
                name=spec["name"],
                description=spec["description"],
                priority=spec["priority"],
                draft=spec["draft"],
                actor=admin,
            )
            Playbook.objects.filter(pk=playbook.pk).update(starter_key=spec["key"])
            services.playbook_publish(playbook=playbook, actor=admin, now=now)
            created.append(spec["key"])
    return {"created": created, "skipped": skipped}
