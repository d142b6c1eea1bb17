"""The tag pages: the library (everyone), its management and the WeCom outbox (head-office admins), the tags card
of the customer page and bulk tagging from the customer list (anyone, within their data scope)."""

from django.contrib import messages
from django.core.paginator import Paginator
from django.shortcuts import get_object_or_404, redirect, render
from django.utils.translation import gettext as _
from django.views.decorators.http import require_POST

from tagging.models import Tag, TagGroup, TagPush
from tagging.tags import selectors, services, wecom
from tagging.tags.bulk import bulk_tag_request
from tagging.tags.forms import BulkTagForm, CustomerTagForm, TagForm, TagGroupForm
from tagging.tags.services import TagError
from workbench.org.scope import get_visible_customer, may_manage_tags
from workbench.web.access import staff_required, tags_admin_required

OUTBOX_STATUSES = (TagPush.Status.FAILED, TagPush.Status.PENDING, TagPush.Status.SENDING, TagPush.Status.DONE)


@staff_required
def library(request):
    request.workbench_section = "tags"
    groups, counted_at = selectors.tag_library(request.user)
    manage = may_manage_tags(request.user)
    context = {
        "groups": groups,
        "counted_at": counted_at,
        "may_manage": manage,
        "jobs": selectors.jobs_of(request.user)[:5],
        "outbox": selectors.outbox_summary() if manage else None,
        "active_tags": selectors.active_tag_count() if manage else None,
        "max_tags": services.MAX_CORP_TAGS,
    }
    return render(request, "tags/library.html", context)


def _form_page(request, form, *, title: str, obj=None, kind: str):
    request.workbench_section = "tags"
    return render(request, "tags/form.html", {"form": form, "title": title, "obj": obj, "kind": kind})


def _apply_error(form, error: TagError) -> None:
    form.add_error(error.field if error.field in form.fields else None, error.message)


@tags_admin_required
def group_new(request):
    form = TagGroupForm(request.POST or None)
    if request.method == "POST" and form.is_valid():
        try:
            group = services.tag_group_create(**form.cleaned_data, actor=request.user)
        except TagError as error:
            _apply_error(form, error)
        else:
            messages.success(request, _("Tag group “%(name)s” created.") % {"name": group.name})
            return redirect("tags:library")
    return _form_page(request, form, title=_("New tag group"), kind="group")


@tags_admin_required
def group_edit(request, pk):
    group = get_object_or_404(TagGroup, pk=pk)
    initial = {"name": group.name, "description": group.description, "order": group.order}
    form = TagGroupForm(request.POST or None, initial=initial)
    if request.method == "POST" and form.is_valid():
        try:
            services.tag_group_update(group, **form.cleaned_data, actor=request.user)
        except TagError as error:
            _apply_error(form, error)
        else:
            messages.success(request, _("Tag group “%(name)s” saved.") % {"name": group.name})
            return redirect("tags:library")
    return _form_page(request, form, title=_("Edit tag group"), obj=group, kind="group")


@tags_admin_required
@require_POST
def group_delete(request, pk):
    group = get_object_or_404(TagGroup, pk=pk)
    try:
        services.tag_group_delete(group, actor=request.user)
    except TagError as error:
        messages.error(request, error.message)
    else:
        messages.success(request, _("Tag group “%(name)s” deleted.") % {"name": group.name})
    return redirect("tags:library")


@tags_admin_required
def tag_new(request):
    form = TagForm(request.POST or None, initial={"group": request.GET.get("group")})
    if request.method == "POST" and form.is_valid():
        try:
            tag = services.tag_create(**form.cleaned_data, actor=request.user)
        except TagError as error:
            _apply_error(form, error)
        else:
            _say_saved(request, tag, _("Tag “%(name)s” created."))
            return redirect("tags:library")
    return _form_page(request, form, title=_("New tag"), kind="tag")


@tags_admin_required
def tag_edit(request, pk):
    tag = get_object_or_404(Tag.objects.select_related("group"), pk=pk, is_active=True)
    initial = {"name": tag.name, "kind": tag.kind, "description": tag.description, "order": tag.order}
    form = TagForm(request.POST or None, initial=initial, editing=True)
    if request.method == "POST" and form.is_valid():
        try:
            services.tag_update(tag, **form.cleaned_data, actor=request.user)
        except TagError as error:
            _apply_error(form, error)
        else:
            _say_saved(request, tag, _("Tag “%(name)s” saved."))
            return redirect("tags:library")
    return _form_page(request, form, title=_("Edit tag"), obj=tag, kind="tag")


