"""What WeCom says about contacts becomes customers and follows: matching, idempotency, linking, transfers."""

from collections import Counter
from datetime import timedelta

import pytest
from django.utils import timezone

from integrations.wecom import contacts, transfers
from integrations.wecom.models import ContactTransfer
from tagging.models import Customer, CustomerEvent, FollowRelationship
from tests.factories import CustomerFactory

pytestmark = pytest.mark.django_db

NOW = 1_790_000_000  # a WeCom createtime


def _contact(external_userid="wmNEW0001", name="新朋友", unionid=None, gender=2):
    return {"external_userid": external_userid, "name": name, "type": 1, "gender": gender, "unionid": unionid}


def _follow(userid, *, remark="", state="", tags=(), mobiles=(), createtime=NOW, add_way=1):
    return {
        "userid": userid,
        "remark": remark,
        "description": "",
        "createtime": createtime,
        "tags": [{"tag_id": tag, "type": 1, "group_name": "g", "tag_name": tag} for tag in tags],
        "remark_mobiles": list(mobiles),
        "add_way": add_way,
        "state": state,
    }


def test_a_new_contact_nobody_knows_is_kept_as_an_unmatched_contact(bank):
    stats = Counter()
    customer = contacts.upsert_contact(
        _contact(), [_follow("operator_a", state="qr_outlet_a", tags=["et1"])], source="test", stats=stats
    )
    assert customer.is_unmatched_contact and customer.customer_no is None
    assert customer.owner == bank.operators["operator_a"] and customer.branch == bank.outlet_a
    assert customer.gender == Customer.Gender.FEMALE
    follow = customer.follows.get()
    assert (follow.state, follow.wecom_tag_ids, follow.add_way) == ("qr_outlet_a", ["et1"], 1)
    assert stats == Counter(customers_created=1, follows_created=1)


def test_applying_the_same_data_again_changes_nothing(bank):
    data = (_contact(), [_follow("operator_a", remark="王阿姨"), _follow("operator_a2")])
    contacts.upsert_contact(*data, source="test")
    stats = Counter()
    contacts.upsert_contact(*data, source="test", stats=stats)
    assert stats == Counter()
    assert FollowRelationship.objects.filter(customer__external_userid="wmNEW0001").count() == 2


def test_matched_by_unionid_to_a_bank_customer(bank):
    known = CustomerFactory(external_userid=None, unionid="oUNION1", owner=bank.operators["operator_a"])
    customer = contacts.upsert_contact(_contact(unionid="oUNION1"), [_follow("operator_a")], source="test")
    assert customer.pk == known.pk and customer.external_userid == "wmNEW0001"
    assert customer.name == known.name  # the bank's name is master data, WeChat's nickname does not replace it


def test_matched_by_a_remark_mobile_naming_exactly_one_customer(bank):
    known = CustomerFactory(external_userid=None, mobile="13700001111", owner=bank.operators["operator_a"])
    customer = contacts.upsert_contact(_contact(), [_follow("operator_a", mobiles=["13700001111"])], source="test")
    assert customer.pk == known.pk


def test_an_ambiguous_remark_mobile_matches_nobody(bank):
    for _ in range(2):
        CustomerFactory(external_userid=None, mobile="13700002222", owner=bank.operators["operator_a"])
    customer = contacts.upsert_contact(_contact(), [_follow("operator_a", mobiles=["13700002222"])], source="test")
    assert customer.is_unmatched_contact


def test_changes_are_applied_and_a_complete_list_ends_missing_follows(bank):
    contacts.upsert_contact(_contact(), [_follow("operator_a"), _follow("operator_a2")], source="test")
    stats = Counter()
    contacts.upsert_contact(_contact(), [_follow("operator_a", remark="改了")], source="test", stats=stats)
    assert stats == Counter(follows_updated=1, follows_ended=1)
    ended = FollowRelationship.objects.get(customer__external_userid="wmNEW0001", operator__wecom_userid="operator_a2")
    assert ended.deleted_by == FollowRelationship.DeletedBy.SYNC and ended.deleted_at


def test_followers_unknown_to_us_are_skipped(bank):
    customer = contacts.upsert_contact(_contact(), [_follow("not-a-member"), _follow("operator_b")], source="test")
    assert [f.operator.wecom_userid for f in customer.follows.all()] == ["operator_b"]


