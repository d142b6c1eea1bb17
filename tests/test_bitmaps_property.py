"""Property: on generated data and generated conditions, the bitmap evaluation equals the SQL evaluation.

Each example writes a small bank's customers (attributes near every edge the evaluation cares about: AUM band
edges ± 1 fen, dates around leap days and local midnight, NULLs everywhere they are allowed), their tags, products,
follows, timeline events and tag changes; builds the bitmaps (leaving one tag unbuilt, so the SQL fallback is
exercised); then compares, for several conditions of nested all/any/none groups, the bitmap result with
`Customer.objects.filter(compile_q(condition))` — and the branch-scoped count with the scope selector's.
"""

import datetime as dt
from decimal import Decimal

import pytest
from django.utils import timezone
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

from tagging.models import (
    Customer,
    CustomerEvent,
    CustomerTag,
    FollowRelationship,
    OccupationGroup,
    Product,
    ProductCategory,
    ProductHolding,
    Tag,
    TagChange,
    TagGroup,
    TagSource,
)
from tagging.segments import bitmaps
from tagging.segments import conditions as lang
from tagging.segments.models import BitmapFamily, BitmapVersion
from tagging.segments.selectors import segment_count
from tests.factories import BranchFactory, OperatorFactory
from workbench.org.models import Branch
from workbench.org.roles import Role
from workbench.org.scope import visible_customers

pytestmark = pytest.mark.django_db

TODAYS = [
    dt.date(2024, 2, 28),
    dt.date(2024, 2, 29),
    dt.date(2025, 2, 28),
    dt.date(2024, 12, 31),
    dt.date(2025, 1, 1),
    dt.date(2024, 4, 30),
    dt.date(2025, 3, 1),
    dt.date(2026, 6, 15),
]
AUM_POOL = [Decimal(str(edge)) for edge in bitmaps.AUM_BANDS] + [
    Decimal(str(edge)) + delta for edge in bitmaps.AUM_BANDS for delta in (Decimal("0.01"), Decimal("-0.01"))
]
AUM_POOL = sorted({value for value in AUM_POOL if value >= 0} | {Decimal("123456.78"), Decimal("7.5")})
OCCUPATIONS = [value for value, _label in OccupationGroup.choices] + [""]

# --- the small bank every example shares -----------------------------------------------------------------------


@pytest.fixture
def org(db):
    head = BranchFactory(name="总行", level=Branch.Level.HEAD_OFFICE)
    a = BranchFactory(name="甲分行", level=Branch.Level.BRANCH, parent=head)
    a1 = BranchFactory(name="甲支行", level=Branch.Level.SUB_BRANCH, parent=a)
    b = BranchFactory(name="乙分行", level=Branch.Level.BRANCH, parent=head)
    operators = [
        OperatorFactory(branch=a1, role=Role.OPERATOR),
        OperatorFactory(branch=a, role=Role.BRANCH_MANAGER),
        OperatorFactory(branch=b, role=Role.OPERATOR),
    ]
    group = TagGroup.objects.create(name="测试组")
    tags = [Tag.objects.create(group=group, name=f"标签{i}", kind=Tag.Kind.RULE) for i in range(4)]
    products = [
        Product.objects.create(code=f"P{i}", name=f"产品{i}", category=category)
        for i, category in enumerate([ProductCategory.DEPOSIT, ProductCategory.WEALTH, ProductCategory.FUND])
    ]
    return {"branches": [head, a, a1, b], "operators": operators, "tags": tags, "products": products}


# --- generated data --------------------------------------------------------------------------------------------

