"""The tag system without WeCom: customers' tags set-based and idempotent, pins, history, the WeCom outbox rows,
the library's validation and limit, bulk tagging, the starter library, and the pages' data scope.

WeCom itself is the sandbox's business (tests/test_tags_wecom.py); here any call to it fails the test.
"""

import json
from datetime import timedelta
from io import StringIO

import pytest
from django.core.management import call_command
from django.db import connection
from django.test.utils import CaptureQueriesContext
from django.urls import reverse
from django.utils import timezone

from tagging.models import (
    BulkTagJob,
    Customer,
    CustomerTag,
    Tag,
    TagChange,
    TagGroup,
    TagPush,
    TagSource,
    WeComState,
)
from tagging.selectors import customer_timeline
from tagging.tags import bulk, services
from tagging.tags import wecom as tag_wecom
from tagging.tags.selectors import tag_counts
from tagging.tags.services import TagError, tag_add, tag_remove
from tagging.tags.starter import STARTER_LIBRARY, seed_demo_customer_tags, seed_starter_library
from tests.factories import CustomerFactory, FollowFactory, OperatorFactory
from workbench.audit.models import AuditAction, AuditEvent


class NoWeCom:
    def __getattr__(self, name):
        raise AssertionError(f"WeCom must not be called here ({name})")


@pytest.fixture(autouse=True)
def no_wecom(monkeypatch):
    monkeypatch.setattr(tag_wecom, "get_client", NoWeCom)


def make_tag(name="有理财意向", *, kind=Tag.Kind.MANUAL, group="客户意向", wecom_tag_id=None) -> Tag:
    group, _ = TagGroup.objects.get_or_create(name=group)
    return Tag.objects.create(
        group=group, name=name, kind=kind, wecom_tag_id=wecom_tag_id or f"et{group.pk}{name}", wecom_state="synced"
    )


def pushes(tag) -> set[tuple[int, str, str]]:
    return set(TagPush.objects.filter(tag=tag).values_list("follow_id", "action", "status"))


# --- customers' tags -------------------------------------------------------------------------------------------


def test_adding_or_removing_twice_changes_nothing_the_second_time(bank):
    tag = make_tag()
    customer = bank.customers["a_own"]
    assert tag_add(customer, tag, source=TagSource.MANUAL, actor=bank.user("operator_a")) == 1
    assert tag_add([customer.pk], tag, source=TagSource.MANUAL) == 0
    assert list(TagChange.objects.values_list("customer_id", "action", "source", "actor__username")) == [
        (customer.pk, "added", "manual", "operator_a")
    ]
    row = CustomerTag.objects.get()
    assert (row.customer_id, row.source, row.pinned, row.added_by.username) == (
        customer.pk,
        "manual",
        False,
        "operator_a",
    )
    assert tag_remove(customer, tag, source=TagSource.MANUAL) == 1
    assert tag_remove(customer, tag, source=TagSource.MANUAL) == 0
    assert TagChange.objects.count() == 2
    assert not CustomerTag.objects.exists()


def test_each_live_wecom_follow_gets_one_push_and_a_later_change_rewrites_it(bank):
    tag = make_tag()
    ops = bank.operators
    customer = bank.customers["a_followed"]  # live follows: operator_a and its owner operator_a2
    no_wecom = CustomerFactory(owner=ops["operator_a"], external_userid=None)
    FollowFactory(customer=no_wecom, operator=ops["operator_a"])
    unfollowed = CustomerFactory(owner=ops["operator_a"])  # no follow at all
    FollowFactory(customer=customer, operator=ops["resigned"])  # a member who left: WeCom would refuse
    ended = bank.customers["a_unfollowed"]  # operator_a's follow ended; its owner's is live
    assert tag_add([customer, no_wecom, unfollowed, ended], tag, source="manual") == 4
    live = {
        customer.follows.get(operator=ops["operator_a"]).pk,
        customer.follows.get(operator=ops["operator_a2"]).pk,
        ended.follows.get(operator=ops["operator_a2"], deleted_at=None).pk,
    }
    assert pushes(tag) == {(pk, "add", "pending") for pk in live}
    assert set(TagPush.objects.values_list("priority", flat=True)) == {TagPush.PRIORITY_BY_HAND}
    tag_remove([customer, ended], tag, source=TagSource.RULE)
    assert pushes(tag) == {(pk, "remove", "pending") for pk in live}  # still one pending row per pair
    assert TagPush.objects.filter(tag=tag).count() == 3
    # A push being sent keeps its row; the next change gets a new pending one.
    TagPush.objects.update(status=TagPush.Status.SENDING, lease_until=timezone.now())
    tag_add([customer, ended], tag, source="manual")
    assert pushes(tag) == {(pk, a, s) for pk in live for a, s in (("remove", "sending"), ("add", "pending"))}


