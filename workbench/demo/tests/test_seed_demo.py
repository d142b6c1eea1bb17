"""seed_demo on PostgreSQL: the personas, the shape of the bank, PII at rest, and the COPY path's bookkeeping.

One small bank is built per module (the read-only checks share it); the tests that rebuild the bank run last
and in their own transactions.
"""

import io
import json
import re
from datetime import date

import pytest
from django.contrib.auth import get_user_model
from django.core.management import CommandError, call_command
from django.db import connection
from django.db.models import Count, F, Q
from django.test import Client
from django.urls import reverse

from tagging.models import Customer, CustomerEvent, FollowRelationship, Product, ProductHolding
from workbench import pii
from workbench.demo import load
from workbench.demo.customers import id_number_check
from workbench.org.models import Branch, Operator
from workbench.org.roles import Role

CUSTOMERS, OPERATORS, SEED = 300, 20, 7
MOBILE = re.compile(r"1[3-9]\d{9}")
BULK_TABLES = [model._meta.db_table for model in (Customer, FollowRelationship, ProductHolding, CustomerEvent)]


def seed(**options) -> dict:
    out = io.StringIO()
    options = {"customers": CUSTOMERS, "operators": OPERATORS, "seed": SEED, "reset": True} | options
    call_command("seed_demo", stdout=out, stderr=io.StringIO(), **options)
    return json.loads(out.getvalue().strip().splitlines()[-1])


def schema() -> set[tuple]:
    """Every index and constraint of the bulk-loaded tables, as PostgreSQL reports them."""
    with connection.cursor() as cursor:
        cursor.execute("SELECT tablename, indexdef FROM pg_indexes WHERE tablename = ANY(%s)", [BULK_TABLES])
        indexes = set(cursor.fetchall())
        cursor.execute(
            "SELECT conrelid::regclass::text, conname, pg_get_constraintdef(oid), convalidated FROM pg_constraint "
            "WHERE conrelid::regclass::text = ANY(%s)",
            [BULK_TABLES],
        )
        return indexes | set(cursor.fetchall())


@pytest.fixture(scope="module")
def demo(django_db_setup, django_db_blocker):
    with django_db_blocker.unblock():
        before = schema()
        summary = seed()
        yield {"summary": summary, "schema_before": before}
        load.reset()


def _fen(branch: Branch) -> str:
    """The 分行 a branch belongs to: the second id of its materialised path."""
    return branch.path.split("/")[2]


@pytest.mark.django_db
def test_summary_counts_match_the_database(demo):
    summary = demo["summary"]
    assert summary["customers"] == Customer.objects.count() == CUSTOMERS
    assert summary["operators"] == Operator.objects.count() == OPERATORS
    assert summary["follows"] == FollowRelationship.objects.count()
    assert summary["holdings"] == ProductHolding.objects.count()
    assert summary["events"] == CustomerEvent.objects.count() > 0
    assert 1.0 <= summary["follows"] / CUSTOMERS <= 1.3
    assert 0.7 <= summary["holdings"] / CUSTOMERS <= 1.6
    assert Product.objects.filter(category="wealth", term_days__isnull=False).count() >= 3


@pytest.mark.django_db
def test_indexes_and_constraints_are_rebuilt_exactly(demo):
    assert schema() == demo["schema_before"]