# Days relative to today, crowded near the edges conditions use, so that "on the boundary" happens often.
offsets = st.one_of(st.integers(-12, 3), st.sampled_from([-800, -400, -367, -366, -365, -364, -31, -30, -29]))
windows = st.one_of(st.integers(0, 12), st.sampled_from([29, 30, 31, 364, 365, 366, 400]))
ages = st.sampled_from([0, 1, 17, 18, 19, 59, 60, 61, 90])
maybe = st.one_of(st.none(), offsets)
customer_rows = st.fixed_dictionaries(
    {
        "aum": st.sampled_from(AUM_POOL),
        "occupation_group": st.sampled_from(OCCUPATIONS),
        "gender": st.sampled_from(["U", "M", "F"]),
        "risk_level": st.one_of(st.none(), st.integers(1, 5)),
        "payday": st.one_of(st.none(), st.integers(1, 31)),
        "payroll": st.booleans(),
        # a birth date: years back plus a day offset, so birthdays land around today and 29 February
        "birth": st.one_of(st.none(), st.tuples(ages, st.integers(-3, 3))),
        "born_leap_day": st.booleans(),
        "last_txn": maybe,
        "created": st.tuples(offsets, st.sampled_from([(0, 0), (0, 1), (23, 59), (12, 0)])),
        "branch_owner": st.integers(0, 4),  # 0–2 an operator (branch = theirs); 3 no owner; 4 no owner, a branch
        "tags": st.lists(st.integers(0, 3), max_size=3, unique=True),
        "pinned": st.booleans(),
        "holdings": st.lists(
            st.tuples(st.integers(0, 2), st.sampled_from(AUM_POOL[:12]), st.one_of(st.none(), st.integers(-5, 60))),
            max_size=2,
            unique_by=lambda holding: holding[0],
        ),
        "follows": st.lists(
            st.tuples(st.integers(0, 2), offsets, st.one_of(st.none(), st.sampled_from(["customer", "operator"]))),
            max_size=2,
        ),  # fmt: skip
        "events": st.lists(st.tuples(st.sampled_from(["note", "transaction"]), offsets), max_size=2),
        "changes": st.lists(st.tuples(st.integers(0, 3), st.sampled_from(["added", "removed"]), offsets), max_size=2),
    }
)


def _birth_date(row, today: dt.date):
    if row["birth"] is None:
        return None
    years, days = row["birth"]
    if row["born_leap_day"]:
        leap_years = [year for year in range(today.year - years - 4, today.year - years + 1) if year % 4 == 0]
        return dt.date(leap_years[-1], 2, 29)
    return lang.years_before(today, years) + dt.timedelta(days=days)


def _local(day: dt.date, hour=10, minute=0) -> dt.datetime:
    return timezone.make_aware(dt.datetime.combine(day, dt.time(hour, minute)), timezone.get_current_timezone())


def write_bank(org, rows: list[dict], today: dt.date) -> list[Customer]:
    BitmapFamily.objects.all().delete()
    BitmapVersion.objects.all().delete()
    Customer.objects.all().delete()
    operators, branches, tags, products = org["operators"], org["branches"], org["tags"], org["products"]
    customers = []
    for index, row in enumerate(rows):
        owner = operators[row["branch_owner"]] if row["branch_owner"] < 3 else None
        branch = owner.branch if owner else (branches[3] if row["branch_owner"] == 4 else None)
        customers.append(
            Customer(
                customer_no=f"P{index:08d}",
                name=f"客户{index}",
                owner=owner,
                branch=branch,
                aum=row["aum"],
                occupation_group=row["occupation_group"],
                gender=row["gender"],
                risk_level=row["risk_level"],
                payday=row["payday"],
                payroll_employer="某公司" if row["payroll"] else "",
                birth_date=_birth_date(row, today),
                last_transaction_date=None if row["last_txn"] is None else today + dt.timedelta(days=row["last_txn"]),
            )
        )
    customers = Customer.objects.bulk_create(customers)
    member_rows, holding_rows, follow_rows, event_rows, change_rows = [], [], [], [], []
    for customer, row in zip(customers, rows, strict=True):
        offset, (hour, minute) = row["created"]
        Customer.objects.filter(pk=customer.pk).update(
            created_at=_local(today + dt.timedelta(days=offset), hour, minute)
        )
        for tag_index in row["tags"]:
            member_rows.append(
                CustomerTag(customer=customer, tag=tags[tag_index], source=TagSource.RULE, pinned=row["pinned"])
            )
        for product_index, amount, maturity in row["holdings"]:
            holding_rows.append(
                ProductHolding(
                    customer=customer,
                    product=products[product_index],
                    amount=amount,
                    opened_on=today - dt.timedelta(days=100),
                    maturity_date=None if maturity is None else today + dt.timedelta(days=maturity),
                )
            )
        live_operators = set()
        for operator_index, added, deleted_by in row["follows"]:
            live = deleted_by is None and operator_index not in live_operators
            if live:
                live_operators.add(operator_index)
            follow_rows.append(
                FollowRelationship(
                    customer=customer,
                    operator=operators[operator_index],
                    added_at=_local(today + dt.timedelta(days=added), 0, 0),
                    deleted_at=None if live else _local(today + dt.timedelta(days=added), 23, 59),
                    deleted_by="" if live else (deleted_by or "operator"),
                )
            )
        for kind, at in row["events"]:
            event_rows.append(
                CustomerEvent(customer=customer, kind=kind, summary="-", occurred_at=_local(today + dt.timedelta(at)))
            )
        for tag_index, action, at in row["changes"]:
            change_rows.append((customer, tags[tag_index], action, _local(today + dt.timedelta(days=at), 0, 0)))
    CustomerTag.objects.bulk_create(member_rows)
    ProductHolding.objects.bulk_create(holding_rows)
    FollowRelationship.objects.bulk_create(follow_rows)
    CustomerEvent.objects.bulk_create(event_rows)
    for customer, tag, action, at in change_rows:
        change = TagChange.objects.create(customer=customer, tag=tag, action=action, source=TagSource.RULE)
        TagChange.objects.filter(pk=change.pk).update(at=at)
    return customers


