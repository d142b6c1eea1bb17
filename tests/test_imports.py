"""Bank data imports: every kind and format, row-level validation reports, idempotent re-runs, nothing
half-written, resuming, the runner, the page, and a real Celery worker."""

import codecs
import csv
import io
import time
from decimal import Decimal
from operator import mul
from pathlib import Path

import pytest
from celery.signals import task_postrun
from django.conf import settings
from django.core.files.uploadedfile import SimpleUploadedFile
from django.db import connection
from django.urls import reverse
from django.utils import timezone, translation
from openpyxl import Workbook

from integrations.bank import services
from integrations.bank.models import ImportJob, PayrollCredit, ProductPurchase
from integrations.bank.services import (
    ImportRefused,
    error_report_path,
    import_create,
    import_resume,
    import_run,
    imports_run,
    imports_wake_stale,
)
from tagging.models import Customer, CustomerEvent, Product, ProductHolding
from workbench.audit.models import AuditAction, AuditEvent
from workbench.pii import lookup_hash

SAMPLES = Path(settings.BASE_DIR) / "docs" / "samples"


@pytest.fixture(autouse=True)
def _english():
    """Reports and messages in English, whatever translations are compiled (pages follow the request)."""
    with translation.override("en"):
        yield


_WEIGHTS = (7, 9, 10, 5, 8, 4, 2, 1, 6, 3, 7, 9, 10, 5, 8, 4, 2)


def id_number(first17: str) -> str:
    return first17 + "10X98765432"[sum(map(mul, map(int, first17), _WEIGHTS)) % 11]


CUSTOMER_HEADER = "客户号,姓名,性别,手机号,证件号码,金融资产,代发单位,发薪日,出生日期,客群,风险等级,最近交易日"


def customer_line(n: int, *, name="测试客户", mobile="13812345678", aum="1000.00", **over) -> str:
    values = {
        "no": f"T{n:09d}",
        "name": name,
        "gender": "女",
        "mobile": mobile,
        "id": id_number(f"33010619900101{n % 1000:03d}"),
        "aum": aum,
        "employer": "临江恒信科技有限公司",
        "payday": "10",
        "birth": "1990-01-01",
        "group": "白领",
        "risk": "C3",
        "last": "2026-01-05",
    } | over
    return ",".join(values.values())


def csv_bytes(*lines: str, header: str = CUSTOMER_HEADER, encoding: str = "utf-8") -> bytes:
    return ("\n".join([header, *lines]) + "\n").encode(encoding)


def upload(content: bytes, name: str = "data.csv") -> SimpleUploadedFile:
    return SimpleUploadedFile(name, content)


def run_import(bank, kind: str, content: bytes, name: str = "data.csv", *, persona="admin", encoding="auto"):
    """Upload as `persona` (reports in English) and run the job in this process."""
    with translation.override("en"):
        job = import_create(user=bank.user(persona), kind=kind, upload=upload(content, name), encoding=encoding)
    return import_run(job_id=job.pk)


def report(job: ImportJob) -> list[list[str]]:
    path = error_report_path(job)
    if path is None:
        return []
    with path.open(encoding="utf-8-sig", newline="") as handle:
        return list(csv.reader(handle))[1:]


def reasons(job: ImportJob) -> dict[tuple[int, str], str]:
    return {(int(row[0]), row[1]): row[2] for row in report(job)}


def raw_column(customer_no: str, column: str) -> str:
    with connection.cursor() as cursor:
        cursor.execute(f"SELECT {column} FROM tagging_customer WHERE customer_no = %s", [customer_no])  # noqa: S608
        return cursor.fetchone()[0]


def assert_counts(job: ImportJob, *, read: int, applied: int, unchanged: int, rejected: int) -> None:
    assert job.status == ImportJob.Status.DONE, job.error
    got = (job.rows_read, job.rows_applied, job.rows_unchanged, job.rows_rejected)
    assert got == (read, applied, unchanged, rejected)


# --- customers: formats and encodings ------------------------------------------------------------------------


def test_customer_sample_creates_customers_with_encrypted_pii(bank, import_root):
    job = run_import(bank, "customers", (SAMPLES / "customers.csv").read_bytes(), "customers.csv")
    assert_counts(job, read=10, applied=10, unchanged=0, rejected=0)
    assert job.rows_total == 10 and job.percent == 100 and job.finished_at is not None
    assert job.details["encoding"] == "utf-8" and job.details["counts"]["customers_created"] == 10
    assert job.format == ImportJob.Format.CSV and len(job.sha256) == 64
    customer = Customer.objects.get(customer_no="C8800000003")
    assert (customer.name, customer.gender, customer.aum) == ("张浩然", "M", Decimal("28760.12"))
    assert (customer.payroll_employer, customer.payday, customer.risk_level) == ("临江恒信科技有限公司", 10, 4)
    assert customer.birth_date.isoformat() == "1993-05-18" and customer.occupation_group == "white_collar"
    assert customer.last_transaction_date.isoformat() == "2026-11-20"
    assert customer.owner is None and customer.branch is None
    # PII: ciphertext at rest, masked and hashed copies beside it, plaintext through the model.
    assert customer.mobile == "18667123408"
    assert (customer.mobile_masked, customer.mobile_last4) == ("186****3408", "3408")
    assert customer.mobile_hash == lookup_hash("18667123408")
    assert customer.id_number_hash == lookup_hash(customer.id_number)
    stored = raw_column("C8800000003", "mobile")
    assert stored.startswith("gAAAA") and "18667123408" not in stored
    assert customer.id_number not in raw_column("C8800000003", "id_number")
    assert AuditEvent.objects.get(action=AuditAction.IMPORT_UPLOADED).detail["kind"] == "customers"


