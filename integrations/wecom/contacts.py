"""Writes that turn what WeCom says about external contacts into customers and follow relationships.

Used by the sync (pages of contacts) and the callbacks (one contact). Everything here is idempotent: applying
the same WeCom data twice changes nothing the second time, so retried callbacks and re-run syncs are safe.

A WeCom contact is matched to a bank customer by external_userid, then unionid, then a remark mobile that
names exactly one bank customer; otherwise it is kept as an unmatched contact (a customer row without a
customer number) that an admin can link later (`link_contact`).
"""

import logging
from collections import Counter
from datetime import UTC, datetime

from django.db import IntegrityError, transaction
from django.utils import timezone

from tagging.models import AddWay, Customer, CustomerEvent, FollowRelationship
from workbench.org.models import Operator
from workbench.pii import lookup_hash

logger = logging.getLogger(__name__)
_GENDERS = {1: Customer.Gender.MALE, 2: Customer.Gender.FEMALE}
_FOLLOW_FIELDS = ("remark", "description", "state", "add_way", "wecom_tag_ids")


def operator_ids_by_userid(userids) -> dict[str, int]:
    return dict(Operator.objects.filter(wecom_userid__in=set(userids)).values_list("wecom_userid", "pk"))


def _when(createtime) -> datetime:
    try:
        return datetime.fromtimestamp(int(createtime), tz=UTC)
    except (TypeError, ValueError, OverflowError):
        return timezone.now()


def _tag_ids(follow_user: dict) -> list[str]:
    """`externalcontact/get` lists tags as objects, `batch/get_by_user` as ids; corp tags only (type 1)."""
    if "tag_id" in follow_user:
        return sorted(follow_user.get("tag_id") or [])
    return sorted(tag["tag_id"] for tag in follow_user.get("tags") or [] if tag.get("type", 1) == 1)


def _follow_values(follow_user: dict) -> dict:
    add_way = follow_user.get("add_way")
    return {
        "remark": (follow_user.get("remark") or "")[:20],
        "description": (follow_user.get("description") or "")[:150],
        "state": (follow_user.get("state") or "")[:30],
        "add_way": add_way if add_way in AddWay.values else AddWay.UNKNOWN,
        "wecom_tag_ids": _tag_ids(follow_user),
    }


def _match(contact: dict, follow_users: list[dict]) -> Customer | None:
    external_userid = contact["external_userid"]
    customer = Customer.objects.filter(external_userid=external_userid).first()
    if customer is not None:
        return customer
    unionid = contact.get("unionid")
    if unionid:
        customer = Customer.objects.filter(unionid=unionid, external_userid__isnull=True).first()
        if customer is not None:
            return customer
    mobiles = {mobile for follow in follow_users for mobile in follow.get("remark_mobiles") or [] if mobile}
    if mobiles:
        hashes = [lookup_hash(mobile.strip()) for mobile in mobiles]
        candidates = list(
            Customer.objects.filter(mobile_hash__in=hashes, external_userid__isnull=True, customer_no__isnull=False)[:2]
        )
        if len(candidates) == 1:
            return candidates[0]
    return None


@transaction.atomic
def upsert_contact(
    contact: dict,
    follow_users: list[dict],
    *,
    source: str,
    complete: bool = True,
    stats: Counter | None = None,
    seen_follow_ids: set[int] | None = None,
) -> Customer:
    """The customer for this WeCom contact, with a live follow per follower we know as an operator.

    `complete`: `follow_users` is every follower WeCom has (externalcontact/get, or a full sync's gathering),
    so a live follow missing from it has ended. `seen_follow_ids` collects the ids of the live follows applied.
    `source` ("sync", "callback") names the caller in the log.
    """
    stats = stats if stats is not None else Counter()
    operators = operator_ids_by_userid(follow["userid"] for follow in follow_users)
    follow_users = [follow for follow in follow_users if follow.get("userid") in operators]
    customer = _match(contact, follow_users)
    if customer is None:
        customer = _create_unmatched(contact, follow_users, operators)
        stats["customers_created"] += 1
    elif _update_customer(customer, contact, follow_users, operators):
        stats["customers_updated"] += 1
    seen = _apply_follows(customer, follow_users, operators, complete=complete, stats=stats)
    if seen_follow_ids is not None:
        seen_follow_ids.update(seen)
    logger.debug("%s: contact %s applied as customer %s", source, contact["external_userid"], customer.pk)
    return customer


def _earliest_follower(follow_users: list[dict], operators: dict[str, int]) -> int | None:
    ordered = sorted(follow_users, key=lambda follow: int(follow.get("createtime") or 0))
    return operators[ordered[0]["userid"]] if ordered else None


def _create_unmatched(contact: dict, follow_users: list[dict], operators: dict[str, int]) -> Customer:
    owner_id = _earliest_follower(follow_users, operators)
    branch_id = Operator.objects.filter(pk=owner_id).values_list("branch_id", flat=True).first() if owner_id else None
    unionid = contact.get("unionid") or None
    if unionid and Customer.objects.filter(unionid=unionid).exists():
        unionid = None  # already on another customer with its own external_userid: keep that link, not this one
    return Customer.objects.create(
        customer_no=None,
        name=(contact.get("name") or contact["external_userid"])[:64],
        gender=_GENDERS.get(contact.get("gender"), Customer.Gender.UNKNOWN),
        external_userid=contact["external_userid"],
        unionid=unionid,
        owner_id=owner_id,
        branch_id=branch_id,
    )


