"""Persona users and a small two-branch bank, built through the real services for every test that asks.

    示范银行总行 (head office: admin, reviewer)
    ├── 甲分行 (manager_a)                      └── 乙分行 (manager_b)
    │   └── 甲支行 (lead_a)                          └── 乙支行 (lead_b)
    │       └── 甲网点 (operator_a, operator_a2,         └── 乙网点 (operator_b)
    │                   resigned)

Customers (keys of `bank.customers`):

- a_own        owned by operator_a
- a_followed   owned by operator_a2, operator_a follows it now      → operator_a sees it
- a_unfollowed owned by operator_a2, operator_a's follow was deleted → operator_a does not
- a_branch     owned by manager_a (so it sits on 甲分行 itself, above 甲支行)
- b_own        owned by operator_b: the customer branch A must never see
- b_shared     owned by operator_b, operator_a follows it now       → operator_a sees it (the "self" rule)
- unowned      no owner, no branch: only whole-bank roles see it

Plus `nobody` (a login with no operator profile) and `superuser` (no profile, is_superuser).
"""

import os
from dataclasses import dataclass, field
from pathlib import Path

import pytest
from django.conf import settings
from django.core.cache import cache
from django.test import Client
from django.utils import timezone
from rest_framework.authtoken.models import Token
from rest_framework.test import APIClient

from tagging.models import FollowRelationship
from tests.factories import PASSWORD, BranchFactory, CustomerFactory, FollowFactory, OperatorFactory, UserFactory
from workbench.org.models import Branch
from workbench.org.roles import Role
from workbench.org.services import operator_resign

PERSONAS = [
    "operator_a",
    "operator_a2",
    "operator_b",
    "lead_a",
    "lead_b",
    "manager_a",
    "manager_b",
    "admin",
    "reviewer",
    "resigned",
    "nobody",
    "superuser",
]


@dataclass
class Bank:
    head: Branch
    branch_a: Branch
    sub_a: Branch
    outlet_a: Branch
    branch_b: Branch
    sub_b: Branch
    outlet_b: Branch
    operators: dict = field(default_factory=dict)
    users: dict = field(default_factory=dict)
    customers: dict = field(default_factory=dict)

    def user(self, persona: str):
        return self.users[persona]

    @property
    def branches(self) -> list[Branch]:
        return [self.head, self.branch_a, self.sub_a, self.outlet_a, self.branch_b, self.sub_b, self.outlet_b]


def _isolate_cache() -> None:
    """One key prefix per test process: xdist workers (and anyone else's run) share the Redis database, and
    cached figures keyed by branch path or user id would otherwise leak between different test databases."""
    worker = os.environ.get("PYTEST_XDIST_WORKER", "main")
    settings.CACHES["default"]["KEY_PREFIX"] = f"test-{worker}-{os.getpid()}"


_isolate_cache()


def _clear_cache() -> None:
    """Forget throttle counters and cached values between tests.

    Only the cache's own keys go: the Redis database is shared with the Celery broker (and with the other
    xdist worker), so FLUSHDB would drop queued messages under a running worker.
    """
    backend = cache._cache if hasattr(cache, "_cache") else None
    client = getattr(backend, "get_client", None)
    if client is None:
        cache.clear()
        return
    redis = client(write=True)
    keys = list(redis.scan_iter(match=cache.make_key("*"), count=1000))
    if keys:
        redis.delete(*keys)


@pytest.fixture(autouse=True, scope="session")
def _static_root():
    """WhiteNoise warns on every request when STATIC_ROOT does not exist; the suite needs no collected files."""
    Path(settings.STATIC_ROOT).mkdir(parents=True, exist_ok=True)
    assert cache.key_prefix == settings.CACHES["default"]["KEY_PREFIX"], "the cache was built before conftest ran"


@pytest.fixture(autouse=True)
def _fresh_cache():
    _clear_cache()
    yield


@pytest.fixture
def export_root(settings, tmp_path):
    settings.EXPORT_ROOT = tmp_path / "exports"
    return settings.EXPORT_ROOT


@pytest.fixture
def import_root(settings, tmp_path):
    settings.IMPORT_ROOT = tmp_path / "imports"
    return settings.IMPORT_ROOT