def _utf16_tabbed() -> bytes:
    text = (SAMPLES / "customers.csv").read_text(encoding="utf-8-sig").replace(",", "\t")
    return codecs.BOM_UTF16_LE + text.encode("utf-16-le")


@pytest.mark.parametrize(
    ("name", "content", "encoding", "detected"),
    [
        ("bom.csv", lambda: (SAMPLES / "customers.csv").read_bytes(), "auto", "utf-8"),
        ("plain.csv", lambda: (SAMPLES / "customers.csv").read_bytes()[3:], "auto", "utf-8"),
        ("gbk.csv", lambda: (SAMPLES / "customers-gbk.csv").read_bytes(), "auto", "gb18030"),
        ("gbk-chosen.csv", lambda: (SAMPLES / "customers-gbk.csv").read_bytes(), "gbk", "gb18030"),
        ("utf16.txt", _utf16_tabbed, "auto", "utf-16"),
        ("customers.xlsx", lambda: (SAMPLES / "customers.xlsx").read_bytes(), "auto", None),
    ],
)
def test_every_format_and_encoding_reads_the_same_customers(bank, import_root, name, content, encoding, detected):
    job = run_import(bank, "customers", content(), name, encoding=encoding)
    assert_counts(job, read=10, applied=10, unchanged=0, rejected=0)
    assert job.details.get("encoding") == detected
    assert job.format == ("xlsx" if name.endswith(".xlsx") else "csv")
    rows = {
        c.customer_no: (c.name, c.aum, c.payday, c.birth_date.isoformat(), c.mobile)
        for c in Customer.objects.filter(customer_no__startswith="C88")
    }
    assert rows["C8800000002"] == ("李秀英", Decimal("152300.55"), 15, "1962-09-27", "13957108826")
    assert rows["C8800000008"] == ("黄丽", Decimal("58400.00"), None, "1988-04-16", "18905716652")
    # The same data in another format changes nothing.
    again = run_import(bank, "customers", (SAMPLES / "customers-gbk.csv").read_bytes(), "again.csv")
    assert_counts(again, read=10, applied=0, unchanged=10, rejected=0)


def test_title_rows_above_the_header_and_unknown_columns(bank, import_root):
    content = csv_bytes(
        customer_line(1), header="江南省农商银行客户信息表\n导出日期：2026-11-20\n" + CUSTOMER_HEADER + ",备注"
    )
    job = run_import(bank, "customers", content)
    assert_counts(job, read=1, applied=1, unchanged=0, rejected=0)
    assert job.details["ignored_columns"] == ["备注"]


def test_english_headers_are_accepted(bank, import_root):
    header = "customer_no,Name,gender,Mobile Phone,id_number,AUM,employer,pay day,birthday,occupation,risk_level"
    line = f'E001,Li Lei,M,+86 138-1234-5678,{id_number("11010119850101123")},"1,234.50",ACME,5,19850101,retiree,3'
    job = run_import(bank, "customers", csv_bytes(line, header=header))
    assert_counts(job, read=1, applied=1, unchanged=0, rejected=0)
    customer = Customer.objects.get(customer_no="E001")
    assert (customer.mobile, customer.aum, customer.occupation_group, customer.risk_level) == (
        "13812345678",
        Decimal("1234.50"),
        "retiree",
        3,
    )
    assert customer.birth_date.isoformat() == "1985-01-01"


def test_header_problems_fail_the_job_and_apply_nothing(bank, import_root):
    job = run_import(bank, "customers", csv_bytes("x,y", header="客户号,手机号"))
    assert job.status == ImportJob.Status.FAILED and "Name" in job.error
    job = run_import(bank, "customers", b"a,b,c\n1,2,3\n")
    assert job.status == ImportJob.Status.FAILED and "No header row" in job.error
    job = run_import(bank, "customers", csv_bytes("x", header="客户号,姓名,客户名称"))
    assert job.status == ImportJob.Status.FAILED and "姓名" in job.error and "客户名称" in job.error
    assert not Customer.objects.filter(customer_no__startswith="T").exists()


def test_uploads_that_cannot_become_a_job(bank, import_root, settings):
    with pytest.raises(ImportRefused, match="xls"):
        import_create(user=bank.user("admin"), kind="customers", upload=upload(b"\xd0\xcf\x11\xe0rest", "old.xls"))
    with pytest.raises(ImportRefused, match="empty"):
        import_create(user=bank.user("admin"), kind="customers", upload=upload(b""))
    with pytest.raises(ImportRefused):
        import_create(user=bank.user("admin"), kind="loans", upload=upload(b"x"))
    with pytest.raises(ImportRefused):
        import_create(user=bank.user("admin"), kind="customers", upload=upload(b"x"), encoding="latin-1")
    settings.IMPORT_MAX_UPLOAD_MB = 1
    with pytest.raises(ImportRefused, match="1 MB"):
        import_create(user=bank.user("admin"), kind="customers", upload=upload(b"x" * (1 << 20 | 1)))
    assert not ImportJob.objects.exists()
    assert not any(p.is_file() for p in Path(import_root).rglob("*")), "refused files are not kept"


