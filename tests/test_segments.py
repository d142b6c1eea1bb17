"""Segments: the condition language (validation in words, naming rows), counts from bitmaps within each viewer's
scope, versioned bitmaps switched atomically, snapshots, export through the exports app, and the editor pages."""

import csv
import datetime as dt
import json
from decimal import Decimal

import pytest
from django.urls import reverse
from django.utils import timezone, translation
from pyroaring import BitMap

from tagging.models import Customer, CustomerTag, Product, ProductHolding, Tag, TagChange, TagGroup, TagSource
from tagging.segments import bitmaps, services
from tagging.segments import conditions as lang
from tagging.segments.models import BitmapFamily, BitmapSet, BitmapVersion, Segment, SegmentSnapshot
from tagging.segments.selectors import builder_config, describe, operator_options, segment_count
from workbench.audit.models import AuditAction, AuditEvent
from workbench.exports.models import ExportJob
from workbench.exports.services import export_path, export_run
from workbench.org.scope import visible_customers

EVERYONE = {"match": "all", "rules": []}
RETIREES = {"match": "all", "rules": [{"field": "occupation_group", "op": "in", "value": ["retiree"]}]}


def _build():
    bitmaps.bitmaps_rebuild_attributes()
    bitmaps.bitmaps_rebuild_tags()


def _cond(*rules, match="all"):
    return {"match": match, "rules": list(rules)}


# --- the language ----------------------------------------------------------------------------------------------


def _errors(condition, **kwargs) -> list[str]:
    with pytest.raises(lang.ConditionError) as caught:
        lang.validate(condition, **kwargs)
    return caught.value.messages


@pytest.mark.django_db
def test_validation_names_the_row_in_words():
    with translation.override("en"):
        errors = _errors(
            _cond(
                {"field": "income", "op": "gte", "value": 1},
                {"field": "aum", "op": "gte", "value": "lots"},
                _cond({"field": "payday", "op": "in", "value": [32]}, match="any"),
                _cond(match="none"),
                {"field": "last_transaction_date", "op": "within_days", "value": 5000},
                {"field": "risk_level", "op": "bigger", "value": [1]},
                {"field": "birthday", "op": "within_next_days", "value": "soon"},
            )
        )
    assert errors == [
        "Condition 1: there is no field “income”.",
        "Condition 2: enter a number for AUM (yuan).",
        "Condition 3.1: 32 is not a value of Pay day.",
        "Group 4 is empty: add a condition to it or remove it.",
        "Condition 5: the window must be between 0 and 3650 days.",
        "Condition 6: “bigger” cannot be used with Risk level.",
        "Condition 7: enter the number of days as a whole number.",
    ]
    with translation.override("en"):
        assert _errors(EVERYONE) == ["Add at least one condition."]
        assert _errors("aum > 5") == ["The condition is not in the expected form. Build it again in the editor."]
    assert lang.validate(EVERYONE, allow_empty=True) == EVERYONE


@pytest.mark.django_db
def test_validation_messages_are_chinese_by_default():
    errors = _errors(_cond({"field": "last_transaction_date", "op": "within_days", "value": 5000}))
    assert errors == ["第 1 个条件：时间范围须在 0 到 3650 天之间。"]


@pytest.mark.django_db
def test_validation_normalises_values():
    clean = lang.validate(
        _cond(
            {"field": "aum", "op": "between", "value": ["1,000", "20000.5"]},
            {"field": "risk_level", "op": "in", "value": ["3", 1, 3]},
            {"field": "payday", "op": "in_days", "value": "1"},
            {"field": "wecom", "op": "is_set", "value": "ignored"},
        )
    )
    assert clean["rules"] == [
        {"field": "aum", "op": "between", "value": ["1000.00", "20000.50"]},
        {"field": "risk_level", "op": "in", "value": [1, 3]},
        {"field": "payday", "op": "in_days", "value": 1},
        {"field": "wecom", "op": "is_set"},
    ]


