"""The imports API for the bank's batch systems: upload, poll, error report; permissions and the error shape."""

import csv
import io
from pathlib import Path

import pytest
from django.conf import settings
from django.core.files.uploadedfile import SimpleUploadedFile
from django.utils import translation
from rest_framework.test import APIClient

from integrations.bank.models import ImportJob
from integrations.bank.services import import_run
from workbench.audit.models import AuditAction, AuditEvent

URL = "/api/v1/imports/"
SAMPLES = Path(settings.BASE_DIR) / "docs" / "samples"


@pytest.fixture(autouse=True)
def _english():
    with translation.override("en"):
        yield


def _error(response, status: int, code: str) -> dict:
    assert response.status_code == status, response.content
    body = response.json()
    assert set(body) == {"error"} and body["error"]["code"] == code and body["error"]["message"]
    return body["error"]


def _post(client, kind="customers", content=None, name="customers.csv", **extra):
    content = (SAMPLES / "customers.csv").read_bytes() if content is None else content
    data = {"kind": kind, "file": SimpleUploadedFile(name, content), **extra}
    return client.post(URL, data, format="multipart")


def test_upload_answers_202_with_the_job(bank, api_as, import_root, django_capture_on_commit_callbacks):
    with django_capture_on_commit_callbacks(execute=False) as callbacks:
        response = _post(api_as("admin"), encoding="utf-8")
    assert response.status_code == 202, response.content
    assert len(callbacks) == 1
    body = response.json()
    job = ImportJob.objects.get()
    assert body["id"] == job.pk and body["status"] == "queued" and body["kind"] == "customers"
    assert (body["via"], body["uploaded_by"], body["encoding"], body["errors_url"]) == ("api", "admin", "utf-8", None)
    assert body["url"] == f"http://testserver/api/v1/imports/{job.pk}/" == response["Location"]
    assert body["file_name"] == "customers.csv" and body["file_size"] == len((SAMPLES / "customers.csv").read_bytes())
    event = AuditEvent.objects.get(action=AuditAction.IMPORT_UPLOADED)
    assert (event.actor, event.detail["via"]) == (bank.user("admin"), "api")


def test_poll_the_job_and_fetch_the_error_report(bank, api_as, import_root):
    client = api_as("admin")
    content = (SAMPLES / "customers.csv").read_bytes() + "C8800000099,坏号码,男,12345,,,,,,,,\r\n".encode()
    job_id = _post(client, content=content).json()["id"]
    import_run(job_id=job_id)
    body = client.get(f"{URL}{job_id}/").json()
    assert body["status"] == "done" and body["percent"] == 100
    counts = (
        body["rows_total"],
        body["rows_read"],
        body["rows_applied"],
        body["rows_unchanged"],
        body["rows_rejected"],
    )
    assert counts == (11, 11, 10, 0, 1)
    assert body["errors_url"] == f"http://testserver/api/v1/imports/{job_id}/errors"
    response = client.get(body["errors_url"])
    assert response.status_code == 200 and response["Content-Type"] == "text/csv"
    rows = list(csv.reader(io.StringIO(b"".join(response.streaming_content).decode("utf-8-sig"))))
    # The report speaks the language of the upload request (the workbench's default here: Chinese).
    assert (rows[1][0], rows[1][3], rows[1][4]) == ("12", "C8800000099", "*****")  # PII masked
    assert AuditEvent.objects.filter(action=AuditAction.IMPORT_REPORT_DOWNLOADED, object_id=str(job_id)).count() == 1
    listing = client.get(URL).json()
    assert [row["id"] for row in listing["results"]] == [job_id]


def test_a_job_without_rejected_rows_has_no_report(bank, api_as, import_root):
    client = api_as("admin")
    job_id = _post(client).json()["id"]
    import_run(job_id=job_id)
    assert client.get(f"{URL}{job_id}/").json()["errors_url"] is None
    _error(client.get(f"{URL}{job_id}/errors"), 404, "not_found")


def test_a_failed_job_says_why(bank, api_as, import_root):
    client = api_as("admin")
    job_id = _post(client, content="客户号,手机号\nC1,13812345678\n".encode()).json()["id"]
    import_run(job_id=job_id)
    body = client.get(f"{URL}{job_id}/").json()
    # In the language of the upload request (Chinese unless the caller chose English): the missing column.
    assert body["status"] == "failed" and ("Name" in body["error"] or "姓名" in body["error"])


@pytest.mark.parametrize("persona", ["operator_a", "lead_a", "manager_a", "reviewer", "nobody"])
def test_roles_that_may_not_import_get_403(bank, api_as, import_root, persona):
    client = api_as(persona)
    _error(_post(client), 403, "permission_denied")
    _error(client.get(URL), 403, "permission_denied")
    assert not ImportJob.objects.exists()


def test_importers_data_is_not_visible_to_other_roles(bank, api_as, import_root):
    admin = api_as("admin")
    job_id = _post(admin, content=(SAMPLES / "customers.csv").read_bytes() + b"X1,,,,,,,,,,,\r\n").json()["id"]
    import_run(job_id=job_id)
    for persona in ("manager_a", "reviewer"):
        client = api_as(persona)
        _error(client.get(f"{URL}{job_id}/"), 403, "permission_denied")
        _error(client.get(f"{URL}{job_id}/errors"), 403, "permission_denied")
    assert api_as("superuser").get(f"{URL}{job_id}/errors").status_code == 200


def test_without_a_token(bank, import_root):
    _error(APIClient().post(URL, {}), 401, "not_authenticated")
    _error(APIClient().get(f"{URL}1/"), 401, "not_authenticated")


def test_unknown_job_is_404(bank, api_as):
    _error(api_as("admin").get(f"{URL}999999/"), 404, "not_found")


def test_invalid_uploads_use_the_error_shape(bank, api_as, import_root, settings):
    client = api_as("admin")
    error = _error(client.post(URL, {"kind": "customers"}, format="multipart"), 400, "invalid")
    assert "file" in error["fields"]
    error = _error(_post(client, kind="loans"), 400, "invalid")
    assert "kind" in error["fields"]
    error = _error(_post(client, encoding="latin-1"), 400, "invalid")
    assert "encoding" in error["fields"]
    error = _error(_post(client, content=b"\xd0\xcf\x11\xe0old excel", name="old.xls"), 400, "invalid")
    assert ".xls" in error["fields"]["file"][0]
    settings.IMPORT_MAX_UPLOAD_MB = 1
    _error(_post(client, content=b"x" * (3 << 20)), 413, "too_large")
    assert not ImportJob.objects.exists()


def test_schema_documents_the_imports_api(bank, api_as):
    schema = APIClient().get("/api/schema/", {"format": "json"}).json()
    upload = schema["paths"]["/api/v1/imports/"]["post"]
    assert "multipart/form-data" in upload["requestBody"]["content"]
    assert "202" in upload["responses"] and "413" in upload["responses"]
    assert "get" in schema["paths"]["/api/v1/imports/{id}/"]
    assert "text/csv" in schema["paths"]["/api/v1/imports/{id}/errors"]["get"]["responses"]["200"]["content"]