@pytest.mark.parametrize("persona", ["operator_a", "lead_a", "manager_a", "reviewer", "nobody"])
def test_only_importers_may_import(bank, import_root, persona):
    from django.core.exceptions import PermissionDenied

    with pytest.raises(PermissionDenied):
        import_create(user=bank.user(persona), kind="customers", upload=upload(b"x"))
    assert not ImportJob.objects.exists()


# --- validation ----------------------------------------------------------------------------------------------


def test_each_bad_field_is_reported_with_row_and_column_while_good_rows_apply(bank, import_root):
    bank.branch_b.code = "B002"
    bank.branch_b.save(update_fields=["code"])
    header = CUSTOMER_HEADER + ",客户经理,机构号"
    good = customer_line(1) + ",operator_a,"
    lines = [
        good,  # row 2
        customer_line(2, mobile="1381234567") + ",,",  # 3: mobile
        customer_line(3, id=id_number("33010619900101003")[:-1] + "0") + ",,",  # 4: check character
        customer_line(4, aum="12.345") + ",,",  # 5: decimals
        customer_line(5, aum="-1") + ",,",  # 6: negative
        customer_line(6, payday="32") + ",,",  # 7: pay day
        customer_line(7, birth="1990-02-30") + ",,",  # 8: impossible date
        customer_line(8, birth="2030-01-01") + ",,",  # 9: future
        customer_line(9, group="学生") + ",,",  # 10: occupation group
        customer_line(10, risk="C9") + ",,",  # 11: risk level
        customer_line(11, gender="X") + ",,",  # 12: gender
        customer_line(12, no="") + ",,",  # 13: required customer number
        customer_line(13, name="") + ",,",  # 14: required name
        customer_line(14, name="名" * 65) + ",,",  # 15: too long
        customer_line(15, no="T-00/15") + ",,",  # 16: customer number characters
        customer_line(16) + ",nobody_here,",  # 17: unknown operator
        customer_line(17) + ",resigned,",  # 18: resigned operator
        customer_line(18) + ",,NOPE",  # 19: unknown branch code
        customer_line(19) + ",operator_a,B002",  # 20: owner's branch is not B002
        customer_line(20, name="乱码\ufffd") + ",,",  # 21: undecodable bytes
        customer_line(21, aum="abc", risk="C0") + ",,",  # 22: two bad cells, two lines
        customer_line(22) + ",,B002",  # 23: good: branch by code
    ]
    job = run_import(bank, "customers", csv_bytes(*lines, header=header))
    assert_counts(job, read=22, applied=2, unchanged=0, rejected=20)
    got = reasons(job)
    expected = {
        (3, "Mobile"): "is not an 11-digit mobile number",
        (4, "ID number"): "has a wrong check character",
        (5, "AUM"): "has more than two decimal places",
        (6, "AUM"): "is negative",
        (7, "Pay day"): "is not a day of the month (1–31)",
        (8, "Birth date"): "is not a date (YYYY-MM-DD)",
        (9, "Birth date"): "is in the future",
        (10, "Occupation group"): "is not one of 白领, 产业工人, 退休, 其他",
        (11, "Risk level"): "is not a risk level C1–C5",
        (12, "Gender"): "is not 男 / 女 / 未知 (M / F / U)",
        (13, "Customer number"): "is required",
        (14, "Name"): "is required",
        (15, "Name"): "is longer than 64 characters",
        (16, "Customer number"): "is not a valid customer number (letters, digits, - and _, at most 32 characters)",
        (17, "Owner operator"): "no operator has this WeCom userid",
        (18, "Owner operator"): "the operator has resigned",
        (19, "Branch code"): "no branch has this code",
        (20, "Branch code"): "the owner operator belongs to another branch than the branch code says",
        (22, "AUM"): "is not an amount",
        (22, "Risk level"): "is not a risk level C1–C5",
    }
    for key, reason in expected.items():
        assert got[key] == reason, key
    assert got[(21, "Name")].startswith("contains characters that cannot be read")
    assert len(report(job)) == len(expected) + 1
    # Report values: the offending value, PII masked; the customer number to find the row.
    by_row = {int(row[0]): row for row in report(job)}
    assert by_row[3][3:] == ["T000000002", "138***4567"]
    assert "1381234567" not in error_report_path(job).read_text(encoding="utf-8-sig")
    # Good rows applied in full; rejected ones not at all.
    good_one, branch_only = (
        Customer.objects.get(customer_no="T000000001"),
        Customer.objects.get(customer_no="T000000022"),
    )
    assert good_one.owner == bank.operators["operator_a"] and good_one.branch == bank.outlet_a
    assert branch_only.owner is None and branch_only.branch == bank.branch_b
    assert Customer.objects.filter(customer_no__startswith="T").count() == 2


def test_report_preview_lines(bank, import_root):
    job = run_import(bank, "customers", csv_bytes(customer_line(1, mobile="12")))
    with translation.override("en"):
        assert services.error_report_preview(job) == ["Row 2 · Mobile · is not an 11-digit mobile number"]


# --- idempotency and updates ---------------------------------------------------------------------------------


def _sequence() -> int:
    with connection.cursor() as cursor:
        cursor.execute("SELECT last_value FROM pg_sequences WHERE sequencename = 'tagging_customer_id_seq'")
        return cursor.fetchone()[0]