def test_branches_and_operators_must_be_in_the_editors_scope(bank):
    b_branch = _cond({"field": "branch", "op": "in_subtree", "value": [bank.branch_b.pk]})
    b_owner = _cond({"field": "owner", "op": "in", "value": [bank.operators["operator_b"].pk]})
    with translation.override("en"):
        assert _errors(b_branch, user=bank.user("manager_a")) == [
            "Condition 1: a chosen branch is not within your data scope."
        ]
        assert _errors(b_owner, user=bank.user("lead_a")) == [
            "Condition 1: a chosen operator is not within your data scope."
        ]
    assert lang.validate(b_branch, user=bank.user("manager_b")) and lang.validate(b_owner, user=bank.user("admin"))


def test_relative_dates():
    assert lang.payday_days(dt.date(2026, 3, 4), 1) == [5]  # pay day is tomorrow
    assert lang.payday_days(dt.date(2026, 4, 29), 1) == [30, 31]  # the last day of April pays the 31st too
    assert lang.payday_days(dt.date(2024, 2, 28), 1) == [29, 30, 31]
    assert lang.birthday_pairs(dt.date(2025, 2, 27), 2) == [(2, 27), (2, 28), (2, 29), (3, 1)]
    assert lang.birthday_pairs(dt.date(2024, 2, 27), 1) == [(2, 27), (2, 28)]
    assert lang.resolve_date_bound("age", "gte", 60, dt.date(2026, 3, 4)) == lang.DateBound(None, dt.date(1966, 3, 5))
    assert lang.years_before(dt.date(2024, 2, 29), 1) == dt.date(2023, 2, 28)


# --- counts, scope and bitmaps ---------------------------------------------------------------------------------


PERSONAS = ("operator_a", "lead_a", "manager_a", "manager_b", "admin", "reviewer", "nobody")


def test_counts_equal_the_scope_selectors_count_for_every_persona(bank):
    group = TagGroup.objects.create(name="组")
    vip = Tag.objects.create(group=group, name="VIP")
    for key in ("a_own", "b_own", "b_shared", "unowned"):
        CustomerTag.objects.create(customer=bank.customers[key], tag=vip, source=TagSource.MANUAL)
    _build()
    conditions = [
        EVERYONE,
        RETIREES,
        _cond({"field": "tag", "op": "has_any", "value": [vip.pk]}),
        _cond({"field": "tag", "op": "has_none", "value": [vip.pk]}, {"field": "aum", "op": "gte", "value": "1000"}),
        _cond({"field": "branch", "op": "in_subtree", "value": [bank.branch_a.pk]}, RETIREES, match="any"),
    ]
    for persona in PERSONAS:
        user = bank.user(persona)
        for condition in conditions:
            condition = lang.validate(condition, allow_empty=True)
            expected = visible_customers(user).filter(lang.compile_q(condition))
            result = segment_count(user, condition)
            assert result.method == "bitmaps"
            assert result.count == expected.count(), (persona, condition)
            assert {c.pk for c in result.sample} <= set(expected.values_list("pk", flat=True))


def test_the_sample_is_the_newest_visible_matches(bank):
    _build()
    result = segment_count(bank.user("manager_a"), EVERYONE, sample_size=2)
    assert [c.customer_no for c in result.sample] == ["CA0000000004", "CA0000000003"]
    assert all(c.customer_no.startswith("CA") for c in segment_count(bank.user("manager_a"), EVERYONE).sample)


def test_counts_fall_back_to_sql_until_bitmaps_exist(bank):
    result = segment_count(bank.user("admin"), RETIREES)
    assert (result.method, result.count) == ("sql", 1)
    _build()
    assert segment_count(bank.user("admin"), RETIREES).method == "bitmaps"


def test_rows_bitmaps_cannot_answer_are_named(bank):
    _build()
    condition = lang.validate(
        _cond(
            RETIREES["rules"][0],
            {"field": "aum", "op": "gte", "value": "12345"},  # inside a band: that band's rows from SQL
            {"field": "aum", "op": "gte", "value": "10000"},  # a band edge: bitmaps alone
            {"field": "behaviour", "op": "at_least", "value": {"source": "follow_added", "days": 30, "count": 1}},
        )
    )
    result = segment_count(bank.user("admin"), condition)
    assert result.sql_rows == ["4"]
    assert result.count == Customer.objects.filter(lang.compile_q(condition)).count()