def test_a_tag_not_yet_in_wecom_still_queues_its_pushes(bank):
    """They wait for the tag's corp tag (the library sync, or an admin's retry of a refused one)."""
    waiting = make_tag("甲")
    Tag.objects.filter(pk=waiting.pk).update(wecom_tag_id=None, wecom_state=WeComState.ERROR)
    tag_add(bank.customers["a_own"], Tag.objects.get(pk=waiting.pk), source="manual")
    assert TagPush.objects.filter(tag=waiting).count() == 1


def test_a_rule_tag_added_by_hand_is_pinned_and_the_rule_leaves_it(bank):
    rule_tag = make_tag("百万级", kind=Tag.Kind.RULE, group="资产等级")
    pinned, plain = bank.customers["a_own"], bank.customers["a_followed"]
    tag_add(plain, rule_tag, source=TagSource.RULE, source_id=7)
    services.customer_tag_add_by_hand(customer=pinned, tag=rule_tag, actor=bank.user("operator_a"))
    assert dict(CustomerTag.objects.values_list("customer_id", "pinned")) == {pinned.pk: True, plain.pk: False}
    assert tag_remove([pinned, plain], rule_tag, source=TagSource.RULE, source_id=7) == 1
    assert list(CustomerTag.objects.values_list("customer_id", flat=True)) == [pinned.pk]
    # The rule adding it again changes nothing; unpinned, the rule may take it.
    assert tag_add(pinned, rule_tag, source=TagSource.RULE) == 0
    assert services.customer_tag_pin(customer=pinned, tag=rule_tag, pinned=False)
    assert tag_remove(pinned, rule_tag, source=TagSource.RULE) == 1
    rule_changes = TagChange.objects.filter(source=TagSource.RULE).values_list("customer_id", "action", "source_id")
    assert sorted(rule_changes) == sorted(
        [(plain.pk, "added", 7), (plain.pk, "removed", 7), (pinned.pk, "removed", None)]
    )


def test_by_hand_only_manual_tags_come_off_and_only_manual_or_rule_tags_go_on(bank):
    imported = make_tag("理财", kind=Tag.Kind.IMPORTED, group="产品持有")
    rule_tag = make_tag("百万级", kind=Tag.Kind.RULE, group="资产等级")
    customer = bank.customers["a_own"]
    with pytest.raises(TagError):
        services.customer_tag_add_by_hand(customer=customer, tag=imported, actor=None)
    tag_add(customer, rule_tag, source=TagSource.RULE)
    with pytest.raises(TagError):
        services.customer_tag_remove_by_hand(customer=customer, tag=rule_tag, actor=None)
    with pytest.raises(TagError):
        services.customer_tag_pin(customer=customer, tag=imported, pinned=True)


