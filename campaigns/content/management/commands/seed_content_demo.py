"""`manage.py seed_content_demo`: the demo's content library and channel codes (called by seed_demo).

- the sensitive-word list and categories (the migration's; again here, idempotently, for a bank built before it);
- content written by the personas: approved items (a mass-send text with a link, a welcome message, an
  anti-fraud notice), one submitted and awaiting `reviewer`, one draft with a sensitive word to see highlighted;
- a counter channel code per outlet whose generated customers came through one (state `qr_branch_<id>`), the
  persona operators first among its members, welcoming with the approved welcome message. They wait for
  WeCom (the sandbox is not running while the demo is seeded); the periodic push creates them there;
- the quick replies (话术库, `demo_quick_replies.py`): a dozen per scenario, written by `admin` (head office) and
  approved by `reviewer` (also into a bank seeded before quick replies existed).

A hundred-odd rows: it takes about a second. Safe to run twice (it does nothing the second time).
"""

from django.contrib.auth import get_user_model
from django.core.management.base import BaseCommand
from django.db import transaction

from campaigns.channels.models import ChannelCode
from campaigns.channels.services import channel_code_create
from campaigns.content import demo_quick_replies, services
from campaigns.content.models import ContentCategory, ContentItem, SensitiveWord
from tagging.models import FollowRelationship
from workbench.org.models import Branch, Operator

# The migration's starter list, repeated so that the command stands alone.
WORDS = ["保本", "保息", "保收益", "保证收益", "确保收益", "承诺收益", "收益有保障", "100%收益", "稳赚", "稳赚不赔",
         "稳赢", "包赚", "只赚不赔", "零风险", "无风险", "高收益无风险", "绝对安全", "本金无忧", "刚兑", "刚性兑付",
         "类存款", "替代存款"]  # fmt: skip
# The state the demo generator gives follows added at an outlet's counter QR code (workbench/demo/customers.py).
BRANCH_STATE = "qr_branch_"
CATEGORIES = ["理财产品", "存款", "贷款", "信用卡", "活动", "节日问候", "反诈宣传", "欢迎语"]

APPROVED = [
    (
        "admin",
        "代发工资到账理财提醒",
        "理财产品",
        ContentItem.Use.MASS,
        "您好，我是{{branch_name}}的客户经理{{operator_name}}。本月工资已到账，江南理财·月月享30天（R2 中低风险，"
        "业绩比较基准 2.10%–2.60%）1 元起购，可随时在手机银行查看：https://bank.example/wm030\n"
        "理财非存款，产品有风险，投资须谨慎。",
    ),
    (
        "admin",
        "新客户欢迎语",
        "欢迎语",
        ContentItem.Use.WELCOME,
        "{{salutation}}您好！我是{{branch_name}}的客户经理{{operator_name}}，很高兴为您服务。工资代发、存款理财、"
        "养老金业务都可以随时问我。温馨提示：银行工作人员不会索要您的密码和验证码。",
    ),
    (
        "manager",
        "防范电信网络诈骗提示",
        "反诈宣传",
        ContentItem.Use.MASS,
        "【反诈提醒】近期有不法分子冒充银行客服，以“账户异常”“退款理赔”为由索要验证码。"
        "请牢记：不转账、不透露验证码、不点陌生链接。如有疑问请联系您的客户经理{{operator_name}}。",
    ),
]
SUBMITTED = (
    "manager",
    "重阳节问候",
    "节日问候",
    ContentItem.Use.MASS,
    "九九重阳，情暖桑榆。{{branch_name}}祝您和家人身体健康、阖家幸福！养老金到账、大额存单等业务欢迎随时咨询。",
)
DRAFT = (
    "manager",
    "大额存单新品预告（草稿）",
    "存款",
    ContentItem.Use.MASS,
    "2025年第7期大额存单下周发行，保本保息，三年期利率较上期上调，欢迎提前预约。",
)