def test_readers_see_the_old_complete_version_until_the_switch(bank):
    _build()
    reader = bitmaps.Reader.for_families({bitmaps.ATTRIBUTES})
    old_version = reader.versions[bitmaps.ATTRIBUTES]
    before = len(reader.get(bitmaps.ATTRIBUTES, "all"))
    Customer.objects.filter(pk=bank.customers["unowned"].pk).delete()
    # A build under way is invisible: its version exists but the pointer has not moved.
    building = BitmapVersion.objects.create(family=bitmaps.ATTRIBUTES, started_at=timezone.now())
    BitmapSet.objects.create(version=building, key="all", data=BitMap([1]).serialize(), count=1)
    assert bitmaps.Reader.for_families({bitmaps.ATTRIBUTES}).versions[bitmaps.ATTRIBUTES] == old_version
    new = bitmaps.bitmaps_rebuild_attributes()
    fresh = bitmaps.Reader.for_families({bitmaps.ATTRIBUTES})
    assert fresh.versions[bitmaps.ATTRIBUTES] == new.pk != old_version
    assert len(fresh.get(bitmaps.ATTRIBUTES, "all")) == before - 1
    assert len(reader.get(bitmaps.ATTRIBUTES, "all")) == before  # the old reader still reads its own version


def test_old_versions_are_dropped_keeping_the_previous_one(bank):
    versions = [bitmaps.bitmaps_rebuild_attributes().pk for _ in range(4)]
    kept = set(BitmapVersion.objects.filter(family=bitmaps.ATTRIBUTES).values_list("pk", flat=True))
    assert kept == set(versions[-2:])
    assert BitmapFamily.objects.get(name=bitmaps.ATTRIBUTES).active_id == versions[-1]


def test_a_version_dropped_under_a_reader_is_followed_to_the_new_one(bank, monkeypatch):
    old = bitmaps.bitmaps_rebuild_attributes()
    for _ in range(3):
        bitmaps.bitmaps_rebuild_attributes()
    assert not BitmapVersion.objects.filter(pk=old.pk).exists()
    bitmaps.clear_cache()
    real = bitmaps.Reader.for_families.__func__
    calls = []

    def pointer_read_just_before_a_switch(cls, families):
        reader = real(cls, families)
        if not calls:  # the first reader followed the pointer to a version that is gone by the time it loads
            calls.append(old.pk)
            reader.versions[bitmaps.ATTRIBUTES] = old.pk
            reader._keys[old.pk] = old.keys
        return reader

    monkeypatch.setattr(bitmaps.Reader, "for_families", classmethod(pointer_read_just_before_a_switch))
    assert segment_count(bank.user("admin"), RETIREES).count == 1
    assert calls == [old.pk]


def test_changed_tags_are_found_for_a_rebuild(bank):
    group = TagGroup.objects.create(name="组")
    first, second = Tag.objects.create(group=group, name="一"), Tag.objects.create(group=group, name="二")
    _build()
    assert bitmaps.tags_changed_since_build() == []
    later = timezone.now() + dt.timedelta(minutes=5)
    change = TagChange.objects.create(customer=bank.customers["a_own"], tag=second, action="added", source="manual")
    TagChange.objects.filter(pk=change.pk).update(at=later)
    CustomerTag.objects.create(customer=bank.customers["a_own"], tag=second, source=TagSource.MANUAL)
    assert bitmaps.tags_changed_since_build() == [second.pk]
    assert services.bitmaps_stale()
    assert services.bitmaps_refresh(attributes=False) == {"attributes": False, "tags": 1}
    reader = bitmaps.Reader.for_families({bitmaps.tag_family(second.pk)})
    assert set(reader.get(bitmaps.tag_family(second.pk), "members")) == {bank.customers["a_own"].pk}
    assert first.pk not in bitmaps.tags_changed_since_build()


# --- snapshots and export ---------------------------------------------------------------------------------------


