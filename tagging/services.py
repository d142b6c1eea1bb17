"""Writes to customers. PII columns are set through `customer_set_pii` so the look-up columns stay in step."""

from django.db import transaction

from tagging.models import Customer, CustomerEvent
from workbench.org.models import Operator
from workbench.pii import lookup_hash, mask_id_number, mask_mobile


def pii_columns(*, mobile: str = "", id_number: str = "") -> dict:
    """The stored columns for a mobile and an ID number: ciphertext source, masks and look-up hashes."""
    mobile = mobile.strip()
    id_number = id_number.strip().upper()
    return {
        "mobile": mobile,
        "mobile_masked": mask_mobile(mobile) if mobile else "",
        "mobile_last4": mobile[-4:] if mobile else "",
        "mobile_hash": lookup_hash(mobile) if mobile else "",
        "id_number": id_number,
        "id_number_masked": mask_id_number(id_number) if id_number else "",
        "id_number_hash": lookup_hash(id_number) if id_number else "",
    }


def customer_set_pii(*, customer: Customer, mobile: str, id_number: str) -> Customer:
    for field, value in pii_columns(mobile=mobile, id_number=id_number).items():
        setattr(customer, field, value)
    customer.save()
    return customer


@transaction.atomic
def customer_set_owner(*, customer: Customer, owner: Operator | None, actor: Operator | None = None) -> Customer:
    previous = customer.owner
    customer.owner = owner
    customer.branch_id = owner.branch_id if owner else None
    customer.save(update_fields=["owner", "branch", "updated_at"])
    CustomerEvent.objects.create(
        customer=customer,
        occurred_at=customer.updated_at,
        kind=CustomerEvent.Kind.OWNER_CHANGED,
        summary=f"{previous.name if previous else '—'} → {owner.name if owner else '—'}",
        operator=actor,
        data={"from": previous.pk if previous else None, "to": owner.pk if owner else None},
    )
    return customer
