"""Sync against the sandbox: the same organisation and customers as WeCom holds, once, under faults."""

import io
import json

import pytest
from django.core.management import call_command

from integrations.wecom.models import CorpTag, SyncRun
from integrations.wecom.sync import TOTALS, run_sync
from tagging.models import Customer, FollowRelationship
from tests.factories import CustomerFactory
from tests.wecom_sandbox import sandbox, wecom_sandbox  # noqa: F401 - fixtures
from workbench.org.models import Branch, Operator

pytestmark = pytest.mark.django_db

N_CONTACTS = 230  # more than two pages of batch/get_by_user


def corp_payload(*, contacts=N_CONTACTS, drop_follow=None, extra_contact=False, leaver=None):
    members = [
        {"userid": "m_fen", "name": "分行经理", "department": [2]},
        {"userid": "m_zhi", "name": "支行经理", "department": [3]},
        {"userid": "m_out1", "name": "网点一号", "department": [4]},
        {"userid": "m_out2", "name": "网点二号", "department": [4]},
        {"userid": "m_new", "name": "新员工", "department": [4]},  # no customers yet
    ]
    for member in members:
        if member["userid"] == leaver:
            member["status"] = 5
    userids = ["m_out1", "m_out2", "m_zhi"]
    ids = [f"wmS{i:05d}" for i in range(contacts)] + (["wmEXTRA"] if extra_contact else [])
    follows = [
        {
            "userid": userids[i % 3],
            "external_userid": external_userid,
            "remark": f"备注{i}",
            "state": "qr_demo" if i % 5 == 0 else "",
            "add_way": 1,
            "createtime": 1_780_000_000 + i,
        }
        for i, external_userid in enumerate(ids)
    ]
    follows.append({"userid": "m_fen", "external_userid": "wmS00000", "createtime": 1_780_500_000})
    follows = [f for f in follows if (f["userid"], f["external_userid"]) != drop_follow]
    return {
        "departments": [
            {"id": 1, "name": "省农商银行总行", "parentid": 0},
            {"id": 2, "name": "城东分行", "parentid": 1},
            {"id": 3, "name": "城东支行", "parentid": 2},
            {"id": 4, "name": "花园网点", "parentid": 3},
        ],
        "members": members,
        "contacts": [
            {
                "external_userid": external_userid,
                "name": f"微信客户{n}",
                "type": 1,
                "gender": 1,
                "unionid": f"oS{n:05d}",
            }
            for n, external_userid in enumerate(ids)
        ],
        "follows": follows,
        "tags": [{"group_name": "客群", "tag": [{"name": "代发"}, {"name": "退休"}, {"name": "白领"}]}],
    }


def _sync(kind=SyncRun.Kind.FULL) -> SyncRun:
    run = run_sync(SyncRun.objects.create(kind=kind))
    assert run.status == SyncRun.Status.SUCCEEDED, run.error
    return run


def test_full_sync_builds_what_wecom_holds_with_one_gettoken(sandbox):  # noqa: F811
    sandbox.seed(corp_payload())
    banker = CustomerFactory(external_userid=None, unionid="oS00007", owner=None, customer_no="C00000000007")
    out = io.StringIO()
    call_command("wecom_sync", "--full", stdout=out)
    summary = json.loads(out.getvalue().strip().splitlines()[-1])
    assert {k: summary[k] for k in ("departments", "members", "customers", "follow_relationships", "tags")} == {
        "departments": 4,
        "members": 5,
        "customers": N_CONTACTS,
        "follow_relationships": N_CONTACTS + 1,
        "tags": 3,
    }
    levels = dict(Branch.objects.values_list("wecom_department_id", "level"))
    assert levels == {
        1: Branch.Level.HEAD_OFFICE,
        2: Branch.Level.BRANCH,
        3: Branch.Level.SUB_BRANCH,
        4: Branch.Level.OUTLET,
    }
    assert Branch.objects.get(wecom_department_id=4).path.startswith(Branch.objects.get(wecom_department_id=3).path)
    assert set(Operator.objects.values_list("wecom_userid", flat=True)) == {
        "m_fen",
        "m_zhi",
        "m_out1",
        "m_out2",
        "m_new",
    }
    assert Customer.objects.filter(external_userid__startswith="wmS").count() == N_CONTACTS
    banker.refresh_from_db()
    assert banker.external_userid == "wmS00007"  # matched by unionid, not duplicated
    assert Customer.objects.filter(customer_no__isnull=True).count() == N_CONTACTS - 1
    assert FollowRelationship.objects.filter(deleted_at=None).count() == N_CONTACTS + 1
    assert FollowRelationship.objects.filter(state="qr_demo").count() == len(range(0, N_CONTACTS, 5))
    assert CorpTag.objects.count() == 3
    assert sandbox.state()["gettoken_calls"] == 1