@pytest.mark.django_db
def test_personas_have_their_roles_places_and_password(demo):
    expected = {
        "admin": (Role.HEAD_OFFICE_ADMIN, Branch.Level.HEAD_OFFICE),
        "manager": (Role.BRANCH_MANAGER, Branch.Level.BRANCH),
        "lead": (Role.TEAM_LEAD, Branch.Level.SUB_BRANCH),
        "operator": (Role.OPERATOR, Branch.Level.OUTLET),
        "operator2": (Role.OPERATOR, Branch.Level.OUTLET),
        "reviewer": (Role.COMPLIANCE_REVIEWER, Branch.Level.HEAD_OFFICE),
    }
    operators = {}
    for username, (role, level) in expected.items():
        op = Operator.objects.select_related("branch", "user").get(user__username=username)
        assert (op.role, op.branch.level, op.status) == (role, level, Operator.Status.ACTIVE)
        client = Client()
        response = client.post(reverse("login"), {"username": username, "password": "demo12345"})
        assert response.status_code == 302 and "_auth_user_id" in client.session, username
        operators[username] = op
    assert operators["admin"].user.is_staff and not operators["admin"].user.is_superuser
    assert not operators["operator"].user.is_staff
    # manager ⊃ lead ⊃ operator; operator2 in another 分行.
    assert operators["lead"].branch.path.startswith(operators["manager"].branch.path)
    assert operators["operator"].branch.path.startswith(operators["lead"].branch.path)
    assert _fen(operators["operator"].branch) != _fen(operators["operator2"].branch)
    for username in ("operator", "operator2"):
        assert Customer.objects.filter(owner=operators[username]).count() >= 10


@pytest.mark.django_db
def test_bulk_operators_have_no_login_and_some_resigned(demo):
    assert get_user_model().objects.count() == 6
    assert Operator.objects.filter(user__isnull=True).count() == OPERATORS - 6
    userids = list(Operator.objects.values_list("wecom_userid", flat=True))
    assert all(re.fullmatch(r"[a-z]+\d{2}", userid) for userid in userids)
    resigned = Operator.objects.filter(status=Operator.Status.RESIGNED)
    assert not resigned.filter(resigned_at__isnull=True).exists()


@pytest.mark.django_db
def test_every_customer_sits_on_its_owners_branch(demo):
    assert not Customer.objects.filter(Q(owner__isnull=True) | Q(branch__isnull=True)).exists()
    assert not Customer.objects.exclude(branch_id=F("owner__branch_id")).exists()


@pytest.mark.django_db
def test_pii_is_ciphertext_with_consistent_lookup_columns(demo):
    with connection.cursor() as cursor:
        cursor.execute(
            "SELECT mobile, mobile_masked, mobile_last4, mobile_hash, id_number, id_number_masked, id_number_hash, "
            "birth_date, gender FROM tagging_customer"
        )
        rows = cursor.fetchall()
    assert len(rows) == CUSTOMERS
    for raw_mobile, masked, last4, mobile_hash, raw_id, id_masked, id_hash, birth, gender in rows:
        mobile, id_number = pii.decrypt(raw_mobile), pii.decrypt(raw_id)
        assert raw_mobile.startswith("gAAAAA") and mobile not in raw_mobile
        assert raw_id.startswith("gAAAAA") and id_number not in raw_id
        assert MOBILE.fullmatch(mobile)
        assert (masked, last4, mobile_hash) == (pii.mask_mobile(mobile), mobile[-4:], pii.lookup_hash(mobile))
        assert (id_masked, id_hash) == (pii.mask_id_number(id_number), pii.lookup_hash(id_number))
        assert len(id_number) == 18 and id_number[-1] == id_number_check(id_number[:17])
        assert id_number[6:14] == birth.strftime("%Y%m%d")
        assert gender == ("M" if int(id_number[16]) % 2 else "F")
    # The model reads plaintext back through the encrypted field.
    customer = Customer.objects.order_by("pk").first()
    assert MOBILE.fullmatch(customer.mobile)


@pytest.mark.django_db
def test_ids_are_dense_and_identifiers_unique(demo):
    ids = list(Customer.objects.order_by("pk").values_list("pk", flat=True))
    assert ids == list(range(1, CUSTOMERS + 1))
    for column in ("customer_no", "external_userid", "unionid"):
        values = [v for v in Customer.objects.values_list(column, flat=True) if v is not None]
        assert len(values) == len(set(values)), column
    assert Customer.objects.filter(external_userid__isnull=False).count() > CUSTOMERS * 0.8
    assert all(re.fullmatch(r"C\d{10}", no) for no in Customer.objects.values_list("customer_no", flat=True))
    # The sequence continues after the loaded ids.
    owner = Operator.objects.filter(role=Role.OPERATOR).first()
    extra = Customer.objects.create(customer_no="CNEW", name="新客户", owner=owner, branch=owner.branch)
    assert extra.pk == CUSTOMERS + 1


