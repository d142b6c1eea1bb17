"""The imports page: upload a file, watch the history with progress, download error reports and samples."""

from pathlib import Path

from django.conf import settings
from django.contrib import messages
from django.core.exceptions import PermissionDenied
from django.core.paginator import Paginator
from django.http import FileResponse, Http404
from django.shortcuts import redirect, render
from django.utils.translation import gettext as _
from django.views.decorators.http import require_POST

from integrations.bank.forms import ImportForm
from integrations.bank.selectors import get_import_for, imports_for
from integrations.bank.services import (
    ImportRefused,
    error_report_path,
    error_report_preview,
    import_create,
    import_report_downloaded,
    import_resume,
    max_upload_bytes,
)
from workbench.web.access import import_required

# The documented sample files (docs/imports.md), by the name they are downloaded under.
SAMPLES = {
    "customers.csv": "text/csv",
    "customers-gbk.csv": "text/csv",
    "customers.xlsx": "application/vnd.openxmlformats-officedocument.spreadsheetml.sheet",
    "payroll.csv": "text/csv",
    "holdings.csv": "text/csv",
    "purchases.csv": "text/csv",
}


def samples_dir() -> Path:
    return Path(settings.BASE_DIR) / "docs" / "samples"


def _too_large(request) -> bool:
    """Refuse an oversized upload from its Content-Length, before Django reads the body."""
    try:
        length = int(request.META.get("CONTENT_LENGTH") or 0)
    except ValueError:
        return False
    return length > max_upload_bytes() + (1 << 20)  # the multipart envelope around the file


@import_required
def import_list(request):
    request.workbench_section = "imports"
    status, refusal = 200, ""
    if request.method == "POST":
        form = ImportForm()
        if _too_large(request):
            refusal = _("The file is larger than %(mb)s MB; split it into several files.") % {
                "mb": settings.IMPORT_MAX_UPLOAD_MB
            }
            status = 413
        else:
            form = ImportForm(request.POST, request.FILES)
            if form.is_valid():
                try:
                    job = import_create(
                        user=request.user,
                        kind=form.cleaned_data["kind"],
                        upload=form.cleaned_data["file"],
                        encoding=form.cleaned_data["encoding"],
                    )
                except ImportRefused as refused:
                    form.add_error("file", str(refused))
                else:
                    messages.success(
                        request,
                        _("File received as import #%(id)s; it is processed in the background.") % {"id": job.pk},
                    )
                    return redirect("imports:list")
    else:
        form = ImportForm()
    page = Paginator(imports_for(request.user), 30).get_page(request.GET.get("page"))
    for job in page:
        job.preview = error_report_preview(job) if job.has_error_report else []
    context = {
        "form": form,
        "refusal": refusal,
        "page": page,
        "samples": list(SAMPLES),
        "max_upload_mb": settings.IMPORT_MAX_UPLOAD_MB,
    }
    return render(request, "bank/import_list.html", context, status=status)


@import_required
def import_progress(request, pk):
    """The htmx fragment polled while a job runs."""
    job = get_import_for(request.user, pk)
    job.preview = error_report_preview(job) if job.has_error_report else []
    return render(request, "bank/_import_row.html", {"job": job})


@import_required
def import_errors(request, pk):
    job = get_import_for(request.user, pk)
    path = error_report_path(job)
    if not job.has_error_report or path is None or not path.exists():
        raise Http404("This import has no error report.")
    import_report_downloaded(job=job, user=request.user)
    return FileResponse(path.open("rb"), as_attachment=True, filename=f"import-{job.pk}-errors.csv")


@import_required
@require_POST
def import_resume_view(request, pk):
    job = get_import_for(request.user, pk)
    if not job.can_resume:
        raise PermissionDenied
    import_resume(job=job, user=request.user)
    messages.success(request, _("Import #%(id)s continues after row %(rows)s.") % {"id": job.pk, "rows": job.rows_read})
    return redirect("imports:list")


@import_required
def import_sample(request, name):
    if name not in SAMPLES:
        raise Http404("No such sample.")
    path = samples_dir() / name
    return FileResponse(path.open("rb"), as_attachment=True, filename=name, content_type=SAMPLES[name])