def test_a_snapshot_freezes_membership_within_the_actors_scope(bank):
    segment = services.segment_create(name="全部", condition=_cond(RETIREES["rules"][0], match="none"), owner=None)
    first = services.segment_snapshot(segment, purpose="活动 #1", actor=bank.user("manager_a"))
    expected = set(
        visible_customers(bank.user("manager_a")).exclude(occupation_group="retiree").values_list("pk", flat=True)
    )
    assert set(first.member_ids()) == expected and first.count == len(expected)
    assert (first.version, first.scope) == (1, f"branch:{bank.branch_a.path}")
    Customer.objects.filter(pk=bank.customers["a_own"].pk).update(occupation_group="retiree")
    system = services.segment_snapshot(segment, purpose="活动 #2")
    assert system.version == 2 and system.scope == "bank"
    assert bank.customers["a_own"].pk not in set(system.member_ids())
    assert set(SegmentSnapshot.objects.get(pk=first.pk).member_ids()) == expected  # frozen
    audit = AuditEvent.objects.filter(action=AuditAction.SEGMENT_SNAPSHOT).order_by("pk")
    assert [event.detail["version"] for event in audit] == [1, 2]
    assert audit[1].actor_username == "system"


def test_segment_export_is_scoped_and_audited(bank, login, export_root):
    segment = services.segment_create(
        name="所有人",
        condition=_cond({"field": "aum", "op": "gte", "value": "0"}),
        owner=bank.user("admin"),
        shared=True,
    )
    response = login("manager_a").post(reverse("segments:export", args=[segment.pk]), {"format": "csv"})
    assert response.status_code == 302
    job = ExportJob.objects.get(requested_by=bank.user("manager_a"))
    assert (job.kind, job.params) == ("segment", {"segment": str(segment.pk)})
    job = export_run(job_id=job.pk)
    with export_path(job).open(encoding="utf-8-sig", newline="") as handle:
        numbers = {row[0] for row in list(csv.reader(handle))[1:]}
    assert numbers == {"CA0000000001", "CA0000000002", "CA0000000003", "CA0000000004"}
    assert AuditEvent.objects.filter(action=AuditAction.EXPORT_REQUESTED, actor=bank.user("manager_a")).exists()
    assert login("operator_a").post(reverse("segments:export", args=[segment.pk]), {"format": "csv"}).status_code == 403


# --- pages -----------------------------------------------------------------------------------------------------


def _post_segment(client, url, condition, **extra):
    data = {"name": "退休客群", "description": "", **extra, "condition": json.dumps(condition)}
    return client.post(url, data)


def test_an_operator_builds_saves_and_reopens_a_segment(bank, login):
    client = login("operator_a")
    page = client.get(reverse("segments:create"))
    assert page.status_code == 200
    config = page.context["builder_config"]
    assert {b["name"] for b in config["branches"]} == {"甲网点"}  # the operator's own branch only
    response = _post_segment(client, reverse("segments:create"), RETIREES)
    segment = Segment.objects.get()
    assert response["Location"] == reverse("segments:edit", args=[segment.pk])
    assert segment.owner == bank.user("operator_a") and not segment.shared
    body = client.get(reverse("segments:edit", args=[segment.pk])).content.decode()
    assert 'hx-post="/segments/preview/"' in body and "conditionchange from:body delay:400ms" in body
    assert login("operator_a2").get(reverse("segments:edit", args=[segment.pk])).status_code == 404
    assert AuditEvent.objects.filter(action=AuditAction.SEGMENT_CHANGED, object_id=str(segment.pk)).exists()


def test_preview_counts_within_scope_and_explains_errors(bank, login):
    _build()
    response = login("manager_b").post(reverse("segments:preview"), {"condition": json.dumps(RETIREES)})
    assert response.status_code == 200 and response.context["result"].count == 1
    assert "乙客户壹" in response.content.decode()
    response = login("manager_a").post(reverse("segments:preview"), {"condition": json.dumps(RETIREES)})
    assert response.context["result"].count == 0 and "乙客户壹" not in response.content.decode()
    bad = login("manager_a").post(
        reverse("segments:preview"), {"condition": json.dumps(_cond({"field": "aum", "op": "gte"}))}
    )
    assert bad.context["errors"] and "1" in bad.context["errors"][0]
    empty = login("manager_a").post(reverse("segments:preview"), {"condition": json.dumps(EVERYONE)})
    assert empty.context["result"].count == 4


