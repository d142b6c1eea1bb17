from django.http import FileResponse, Http404
from django.shortcuts import render

from workbench.exports.models import ExportJob
from workbench.exports.selectors import exports_of, get_export_of
from workbench.exports.services import export_mark_downloaded, export_path
from workbench.web.access import staff_required


@staff_required
def export_list(request):
    request.workbench_section = "exports"
    return render(request, "exports/export_list.html", {"jobs": exports_of(request.user)[:50]})


@staff_required
def export_progress(request, pk):
    """The htmx fragment polled while a job runs."""
    return render(request, "exports/_export_row.html", {"job": get_export_of(request.user, pk)})


@staff_required
def export_download(request, pk):
    job = get_export_of(request.user, pk)
    path = export_path(job) if job.file_name else None
    if job.status != ExportJob.Status.DONE or path is None or not path.exists():
        raise Http404("The file is not available.")
    export_mark_downloaded(job=job, user=request.user)
    return FileResponse(path.open("rb"), as_attachment=True, filename=job.file_name)
