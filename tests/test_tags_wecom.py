"""The tag system against the WeCom sandbox: our tags are corp tags, customers' tags are marked on their follows
through the outbox, and tags changed in the WeCom client come back.

The sandbox holds the test bank's corp (its members, contacts and live follows, `seed_corp`); the outbox task
is run inline (`push_pending`) and WeCom's view is read back with `externalcontact/get`.
"""

from datetime import timedelta

import pytest
from django.urls import reverse
from django.utils import timezone

from integrations.wecom import client as client_module
from integrations.wecom.callbacks.handlers import refresh_contact
from integrations.wecom.client import get_client
from integrations.wecom.models import CallbackEvent, CorpTag, SyncRun
from integrations.wecom.sync import run_sync
from integrations.wecom.tasks import sync_corp_tags
from tagging.models import (
    CustomerTag,
    FollowRelationship,
    Tag,
    TagChange,
    TagGroup,
    TagPush,
    TagSource,
    WeComFollowTags,
    WeComState,
)
from tagging.tags import services
from tagging.tags import wecom as tag_wecom
from tagging.tags.services import TagError, tag_add, tag_remove
from tagging.tags.tasks import clear_tag
from tests.wecom_sandbox import sandbox, wecom_sandbox  # noqa: F401 - fixtures
from workbench.org.models import Operator

pytestmark = pytest.mark.django_db


STATUS = {Operator.Status.ACTIVE: 1, Operator.Status.RESIGNED: 5}  # WeCom's member status


def seed_corp(sandbox, bank, tags=()):  # noqa: F811
    """The sandbox's corp = the test bank: its members, WeCom contacts and live follows (plus corp tags)."""
    operators = Operator.objects.filter(wecom_userid__isnull=False)
    follows = FollowRelationship.objects.filter(deleted_at=None, operator__wecom_userid__isnull=False)
    return sandbox.seed(
        {
            "departments": [{"id": 1, "name": "示范银行总行", "parentid": 0}],
            "members": [
                {
                    "userid": op.wecom_userid,
                    "name": op.name,
                    "department": [1],
                    "status": 1 if op.status == "active" else 5,
                }
                for op in operators
            ],
            "contacts": [
                {"external_userid": c.external_userid, "name": c.name, "type": 1}
                for c in {f.customer for f in follows.select_related("customer")}
            ],
            "follows": [
                {"userid": f.operator.wecom_userid, "external_userid": f.customer.external_userid}
                for f in follows.select_related("customer", "operator")
            ],
            "tags": list(tags),
        }
    )


def wecom_tags(sandbox, customer) -> dict[str, set[str]]:  # noqa: F811
    """WeCom's view: the tag names on each of the customer's follows, by member."""
    answer = sandbox.api("externalcontact/get", external_userid=customer.external_userid)
    assert answer["errcode"] == 0, answer
    return {follow["userid"]: {tag["tag_name"] for tag in follow.get("tags", [])} for follow in answer["follow_user"]}


def corp_tag_names(sandbox) -> dict[str, set[str]]:  # noqa: F811
    answer = sandbox.api("externalcontact/get_corp_tag_list", {})
    return {group["group_name"]: {tag["name"] for tag in group["tag"]} for group in answer["tag_group"]}


def mark_tag_calls(sandbox) -> int:  # noqa: F811
    return sandbox.state()["calls"].get("externalcontact/mark_tag", 0)


@pytest.fixture
def corp(sandbox, bank):  # noqa: F811
    seed_corp(sandbox, bank)
    return sandbox


@pytest.fixture
def intention(corp):
    group = services.tag_group_create(name="客户意向")
    return services.tag_create(group=group, name="有理财意向", description="客户表达了理财兴趣")


# --- our tags are corp tags ------------------------------------------------------------------------------------


