from django.db.models import QuerySet
from django.http import Http404

from workbench.exports.models import ExportJob


def exports_of(user) -> QuerySet[ExportJob]:
    """A user sees only the exports they requested: the file was built under their scope."""
    if not user.is_authenticated:
        return ExportJob.objects.none()
    return ExportJob.objects.filter(requested_by=user)


def get_export_of(user, pk) -> ExportJob:
    try:
        return exports_of(user).get(pk=pk)
    except (ExportJob.DoesNotExist, ValueError, TypeError):
        raise Http404("No such export.") from None