class Command(BaseCommand):
    help = "Seed the demo's sensitive words, content (approved, awaiting review, draft) and channel codes."

    def handle(self, *args, **options):
        with transaction.atomic():
            for word in WORDS:
                SensitiveWord.objects.get_or_create(word=word)
            for order, name in enumerate(CATEGORIES + demo_quick_replies.CATEGORIES):
                ContentCategory.objects.get_or_create(name=name, defaults={"order": order})
            users = {user.username: user for user in get_user_model().objects.filter(username__in=PERSONA_LOGINS)}
            if set(PERSONA_LOGINS) - set(users):
                self.stderr.write("content: the demo personas are missing; nothing seeded", style_func=str)
                return
            replies = self.quick_replies(users)
            if ContentItem.objects.exclude(use=ContentItem.Use.QUICK_REPLY).exists():
                self.stderr.write(f"content: already seeded; {replies} quick replies added", style_func=str)
                return
            items = [self.write(users, *spec, submit=True, approve_by=users["reviewer"]) for spec in APPROVED]
            self.write(users, *SUBMITTED, submit=True)
            self.write(users, *DRAFT)
            codes = self.channel_codes(users["admin"], welcome=items[1])
        self.stderr.write(
            f"content: {len(APPROVED) + 2} items, {replies} quick replies, {codes} channel codes (waiting for WeCom)",
            style_func=str,
        )

    def quick_replies(self, users) -> int:
        """The demo's 话术库, approved; none when the bank already has quick replies."""
        if ContentItem.objects.filter(use=ContentItem.Use.QUICK_REPLY).exists():
            return 0
        written = 0
        for scenario, replies in demo_quick_replies.QUICK_REPLIES.items():
            for category, title, text in replies:
                self.write(users, "admin", title, category, ContentItem.Use.QUICK_REPLY, text, submit=True,
                           approve_by=users["reviewer"], scenario=scenario)  # fmt: skip
                written += 1
        return written

    def write(
        self, users, login, title, category, use, text, *, submit=False, approve_by=None, scenario="general"
    ) -> ContentItem:
        author = users[login]
        item = services.content_create(
            actor=author,
            title=title,
            use=use,
            text=text,
            category=ContentCategory.objects.get(name=category),
            scenario=scenario,
        )
        if submit:
            version = services.content_submit(version=item.versions.get(), actor=author)
            if approve_by is not None:
                services.content_approve(version=version, reviewer=approve_by)
        item.refresh_from_db()
        return item

    def channel_codes(self, admin, *, welcome: ContentItem) -> int:
        """A counter code per outlet whose customers came through one (the generated follows carry the state
        `qr_branch_<branch id>`): the code takes that state, so the channel report credits those customers."""
        created = 0
        states = FollowRelationship.objects.filter(state__startswith=BRANCH_STATE).values_list("state", flat=True)
        branch_ids = sorted({int(state.removeprefix(BRANCH_STATE)) for state in states.distinct()})
        personas = {op.branch_id: op for op in Operator.objects.filter(user__username__in=("operator", "operator2"))}
        for branch in Branch.objects.filter(pk__in=branch_ids).order_by("path"):
            name = f"{branch.name}柜台二维码"[:30]
            state = f"{BRANCH_STATE}{branch.pk}"
            if ChannelCode.objects.filter(state=state).exists() or ChannelCode.objects.filter(name=name).exists():
                continue
            staff = Operator.objects.filter(branch=branch, status=Operator.Status.ACTIVE, wecom_userid__isnull=False)
            first = personas.get(branch.pk) or staff.order_by("pk").first()
            if first is None:
                continue
            colleagues = list(staff.exclude(pk=first.pk).order_by("pk")[:2])
            code = channel_code_create(
                actor=admin,
                name=name,
                members=[(first, None), *((colleague, 20) for colleague in colleagues)],
                welcome_item=welcome,
            )
            ChannelCode.objects.filter(pk=code.pk).update(state=state)  # before WeCom ever sees it
            created += 1
        return created


PERSONA_LOGINS = ["admin", "manager", "reviewer", "operator", "operator2"]