def test_a_tag_created_renamed_and_deleted_here_is_a_corp_tag_in_wecom(corp):
    group = services.tag_group_create(name="客户意向")
    tag = services.tag_create(group=group, name="有理财意向")
    assert tag.wecom_tag_id and tag.wecom_state == WeComState.SYNCED
    group.refresh_from_db()
    assert group.wecom_group_id and group.wecom_state == WeComState.SYNCED
    assert corp_tag_names(corp) == {"客户意向": {"有理财意向"}}
    assert CorpTag.objects.filter(tag_id=tag.wecom_tag_id, name="有理财意向", group_name="客户意向").exists()
    services.tag_update(tag, name="有理财需求", kind="manual", description="", order=5)
    services.tag_group_update(group, name="意向", description="", order=0)
    assert corp_tag_names(corp) == {"意向": {"有理财需求"}}
    assert CorpTag.objects.get(tag_id=tag.wecom_tag_id).group_name == "意向"
    services.tag_delete(tag)
    assert corp_tag_names(corp) == {}
    assert CorpTag.objects.get().deleted_at is not None
    assert not Tag.objects.exists()  # never given to anyone: the row goes too
    services.tag_group_delete(TagGroup.objects.get())
    assert not TagGroup.objects.exists()


def test_a_name_wecom_already_has_is_a_form_error(corp, bank):
    seed_corp(corp, bank, tags=[{"group_name": "客户意向", "tag": [{"name": "有理财意向"}]}])
    group = services.tag_group_create(name="客户意向")
    with pytest.raises(TagError) as raised:
        services.tag_create(group=group, name="有理财意向")
    assert raised.value.field == "name" and "有理财意向" in raised.value.message
    assert not Tag.objects.exists()


def test_wecom_40126_reads_like_our_own_limit(corp, bank):
    corp.settings(max_corp_tags=1)
    seed_corp(corp, bank, tags=[{"group_name": "别的", "tag": [{"name": "已有"}]}])
    group = services.tag_group_create(name="客户意向")
    with pytest.raises(TagError) as raised:
        services.tag_create(group=group, name="有理财意向")
    assert raised.value.message == services.limit_message(0) and raised.value.field is None
    assert not Tag.objects.exists()


def test_tags_made_while_wecom_is_down_reach_it_later(corp, bank):
    seed_corp(corp, bank, tags=[{"group_name": "客户意向", "tag": [{"name": "需要回访"}]}])
    corp.faults(error_rate=1.0, path_prefix="externalcontact/add_corp_tag")
    group = services.tag_group_create(name="客户意向")
    waiting = services.tag_create(group=group, name="有理财意向")
    assert waiting.wecom_state == WeComState.PENDING and waiting.wecom_tag_id is None
    # The same name as a corp tag created in WeCom: adopted, not refused, by the library sync.
    adopted = Tag.objects.create(group=group, name="需要回访", wecom_state=WeComState.PENDING)
    customer = bank.customers["a_own"]
    tag_add(customer, waiting, source="manual")
    assert tag_wecom.push_pending().calls == 0  # the push waits for its corp tag
    assert TagPush.objects.get().status == "pending"
    corp.clear_faults()
    stats = tag_wecom.sync_library()
    assert stats["adopted"] == 1 and stats["created"] == 1
    assert set(Tag.objects.values_list("wecom_state", flat=True)) == {"synced"}
    assert corp_tag_names(corp) == {"客户意向": {"有理财意向", "需要回访"}}
    adopted.refresh_from_db()
    assert adopted.wecom_tag_id in CorpTag.objects.values_list("tag_id", flat=True)
    TagPush.objects.update(due_at=timezone.now())  # a minute later
    assert tag_wecom.push_pending().done == 1
    assert wecom_tags(corp, customer) == {"operator_a": {"有理财意向"}}


# --- customers' tags are marked on their follows ---------------------------------------------------------------


def test_a_tag_put_on_a_customer_in_our_ui_shows_in_wecom(corp, bank, login, intention):
    customer = bank.customers["a_followed"]  # followed by operator_a and operator_a2
    client = login("operator_a", HTTP_HX_REQUEST="true")
    response = client.post(reverse("tags:customer", args=[customer.pk]), {"op": "add", "tag": intention.pk})
    assert response.status_code == 200
    assert TagPush.objects.filter(status="pending").count() == 2
    assert wecom_tags(corp, customer) == {"operator_a": set(), "operator_a2": set()}  # nothing sent in the request
    run = tag_wecom.push_pending()
    assert (run.calls, run.done) == (2, 2)
    assert wecom_tags(corp, customer) == {"operator_a": {"有理财意向"}, "operator_a2": {"有理财意向"}}
    follow = customer.follows.get(operator=bank.operators["operator_a"])
    follow.refresh_from_db()
    assert follow.wecom_tag_ids == [intention.wecom_tag_id]  # our mirror of WeCom follows our push
    client.post(reverse("tags:customer", args=[customer.pk]), {"op": "remove", "tag": intention.pk})
    tag_wecom.push_pending()
    assert wecom_tags(corp, customer) == {"operator_a": set(), "operator_a2": set()}
    assert mark_tag_calls(corp) == 4