def _say_saved(request, tag: Tag, text: str) -> None:
    if tag.wecom_state == "synced":
        messages.success(request, text % {"name": tag.name})
    else:
        messages.warning(
            request, text % {"name": tag.name} + " " + _("WeCom could not be reached; it will be updated shortly.")
        )


@tags_admin_required
@require_POST
def tag_delete(request, pk):
    tag = get_object_or_404(Tag.objects.select_related("group"), pk=pk, is_active=True)
    services.tag_delete(tag, actor=request.user)
    messages.success(
        request, _("Tag “%(name)s” deleted; customers lose it shortly, their history keeps it.") % {"name": tag.name}
    )
    return redirect("tags:library")


@tags_admin_required
def outbox(request):
    request.workbench_section = "tags"
    status = request.GET.get("status") if request.GET.get("status") in OUTBOX_STATUSES else TagPush.Status.FAILED
    page = Paginator(selectors.outbox_rows(status), 50).get_page(request.GET.get("page"))
    context = {
        "page": page,
        "status": status,
        "statuses": [(value, TagPush.Status(value).label) for value in OUTBOX_STATUSES],
        "summary": selectors.outbox_summary(),
        "library_problems": selectors.library_problems()[:100],
    }
    return render(request, "tags/outbox.html", context)


@tags_admin_required
@require_POST
def outbox_retry(request):
    retried = wecom.retry_failed()
    messages.success(request, _("%(n)s pushes queued again; tags WeCom refused will be tried again.") % {"n": retried})
    return redirect("tags:outbox")


@staff_required
def customer_tags(request, pk):
    """The customer page's tags card (GET), and adding, removing, pinning or unpinning a tag by hand (POST)."""
    customer = get_visible_customer(request.user, pk)
    error = ""
    if request.method == "POST":
        form = CustomerTagForm(request.POST)
        op = request.POST.get("op")
        if not form.is_valid() or op not in ("add", "remove", "pin", "unpin"):
            error = _("Choose a tag.")
        else:
            tag = form.cleaned_data["tag"]
            try:
                if op == "add":
                    services.customer_tag_add_by_hand(customer=customer, tag=tag, actor=request.user)
                elif op == "remove":
                    services.customer_tag_remove_by_hand(customer=customer, tag=tag, actor=request.user)
                else:
                    services.customer_tag_pin(customer=customer, tag=tag, pinned=op == "pin")
            except TagError as exc:
                error = exc.message
        if not request.htmx:
            if error:
                messages.error(request, error)
            return redirect("customers:detail", pk=customer.pk)
    return render(request, "tags/_customer_tags.html", customer_card_context(customer, error=error))


def customer_card_context(customer, *, error: str = "") -> dict:
    rows = selectors.customer_tags(customer)
    return {"customer": customer, "rows": rows, "addable": selectors.taggable_tags(rows), "error": error}


@staff_required
@require_POST
def bulk(request):
    """Tag every customer matching the list's filters (the form sits on the list's toolbar)."""
    form = BulkTagForm(request.POST)
    job, error = None, ""
    if form.is_valid():
        try:
            job = bulk_tag_request(
                user=request.user,
                tag=form.cleaned_data["tag"],
                action=form.cleaned_data["action"],
                params=request.POST.dict(),
            )
        except TagError as exc:
            error = exc.message
    else:
        error = _("Choose a tag and whether to add or remove it.")
    if request.htmx:
        return render(request, "tags/_job.html", {"job": job, "error": error})
    if error:
        messages.error(request, error)
    else:
        messages.success(request, _("Bulk tagging #%(id)s started; its progress is on the tags page.") % {"id": job.pk})
    return redirect("tags:library")


@staff_required
def job_progress(request, pk):
    """The htmx fragment polled while a bulk job runs (its requester only)."""
    return render(request, "tags/_job.html", {"job": selectors.get_job_of(request.user, pk)})