@pytest.mark.django_db
def test_master_data_is_plausible(demo):
    today = date.today()
    retirees = Customer.objects.filter(occupation_group="retiree")
    assert retirees.exists()
    assert all((today - born).days >= 60 * 365 for born in retirees.values_list("birth_date", flat=True))
    assert not Customer.objects.filter(aum__lt=0).exists()
    assert not Customer.objects.filter(Q(payday__lt=1) | Q(payday__gt=31)).exists()
    assert Customer.objects.filter(payroll_employer__gt="", payday__isnull=False).exists()
    groups = dict(Customer.objects.values_list("occupation_group").annotate(n=Count("pk")))
    assert set(groups) == {"white_collar", "industrial_worker", "retiree", "other"}


@pytest.mark.django_db
def test_follows_and_holdings_respect_their_rules(demo):
    live_pairs = FollowRelationship.objects.filter(deleted_at__isnull=True).values("customer", "operator")
    assert not live_pairs.annotate(n=Count("pk")).filter(n__gt=1).exists()
    deleted = FollowRelationship.objects.filter(deleted_at__isnull=False)
    assert deleted.exists()
    assert not deleted.filter(deleted_by="").exists()
    assert not deleted.filter(deleted_at__lt=F("added_at")).exists()
    assert not FollowRelationship.objects.filter(customer__external_userid__isnull=True).exists()
    termed = ProductHolding.objects.filter(product__term_days__isnull=False)
    assert termed.exists() and not termed.filter(maturity_date__isnull=True).exists()
    assert not ProductHolding.objects.filter(maturity_date__lt=F("opened_on")).exists()


@pytest.mark.django_db
def test_refuses_to_seed_over_an_existing_bank(demo):
    with pytest.raises(CommandError, match="--reset"):
        call_command("seed_demo", customers=10, operators=OPERATORS, stdout=io.StringIO(), stderr=io.StringIO())


def _fingerprint() -> list[tuple]:
    customers = Customer.objects.order_by("pk").values_list(
        "pk", "customer_no", "name", "owner_id", "aum", "birth_date", "external_userid", "occupation_group"
    )
    mobiles = [c.mobile for c in Customer.objects.order_by("pk").only("mobile")]
    follows = FollowRelationship.objects.order_by("customer_id", "operator_id", "added_at").values_list(
        "customer_id", "operator_id", "added_at", "add_way", "state", "deleted_at"
    )
    holdings = ProductHolding.objects.order_by("customer_id", "product__code").values_list(
        "customer_id", "product__code", "amount", "maturity_date"
    )
    return [*customers, *mobiles, *follows, *holdings]


@pytest.mark.django_db(transaction=True)
def test_reset_twice_gives_the_same_bank_and_the_seed_decides_it():
    first = seed()
    fingerprint = _fingerprint()
    again = seed()
    assert {k: v for k, v in again.items() if k != "seconds"} == {k: v for k, v in first.items() if k != "seconds"}
    assert _fingerprint() == fingerprint
    assert get_user_model().objects.count() == 6  # the personas were replaced, not duplicated
    # What was built on the first bank went with it: the starter playbooks are the new admin's, not orphans.
    from campaigns.playbooks.models import Playbook

    authors = set(Playbook.objects.values_list("created_by__username", flat=True))
    assert Playbook.objects.count() == 4 and authors == {"admin"}
    other = seed(seed=SEED + 1)
    assert other["customers"] == CUSTOMERS
    assert _fingerprint() != fingerprint


@pytest.mark.django_db(transaction=True)
def test_reset_keeps_superusers_and_refuses_to_take_their_names():
    get_user_model().objects.create_superuser("root", password="x-secret-x")
    seed(customers=20)
    assert get_user_model().objects.filter(username="root", is_superuser=True).exists()
    assert Customer.objects.count() == 20

    get_user_model().objects.filter(username="operator").update(is_superuser=True)  # now it survives --reset
    with pytest.raises(CommandError, match="operator already exist"):
        seed(customers=20)