def test_one_mark_tag_per_follow_carries_every_tag_claimed_for_it(corp, bank, intention):
    second = services.tag_create(group=intention.group, name="需要回访")
    customer = bank.customers["a_own"]
    tag_add(customer, intention, source="manual")
    tag_add(customer, second, source="manual")
    tag_wecom.push_pending()
    assert mark_tag_calls(corp) == 1
    assert wecom_tags(corp, customer) == {"operator_a": {"有理财意向", "需要回访"}}


def test_changes_by_hand_go_before_bulk_ones(corp, bank, intention):
    tag_add(bank.customers["a_own"], intention, source=TagSource.RULE)
    tag_add(bank.customers["b_shared"], intention, source=TagSource.MANUAL)
    token, rows = tag_wecom.claim(batch=1)
    assert [row.follow.customer_id for row in rows] == [bank.customers["b_shared"].pk]
    token2, rows2 = tag_wecom.claim(batch=5)  # another worker: never the rows claimed by the first
    assert [row.follow.customer_id for row in rows2] == [bank.customers["a_own"].pk] and token2 != token


def test_a_transient_failure_is_retried_later(corp, bank, intention):
    customer = bank.customers["a_own"]
    tag_add(customer, intention, source="manual")
    corp.faults(error_rate=1.0, path_prefix="externalcontact/mark_tag")
    run = tag_wecom.push_pending()
    assert run.retry_after and run.done == 0
    push = TagPush.objects.get()
    assert (push.status, push.attempts, push.errcode) == ("pending", 1, -1)
    assert push.due_at > timezone.now() + timedelta(seconds=20)
    assert tag_wecom.push_pending().calls == 0  # not due yet
    corp.clear_faults()
    TagPush.objects.update(due_at=timezone.now())
    assert tag_wecom.push_pending().done == 1
    assert wecom_tags(corp, customer) == {"operator_a": {"有理财意向"}}


def test_our_rate_limit_gives_the_rows_back_with_its_wait(corp, bank, intention, settings, monkeypatch):
    settings.WECOM_API_CALLS_PER_MINUTE = 1
    monkeypatch.setattr(client_module, "RATE_WAIT_MAX_SECONDS", 0)
    tag_add([bank.customers["a_own"], bank.customers["b_shared"]], intention, source="manual")
    run = tag_wecom.push_pending()
    assert run.done == 1 and 0 < run.retry_after <= 60
    waiting = TagPush.objects.get(status="pending")
    assert waiting.attempts == 0 and waiting.due_at > timezone.now()
    assert mark_tag_calls(corp) == 1


def test_a_refusal_fails_the_push_with_its_errcode(corp, bank, intention):
    broken = Tag.objects.create(group=intention.group, name="坏的", wecom_tag_id="etNOSUCHTAG", wecom_state="synced")
    tag_add(bank.customers["a_own"], broken, source="manual")
    run = tag_wecom.push_pending()
    push = TagPush.objects.get()
    assert (run.failed, push.status, push.errcode) == (1, "failed", 40068)
    broken.refresh_from_db()
    assert broken.wecom_state == WeComState.PENDING  # the library sync will look at it again
    # A follow WeCom does not have (ended there, not yet here): skipped, not failed.
    stranger = bank.customers["a_branch"]  # its follow is not in the sandbox's corp
    FollowRelationship.objects.create(customer=stranger, operator=bank.operators["manager_a"], added_at=timezone.now())
    tag_add(stranger, intention, source="manual")
    tag_wecom.push_pending()
    assert TagPush.objects.get(follow__customer=stranger).errcode in (84061, 40096)