def test_end_follow_marks_who_deleted_and_is_idempotent(bank):
    contacts.upsert_contact(_contact(), [_follow("operator_a")], source="test")
    at = timezone.now()
    follow = contacts.end_follow(external_userid="wmNEW0001", userid="operator_a", deleted_by="customer", at=at)
    assert follow.deleted_by == "customer" and follow.deleted_at == at
    assert contacts.end_follow(external_userid="wmNEW0001", userid="operator_a", deleted_by="customer", at=at) is None


def test_link_contact_moves_wecom_ids_and_follows_to_the_bank_customer(bank, django_user_model):
    contact = contacts.upsert_contact(_contact(unionid="oU2"), [_follow("operator_a")], source="test")
    bank_customer = CustomerFactory(external_userid=None, unionid=None, owner=bank.operators["operator_a"])
    linked = contacts.link_contact(contact=contact, customer=bank_customer, actor=bank.user("admin"))
    assert (linked.external_userid, linked.unionid) == ("wmNEW0001", "oU2")
    assert not Customer.objects.filter(pk=contact.pk).exists()
    assert linked.follows.filter(operator__wecom_userid="operator_a", deleted_at=None).exists()
    assert CustomerEvent.objects.filter(customer=linked, kind=CustomerEvent.Kind.CONTACT_LINKED).exists()
    with pytest.raises(ValueError):
        contacts.link_contact(contact=linked, customer=bank.customers["a_own"], actor=None)


def _transfer(bank, customer, status=ContactTransfer.Status.WAITING, **kwargs):
    return ContactTransfer.objects.create(
        kind=ContactTransfer.Kind.ON_THE_JOB,
        customer=customer,
        external_userid=customer.external_userid,
        handover=bank.operators["operator_a"],
        takeover=bank.operators["operator_a2"],
        status=status,
        **kwargs,
    )


def test_a_successful_transfer_moves_owner_and_follow(bank):
    customer = bank.customers["a_own"]
    row = _transfer(bank, customer)
    assert transfers.apply_result(row, {"external_userid": customer.external_userid, "status": 1, "takeover_time": NOW})
    customer.refresh_from_db()
    assert customer.owner == bank.operators["operator_a2"]
    old = customer.follows.get(operator=bank.operators["operator_a"])
    assert old.deleted_by == FollowRelationship.DeletedBy.TRANSFER
    assert customer.follows.filter(operator=bank.operators["operator_a2"], deleted_at=None).exists()
    assert not transfers.apply_result(row, {"status": 1})  # already final: applied once


@pytest.mark.parametrize(("status", "expected"), [(2, "waiting"), (3, "refused"), (4, "takeover_limit")])
def test_other_outcomes_leave_the_owner_alone(bank, status, expected):
    customer = bank.customers["a_own"]
    row = _transfer(bank, customer)
    transfers.apply_result(row, {"external_userid": customer.external_userid, "status": status})
    row.refresh_from_db()
    customer.refresh_from_db()
    assert row.status == expected and customer.owner == bank.operators["operator_a"]


def test_the_third_transfer_in_90_days_is_refused_before_calling_wecom(bank):
    customer = bank.customers["a_own"]
    for _ in range(2):
        _transfer(bank, customer, status=ContactTransfer.Status.SUCCEEDED)
    ContactTransfer.objects.filter(customer=customer).update(requested_at=timezone.now() - timedelta(days=10))
    (row,) = transfers.request_transfers(
        customers=[customer],
        handover=bank.operators["operator_a"],
        takeover=bank.operators["operator_a2"],
        actor=bank.user("manager_a"),
    )
    assert (row.status, row.errcode) == (ContactTransfer.Status.REJECTED, transfers.LIMIT_ERRCODE)


def test_transfer_fail_callback_settles_open_transfers(bank):
    customer = bank.customers["a_own"]
    row = _transfer(bank, customer)
    count = contacts.record_transfer_failed(
        external_userid=customer.external_userid,
        takeover_userid="operator_a2",
        reason="customer_refused",
        at=timezone.now(),
    )
    row.refresh_from_db()
    assert count == 1 and row.status == ContactTransfer.Status.REFUSED