def test_a_second_sync_of_an_unchanged_corp_changes_nothing(sandbox):  # noqa: F811
    sandbox.seed(corp_payload())
    _sync()
    before = list(Customer.objects.order_by("pk").values_list("pk", "updated_at"))
    second = _sync()
    assert {name: value for name, value in second.counts.items() if name not in TOTALS} == {}
    assert list(Customer.objects.order_by("pk").values_list("pk", "updated_at")) == before


def test_a_sync_that_would_delete_most_corp_tags_is_held_back_until_accepted(sandbox):  # noqa: F811
    sandbox.seed(corp_payload())
    tags = [{"name": f"标签{n}"} for n in range(12)]
    group = sandbox.api("externalcontact/add_corp_tag", {"group_name": "资产等级", "tag": tags})["tag_group"]
    assert _sync().counts["tags_created"] == 15  # the payload's 3 and these 12
    ids = [tag["id"] for tag in group["tag"]]
    sandbox.api("externalcontact/del_corp_tag", {"tag_id": ids[:2]})  # an admin deletes two: applied
    assert _sync(SyncRun.Kind.INCREMENTAL).counts["tags_deleted"] == 2
    sandbox.api("externalcontact/del_corp_tag", {"tag_id": ids[2:]})  # ten of the thirteen left go at once
    held = _sync(SyncRun.Kind.INCREMENTAL)
    assert held.counts["tags_deletion_held"] == 10 and "tags_deleted" not in held.counts
    assert CorpTag.objects.filter(deleted_at=None).count() == 13
    call_command("wecom_sync", "--accept-tag-deletions", stdout=io.StringIO(), stderr=io.StringIO())
    assert CorpTag.objects.filter(deleted_at=None).count() == 3


def test_changes_in_wecom_arrive_with_the_incremental_sync(sandbox):  # noqa: F811
    sandbox.seed(corp_payload())
    _sync()
    sandbox.seed(corp_payload(extra_contact=True, drop_follow=("m_out1", "wmS00003"), leaver="m_out2"))
    run = _sync(SyncRun.Kind.INCREMENTAL)
    assert run.counts["operators_resigned"] == 1
    assert Operator.objects.get(wecom_userid="m_out2").status == Operator.Status.RESIGNED
    assert Customer.objects.filter(external_userid="wmEXTRA").exists()
    ended = FollowRelationship.objects.get(customer__external_userid="wmS00003", operator__wecom_userid="m_out1")
    assert ended.deleted_by == FollowRelationship.DeletedBy.SYNC


def test_a_full_sync_under_faults_ends_complete_and_without_duplicates(sandbox, settings):  # noqa: F811
    settings.WECOM_MAX_RETRIES = 6
    sandbox.seed(corp_payload())
    _sync()  # a token is in the cache now; the faults below hit a sync that holds one
    Customer.objects.all().delete()
    sandbox.faults(invalidate_tokens=True, freq_limit_next=3, http_error_next=2, concurrency_limit=1)
    run = _sync()
    assert run.counts["customers"] == N_CONTACTS
    assert Customer.objects.count() == N_CONTACTS
    assert FollowRelationship.objects.filter(deleted_at=None).count() == N_CONTACTS + 1
    pairs = list(FollowRelationship.objects.filter(deleted_at=None).values_list("customer_id", "operator_id"))
    assert len(pairs) == len(set(pairs))


def test_a_sync_that_fails_says_why(sandbox, settings):  # noqa: F811
    settings.WECOM_SECRET = "wrong-secret"
    run = run_sync(SyncRun.objects.create(kind=SyncRun.Kind.FULL))
    assert run.status == SyncRun.Status.FAILED and "40001" in run.error