def test_reimporting_the_same_file_changes_nothing(bank, import_root):
    content = (SAMPLES / "customers.csv").read_bytes()
    run_import(bank, "customers", content)
    before = {c.customer_no: (c.updated_at, c.pk) for c in Customer.objects.filter(customer_no__startswith="C88")}
    ciphertext = raw_column("C8800000001", "mobile")
    sequence = _sequence()
    again = run_import(bank, "customers", content)
    assert_counts(again, read=10, applied=0, unchanged=10, rejected=0)
    after = {c.customer_no: (c.updated_at, c.pk) for c in Customer.objects.filter(customer_no__startswith="C88")}
    assert after == before  # no updated_at churn
    assert raw_column("C8800000001", "mobile") == ciphertext  # the stored ciphertext is kept
    assert _sequence() == sequence  # no customer ids drawn for rows that were already there
    assert not error_report_path(again)


def test_unchanged_pii_is_not_encrypted_again_and_a_stale_look_up_is_caught(bank, import_root, monkeypatch):
    from integrations.bank import prepare

    run_import(bank, "customers", csv_bytes(customer_line(1)))
    encrypted = []
    real_encrypt = prepare.encrypt
    monkeypatch.setattr(prepare, "encrypt", lambda value: encrypted.append(value) or real_encrypt(value))
    job = run_import(bank, "customers", csv_bytes(customer_line(1, aum="7.00")))
    assert_counts(job, read=1, applied=1, unchanged=0, rejected=0)
    assert encrypted == []  # the customer already has this mobile and ID number
    # The look-up said the customer had the file's new mobile, but the database (now, under lock) does not.
    stored_id = Customer.objects.get(customer_no="T000000001").id_number_hash
    monkeypatch.setattr(
        services, "_known", lambda kind, mapping, batch: {"T000000001": (lookup_hash("13900001111"), stored_id)}
    )
    job = run_import(bank, "customers", csv_bytes(customer_line(1, mobile="13900001111")))
    assert_counts(job, read=1, applied=1, unchanged=0, rejected=0)
    customer = Customer.objects.get(customer_no="T000000001")
    assert (customer.mobile, customer.mobile_hash) == ("13900001111", lookup_hash("13900001111"))
    assert raw_column("T000000001", "mobile").startswith("gAAAA")
    # The look-up saw a customer that is gone by the time the chunk is written: it is created, encrypted.
    line = customer_line(9)
    hashes = (lookup_hash("13812345678"), lookup_hash(line.split(",")[4]))
    monkeypatch.setattr(services, "_known", lambda kind, mapping, batch: {"T000000009": hashes})
    job = run_import(bank, "customers", csv_bytes(line))
    assert_counts(job, read=1, applied=1, unchanged=0, rejected=0)
    assert Customer.objects.get(customer_no="T000000009").mobile == "13812345678"
    assert raw_column("T000000009", "id_number").startswith("gAAAA")


def test_changed_rows_are_updated_and_only_those(bank, import_root):
    lines = [customer_line(n) for n in range(1, 4)]
    run_import(bank, "customers", csv_bytes(*lines))
    stamps = dict(Customer.objects.values_list("customer_no", "updated_at"))
    ciphertext = raw_column("T000000002", "mobile")
    lines[1] = customer_line(2, mobile="13900001111", aum="2500.00")
    job = run_import(bank, "customers", csv_bytes(*lines))
    assert_counts(job, read=3, applied=1, unchanged=2, rejected=0)
    changed = Customer.objects.get(customer_no="T000000002")
    assert (changed.mobile, changed.mobile_masked, changed.aum) == ("13900001111", "139****1111", Decimal("2500.00"))
    assert changed.mobile_hash == lookup_hash("13900001111")
    assert raw_column("T000000002", "mobile") != ciphertext
    assert changed.updated_at > stamps["T000000002"]
    assert Customer.objects.get(customer_no="T000000001").updated_at == stamps["T000000001"]


def test_columns_the_file_lacks_are_left_alone(bank, import_root):
    run_import(bank, "customers", csv_bytes(customer_line(1)))
    job = run_import(bank, "customers", csv_bytes("T000000001,测试客户,5000", header="客户号,姓名,金融资产"))
    assert_counts(job, read=1, applied=1, unchanged=0, rejected=0)
    customer = Customer.objects.get(customer_no="T000000001")
    assert customer.aum == Decimal("5000.00")
    assert (customer.mobile, customer.payday, customer.risk_level) == ("13812345678", 10, 3)


def test_owner_changes_are_on_the_timeline_and_empty_owner_cells_keep_the_owner(bank, import_root):
    existing = bank.customers["a_own"]
    header = "客户号,姓名,客户经理"
    job = run_import(bank, "customers", csv_bytes(f"{existing.customer_no},{existing.name},operator_a2", header=header))
    assert_counts(job, read=1, applied=1, unchanged=0, rejected=0)
    existing.refresh_from_db()
    assert existing.owner == bank.operators["operator_a2"] and existing.branch == bank.outlet_a
    event = CustomerEvent.objects.get(customer=existing, kind=CustomerEvent.Kind.OWNER_CHANGED)
    assert event.summary == "赵甲 → 钱甲"
    assert event.data == {
        "from": bank.operators["operator_a"].pk,
        "to": bank.operators["operator_a2"].pk,
        "import": job.pk,
    }
    job = run_import(bank, "customers", csv_bytes(f"{existing.customer_no},{existing.name},", header=header))
    assert_counts(job, read=1, applied=0, unchanged=1, rejected=0)
    existing.refresh_from_db()
    assert existing.owner == bank.operators["operator_a2"]


