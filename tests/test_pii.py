"""PII: ciphertext at rest, masks, look-ups without decrypting, key rotation, and who may see the full values."""

import pytest
from cryptography.fernet import Fernet
from django.core.management import call_command
from django.db import connection
from django.urls import reverse

from tagging.models import Customer
from tagging.selectors import filtered_customers
from tagging.services import customer_set_pii, pii_columns
from tests.factories import CustomerFactory
from workbench import pii
from workbench.audit.models import AuditAction, AuditEvent

MOBILE = "13812345678"
ID_NUMBER = "33010619900307123X"


def _raw_columns(customer_pk: int) -> tuple[str, str]:
    with connection.cursor() as cursor:
        cursor.execute("SELECT mobile, id_number FROM tagging_customer WHERE id = %s", [customer_pk])
        return cursor.fetchone()


@pytest.mark.django_db
def test_pii_is_ciphertext_in_the_database():
    customer = CustomerFactory(mobile=MOBILE, id_number=ID_NUMBER.lower())
    raw_mobile, raw_id = _raw_columns(customer.pk)

    for raw, plain in ((raw_mobile, MOBILE), (raw_id, ID_NUMBER)):
        assert plain not in raw
        assert plain[-4:] not in raw  # not even the tail
        assert raw.startswith("gAAAAA")  # a Fernet token
        assert pii.decrypt(raw) == plain
    # The model sees plaintext; the ID number is normalised to upper case.
    fresh = Customer.objects.get(pk=customer.pk)
    assert (fresh.mobile, fresh.id_number) == (MOBILE, ID_NUMBER)


@pytest.mark.django_db
def test_equal_plaintexts_give_different_ciphertexts():
    one = CustomerFactory(mobile=MOBILE)
    two = CustomerFactory(mobile=MOBILE)
    assert _raw_columns(one.pk)[0] != _raw_columns(two.pk)[0]
    assert one.mobile_hash == two.mobile_hash  # the blind index is what matches


def test_masks():
    assert pii.mask_mobile(MOBILE) == "138****5678"
    assert pii.mask_id_number(ID_NUMBER) == "330106********123X"
    assert pii.mask_mobile("12345") == "*****"
    assert pii.mask_id_number("123") == "***"


def test_pii_columns_keep_masks_and_hashes_in_step():
    columns = pii_columns(mobile=f" {MOBILE} ", id_number=ID_NUMBER.lower())
    assert columns["mobile"] == MOBILE
    assert columns["mobile_masked"] == "138****5678"
    assert columns["mobile_last4"] == "5678"
    assert columns["mobile_hash"] == pii.lookup_hash(MOBILE)
    assert columns["id_number"] == ID_NUMBER
    assert columns["id_number_masked"] == "330106********123X"
    assert columns["id_number_hash"] == pii.lookup_hash(ID_NUMBER.lower())  # hash normalises case
    assert MOBILE not in columns["mobile_hash"]
    empty = pii_columns()
    assert set(empty.values()) == {""}


def test_lookup_hash_depends_on_the_index_key(settings):
    before = pii.lookup_hash(MOBILE)
    settings.PII_INDEX_KEY = "another-index-key"
    assert pii.lookup_hash(MOBILE) != before


@pytest.mark.django_db
def test_customer_set_pii_updates_every_derived_column():
    customer = CustomerFactory(mobile=MOBILE)
    customer_set_pii(customer=customer, mobile="13900001111", id_number="")
    fresh = Customer.objects.get(pk=customer.pk)
    assert fresh.mobile == "13900001111"
    assert fresh.mobile_masked == "139****1111"
    assert fresh.mobile_last4 == "1111"
    assert fresh.mobile_hash == pii.lookup_hash("13900001111")
    assert fresh.id_number == fresh.id_number_masked == fresh.id_number_hash == ""


@pytest.mark.parametrize("query", [MOBILE, "138****5678", "5678"])
def test_search_by_full_masked_and_last_four_digits(bank, query):
    manager = bank.user("manager_a")
    customers, customer_filter = filtered_customers(manager, {"q": query})
    assert customer_filter.is_valid()
    assert list(customers) == [bank.customers["a_own"]]


def test_search_by_mobile_stays_inside_scope(bank):
    """Branch B's customer has its own mobile; branch A's manager finds nothing with it, in any form."""
    manager = bank.user("manager_a")
    for query in ("13987654321", "139****4321", "4321", "CB0000000001", "乙客户壹"):
        customers, _filter = filtered_customers(manager, {"q": query})
        assert list(customers) == [], query
    customers, _filter = filtered_customers(bank.user("manager_b"), {"q": "13987654321"})
    assert list(customers) == [bank.customers["b_own"]]


def test_search_by_a_mobile_that_nobody_has(bank):
    customers, _filter = filtered_customers(bank.user("admin"), {"q": "13800000000"})
    assert list(customers) == []


@pytest.mark.django_db
def test_key_rotation(settings):
    old_key = settings.FIELD_ENCRYPTION_KEYS[0]
    new_key = Fernet.generate_key().decode()
    customer = CustomerFactory(mobile=MOBILE, id_number=ID_NUMBER)
    untouched = CustomerFactory(mobile="", id_number="")
    raw_before = _raw_columns(customer.pk)

    # Step 1: the new key in front. Old rows still decrypt; new writes use the new key.
    settings.FIELD_ENCRYPTION_KEYS = [new_key, old_key]
    assert Customer.objects.get(pk=customer.pk).mobile == MOBILE

    call_command("rotate_pii_keys", stdout=_Sink(), stderr=_Sink())

    raw_after = _raw_columns(customer.pk)
    assert raw_after != raw_before
    assert _raw_columns(untouched.pk) == ("", "")

    # Step 2: drop the old key. Everything still decrypts; the old key alone no longer does.
    settings.FIELD_ENCRYPTION_KEYS = [new_key]
    fresh = Customer.objects.get(pk=customer.pk)
    assert (fresh.mobile, fresh.id_number) == (MOBILE, ID_NUMBER)
    settings.FIELD_ENCRYPTION_KEYS = [old_key]
    with pytest.raises(ValueError):
        pii.decrypt(raw_after[0])


