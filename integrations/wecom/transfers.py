"""Customer transfers through WeCom (在职继承 / 离职继承).

A transfer row is written before WeCom is asked, so a crash between the two leaves a visible `requested` row
that the poller settles, never an invisible call. The owner (管户) changes only when WeCom reports the
takeover done. WeCom allows two transfers of one customer per 90 days (40128); we refuse the third ourselves
before spending a call.
"""

from collections import defaultdict
from datetime import UTC, datetime, timedelta

from django.db import transaction
from django.utils import timezone

from integrations.wecom.client import TRANSFER_CUSTOMERS_MAX, get_client
from integrations.wecom.errors import WeComError
from integrations.wecom.models import ContactTransfer
from tagging.models import Customer, CustomerEvent, FollowRelationship
from tagging.services import customer_set_owner
from workbench.org.models import Operator

TRANSFERS_PER_WINDOW = 2
TRANSFER_WINDOW = timedelta(days=90)
LIMIT_ERRCODE = 40128
_RESULT_STATUS = {
    1: ContactTransfer.Status.SUCCEEDED,
    2: ContactTransfer.Status.WAITING,
    3: ContactTransfer.Status.REFUSED,
    4: ContactTransfer.Status.TAKEOVER_LIMIT,
    5: ContactTransfer.Status.FAILED,
}


class TransferError(ValueError):
    """The request itself cannot be carried out (shown to the user as is)."""


def recent_transfer_counts(customer_ids) -> dict[int, int]:
    since = timezone.now() - TRANSFER_WINDOW
    counts = defaultdict(int)
    rows = ContactTransfer.objects.filter(
        customer_id__in=customer_ids,
        requested_at__gte=since,
        status__in=[ContactTransfer.Status.WAITING, ContactTransfer.Status.SUCCEEDED],
    ).values_list("customer_id", flat=True)
    for customer_id in rows:
        counts[customer_id] += 1
    return counts


def request_transfers(
    *, customers: list[Customer], handover: Operator, takeover: Operator, actor, message: str = ""
) -> list[ContactTransfer]:
    """Transfer these customers of `handover` to `takeover`; one row per customer, whatever WeCom answers."""
    if handover.pk == takeover.pk:
        raise TransferError("The handover and takeover operators must differ.")
    if takeover.status != Operator.Status.ACTIVE or not takeover.wecom_userid:
        raise TransferError("The takeover operator must be an active WeCom member.")
    if not handover.wecom_userid:
        raise TransferError("The handover operator is not a WeCom member.")
    resigned = handover.status == Operator.Status.RESIGNED
    kind = ContactTransfer.Kind.RESIGNED if resigned else ContactTransfer.Kind.ON_THE_JOB
    following = set(
        FollowRelationship.objects.filter(operator=handover, deleted_at=None, customer__in=customers).values_list(
            "customer_id", flat=True
        )
    )
    open_ids = set(
        ContactTransfer.objects.filter(
            customer__in=customers, status__in=[ContactTransfer.Status.REQUESTED, ContactTransfer.Status.WAITING]
        ).values_list("customer_id", flat=True)
    )
    counts = recent_transfer_counts([customer.pk for customer in customers])
    rows, to_call = [], []
    for customer in customers:
        row = ContactTransfer(
            kind=kind,
            customer=customer,
            external_userid=customer.external_userid or "",
            handover=handover,
            takeover=takeover,
            message=message[:200],
            requested_by=actor,
        )
        if customer.pk in open_ids:
            continue  # already on its way: asking twice would only earn 40129
        if customer.pk not in following or not customer.external_userid:
            row.status, row.errcode = ContactTransfer.Status.REJECTED, 40131
        elif counts[customer.pk] >= TRANSFERS_PER_WINDOW:
            row.status, row.errcode = ContactTransfer.Status.REJECTED, LIMIT_ERRCODE
        else:
            to_call.append(row)
        rows.append(row)
    ContactTransfer.objects.bulk_create(rows)
    client = get_client()
    for start in range(0, len(to_call), TRANSFER_CUSTOMERS_MAX):
        batch = to_call[start : start + TRANSFER_CUSTOMERS_MAX]
        try:
            answers = client.transfer_customer(
                handover.wecom_userid,
                takeover.wecom_userid,
                [row.external_userid for row in batch],
                resigned=resigned,
                message=message,
            )
        except WeComError as exc:
            # Permanent: WeCom refused the whole call. Transient: it may or may not have arrived, so the rows
            # stay `requested` and the poller learns the truth from transfer_result.
            _settle(batch, None if exc.transient else ContactTransfer.Status.REJECTED, exc.errcode)
            continue
        errcodes = {answer.get("external_userid"): answer.get("errcode", 0) for answer in answers}
        for row in batch:
            errcode = errcodes.get(row.external_userid, 0)
            row.status = ContactTransfer.Status.WAITING if errcode == 0 else ContactTransfer.Status.REJECTED
            row.errcode = errcode or None
            row.save(update_fields=["status", "errcode"])
    return rows


