"""Browser tests: Playwright driving Debian's Chromium against pytest-django's live server.

Never `playwright install`: the browser is the distribution's package (`make chromium` installs it).
Screenshots go to test-artifacts/screenshots/ (git-ignored) for a human to look at.
"""

import os
from dataclasses import dataclass, field
from datetime import date, timedelta
from decimal import Decimal
from pathlib import Path

import pytest
from django.utils import timezone

from tagging.models import AddWay, Customer, CustomerEvent, FollowRelationship, Product, ProductHolding
from tagging.services import pii_columns
from workbench.org.models import Branch, Operator
from workbench.org.roles import Role
from workbench.org.services import branch_create, operator_create

# Playwright's sync API runs its own event loop in this thread; the ORM calls the tests make around it are
# ordinary synchronous code, which Django would otherwise refuse as "called from an async context".
os.environ["DJANGO_ALLOW_ASYNC_UNSAFE"] = "true"

CHROMIUM = Path("/usr/bin/chromium")
CHROMIUM_ARGS = ["--headless", "--no-sandbox", "--disable-gpu", "--disable-background-networking"]
SCREENSHOTS = Path(__file__).resolve().parents[2] / "test-artifacts" / "screenshots"
VIEWPORT = {"width": 1366, "height": 768}
PASSWORD = "browser-pass-2024"


@pytest.fixture(scope="session")
def chromium():
    if not CHROMIUM.exists():
        pytest.fail("Debian's Chromium is not installed at /usr/bin/chromium: run `make chromium`.")
    from playwright.sync_api import sync_playwright

    with sync_playwright() as playwright:
        browser = playwright.chromium.launch(executable_path=str(CHROMIUM), args=CHROMIUM_ARGS, headless=True)
        yield browser
        browser.close()


@pytest.fixture
def new_page(chromium):
    """`new_page()` → a page in a fresh browser context (its own cookies), closed after the test."""
    contexts = []

    def _new_page():
        context = chromium.new_context(viewport=VIEWPORT, locale="zh-CN", timezone_id="Asia/Shanghai")
        context.set_default_timeout(10_000)
        contexts.append(context)
        return context.new_page()

    yield _new_page
    for context in contexts:
        context.close()


@pytest.fixture
def screenshot():
    SCREENSHOTS.mkdir(parents=True, exist_ok=True)

    def _screenshot(page, name: str, *, full_page: bool = True) -> Path:
        path = SCREENSHOTS / f"{name}.png"
        page.screenshot(path=str(path), full_page=full_page)
        return path

    return _screenshot


@pytest.fixture
def login_as(live_server):
    """Signs in through the login page, as a person would, and waits for the workbench's home page."""

    def _login_as(page, username: str, password: str = PASSWORD):
        page.goto(f"{live_server.url}/accounts/login/")
        page.get_by_label("用户名").fill(username)
        page.get_by_label("密码").fill(password)
        page.get_by_role("button", name="登录").click()
        page.wait_for_url(f"{live_server.url}/")
        return page

    return _login_as


@dataclass
class BrowserBank:
    branches: dict = field(default_factory=dict)
    operators: dict = field(default_factory=dict)
    customers: dict = field(default_factory=dict)


def _customer(owner: Operator, *, number: str, name: str, mobile: str, id_number: str, **values) -> Customer:
    return Customer.objects.create(
        customer_no=number,
        name=name,
        owner=owner,
        branch=owner.branch,
        **pii_columns(mobile=mobile, id_number=id_number),
        **values,
    )