def test_a_repeated_customer_number_is_applied_in_file_order(bank, import_root):
    job = run_import(bank, "customers", csv_bytes(customer_line(1, aum="1.00"), customer_line(1, aum="2.00")))
    assert_counts(job, read=2, applied=2, unchanged=0, rejected=0)
    assert Customer.objects.get(customer_no="T000000001").aum == Decimal("2.00")


# --- nothing half-written ------------------------------------------------------------------------------------


def test_a_row_the_database_refuses_is_rejected_alone(bank, import_root):
    with connection.cursor() as cursor:  # a rule the parsers do not know: only the database refuses the row
        cursor.execute("SET CONSTRAINTS ALL IMMEDIATE")  # the fixture's deferred checks, before ALTER TABLE
        cursor.execute("ALTER TABLE tagging_customer ADD CONSTRAINT test_refuse CHECK (name <> '拒绝')")
    lines = [customer_line(1), customer_line(2, name="拒绝"), customer_line(3)]
    job = run_import(bank, "customers", csv_bytes(*lines))
    assert_counts(job, read=3, applied=2, unchanged=0, rejected=1)
    assert report(job) == [["3", "(whole row)", "the database refused the row (test_refuse)", "T000000002", ""]]
    assert set(Customer.objects.filter(customer_no__startswith="T").values_list("customer_no", flat=True)) == {
        "T000000001",
        "T000000003",
    }


def test_an_operator_gone_since_the_run_started_rejects_only_that_row(bank, import_root, monkeypatch):
    """Foreign keys are checked by each statement: the missing operator fails its row, not the chunk's commit."""
    from integrations.bank.prepare import References

    monkeypatch.setattr(
        services, "_references", lambda kind: References(operators={"ghost": (987654321, bank.outlet_a.pk, True, "")})
    )
    header = CUSTOMER_HEADER + ",客户经理"
    job = run_import(bank, "customers", csv_bytes(customer_line(1) + ",", customer_line(2) + ",ghost", header=header))
    assert_counts(job, read=2, applied=1, unchanged=0, rejected=1)
    ((row, column, reason, number, _value),) = report(job)
    assert (row, column, number) == ("3", "(whole row)", "T000000002") and "owner_id" in reason
    assert Customer.objects.filter(customer_no="T000000001").exists()


def test_a_crash_mid_import_keeps_committed_chunks_and_a_resume_completes(bank, import_root, monkeypatch):
    monkeypatch.setattr(services, "CHUNK", 3)
    lines = [customer_line(n, mobile="12" if n in (2, 5) else "13812345678") for n in range(1, 9)]
    calls = {"n": 0}
    original = services.ErrorReport.write

    def crash_in_second_chunk(report, errors):
        """The chunk's rows are written and its report lines too; then the worker dies before the commit."""
        original(report, errors)
        calls["n"] += 1
        if calls["n"] == 2:
            raise RuntimeError("worker lost its database")

    monkeypatch.setattr(services.ErrorReport, "write", crash_in_second_chunk)
    job = run_import(bank, "customers", csv_bytes(*lines))
    assert job.status == ImportJob.Status.FAILED and "worker lost its database" in job.error
    # Exactly the first chunk is there, counted, and reported; nothing of the second.
    assert (job.rows_read, job.rows_applied, job.rows_rejected) == (3, 2, 1)
    assert set(Customer.objects.filter(customer_no__startswith="T").values_list("customer_no", flat=True)) == {
        "T000000001",
        "T000000003",
    }
    assert [row[0] for row in report(job)] == ["3"]

    monkeypatch.setattr(services.ErrorReport, "write", original)
    job = import_resume(job=job, user=bank.user("admin"))
    assert job.status == ImportJob.Status.QUEUED
    job = import_run(job_id=job.pk)
    assert_counts(job, read=8, applied=6, unchanged=0, rejected=2)
    assert job.attempts == 2
    assert Customer.objects.filter(customer_no__startswith="T").count() == 6
    assert [row[0] for row in report(job)] == ["3", "6"]


def test_the_runner_hands_over_when_its_time_is_up(bank, import_root, monkeypatch):
    monkeypatch.setattr(services, "CHUNK", 2)
    with translation.override("en"):
        job = import_create(
            user=bank.user("admin"),
            kind="customers",
            upload=upload(csv_bytes(*[customer_line(n) for n in range(1, 6)])),
        )
    assert imports_run(seconds=1e-9) is True  # one chunk, then time is up: more to do
    job.refresh_from_db()
    assert (job.status, job.rows_read) == (ImportJob.Status.RUNNING, 2)
    assert job.percent > 0 and job.rows_estimated is not None
    assert imports_run(seconds=None) is False
    job.refresh_from_db()
    assert_counts(job, read=5, applied=5, unchanged=0, rejected=0)


def test_jobs_run_oldest_first(bank, import_root):
    """A payroll file uploaded after the customer file sees those customers."""
    admin = bank.user("admin")
    import_create(user=admin, kind="customers", upload=upload((SAMPLES / "customers.csv").read_bytes()))
    payroll = import_create(user=admin, kind="payroll", upload=upload((SAMPLES / "payroll.csv").read_bytes()))
    assert imports_run(seconds=None) is False
    payroll.refresh_from_db()
    assert_counts(payroll, read=9, applied=9, unchanged=0, rejected=0)