def test_a_worker_killed_mid_batch_sends_nothing_twice(corp, bank, intention, monkeypatch):
    class Killed(BaseException):
        pass

    tag_add([bank.customers["a_own"], bank.customers["b_shared"]], intention, source="manual")
    real = get_client().mark_tag
    calls = []

    def dies_on_the_second(*args, **kwargs):
        calls.append(args)
        if len(calls) == 2:
            raise Killed
        return real(*args, **kwargs)

    monkeypatch.setattr(get_client(), "mark_tag", dies_on_the_second)
    with pytest.raises(Killed):
        tag_wecom.push_pending()
    monkeypatch.undo()
    assert sorted(TagPush.objects.values_list("status", flat=True)) == ["done", "sending"]
    assert tag_wecom.push_pending().calls == 0  # the dead worker's lease still holds its row
    TagPush.objects.filter(status="sending").update(lease_until=timezone.now() - timedelta(seconds=1))
    assert tag_wecom.push_pending().calls == 1  # only the row that was never sent
    assert mark_tag_calls(corp) == 2
    assert wecom_tags(corp, bank.customers["b_shared"]) == {"operator_a": {"有理财意向"}}


def test_a_later_change_of_the_same_pair_supersedes_a_stuck_one(corp, bank, intention):
    customer = bank.customers["a_own"]
    tag_add(customer, intention, source="manual")
    TagPush.objects.update(status="sending", lease_until=timezone.now() - timedelta(seconds=1), claim_token="dead")
    tag_remove(customer, intention, source="manual")
    tag_wecom.push_pending()
    assert sorted(TagPush.objects.values_list("action", "status")) == [("add", "skipped"), ("remove", "done")]


# --- tags changed in WeCom come back ---------------------------------------------------------------------------


def _callback(customer, userid: str) -> CallbackEvent:
    return CallbackEvent.objects.create(
        dedupe_key=f"edit:{customer.pk}:{userid}:{timezone.now().timestamp()}",
        event="change_external_contact",
        change_type="edit_external_contact",
        payload={"UserID": userid, "ExternalUserID": customer.external_userid, "CreateTime": "1780000000"},
        raw_xml="<xml/>",
    )


def test_a_manual_tag_changed_in_the_wecom_client_comes_back(corp, bank, intention):
    customer = bank.customers["a_followed"]
    corp.event(
        change_type="edit_external_contact",
        userid="operator_a",
        external_userid=customer.external_userid,
        add_tag=[intention.wecom_tag_id],
    )
    refresh_contact(_callback(customer, "operator_a"))
    row = CustomerTag.objects.get(customer=customer)
    assert (row.tag, row.source) == (intention, TagSource.WECOM)
    assert TagChange.objects.get().source == TagSource.WECOM
    # The customer's other operator gets it too; the one who set it is not asked again.
    assert list(TagPush.objects.values_list("follow__operator__wecom_userid", "action")) == [("operator_a2", "add")]
    tag_wecom.push_pending()
    assert wecom_tags(corp, customer) == {"operator_a": {"有理财意向"}, "operator_a2": {"有理财意向"}}
    corp.event(
        change_type="edit_external_contact",
        userid="operator_a2",
        external_userid=customer.external_userid,
        remove_tag=[intention.wecom_tag_id],
    )
    refresh_contact(_callback(customer, "operator_a2"))
    assert not CustomerTag.objects.filter(customer=customer).exists()
    assert TagChange.objects.filter(action="removed", source="wecom").count() == 1
    tag_wecom.push_pending()
    assert wecom_tags(corp, customer) == {"operator_a": set(), "operator_a2": set()}
    refresh_contact(_callback(customer, "operator_a"))  # nothing new: nothing changes
    assert TagChange.objects.count() == 2


def test_a_rule_tag_changed_in_wecom_is_set_back(corp, bank, intention):
    group = services.tag_group_create(name="资产等级")
    rule_tag = services.tag_create(group=group, name="百万级", kind="rule")
    customer = bank.customers["a_own"]
    corp.event(
        change_type="edit_external_contact",
        userid="operator_a",
        external_userid=customer.external_userid,
        add_tag=[rule_tag.wecom_tag_id],
    )
    refresh_contact(_callback(customer, "operator_a"))
    assert not CustomerTag.objects.exists()  # a rule decides who has it, not the WeCom client
    tag_wecom.push_pending()
    assert wecom_tags(corp, customer) == {"operator_a": set()}


