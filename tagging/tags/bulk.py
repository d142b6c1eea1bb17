"""Bulk tagging from the customer list: one tag added to or removed from every customer matching its filters.

The filters run under the requester's data scope (`tagging.selectors.filtered_customers`), at request time for
the count and again when the job runs, exactly as exports do. At most `BULK_MAX` customers per job; small jobs
run in the request, larger ones in a worker with progress. Every job is in the audit log; every change it makes
is in the customers' tag history (source: by hand, `source_id` = the job).
"""

from django.db import transaction
from django.utils import timezone
from django.utils.translation import gettext as _

from tagging.models import BulkTagJob, Tag, TagPush, TagSource
from tagging.selectors import filtered_customers
from tagging.tags.services import TagError, id_chunks, tag_add, tag_remove
from workbench.audit.models import AuditAction
from workbench.audit.services import audit_record

BULK_MAX = 100_000
INLINE_MAX = 2_000  # at most this many run in the request; more go to a worker
# The customer list's filters (the same set exports accept).
ALLOWED_PARAMS = {"q", "branch", "owner", "occupation_group", "aum_min", "aum_max", "external_userid"}


def clean_params(params: dict) -> dict:
    return {key: str(value) for key, value in params.items() if key in ALLOWED_PARAMS and value not in ("", None)}


def bulk_tag_request(*, user, tag: Tag, action: str, params: dict) -> BulkTagJob:
    if tag.kind != Tag.Kind.MANUAL or not tag.is_active:
        raise TagError(_("Only manual tags are given or taken in bulk."))
    if action not in BulkTagJob.Action.values:
        raise TagError(_("Choose whether to add or remove the tag."))
    params = clean_params(params)
    customers, customer_filter = filtered_customers(user, params)
    if customer_filter.is_bound and not customer_filter.is_valid():
        raise TagError(_("The filters are not valid."))
    total = customers.order_by()[: BULK_MAX + 1].count()
    if total > BULK_MAX:
        raise TagError(
            _("More than %(max)s customers match these filters; narrow them down first.") % {"max": f"{BULK_MAX:,}"}
        )
    if not total:
        raise TagError(_("No customers match these filters."))
    with transaction.atomic():
        job = BulkTagJob.objects.create(requested_by=user, tag=tag, action=action, params=params, total=total)
        audit_record(
            actor=user,
            action=AuditAction.TAGS_BULK_CHANGED,
            obj=job,
            detail={"tag": tag.pk, "tag_name": str(tag), "action": action, "filters": params, "customers": total},
        )
        if total > INLINE_MAX:
            from tagging.tags.tasks import run_bulk_job

            transaction.on_commit(lambda: run_bulk_job.delay(job.pk))
    if total <= INLINE_MAX:
        job = bulk_job_run(job_id=job.pk)
    return job


def bulk_job_run(*, job_id: int) -> BulkTagJob | None:
    """Run the job to the end. A redelivered job starts again from the top: every change is idempotent."""
    job = BulkTagJob.objects.select_related("requested_by", "tag").filter(pk=job_id).first()
    if job is None or job.is_finished:
        return job
    job.status, job.done, job.changed = BulkTagJob.Status.RUNNING, 0, 0
    job.save(update_fields=["status", "done", "changed"])
    customers, _filter = filtered_customers(job.requested_by, job.params)
    change = tag_add if job.action == BulkTagJob.Action.ADD else tag_remove
    try:
        for ids in id_chunks(customers):
            ids = ids[: BULK_MAX - job.done]
            if not ids:
                break
            job.changed += change(
                ids,
                job.tag,
                source=TagSource.MANUAL,
                actor=job.requested_by,
                source_id=job.pk,
                push_priority=TagPush.PRIORITY_BULK,
            )
            job.done += len(ids)
            BulkTagJob.objects.filter(pk=job.pk).update(done=job.done, changed=job.changed)
    except Exception as exc:
        job.status, job.error, job.finished_at = BulkTagJob.Status.FAILED, str(exc)[:2000], timezone.now()
        job.save(update_fields=["status", "error", "finished_at"])
        raise
    job.status, job.finished_at = BulkTagJob.Status.DONE, timezone.now()
    job.total = max(job.total, job.done)
    job.save(update_fields=["status", "finished_at", "total", "done", "changed"])
    return job