def _settle(rows, status, errcode) -> None:
    for row in rows:
        if status is not None:
            row.status = status
        row.errcode = errcode
        row.save(update_fields=["status", "errcode"])


def poll_transfer_results() -> int:
    """Ask WeCom how every open transfer went; apply the outcomes. Returns how many transfers were settled."""
    client = get_client()
    settled = 0
    pairs = (
        ContactTransfer.objects.filter(status__in=[ContactTransfer.Status.REQUESTED, ContactTransfer.Status.WAITING])
        .values_list("handover_id", "takeover_id", "kind")
        .distinct()
    )
    for handover_id, takeover_id, kind in list(pairs):
        handover = Operator.objects.get(pk=handover_id)
        takeover = Operator.objects.get(pk=takeover_id)
        resigned = kind == ContactTransfer.Kind.RESIGNED
        results, cursor = {}, ""
        while True:
            page = client.transfer_result(
                handover.wecom_userid, takeover.wecom_userid, resigned=resigned, cursor=cursor
            )
            for item in page.get("customer", []):
                results[item["external_userid"]] = item
            cursor = page.get("next_cursor") or ""
            if not cursor:
                break
        open_rows = ContactTransfer.objects.filter(
            handover=handover,
            takeover=takeover,
            kind=kind,
            status__in=[ContactTransfer.Status.REQUESTED, ContactTransfer.Status.WAITING],
        ).select_related("customer")
        for row in open_rows:
            item = results.get(row.external_userid)
            if item is None:
                continue
            if apply_result(row, item):
                settled += 1
    return settled


@transaction.atomic
def apply_result(row: ContactTransfer, item: dict) -> bool:
    """Record WeCom's status for one transfer; on success move the owner and the follow. True when final."""
    row = ContactTransfer.objects.select_for_update().select_related("customer", "handover", "takeover").get(pk=row.pk)
    if row.status in ContactTransfer.FINAL:
        return False
    status = _RESULT_STATUS.get(item.get("status"), ContactTransfer.Status.WAITING)
    now = timezone.now()
    row.status, row.checked_at = status, now
    if item.get("takeover_time"):
        row.takeover_at = datetime.fromtimestamp(int(item["takeover_time"]), tz=UTC)
    row.save(update_fields=["status", "checked_at", "takeover_at"])
    if status not in ContactTransfer.FINAL:
        return False
    customer = row.customer
    if status == ContactTransfer.Status.SUCCEEDED:
        at = row.takeover_at or now
        FollowRelationship.objects.filter(customer=customer, operator=row.handover, deleted_at=None).update(
            deleted_at=at, deleted_by=FollowRelationship.DeletedBy.TRANSFER
        )
        old = FollowRelationship.objects.filter(customer=customer, operator=row.handover).order_by("-added_at").first()
        if not FollowRelationship.objects.filter(customer=customer, operator=row.takeover, deleted_at=None).exists():
            FollowRelationship.objects.create(
                customer=customer,
                operator=row.takeover,
                added_at=at,
                add_way=old.add_way if old else 0,
                remark=old.remark if old else "",
                description=old.description if old else "",
                wecom_tag_ids=old.wecom_tag_ids if old else [],
            )
        if customer.owner_id in (None, row.handover_id):
            customer_set_owner(customer=customer, owner=row.takeover, actor=None)
    CustomerEvent.objects.create(
        customer=customer,
        occurred_at=now,
        kind=CustomerEvent.Kind.TRANSFER,
        summary=f"{row.handover.name} → {row.takeover.name}: {row.get_status_display()}",
        operator=row.takeover,
        data={"transfer": row.pk, "status": status},
    )
    return True