def test_stale_jobs_are_woken(bank, import_root, monkeypatch):
    woken = []
    monkeypatch.setattr(services, "_enqueue", lambda: woken.append(1))
    job = import_create(user=bank.user("admin"), kind="customers", upload=upload(b"x"))
    assert imports_wake_stale() is False
    ImportJob.objects.filter(pk=job.pk).update(created_at=timezone.now() - timezone.timedelta(hours=1))
    assert imports_wake_stale() is True and woken == [1]


def test_parallel_preparation_gives_the_same_result(bank, import_root, monkeypatch):
    monkeypatch.setattr(services, "CHUNK", 4)
    lines = [customer_line(n, mobile="1" if n == 7 else "13812345678") for n in range(1, 31)]
    with translation.override("en"):
        job = import_create(user=bank.user("admin"), kind="customers", upload=upload(csv_bytes(*lines)))
    job = import_run(job_id=job.pk, workers=2)
    assert_counts(job, read=30, applied=29, unchanged=0, rejected=1)
    assert reasons(job) == {(8, "Mobile"): "is not an 11-digit mobile number"}
    assert Customer.objects.get(customer_no="T000000030").mobile == "13812345678"


def test_memory_does_not_grow_with_the_file(bank, import_root, monkeypatch):
    import tracemalloc

    from integrations.bank import reader

    monkeypatch.setattr(services, "CHUNK", 500)
    monkeypatch.setattr(reader, "SNIFF_BYTES", 16 << 10)  # both files are larger than the encoding sniff

    def peak(rows: int) -> int:
        content = csv_bytes(*[customer_line(n, name=f"客户{n}") for n in range(1, rows + 1)])
        job = import_create(user=bank.user("admin"), kind="customers", upload=upload(content))
        tracemalloc.start()
        import_run(job_id=job.pk)
        used = tracemalloc.get_traced_memory()[1]
        tracemalloc.stop()
        return used

    small, large = peak(1000), peak(8000)
    assert large < small * 2, (small, large)  # eight times the rows, not eight times the memory


# --- payroll, holdings, purchases ----------------------------------------------------------------------------


def test_payroll_credits_are_unique_on_the_banks_key(bank, import_root):
    run_import(bank, "customers", (SAMPLES / "customers.csv").read_bytes())
    header = "客户号,代发单位,代发金额,入账日期,流水号"
    lines = [
        "C8800000003,临江恒信科技有限公司,14250.00,2026-10-10,",
        "C8800000003,临江恒信科技有限公司,14250.00,2026-10-10,",  # the same credit twice: written once
        "C8800000004,临江市第一人民医院,9680.42,2026-10-05,REF-1",
        "C9999999999,某公司,100.00,2026-10-05,",  # unknown customer
        "C8800000005,青州华创纺织有限公司,0,2026-10-25,",  # zero amount
        "C8800000005,青州华创纺织有限公司,5230.00,2099-10-25,",  # future
    ]
    job = run_import(bank, "payroll", csv_bytes(*lines, header=header))
    assert_counts(job, read=6, applied=2, unchanged=1, rejected=3)
    got = reasons(job)
    assert got[(5, "Customer number")] == "no customer has this number; import the customer first"
    assert got[(6, "Amount")] == "must be greater than zero"
    assert got[(7, "Credit date")] == "is in the future"
    assert PayrollCredit.objects.count() == 2
    credit = PayrollCredit.objects.get(reference="REF-1")
    assert (credit.customer.customer_no, credit.amount, credit.import_job_id) == (
        "C8800000004",
        Decimal("9680.42"),
        job.pk,
    )
    again = run_import(bank, "payroll", csv_bytes(*lines, header=header))
    assert_counts(again, read=6, applied=0, unchanged=3, rejected=3)
    assert PayrollCredit.objects.count() == 2
    # The bank corrects a credit it identifies by reference.
    corrected = run_import(
        bank, "payroll", csv_bytes("C8800000004,临江市第一人民医院,9690.42,2026-10-05,REF-1", header=header)
    )
    assert_counts(corrected, read=1, applied=1, unchanged=0, rejected=0)
    assert PayrollCredit.objects.get(reference="REF-1").amount == Decimal("9690.42")


def test_holdings_create_products_update_and_close(bank, import_root):
    run_import(bank, "customers", (SAMPLES / "customers.csv").read_bytes())
    Product.objects.create(code="WM-CASH", name="江南理财·天天宝现金管理", category="wealth")
    customer = Customer.objects.get(customer_no="C8800000010")
    ProductHolding.objects.create(
        customer=customer, product=Product.objects.get(code="WM-CASH"), amount=8000, opened_on="2026-02-14"
    )
    job = run_import(bank, "holdings", (SAMPLES / "holdings.csv").read_bytes())
    assert_counts(job, read=9, applied=9, unchanged=0, rejected=0)
    assert job.details["counts"]["products_created"] == 8
    assert not ProductHolding.objects.filter(customer=customer).exists()  # 结清: closed
    holding = ProductHolding.objects.get(customer__customer_no="C8800000001", product__code="CD-36")
    assert (holding.amount, holding.maturity_date.isoformat()) == (Decimal("300000.00"), "2027-03-15")
    assert Product.objects.get(code="CD-36").category == "deposit"
    again = run_import(bank, "holdings", (SAMPLES / "holdings.csv").read_bytes())
    assert_counts(again, read=9, applied=0, unchanged=9, rejected=0)

    header = "客户号,产品代码,持有金额,开户日期,到期日"
    lines = [
        "C8800000001,CD-36,250000.00,2024-03-15,2027-03-15",  # balance changed
        "C8800000001,NEW-1,100.00,2026-01-01,",  # unknown product, no name to create it
        "C8800000002,DEP-T12,100.00,2026-01-01,2025-01-01",  # matures before it opened
    ]
    job = run_import(bank, "holdings", csv_bytes(*lines, header=header))
    assert_counts(job, read=3, applied=1, unchanged=0, rejected=2)
    got = reasons(job)
    assert got[(3, "Product code")] == "unknown product code; give the product name and category to add it"
    assert got[(4, "Maturity date")] == "is before the opening date"
    assert not Product.objects.filter(code="NEW-1").exists()