def build_bank() -> Bank:
    head = BranchFactory(name="示范银行总行", level=Branch.Level.HEAD_OFFICE)
    branch_a = BranchFactory(name="甲分行", level=Branch.Level.BRANCH, parent=head)
    sub_a = BranchFactory(name="甲支行", level=Branch.Level.SUB_BRANCH, parent=branch_a)
    outlet_a = BranchFactory(name="甲网点", level=Branch.Level.OUTLET, parent=sub_a)
    branch_b = BranchFactory(name="乙分行", level=Branch.Level.BRANCH, parent=head)
    sub_b = BranchFactory(name="乙支行", level=Branch.Level.SUB_BRANCH, parent=branch_b)
    outlet_b = BranchFactory(name="乙网点", level=Branch.Level.OUTLET, parent=sub_b)
    bank = Bank(head, branch_a, sub_a, outlet_a, branch_b, sub_b, outlet_b)

    people = {
        "operator_a": ("赵甲", outlet_a, Role.OPERATOR),
        "operator_a2": ("钱甲", outlet_a, Role.OPERATOR),
        "operator_b": ("孙乙", outlet_b, Role.OPERATOR),
        "lead_a": ("李组长", sub_a, Role.TEAM_LEAD),
        "lead_b": ("周组长", sub_b, Role.TEAM_LEAD),
        "manager_a": ("吴行长", branch_a, Role.BRANCH_MANAGER),
        "manager_b": ("郑行长", branch_b, Role.BRANCH_MANAGER),
        "admin": ("王总", head, Role.HEAD_OFFICE_ADMIN),
        "reviewer": ("冯合规", head, Role.COMPLIANCE_REVIEWER),
        "resigned": ("陈离职", outlet_a, Role.OPERATOR),
    }
    for persona, (name, branch, role) in people.items():
        operator = OperatorFactory(name=name, branch=branch, role=role, username=persona, wecom_userid=persona)
        bank.operators[persona] = operator
        bank.users[persona] = operator.user
    admin_user = bank.users["admin"]
    admin_user.is_staff = True
    admin_user.save(update_fields=["is_staff"])
    operator_resign(operator=bank.operators["resigned"])
    bank.users["nobody"] = UserFactory(username="nobody")
    bank.users["superuser"] = UserFactory(username="superuser", is_superuser=True, is_staff=True)

    ops = bank.operators
    bank.customers = {
        "a_own": CustomerFactory(
            owner=ops["operator_a"], name="甲客户壹", customer_no="CA0000000001", mobile="13812345678"
        ),
        "a_followed": CustomerFactory(owner=ops["operator_a2"], name="甲客户贰", customer_no="CA0000000002"),
        "a_unfollowed": CustomerFactory(owner=ops["operator_a2"], name="甲客户叁", customer_no="CA0000000003"),
        "a_branch": CustomerFactory(owner=ops["manager_a"], name="甲客户肆", customer_no="CA0000000004"),
        "b_own": CustomerFactory(
            owner=ops["operator_b"],
            name="乙客户壹",
            customer_no="CB0000000001",
            mobile="13987654321",
            external_userid="wmBOWN0001",
            occupation_group="retiree",
            aum=250000,
        ),
        "b_shared": CustomerFactory(owner=ops["operator_b"], name="乙客户贰", customer_no="CB0000000002"),
        "unowned": CustomerFactory(owner=None, name="无主客户", customer_no="CX0000000001"),
    }
    customers = bank.customers
    FollowFactory(customer=customers["a_followed"], operator=ops["operator_a"])
    FollowFactory(
        customer=customers["a_unfollowed"],
        operator=ops["operator_a"],
        deleted_at=timezone.now(),
        deleted_by=FollowRelationship.DeletedBy.CUSTOMER,
    )
    FollowFactory(customer=customers["b_shared"], operator=ops["operator_a"])
    for key in ("a_own", "a_followed", "a_unfollowed"):
        owner = customers[key].owner
        FollowFactory(customer=customers[key], operator=owner)
    return bank


@pytest.fixture
def bank(db) -> Bank:
    return build_bank()


@pytest.fixture
def login(bank):
    """`login("manager_a")` → a Django test client logged in as that persona."""

    def _login(persona: str, **client_kwargs) -> Client:
        client = Client(**client_kwargs)
        client.force_login(bank.user(persona))
        return client

    return _login


@pytest.fixture
def api_as(bank):
    """`api_as("operator_a")` → a DRF APIClient sending that persona's token."""

    def _api_as(persona: str) -> APIClient:
        token, _created = Token.objects.get_or_create(user=bank.user(persona))
        client = APIClient()
        client.credentials(HTTP_AUTHORIZATION=f"Token {token.key}")
        return client

    return _api_as


__all__ = ["PASSWORD", "PERSONAS", "Bank", "build_bank"]