def test_bulk_changes_are_set_based(bank, monkeypatch):
    """The query count grows with the number of chunks, never with the number of customers."""
    operator = bank.operators["operator_a"]

    def queries_for(n: int) -> tuple[int, int]:
        monkeypatch.setattr(services, "CHUNK", n // 2)  # two chunks, whatever n
        customers = CustomerFactory.create_batch(n, owner=operator)
        for customer in customers[::2]:
            FollowFactory(customer=customer, operator=operator)
        tag = make_tag(f"标签{n}")
        with CaptureQueriesContext(connection) as adding:
            assert tag_add(Customer.objects.filter(pk__in=[c.pk for c in customers]), tag, source="rule") == n
        with CaptureQueriesContext(connection) as removing:
            assert tag_remove([c.pk for c in customers], tag, source=TagSource.RULE) == n
        assert TagChange.objects.filter(tag=tag).count() == 2 * n
        assert TagPush.objects.filter(tag=tag, action="remove").count() == len(customers[::2])
        return len(adding), len(removing)

    few, many = queries_for(6), queries_for(300)
    assert few == many
    # Per chunk: its ids, the insert, the history, the outbox, a savepoint and its release; then one empty read.
    assert many == (2 * 6 + 1, 2 * 5)


def test_history_is_on_the_customer_timeline(bank):
    tag = make_tag()
    customer = bank.customers["a_own"]
    tag_add(customer, tag, source=TagSource.MANUAL, actor=bank.user("operator_a"))
    tag_remove(customer, tag, source=TagSource.WECOM)
    entries = [(e.kind, e.summary, e.operator) for e in customer_timeline(customer) if e.kind.startswith("tag_")]
    assert entries == [
        ("tag_removed", f"客户意向 / 有理财意向 · {TagSource.WECOM.label}", ""),
        ("tag_added", f"客户意向 / 有理财意向 · {TagSource.MANUAL.label}", "赵甲"),
    ]


# --- the library -----------------------------------------------------------------------------------------------


def test_library_names_are_checked_before_wecom_is_asked(bank):
    group = services.tag_group_create(name=" 客户意向 ", actor=bank.user("admin"))
    assert group.name == "客户意向" and group.wecom_state == WeComState.PENDING
    with pytest.raises(TagError) as raised:
        services.tag_group_create(name="客户意向")
    assert raised.value.field == "name"
    with pytest.raises(TagError) as raised:
        services.tag_create(group=group, name="很" * 31)
    assert raised.value.field == "name" and "30" in raised.value.message
    make_tag("有理财意向", group="客户意向")
    with pytest.raises(TagError) as raised:
        services.tag_create(group=group, name="有理财意向")
    assert raised.value.field == "name" and "有理财意向" in raised.value.message
    assert AuditEvent.objects.filter(action=AuditAction.TAG_LIBRARY_CHANGED).count() == 1


def test_the_3000_corp_tag_limit_is_a_clear_error_before_any_call(bank):
    group = TagGroup.objects.create(name="很多")
    Tag.objects.bulk_create([Tag(group=group, name=f"标签{i}") for i in range(services.MAX_CORP_TAGS)])
    with pytest.raises(TagError) as raised:
        services.tag_create(group=group, name="第3001个")
    assert "3,000" in raised.value.message
    assert not Tag.objects.filter(name="第3001个").exists()
    Tag.objects.filter(name="标签0").update(is_active=False)  # a deleted tag frees its place: WeCom is asked
    with pytest.raises(AssertionError, match="WeCom must not be called"):
        services.tag_create(group=group, name="第3000个")


def test_a_used_tag_is_deactivated_and_cleared_an_unused_one_deleted(
    bank, monkeypatch, django_capture_on_commit_callbacks
):
    monkeypatch.setattr(tag_wecom, "push_tag", lambda tag: tag_wecom._settle(tag, wecom_tag_id=None))
    used, unused = make_tag("用过"), make_tag("没用过")
    tag_add([bank.customers["a_own"], bank.customers["b_own"]], used, source="manual")
    with django_capture_on_commit_callbacks(execute=False) as callbacks:
        services.tag_delete(used, actor=bank.user("admin"))
    assert len(callbacks) == 1  # the clearing task
    services.tag_delete(unused, actor=bank.user("admin"))
    assert not Tag.objects.filter(pk=unused.pk).exists()
    used.refresh_from_db()
    assert not used.is_active and used.wecom_tag_id is None
    assert services.tag_clear(used, actor=bank.user("admin")) == 2
    assert not CustomerTag.objects.exists()
    assert TagChange.objects.filter(tag=used, action="removed").count() == 2
    assert not TagPush.objects.filter(tag=used, action="remove").exists()  # WeCom dropped it already


def test_starter_library_is_complete_and_idempotent(bank):
    first = seed_starter_library()
    assert first == {"groups": len(STARTER_LIBRARY), "tags": sum(len(tags) for *_, tags in STARTER_LIBRARY)}
    Tag.objects.filter(name="百万级").update(description="行内口径已调整")  # an admin's edit stays
    assert seed_starter_library() == {"groups": 0, "tags": 0}
    assert Tag.objects.get(name="百万级").description == "行内口径已调整"
    kinds = dict(TagGroup.objects.values_list("name", "tags__kind").distinct())
    assert kinds == {
        "资产等级": "rule",
        "代发客群": "rule",
        "生命周期": "rule",
        "有效客户": "rule",
        "产品持有": "imported",
        "风险偏好": "imported",
        "客户意向": "manual",
    }
    assert not Tag.objects.filter(description="").exists()
    assert not TagGroup.objects.filter(description="").exists()
    assert set(Tag.objects.filter(group__name="代发客群").values_list("name", flat=True)) == {
        "白领",
        "产业工人",
        "退休",
    }
    assert set(Tag.objects.filter(group__name="生命周期").values_list("name", flat=True)) == {
        "新客",
        "活跃",
        "沉默",
        "流失预警",
    }
    out = StringIO()
    call_command("seed_tags", stdout=out)
    assert json.loads(out.getvalue()) == {"groups": 0, "tags": 0}


def test_demo_customer_tags_come_from_their_data(bank):
    seed_starter_library()
    Customer.objects.filter(pk=bank.customers["a_own"].pk).update(risk_level=2)
    counts = seed_demo_customer_tags()
    assert counts["C2 稳健型"] == 1
    assert CustomerTag.objects.filter(customer=bank.customers["a_own"], tag__name="C2 稳健型", source="import").exists()
    assert seed_demo_customer_tags()["C2 稳健型"] == 0


# --- bulk tagging ----------------------------------------------------------------------------------------------


def test_bulk_tagging_stays_in_scope_and_is_audited(bank):
    tag = make_tag()
    job = bulk.bulk_tag_request(user=bank.user("operator_a"), tag=tag, action="add", params={"page": "2"})
    assert (job.status, job.total, job.done, job.changed, job.params) == ("done", 3, 3, 3, {})
    tagged = set(CustomerTag.objects.filter(tag=tag).values_list("customer__customer_no", flat=True))
    assert tagged == {"CA0000000001", "CA0000000002", "CB0000000002"}  # a_own, a_followed, b_shared
    assert set(TagChange.objects.values_list("source", "source_id")) == {("manual", job.pk)}
    event = AuditEvent.objects.get(action=AuditAction.TAGS_BULK_CHANGED)
    assert event.actor == bank.user("operator_a") and event.detail["customers"] == 3
    removed = bulk.bulk_tag_request(user=bank.user("operator_a"), tag=tag, action="remove", params={"q": "甲"})
    assert removed.changed == 2 and CustomerTag.objects.filter(tag=tag).count() == 1


def test_bulk_tagging_refuses_too_many_and_non_manual_tags(bank, monkeypatch):
    monkeypatch.setattr(bulk, "BULK_MAX", 2)
    with pytest.raises(TagError, match="2"):
        bulk.bulk_tag_request(user=bank.user("operator_a"), tag=make_tag(), action="add", params={})
    with pytest.raises(TagError):
        bulk.bulk_tag_request(user=bank.user("admin"), tag=make_tag("R1", kind="imported"), action="add", params={})
    with pytest.raises(TagError):
        bulk.bulk_tag_request(user=bank.user("operator_a"), tag=make_tag("乙"), action="add", params={"q": "无人"})
    assert not BulkTagJob.objects.exists()


def test_large_bulk_jobs_run_in_a_worker_with_progress(bank, monkeypatch, django_capture_on_commit_callbacks):
    monkeypatch.setattr(bulk, "INLINE_MAX", 1)
    monkeypatch.setattr(services, "CHUNK", 2)
    tag = make_tag()
    with django_capture_on_commit_callbacks(execute=False) as callbacks:
        job = bulk.bulk_tag_request(user=bank.user("manager_a"), tag=tag, action="add", params={})
    assert len(callbacks) == 1 and job.status == BulkTagJob.Status.QUEUED and job.total == 4
    progress = []

    def add_and_watch(*args, **kwargs):
        progress.append(BulkTagJob.objects.values_list("status", "done").get(pk=job.pk))
        return tag_add(*args, **kwargs)

    monkeypatch.setattr(bulk, "tag_add", add_and_watch)
    job = bulk.bulk_job_run(job_id=job.pk)
    assert progress == [("running", 0), ("running", 2)]  # written per chunk, for the progress bar
    assert (job.status, job.done, job.changed, job.percent) == ("done", 4, 4, 100)
    assert bulk.bulk_job_run(job_id=job.pk).changed == 4  # a finished job is left alone


# --- pages -----------------------------------------------------------------------------------------------------


def test_operator_tags_own_customer_from_the_customer_page_but_not_another_branch(bank, login):
    tag = make_tag()
    client = login("operator_a", HTTP_HX_REQUEST="true")
    own = bank.customers["a_own"]
    page = login("operator_a").get(reverse("customers:detail", args=[own.pk]))
    assert 'id="customer-tags"' in page.content.decode()
    response = client.post(reverse("tags:customer", args=[own.pk]), {"op": "add", "tag": tag.pk})
    assert response.status_code == 200 and "有理财意向" in response.content.decode()
    assert CustomerTag.objects.filter(customer=own, tag=tag).exists()
    other = bank.customers["b_own"]
    for op in ("add", "remove", "pin"):
        assert client.post(reverse("tags:customer", args=[other.pk]), {"op": op, "tag": tag.pk}).status_code == 404
    assert not CustomerTag.objects.filter(customer=other).exists()
    response = client.post(reverse("tags:customer", args=[own.pk]), {"op": "remove", "tag": tag.pk})
    assert response.status_code == 200 and not CustomerTag.objects.filter(customer=own).exists()
    timeline = login("operator_a").get(reverse("customers:detail", args=[own.pk])).content.decode()
    assert "客户意向 / 有理财意向" in timeline


def test_a_refused_change_on_the_customer_page_says_why(bank, login):
    imported = make_tag("理财", kind=Tag.Kind.IMPORTED, group="产品持有")
    response = login("operator_a", HTTP_HX_REQUEST="true").post(
        reverse("tags:customer", args=[bank.customers["a_own"].pk]), {"op": "add", "tag": imported.pk}
    )
    assert response.status_code == 200 and response.context["error"]
    assert not CustomerTag.objects.exists()
    plain = login("operator_a").post(reverse("tags:customer", args=[bank.customers["a_own"].pk]), {"op": "add"})
    assert plain.status_code == 302  # without htmx: back to the customer page with a message


def test_library_counts_are_scoped(bank, login):
    tag = make_tag()
    tag_add([bank.customers["b_own"], bank.customers["a_own"]], tag, source="manual")
    for persona, expected in (("operator_a", 1), ("manager_b", 1), ("admin", 2), ("lead_b", 1)):
        response = login(persona).get(reverse("tags:library"))
        assert response.status_code == 200
        counts = {t.name: n for entry in response.context["groups"] for t, n in entry.tags}
        assert counts["有理财意向"] == expected, persona
    assert tag_counts(bank.user("operator_a"))[0] == {tag.pk: 1}


def test_only_head_office_admins_manage_the_library(bank, login):
    group = TagGroup.objects.create(name="客户意向")
    for persona in ("operator_a", "lead_a", "manager_a", "reviewer"):
        client = login(persona)
        assert client.get(reverse("tags:group-new")).status_code == 403
        assert (
            client.post(reverse("tags:tag-new"), {"group": group.pk, "name": "x", "kind": "manual"}).status_code == 403
        )
        assert "tags:tag-new" not in client.get(reverse("tags:library")).content.decode()
    admin = login("admin")
    page = admin.get(reverse("tags:library")).content.decode()
    assert reverse("tags:tag-new") in page and reverse("tags:outbox") in page
    response = admin.post(reverse("tags:group-new"), {"name": "客户意向", "order": 0})
    assert response.status_code == 200 and response.context["form"].errors["name"]
    response = admin.post(reverse("tags:group-new"), {"name": "服务偏好", "description": "喜欢的联系方式", "order": 5})
    assert response.status_code == 302 and TagGroup.objects.filter(name="服务偏好").exists()


def test_bulk_form_on_the_list_starts_a_job_and_shows_its_progress(bank, login):
    tag = make_tag()
    client = login("lead_a")
    page = client.get(reverse("customers:list"), {"q": "甲"}).content.decode()
    assert 'action="/tags/bulk/"' in page and 'name="q" value="甲"' in page
    response = client.post(reverse("tags:bulk"), {"tag": tag.pk, "action": "add", "q": "甲"}, HTTP_HX_REQUEST="true")
    assert response.status_code == 200
    job = response.context["job"]
    assert job.changed == 3 and f"#{job.pk}" in response.content.decode()  # 甲支行 and below
    assert client.get(reverse("tags:job-progress", args=[job.pk])).status_code == 200
    assert login("lead_b").get(reverse("tags:job-progress", args=[job.pk])).status_code == 404
    refused = client.post(reverse("tags:bulk"), {"tag": tag.pk, "action": "add", "q": "无人"}, HTTP_HX_REQUEST="true")
    assert refused.context["error"] and refused.context["job"] is None


def test_outbox_page_lists_failures_with_errcode_and_retries_them(bank, login):
    tag = make_tag()
    customer = bank.customers["a_own"]
    tag_add(customer, tag, source="manual")
    TagPush.objects.update(status=TagPush.Status.FAILED, errcode=40068, error="invalid tagid", attempts=1)
    response = login("admin").get(reverse("tags:outbox"))
    assert response.status_code == 200 and "errcode 40068" in response.content.decode()
    assert login("manager_a").get(reverse("tags:outbox")).status_code == 403
    assert login("admin").post(reverse("tags:outbox-retry")).status_code == 302
    assert list(TagPush.objects.values_list("status", "attempts", "errcode")) == [("pending", 0, None)]


def test_an_operator_of_another_branch_sees_nothing_of_a_customer_through_the_tag_card(bank, login):
    tag = make_tag()
    tag_add(bank.customers["b_own"], tag, source="manual")
    for persona in ("operator_a", "lead_a", "manager_a"):
        response = login(persona).get(reverse("tags:customer", args=[bank.customers["b_own"].pk]))
        assert response.status_code == 404
    control = login("manager_b").get(reverse("tags:customer", args=[bank.customers["b_own"].pk]))
    assert "有理财意向" in control.content.decode()


def test_operators_without_a_profile_get_nothing(bank, login):
    assert login("nobody").get(reverse("tags:library")).status_code == 403
    assert login("nobody").post(reverse("tags:bulk"), {}).status_code == 403


def test_an_operator_factory_customer_gets_no_push_without_a_wecom_userid(bank):
    operator = OperatorFactory(wecom_userid=None, branch=bank.outlet_a)
    customer = CustomerFactory(owner=operator)
    FollowFactory(customer=customer, operator=operator)
    tag_add(customer, make_tag(), source="manual")
    assert not TagPush.objects.exists()


def test_settled_pushes_are_forgotten_after_a_week_failed_ones_kept(bank):
    tag = make_tag()
    tag_add([bank.customers["a_own"], bank.customers["a_followed"]], tag, source="manual")
    old = timezone.now() - timedelta(days=8)
    TagPush.objects.update(status=TagPush.Status.DONE, updated_at=old)
    TagPush.objects.filter(follow__customer=bank.customers["a_own"]).update(status=TagPush.Status.FAILED)
    assert tag_wecom.purge_settled() == 2  # a_followed's two follows
    assert list(TagPush.objects.values_list("status", flat=True)) == ["failed"]