def test_our_push_in_flight_is_not_undone_by_an_older_read_of_wecom(corp, bank, intention):
    customer = bank.customers["a_own"]
    read_at = timezone.now()
    tag_add(customer, intention, source="manual")
    tag_wecom.push_pending()
    # The follow as a sync read it before our push landed: without the tag.
    follow = customer.follows.get()
    FollowRelationship.objects.filter(pk=follow.pk).update(wecom_tag_ids=[])
    tag_wecom.apply_wecom_follow_tags([customer.pk], read_at=read_at)
    assert CustomerTag.objects.filter(customer=customer).exists()
    assert WeComFollowTags.objects.get(follow=follow).tag_ids == [intention.wecom_tag_id]


def test_a_sync_brings_wecom_tags_and_corp_tags_in(sandbox, bank):  # noqa: F811
    seed_corp(sandbox, bank, tags=[{"group_name": "客户意向", "tag": [{"name": "老客户推荐"}]}])
    group_id = sandbox.api("externalcontact/get_corp_tag_list", {})["tag_group"][0]
    tag_id = group_id["tag"][0]["id"]
    customer = bank.customers["a_own"]
    sandbox.event(
        change_type="edit_external_contact", userid="operator_a", external_userid=customer.external_userid,
        add_tag=[tag_id],
    )  # fmt: skip
    run = run_sync(SyncRun.objects.create(kind=SyncRun.Kind.FULL))
    assert run.status == SyncRun.Status.SUCCEEDED, run.error
    tag = Tag.objects.get(wecom_tag_id=tag_id)
    assert (tag.name, tag.kind, tag.group.name, tag.group.wecom_group_id) == (
        "老客户推荐",
        "manual",
        "客户意向",
        group_id["group_id"],
    )
    assert list(CustomerTag.objects.values_list("customer_id", "source")) == [(customer.pk, "wecom")]
    assert run.counts["wecom_tags_added"] == 1 and run.counts["library_created"] == 1
    again = run_sync(SyncRun.objects.create(kind=SyncRun.Kind.FULL))
    assert "wecom_tags_added" not in again.counts and TagChange.objects.count() == 1


def test_corp_tags_created_renamed_and_deleted_in_wecom_follow_here(
    corp, bank, intention, django_capture_on_commit_callbacks
):
    tag_add(bank.customers["a_own"], intention, source="manual")
    created = corp.event(event="change_external_tag", change_type="create", tag_name="高净值潜力")
    sync_corp_tags()
    new = Tag.objects.get(name="高净值潜力")
    assert new.kind == Tag.Kind.MANUAL and new.wecom_tag_id == created["fields"]["Id"] and new.group == intention.group
    corp.event(event="change_external_tag", change_type="update", tag_id=new.wecom_tag_id, tag_type="tag",
               tag_name="潜力客户")  # fmt: skip
    sync_corp_tags()
    new.refresh_from_db()
    assert new.name == "潜力客户"
    with django_capture_on_commit_callbacks(execute=False) as callbacks:
        corp.event(event="change_external_tag", change_type="delete", tag_id=intention.wecom_tag_id, tag_type="tag")
        sync_corp_tags()
    assert len(callbacks) == 1  # the task that takes the tag from its customers
    intention.refresh_from_db()
    assert not intention.is_active and intention.wecom_tag_id is None
    clear_tag(intention.pk, None, TagSource.WECOM)
    assert not CustomerTag.objects.exists()
    assert TagChange.objects.filter(action="removed", source="wecom").count() == 1


def test_a_rename_waiting_for_wecom_is_not_undone_by_a_sync(corp, intention):
    corp.faults(error_rate=1.0, path_prefix="externalcontact/edit_corp_tag")
    services.tag_update(intention, name="理财意向强", kind="manual", description="", order=0)
    assert Tag.objects.get(pk=intention.pk).wecom_state == WeComState.PENDING
    sync_corp_tags()  # WeCom still has the old name
    assert Tag.objects.get(pk=intention.pk).name == "理财意向强"
    corp.clear_faults()
    tag_wecom.sync_library()
    assert corp_tag_names(corp) == {"客户意向": {"理财意向强"}}
    assert Tag.objects.get(pk=intention.pk).wecom_state == WeComState.SYNCED