@pytest.fixture
def browser_bank(transactional_db) -> BrowserBank:
    """Two 分行 with an operator each, a branch manager over the first, a head-office admin; customers for both."""
    bank = BrowserBank()
    head = branch_create(name="示范银行总行", level=Branch.Level.HEAD_OFFICE, wecom_department_id=1)
    hangzhou = branch_create(name="杭州分行", level=Branch.Level.BRANCH, parent=head, wecom_department_id=2)
    xihu = branch_create(name="西湖支行", level=Branch.Level.SUB_BRANCH, parent=hangzhou, wecom_department_id=3)
    wensan = branch_create(name="文三路网点", level=Branch.Level.OUTLET, parent=xihu, wecom_department_id=4)
    ningbo = branch_create(name="宁波分行", level=Branch.Level.BRANCH, parent=head, wecom_department_id=5)
    yinzhou = branch_create(name="鄞州支行", level=Branch.Level.SUB_BRANCH, parent=ningbo, wecom_department_id=6)
    bank.branches = {"head": head, "hangzhou": hangzhou, "xihu": xihu, "wensan": wensan, "ningbo": ningbo}

    people = {
        "operator": ("张晓明", wensan, Role.OPERATOR, "客户经理"),
        "operator_other": ("李文静", yinzhou, Role.OPERATOR, "客户经理"),
        "lead": ("陈思远", xihu, Role.TEAM_LEAD, "直营团队长"),
        "manager": ("王建国", hangzhou, Role.BRANCH_MANAGER, "分行零售部总经理"),
        "admin": ("刘海燕", head, Role.HEAD_OFFICE_ADMIN, "总行运营管理"),
    }
    for username, (name, branch, role, title) in people.items():
        bank.operators[username] = operator_create(
            name=name,
            branch=branch,
            role=role,
            wecom_userid=f"wx_{username}",
            username=username,
            password=PASSWORD,
            title=title,
        )
    admin_user = bank.operators["admin"].user
    admin_user.is_staff = True
    admin_user.save(update_fields=["is_staff"])

    operator, other = bank.operators["operator"], bank.operators["operator_other"]
    today = date.today()
    bank.customers["target"] = _customer(
        operator,
        number="HZ0000000101",
        name="周慧敏",
        mobile="13812345678",
        id_number="330106198805121234",
        gender=Customer.Gender.FEMALE,
        external_userid="wmHZ0101",
        unionid="oUnionHZ0101",
        aum=Decimal("386520.75"),
        payroll_employer="杭州海康智造有限公司",
        payday=15,
        birth_date=date(1988, 5, 12),
        occupation_group="white_collar",
        risk_level=3,
        last_transaction_date=today - timedelta(days=3),
    )
    fillers = [
        ("HZ0000000102", "周建华", "13900001111", "industrial_worker", Decimal("12800.00")),
        ("HZ0000000103", "吴桂芳", "13700002222", "retiree", Decimal("521000.00")),
        ("HZ0000000104", "孙志强", "15800003333", "white_collar", Decimal("86000.50")),
        ("HZ0000000105", "郑丽娟", "18600004444", "industrial_worker", Decimal("3200.00")),
    ]
    for number, name, mobile, group, aum in fillers:
        bank.customers[number] = _customer(
            operator,
            number=number,
            name=name,
            mobile=mobile,
            id_number=f"3301061970{number[-6:]}12",
            occupation_group=group,
            aum=aum,
            payroll_employer="杭州钢铁集团" if group == "industrial_worker" else "",
            last_transaction_date=today - timedelta(days=int(number[-2:])),
        )
    bank.customers["other_branch"] = _customer(
        other,
        number="NB0000000201",
        name="钱永康",
        mobile="13987654321",
        id_number="330204197003034321",
        occupation_group="retiree",
        aum=Decimal("1250000.00"),
    )

    target = bank.customers["target"]
    now = timezone.now()
    FollowRelationship.objects.create(
        customer=target,
        operator=operator,
        added_at=now - timedelta(days=40),
        add_way=AddWay.QR_CODE,
        state="hz_payroll",
    )
    FollowRelationship.objects.create(
        customer=target,
        operator=bank.operators["lead"],
        added_at=now - timedelta(days=90),
        add_way=AddWay.MOBILE_SEARCH,
        remark="代发客户",
        deleted_at=now - timedelta(days=41),
        deleted_by=FollowRelationship.DeletedBy.OPERATOR,
    )
    for number in ("HZ0000000102", "HZ0000000103"):
        FollowRelationship.objects.create(
            customer=bank.customers[number], operator=operator, added_at=now - timedelta(days=2), add_way=AddWay.QR_CODE
        )
    deposit = Product.objects.create(code="DEP-3Y", name="三年期大额存单", category="deposit", term_days=1095)
    wealth = Product.objects.create(code="WM-180", name="稳享180天理财", category="wealth", risk_level=2, term_days=180)
    ProductHolding.objects.create(
        customer=target,
        product=deposit,
        amount=Decimal("200000.00"),
        opened_on=today - timedelta(days=400),
        maturity_date=today + timedelta(days=695),
    )
    ProductHolding.objects.create(
        customer=target,
        product=wealth,
        amount=Decimal("150000.00"),
        opened_on=today - timedelta(days=100),
        maturity_date=today + timedelta(days=80),
    )
    CustomerEvent.objects.create(
        customer=target,
        occurred_at=now - timedelta(days=3),
        kind=CustomerEvent.Kind.TRANSACTION,
        summary="代发工资入账 12,600.00 元",
    )
    CustomerEvent.objects.create(
        customer=target,
        occurred_at=now - timedelta(days=1),
        kind=CustomerEvent.Kind.NOTE,
        summary="电话回访：对稳享理财到期续作有意向",
        operator=operator,
    )
    return bank
