"""Reading import jobs. Imports are whole-bank by design: whoever may import sees every job and report."""

from django.db.models import QuerySet
from django.http import Http404

from integrations.bank.models import ImportJob
from workbench.org.scope import may_import


def imports_for(user) -> QuerySet[ImportJob]:
    if not may_import(user):
        return ImportJob.objects.none()
    return ImportJob.objects.select_related("uploaded_by")


def get_import_for(user, pk) -> ImportJob:
    try:
        return imports_for(user).get(pk=pk)
    except (ImportJob.DoesNotExist, ValueError, TypeError):
        raise Http404("No such import.") from None