def test_shared_segments_are_read_only_for_others_and_name_nothing_outside_their_scope(bank, login):
    condition = _cond(
        {"field": "branch", "op": "in_subtree", "value": [bank.branch_b.pk]},
        {"field": "owner", "op": "in", "value": [bank.operators["operator_b"].pk]},
    )
    segment = services.segment_create(name="乙行客户", condition=condition, owner=bank.user("manager_b"), shared=True)
    client = login("manager_a")
    listing = client.get(reverse("segments:list")).content.decode()
    assert "乙行客户" in listing and "乙分行" not in listing and "孙乙" not in listing
    page = client.get(reverse("segments:edit", args=[segment.pk]))
    assert page.context["editable"] is False and 'data-readonly="1"' in page.content.decode()
    assert "乙分行" not in page.content.decode() and "孙乙" not in page.content.decode()
    assert _post_segment(client, reverse("segments:edit", args=[segment.pk]), EVERYONE).status_code == 403
    assert client.post(reverse("segments:delete", args=[segment.pk])).status_code == 403
    assert client.post(reverse("segments:freeze", args=[segment.pk])).status_code == 403
    assert "乙分行" in describe(segment.condition, bank.user("manager_b"))
    admin = login("admin")
    assert _post_segment(admin, reverse("segments:edit", args=[segment.pk]), RETIREES, shared="on").status_code == 302


def test_freeze_now_and_delete(bank, login):
    client = login("manager_a")
    _post_segment(
        client, reverse("segments:create"), EVERYONE | {"rules": [{"field": "aum", "op": "gte", "value": "0"}]}
    )
    segment = Segment.objects.get()
    client.post(reverse("segments:freeze", args=[segment.pk]), {"purpose": "周末活动"})
    snapshot = segment.snapshots.get()
    assert (snapshot.count, snapshot.purpose, snapshot.created_by) == (4, "周末活动", bank.user("manager_a"))
    body = client.get(reverse("segments:edit", args=[segment.pk])).content.decode()
    assert "v1" in body and "周末活动" in body
    assert client.post(reverse("segments:delete", args=[segment.pk])).status_code == 302
    assert not Segment.objects.exists()


def test_segment_list_shows_counts_in_the_viewers_scope(bank, login):
    _build()
    services.segment_create(name="退休", condition=RETIREES, owner=bank.user("admin"), shared=True)
    assert [s.member_count for s in login("manager_b").get(reverse("segments:list")).context["segments"]] == [1]
    assert [s.member_count for s in login("manager_a").get(reverse("segments:list")).context["segments"]] == [0]


def test_operator_search_is_scoped(bank, login):
    assert operator_options(bank.user("manager_a"), "孙") == []
    assert [o["name"] for o in operator_options(bank.user("manager_b"), "孙")] == ["孙乙 (operator_b)"]
    response = login("lead_a").get(reverse("segments:operator-options"), {"q": "赵"})
    assert [row["name"] for row in response.json()["results"]] == ["赵甲 (operator_a)"]


def test_builder_config_lists_fields_tags_and_sources(bank):
    group = TagGroup.objects.create(name="资产等级")
    Tag.objects.create(group=group, name="高净值")
    config = builder_config(bank.user("admin"))
    keys = {field["key"] for field in config["fields"]}
    assert {"aum", "age", "birthday", "payday", "tag", "product", "behaviour", "branch", "owner"} <= keys
    assert {"follow_added", "event:note", "tag_added"} <= {s["key"] for s in config["behaviour"]}
    assert config["tags"] == [{"id": Tag.objects.get().pk, "name": "高净值", "group": "资产等级", "kind": "manual"}]


def test_products_and_behaviour_in_a_segment(bank):
    product = Product.objects.create(code="WM1", name="理财一号", category="wealth")
    customer = bank.customers["a_own"]
    ProductHolding.objects.create(
        customer=customer,
        product=product,
        amount=Decimal("60000"),
        opened_on=dt.date(2026, 1, 1),
        maturity_date=timezone.localdate() + dt.timedelta(days=10),
    )
    _build()
    holds = _cond(
        {
            "field": "product",
            "op": "holds",
            "value": {"category": "wealth", "min_amount": "50000", "maturity_within_days": 30},
        }
    )
    assert segment_count(bank.user("admin"), lang.validate(holds)).count == 1
    follows = _cond(
        {"field": "behaviour", "op": "at_least", "value": {"source": "follow_added", "days": 1, "count": 2}}
    )
    expected = Customer.objects.filter(lang.compile_q(lang.validate(follows))).count()
    assert segment_count(bank.user("admin"), lang.validate(follows)).count == expected