def test_purchases_are_unique_on_the_transaction_reference(bank, import_root):
    run_import(bank, "customers", (SAMPLES / "customers.csv").read_bytes())
    job = run_import(bank, "purchases", (SAMPLES / "purchases.csv").read_bytes())
    assert_counts(job, read=5, applied=5, unchanged=0, rejected=0)
    purchase = ProductPurchase.objects.get(reference="TXN20261118093015001")
    assert purchase.customer.customer_no == "C8800000002" and purchase.product.code == "WM-090"
    assert purchase.purchased_at == timezone.make_aware(timezone.datetime(2026, 11, 18, 9, 30, 15))
    assert (purchase.amount, purchase.channel) == (Decimal("100000.00"), "手机银行")
    again = run_import(bank, "purchases", (SAMPLES / "purchases.csv").read_bytes())
    assert_counts(again, read=5, applied=0, unchanged=5, rejected=0)
    assert ProductPurchase.objects.count() == 5
    header = "交易流水号,客户号,产品代码,购买金额,交易时间"
    lines = [
        "TXN20261118093015001,C8800000002,WM-090,90000.00,2026/11/18 09:30",  # corrected by the bank
        "TXN-X,C8800000002,NOPE,1.00,2026-11-18 09:30:00",  # unknown product
        "TXN-Y,C8800000002,WM-090,1.00,2026-11-18 25:30:00",  # no such time
        ",C8800000002,WM-090,1.00,2026-11-18",  # no reference
    ]
    job = run_import(bank, "purchases", csv_bytes(*lines, header=header))
    assert_counts(job, read=4, applied=1, unchanged=0, rejected=3)
    assert set(reasons(job)) == {(3, "Product code"), (4, "Purchased at"), (5, "Bank transaction reference")}
    purchase.refresh_from_db()
    assert purchase.amount == Decimal("90000.00")
    assert purchase.purchased_at == timezone.make_aware(timezone.datetime(2026, 11, 18, 9, 30))


def test_workbook_values_typed_by_excel(bank, import_root):
    """Excel stores numbers and dates as such; a long ID number typed as a number has lost digits."""
    book = Workbook()
    sheet = book.active
    sheet.append(["客户号", "姓名", "手机号", "证件号码", "金融资产", "出生日期"])
    sheet.append([880001, "张三", 13812345678, id_number("33010619900101001"), 1234.5, timezone.datetime(1990, 1, 1)])
    sheet.append([880002, "李四", 13812345679, 330106199001010020.0, 0.1 + 0.2, None])
    buffer = io.BytesIO()
    book.save(buffer)
    job = run_import(bank, "customers", buffer.getvalue(), "客户.xlsx")
    assert_counts(job, read=2, applied=1, unchanged=0, rejected=1)
    assert job.rows_total == 2
    assert reasons(job) == {
        (3, "ID number"): "is stored as a number, which loses digits; format the column as text in Excel"
    }
    customer = Customer.objects.get(customer_no="880001")
    assert (customer.mobile, customer.aum, customer.birth_date.isoformat()) == (
        "13812345678",
        Decimal("1234.50"),
        "1990-01-01",
    )


# --- the page ------------------------------------------------------------------------------------------------


def test_upload_page_queues_the_job_after_commit(bank, login, import_root, django_capture_on_commit_callbacks):
    client = login("admin")
    page = client.get(reverse("imports:list"))
    assert page.status_code == 200 and "customers.csv" in page.content.decode()
    content = (SAMPLES / "customers.csv").read_bytes()
    with django_capture_on_commit_callbacks(execute=False) as callbacks:
        response = client.post(
            reverse("imports:list"), {"kind": "customers", "encoding": "auto", "file": upload(content, "客户.csv")}
        )
    assert response.status_code == 302
    assert len(callbacks) == 1  # the worker is asked only once the job row is committed
    job = ImportJob.objects.get()
    assert (job.status, job.file_name, job.via, job.uploaded_by) == ("queued", "客户.csv", "web", bank.user("admin"))
    assert Path(import_root, job.stored_name).read_bytes() == content
    audit = AuditEvent.objects.get(action=AuditAction.IMPORT_UPLOADED)
    assert (audit.actor, audit.object_id, audit.detail["via"]) == (bank.user("admin"), str(job.pk), "web")

    queued = client.get(reverse("imports:progress", args=[job.pk])).content.decode()
    assert 'hx-trigger="every 2s"' in queued
    import_run(job_id=job.pk)
    done = client.get(reverse("imports:progress", args=[job.pk])).content.decode()
    assert "hx-trigger" not in done and "100%" in done