# --- generated conditions (indexes into the bank, mapped to ids by `materialise`) ------------------------------

days_small = st.integers(0, 40)


def _leaf(field, op, value):
    return {"field": field, "op": op, "value": value}


leaves = st.one_of(
    st.builds(lambda op, v: _leaf("aum", op, str(v)), st.sampled_from(["gte", "lte"]), st.sampled_from(AUM_POOL)),
    st.builds(
        lambda a, b: _leaf("aum", "between", [str(min(a, b)), str(max(a, b))]),
        st.sampled_from(AUM_POOL),
        st.sampled_from(AUM_POOL),
    ),
    st.builds(
        lambda op, values: _leaf("occupation_group", op, values),
        st.sampled_from(["in", "not_in"]),
        st.lists(st.sampled_from(OCCUPATIONS[:-1]), min_size=1, max_size=2, unique=True),
    ),
    st.builds(
        lambda op, values: _leaf("gender", op, values),
        st.sampled_from(["in", "not_in"]),
        st.lists(st.sampled_from(["U", "M", "F"]), min_size=1, unique=True),
    ),
    st.builds(
        lambda op, values: {"field": "risk_level", "op": op, "value": values}
        if op != "is_empty"
        else {"field": "risk_level", "op": op},
        st.sampled_from(["in", "not_in", "is_empty"]),
        st.lists(st.integers(1, 5), min_size=1, max_size=3, unique=True),
    ),
    st.builds(lambda op: {"field": "payroll", "op": op}, st.sampled_from(["is_set", "is_empty"])),
    st.builds(lambda n: _leaf("payday", "in_days", n), st.integers(0, 31)),
    st.builds(lambda days: _leaf("payday", "in", days), st.lists(st.integers(1, 31), min_size=1, max_size=4)),
    st.just({"field": "payday", "op": "is_empty"}),
    st.builds(lambda op, n: _leaf("age", op, n), st.sampled_from(["gte", "lte"]), ages),
    st.builds(lambda a, b: _leaf("age", "between", [min(a, b), max(a, b)]), ages, ages),
    st.builds(
        lambda n: _leaf("birthday", "within_next_days", n),
        st.one_of(st.integers(0, 5), st.sampled_from([30, 365, 366])),
    ),
    st.builds(
        lambda field, op, n: _leaf(field, op, n),
        st.sampled_from(["last_transaction_date", "created_at"]),
        st.sampled_from(["within_days", "before_days"]),
        windows,
    ),
    st.builds(
        lambda field, op, offset: ("date", field, op, offset),
        st.sampled_from(["last_transaction_date", "created_at"]),
        st.sampled_from(["on_or_after", "before"]),
        offsets,
    ),
    st.just({"field": "last_transaction_date", "op": "is_empty"}),
    st.builds(
        lambda op, idx: ("branch", op, idx),
        st.sampled_from(["in_subtree", "not_in_subtree"]),
        st.lists(st.integers(0, 3), min_size=1, max_size=2, unique=True),
    ),
    st.builds(
        lambda op, idx: ("owner", op, idx),
        st.sampled_from(["in", "not_in", "is_empty"]),
        st.lists(st.integers(0, 2), min_size=1, max_size=2, unique=True),
    ),
    st.builds(lambda op: {"field": "wecom", "op": op}, st.sampled_from(["is_set", "is_empty"])),
    st.builds(
        lambda op, idx: ("tag", op, idx),
        st.sampled_from(["has_any", "has_all", "has_none"]),
        st.lists(st.integers(0, 3), min_size=1, max_size=3, unique=True),
    ),
    st.builds(
        lambda op, category, amount, maturity: _leaf(
            "product",
            op,
            {"category": category, "min_amount": amount, "maturity_within_days": maturity},
        ),
        st.sampled_from(["holds", "not_holds"]),
        st.sampled_from(["", "deposit", "wealth", "fund", "loan"]),
        st.one_of(st.just(""), st.sampled_from([str(v) for v in AUM_POOL[:12]])),
        st.one_of(st.none(), st.integers(0, 60)),
    ),
    st.builds(
        lambda op, source, days, count, tag: ("behaviour", op, source, days, count, tag),
        st.sampled_from(["at_least", "fewer_than"]),
        st.sampled_from(
            ["follow_added", "follow_deleted", "follow_deleted_by_customer", "event:note", "tag_added", "tag_removed"]
        ),
        st.one_of(st.integers(1, 14), st.sampled_from([30, 365])),
        st.integers(1, 2),
        st.one_of(st.none(), st.integers(0, 3)),
    ),
)