def _update_customer(customer: Customer, contact: dict, follow_users: list[dict], operators: dict[str, int]) -> bool:
    changed = []
    if customer.external_userid != contact["external_userid"]:
        customer.external_userid = contact["external_userid"]
        changed.append("external_userid")
    unionid = contact.get("unionid") or None
    if unionid and not customer.unionid and not Customer.objects.filter(unionid=unionid).exists():
        customer.unionid = unionid
        changed.append("unionid")
    if customer.is_unmatched_contact and contact.get("name") and customer.name != contact["name"][:64]:
        customer.name = contact["name"][:64]  # a bank customer's name is master data; a contact's is WeChat's
        changed.append("name")
    if customer.owner_id is None and follow_users:
        customer.owner_id = _earliest_follower(follow_users, operators)
        customer.branch_id = Operator.objects.filter(pk=customer.owner_id).values_list("branch_id", flat=True).first()
        changed += ["owner", "branch"]
    if changed:
        customer.save(update_fields=[*changed, "updated_at"])
    return bool(changed)


def _apply_follows(customer, follow_users, operators, *, complete: bool, stats: Counter) -> set[int]:
    live = {
        follow.operator_id: follow for follow in FollowRelationship.objects.filter(customer=customer, deleted_at=None)
    }
    seen, applied = set(), set()
    for follow_user in follow_users:
        operator_id = operators[follow_user["userid"]]
        seen.add(operator_id)
        values = _follow_values(follow_user)
        follow = live.get(operator_id)
        if follow is None:
            try:
                with transaction.atomic():
                    created = FollowRelationship.objects.create(
                        customer=customer,
                        operator_id=operator_id,
                        added_at=_when(follow_user.get("createtime")),
                        **values,
                    )
                applied.add(created.pk)
                stats["follows_created"] += 1
            except IntegrityError:  # a concurrent callback created it first: same data, nothing to do
                applied.update(
                    FollowRelationship.objects.filter(
                        customer=customer, operator_id=operator_id, deleted_at=None
                    ).values_list("pk", flat=True)
                )
            continue
        applied.add(follow.pk)
        changed = [field for field in _FOLLOW_FIELDS if getattr(follow, field) != values[field]]
        if changed:
            for field in changed:
                setattr(follow, field, values[field])
            follow.save(update_fields=changed)
            stats["follows_updated"] += 1
    if complete:
        for operator_id, follow in live.items():
            if operator_id not in seen:
                follow.deleted_at = timezone.now()
                follow.deleted_by = FollowRelationship.DeletedBy.SYNC
                follow.save(update_fields=["deleted_at", "deleted_by"])
                stats["follows_ended"] += 1
    return applied


def end_follow(*, external_userid: str, userid: str, deleted_by: str, at: datetime) -> FollowRelationship | None:
    """Mark the live follow between this contact and member ended; None when there is none (already ended)."""
    follow = (
        FollowRelationship.objects.select_for_update()
        .filter(customer__external_userid=external_userid, operator__wecom_userid=userid, deleted_at=None)
        .first()
    )
    if follow is None:
        return None
    follow.deleted_at = at
    follow.deleted_by = deleted_by
    follow.save(update_fields=["deleted_at", "deleted_by"])
    return follow


def record_transfer_failed(*, external_userid: str, takeover_userid: str, reason: str, at: datetime) -> int:
    """A `transfer_fail` callback: the open transfers of this customer to this member failed. Returns how many."""
    from integrations.wecom.models import ContactTransfer

    status = ContactTransfer.Status.REFUSED if reason == "customer_refused" else ContactTransfer.Status.TAKEOVER_LIMIT
    open_transfers = ContactTransfer.objects.filter(
        external_userid=external_userid,
        takeover__wecom_userid=takeover_userid,
        status__in=[ContactTransfer.Status.REQUESTED, ContactTransfer.Status.WAITING],
    )
    transfers = list(open_transfers)
    for transfer in transfers:
        transfer.status = status
        transfer.checked_at = at
        transfer.save(update_fields=["status", "checked_at"])
        CustomerEvent.objects.create(
            customer_id=transfer.customer_id,
            occurred_at=at,
            kind=CustomerEvent.Kind.TRANSFER,
            summary=f"{transfer.handover.name} → {transfer.takeover.name}: {transfer.get_status_display()}",
            operator=transfer.takeover,
            data={"transfer": transfer.pk, "reason": reason},
        )
    return len(transfers)


@transaction.atomic
def link_contact(*, contact: Customer, customer: Customer, actor) -> Customer:
    """Merge an unmatched WeCom contact into the bank customer it is: WeCom ids and follows move over."""
    if not contact.is_unmatched_contact or customer.is_unmatched_contact or contact.pk == customer.pk:
        raise ValueError("link an unmatched contact to a bank customer")
    if customer.external_userid:
        raise ValueError("this bank customer is already linked to a WeCom contact")
    external_userid, unionid = contact.external_userid, contact.unionid
    live_operator_ids = set(customer.follows.filter(deleted_at=None).values_list("operator_id", flat=True))
    contact.follows.exclude(operator_id__in=live_operator_ids, deleted_at=None).update(customer=customer)
    contact.delete()
    customer.external_userid = external_userid
    customer.unionid = customer.unionid or unionid
    customer.save(update_fields=["external_userid", "unionid", "updated_at"])
    CustomerEvent.objects.create(
        customer=customer,
        occurred_at=timezone.now(),
        kind=CustomerEvent.Kind.CONTACT_LINKED,
        summary=external_userid,
        operator=getattr(actor, "operator", None),
        data={"external_userid": external_userid},
    )
    return customer