@pytest.mark.django_db
def test_without_the_right_key_reading_fails_loudly(settings):
    customer = CustomerFactory(mobile=MOBILE)
    settings.FIELD_ENCRYPTION_KEYS = [Fernet.generate_key().decode()]
    with pytest.raises(ValueError, match="FIELD_ENCRYPTION_KEYS"):
        Customer.objects.get(pk=customer.pk)


class _Sink:
    def write(self, _text):
        return None

    def flush(self):
        return None


# --- who sees what: the web pages ---------------------------------------------------------------------------


def test_operator_detail_page_is_masked(bank, login):
    customer = bank.customers["a_own"]
    response = login("operator_a").get(reverse("customers:detail", args=[customer.pk]))
    assert response.status_code == 200
    body = response.content.decode()
    assert "138****5678" in body
    assert MOBILE not in body
    assert customer.id_number not in body
    assert response.context["may_view_pii"] is False
    assert not AuditEvent.objects.filter(action=AuditAction.PII_VIEW).exists()


def test_operator_cannot_reveal(bank, login):
    customer = bank.customers["a_own"]
    response = login("operator_a").post(reverse("customers:reveal_pii", args=[customer.pk]))
    assert response.status_code == 403
    assert MOBILE not in response.content.decode()
    assert not AuditEvent.objects.filter(action=AuditAction.PII_VIEW).exists()


@pytest.mark.parametrize("persona", ["lead_a", "reviewer"])
def test_roles_without_pii_right_cannot_reveal(bank, login, persona):
    customer = bank.customers["a_own"]
    response = login(persona).post(reverse("customers:reveal_pii", args=[customer.pk]))
    assert response.status_code == 403


def test_manager_reveal_shows_full_number_and_is_audited(bank, login):
    customer = bank.customers["a_own"]
    response = login("manager_a").post(reverse("customers:reveal_pii", args=[customer.pk]), REMOTE_ADDR="10.1.2.3")
    assert response.status_code == 200
    body = response.content.decode()
    assert MOBILE in body
    assert customer.id_number in body
    event = AuditEvent.objects.get(action=AuditAction.PII_VIEW)
    assert event.actor == bank.user("manager_a")
    assert event.actor_username == "manager_a"
    assert (event.object_type, event.object_id) == ("tagging.customer", str(customer.pk))
    assert event.ip_address == "10.1.2.3"
    assert event.detail["via"] == "web"


def test_reveal_is_post_only(bank, login):
    customer = bank.customers["a_own"]
    response = login("manager_a").get(reverse("customers:reveal_pii", args=[customer.pk]))
    assert response.status_code == 405
    assert not AuditEvent.objects.filter(action=AuditAction.PII_VIEW).exists()


def test_manager_detail_page_is_masked_until_revealed(bank, login):
    customer = bank.customers["a_own"]
    response = login("manager_a").get(reverse("customers:detail", args=[customer.pk]))
    assert response.status_code == 200
    assert MOBILE not in response.content.decode()
    assert response.context["may_view_pii"] is True
    assert not AuditEvent.objects.filter(action=AuditAction.PII_VIEW).exists()


def test_reveal_refuses_a_post_without_csrf_token(bank, login):
    customer = bank.customers["a_own"]
    client = login("manager_a", enforce_csrf_checks=True)
    response = client.post(reverse("customers:reveal_pii", args=[customer.pk]))
    assert response.status_code == 403
    assert MOBILE not in response.content.decode()
    assert not AuditEvent.objects.filter(action=AuditAction.PII_VIEW).exists()


# --- who sees what: the API ---------------------------------------------------------------------------------


def test_api_pii_refused_for_operator(bank, api_as):
    customer = bank.customers["a_own"]
    response = api_as("operator_a").get(reverse("api:customer-pii", args=[customer.pk]))
    assert response.status_code == 403
    assert response.json()["error"]["code"] == "permission_denied"
    assert not AuditEvent.objects.filter(action=AuditAction.PII_VIEW).exists()


def test_api_pii_for_manager_is_audited(bank, api_as):
    customer = bank.customers["a_own"]
    response = api_as("manager_a").get(reverse("api:customer-pii", args=[customer.pk]))
    assert response.status_code == 200
    assert response.json() == {"id": customer.pk, "mobile": MOBILE, "id_number": customer.id_number}
    event = AuditEvent.objects.get(action=AuditAction.PII_VIEW)
    assert event.actor == bank.user("manager_a")
    assert event.object_id == str(customer.pk)
    assert event.detail["via"] == "api"
    assert event.ip_address == "127.0.0.1"


def test_api_list_and_detail_are_masked_even_for_managers(bank, api_as):
    customer = bank.customers["a_own"]
    client = api_as("manager_a")
    listed = client.get(reverse("api:customer-list"))
    detail = client.get(reverse("api:customer-detail", args=[customer.pk]))
    for response in (listed, detail):
        assert response.status_code == 200
        assert MOBILE not in response.content.decode()
        assert "138****5678" in response.content.decode()
    assert not AuditEvent.objects.filter(action=AuditAction.PII_VIEW).exists()