matches = st.sampled_from(lang.MATCHES)
trees = st.recursive(
    leaves,
    lambda children: st.builds(
        lambda match, rules: {"match": match, "rules": rules}, matches, st.lists(children, min_size=1, max_size=3)
    ),
    max_leaves=6,
)
conditions_ = st.builds(
    lambda match, rules: {"match": match, "rules": rules}, matches, st.lists(trees, min_size=1, max_size=3)
)


def materialise(node, org, today):
    """Turn index placeholders into the bank's ids and relative dates into dates."""
    if isinstance(node, dict) and "match" in node:
        return {"match": node["match"], "rules": [materialise(child, org, today) for child in node["rules"]]}
    if isinstance(node, tuple):
        kind = node[0]
        if kind == "date":
            _, field, op, offset = node
            return _leaf(field, op, (today + dt.timedelta(days=offset)).isoformat())
        if kind == "branch":
            return _leaf("branch", node[1], [org["branches"][i].pk for i in node[2]])
        if kind == "owner":
            if node[1] == "is_empty":
                return {"field": "owner", "op": "is_empty"}
            return _leaf("owner", node[1], [org["operators"][i].pk for i in node[2]])
        if kind == "tag":
            return _leaf("tag", node[1], [org["tags"][i].pk for i in node[2]])
        if kind == "behaviour":
            _, op, source, days, count, tag = node
            value = {"source": source, "days": days, "count": count}
            if tag is not None and source.startswith("tag_"):
                value["tag"] = org["tags"][tag].pk
            return _leaf("behaviour", op, value)
    return node


@settings(
    max_examples=50,
    deadline=None,
    database=None,  # no .hypothesis/ example database in the checkout
    suppress_health_check=[HealthCheck.function_scoped_fixture, HealthCheck.too_slow, HealthCheck.data_too_large],
)
@given(
    rows=st.lists(customer_rows, min_size=0, max_size=30),
    today=st.sampled_from(TODAYS),
    conditions=st.lists(conditions_, min_size=1, max_size=4),
    unbuilt_tag=st.one_of(st.none(), st.integers(0, 3)),
)
def test_bitmap_evaluation_equals_sql(org, rows, today, conditions, unbuilt_tag):
    write_bank(org, rows, today)
    bitmaps.bitmaps_rebuild_attributes()
    tag_ids = [tag.pk for i, tag in enumerate(org["tags"]) if i != unbuilt_tag]
    bitmaps.bitmaps_rebuild_tags(tag_ids)
    manager = org["operators"][1].user  # branch manager of 甲分行: the subtree 甲分行 + 甲支行
    for generated in conditions:
        condition = lang.validate(materialise(generated, org, today))
        # The whole tree, and each of its rows alone (so every row's edge cases are compared, not only those
        # that survive the tree's combination).
        for tree in [
            condition,
            *({"match": match, "rules": [row]} for row in _rows(condition) for match in ("all", "none")),
        ]:
            expected = set(Customer.objects.filter(lang.compile_q(tree, today=today)).values_list("pk", flat=True))
            assert set(bitmaps.evaluate(tree, today=today).bitmap) == expected, tree
        scoped = visible_customers(manager).filter(lang.compile_q(condition, today=today)).count()
        assert segment_count(manager, condition, sample_size=0, today=today).count == scoped, condition


def _rows(node):
    if "match" in node:
        for child in node["rules"]:
            yield from _rows(child)
    else:
        yield node