def test_upload_form_errors(bank, login, import_root, settings):
    client = login("admin")
    response = client.post(reverse("imports:list"), {"kind": "customers", "encoding": "auto", "file": upload(b"")})
    assert response.status_code == 200 and not ImportJob.objects.exists()
    response = client.post(reverse("imports:list"), {"kind": "customers", "encoding": "auto"})
    assert response.context["form"].errors["file"]
    settings.IMPORT_MAX_UPLOAD_MB = 1
    big = upload(b"x" * (3 << 20))
    response = client.post(reverse("imports:list"), {"kind": "customers", "encoding": "auto", "file": big})
    assert response.status_code == 413 and not ImportJob.objects.exists()


def test_error_report_download_is_audited(bank, login, import_root):
    job = run_import(bank, "customers", csv_bytes(customer_line(1, mobile="1")))
    client = login("admin")
    listing = client.get(reverse("imports:list")).content.decode()
    assert "Row 2 · Mobile · is not an 11-digit mobile number" in listing or "第 2 行" in listing
    response = client.get(reverse("imports:errors", args=[job.pk]))
    assert response.status_code == 200
    body = b"".join(response.streaming_content).decode("utf-8-sig")
    assert "T000000001" in body and "13812345678" not in body
    event = AuditEvent.objects.get(action=AuditAction.IMPORT_REPORT_DOWNLOADED)
    assert (event.actor, event.object_id) == (bank.user("admin"), str(job.pk))
    clean = run_import(bank, "customers", csv_bytes(customer_line(2)))
    assert client.get(reverse("imports:errors", args=[clean.pk])).status_code == 404


def test_resume_from_the_page(bank, login, import_root):
    client = login("admin")
    done = run_import(bank, "customers", csv_bytes(customer_line(1)))
    assert client.post(reverse("imports:resume", args=[done.pk])).status_code == 403  # nothing to resume
    job = import_create(user=bank.user("admin"), kind="customers", upload=upload(csv_bytes(customer_line(2))))
    ImportJob.objects.filter(pk=job.pk).update(status=ImportJob.Status.FAILED, error="the database was down")
    assert reverse("imports:resume", args=[job.pk]) in client.get(reverse("imports:list")).content.decode()
    assert client.get(reverse("imports:resume", args=[job.pk])).status_code == 405
    assert client.post(reverse("imports:resume", args=[job.pk])).status_code == 302
    job.refresh_from_db()
    assert (job.status, job.error) == (ImportJob.Status.QUEUED, "")
    assert AuditEvent.objects.filter(action=AuditAction.IMPORT_UPLOADED, detail__resumed_at_row=0).exists()


def test_uploads_are_deleted_once_done_and_failed_ones_after_a_week(bank, import_root):
    """An upload holds mobiles and ID numbers in clear; the history keeps only what describes it."""
    job = run_import(bank, "customers", csv_bytes(customer_line(1, mobile="12")))
    assert not job.upload_path.exists() and not job.can_resume
    assert job.sha256 and job.file_size and error_report_path(job).exists()
    failed = import_create(user=bank.user("admin"), kind="customers", upload=upload(csv_bytes(customer_line(2))))
    ImportJob.objects.filter(pk=failed.pk).update(status=ImportJob.Status.FAILED, finished_at=timezone.now())
    assert services.imports_purge_files() == 0
    failed.refresh_from_db()
    assert failed.can_resume
    ImportJob.objects.filter(pk=failed.pk).update(finished_at=timezone.now() - timezone.timedelta(days=8))
    assert services.imports_purge_files() == 1
    failed.refresh_from_db()
    assert not failed.upload_path.exists() and not failed.can_resume
    with pytest.raises(ImportRefused):
        import_resume(job=failed, user=bank.user("admin"))


def test_samples_download(bank, login):
    client = login("admin")
    response = client.get(reverse("imports:sample", args=["customers-gbk.csv"]))
    assert response.status_code == 200
    assert b"".join(response.streaming_content).decode("gbk").startswith("客户号,姓名")
    assert client.get(reverse("imports:sample", args=["settings.py"])).status_code == 404


def test_navigation_shows_imports_to_importers_only(bank, login):
    assert reverse("imports:list") in login("admin").get(reverse("home")).content.decode()
    assert reverse("imports:list") not in login("manager_a").get(reverse("home")).content.decode()


# --- a real Celery worker on the Redis broker ------------------------------------------------------------------


@pytest.mark.django_db(transaction=True)
def test_import_through_a_real_worker(import_root):
    from celery.contrib.testing.worker import start_worker

    from integrations.bank.tasks import run_imports
    from tests.conftest import build_bank
    from workbench.celery import app

    assert app.conf.broker_url.startswith("redis://")
    bank = build_bank()

    def close_worker_connection(**_kwargs):
        connection.close()  # the worker thread's own connection, so the test database can be dropped

    task_postrun.connect(close_worker_connection, weak=False)
    try:
        with start_worker(app, perform_ping_check=False, queues=["compute"], shutdown_timeout=30):
            job = import_create(
                user=bank.user("admin"), kind="customers", upload=upload((SAMPLES / "customers.csv").read_bytes())
            )
            deadline = time.monotonic() + 30
            nudge = time.monotonic() + 5
            while time.monotonic() < deadline:
                job.refresh_from_db()
                if job.is_finished:
                    break
                if time.monotonic() > nudge:  # another test run on the shared broker took the message: what
                    run_imports.delay()  # beat's safety net does, sooner
                    nudge = time.monotonic() + 5
                time.sleep(0.1)
    finally:
        task_postrun.disconnect(close_worker_connection)
    assert_counts(job, read=10, applied=10, unchanged=0, rejected=0)
