"""Content library pages: the list, the editor with its live preview, the reviewer's queue, the word list.

Thin: each view checks who may open it, reads through the selectors and writes through the services.
"""

from urllib.parse import quote

from django.contrib import messages
from django.core.exceptions import PermissionDenied
from django.core.paginator import Paginator
from django.http import HttpResponse
from django.shortcuts import get_object_or_404, redirect, render
from django.utils import timezone
from django.utils.translation import gettext as _
from django.views.decorators.http import require_POST

from campaigns.content import selectors, services, variables
from campaigns.content.forms import (
    ATTACHMENT_LABELS,
    AttachmentForm,
    ContentForm,
    ReviewForm,
    SensitiveWordForm,
    end_of,
    last_day,
)
from campaigns.content.models import ContentAsset, ContentItem, ContentVersion, Scenario, SensitiveWord
from campaigns.content.preview import preview
from campaigns.links.selectors import clicks_of_version
from workbench.org.scope import may_author_content, may_review_content
from workbench.web.access import author_required, reviewer_required, staff_required

SECTION = "content"


def _page_context(request, **context) -> dict:
    return {
        "may_author": may_author_content(request.user),
        "may_review": may_review_content(request.user),
        "variables_sender": variables.SENDER_VARIABLES,
        "variables_customer": variables.CUSTOMER_VARIABLES,
        **context,
    }


@staff_required
def content_list(request):
    request.workbench_section = SECTION
    filters = {key: request.GET.get(key, "").strip() for key in ("q", "category", "use", "status", "scenario")}
    page = Paginator(selectors.library(request.user, **filters), 30).get_page(request.GET.get("page"))
    open_versions = selectors.open_versions_of([item.pk for item in page])
    rows = [(item, open_versions.get(item.pk)) for item in page]
    context = _page_context(
        request,
        page=page,
        rows=rows,
        filters=filters,
        categories=selectors.categories(),
        uses=ContentItem.Use.choices,
        scenarios=Scenario.choices,
        queue_size=selectors.review_queue().count() if may_review_content(request.user) else 0,
        now=timezone.now(),
    )
    template = (
        "content/_rows.html" if request.htmx and request.htmx.target == "content-results" else "content/list.html"
    )
    return render(request, template, context)


@author_required
def content_create(request):
    request.workbench_section = SECTION
    initial = {"use": request.GET.get("use", ContentItem.Use.MASS), "scenario": request.GET.get("scenario", "")}
    form = ContentForm(request.POST or None, initial=initial)
    if request.method == "POST" and form.is_valid():
        data = form.cleaned_data
        try:
            item = services.content_create(
                actor=request.user,
                title=data["title"],
                use=data["use"],
                text=data["text"],
                category=data["category"],
                valid_until=end_of(data["valid_through"]),
                scenario=data["scenario"] or Scenario.GENERAL,
            )
        except services.ContentError as exc:
            form.add_error("text", str(exc))
        else:
            messages.success(request, _("Saved as a draft. Add attachments, then submit it for review."))
            return redirect("content:edit", pk=item.pk)
    shown = preview(text=form.data.get("text", ""), attachments=[], use=form.data.get("use") or form["use"].value())
    return render(
        request, "content/editor.html", _page_context(request, form=form, item=None, version=None, preview=shown)
    )


@staff_required
def content_detail(request, pk):
    request.workbench_section = SECTION
    item = selectors.get_visible_item(request.user, pk)
    current = item.current
    opened = selectors.open_version(item)
    context = _page_context(
        request,
        item=item,
        current=current,
        usable=selectors.usable_version(item),
        current_preview=preview(text=current.text, attachments=current.attachments, use=item.use) if current else None,
        opened=opened,
        history=selectors.history(item),
        may_edit=selectors.may_edit(request.user, item),
        clicks=clicks_of_version(current) if current else None,
    )
    return render(request, "content/detail.html", context)


def _editable_item(request, pk) -> ContentItem:
    item = selectors.get_visible_item(request.user, pk)
    if not selectors.may_edit(request.user, item):
        raise PermissionDenied
    return item


@author_required
def content_edit(request, pk):
    request.workbench_section = SECTION
    item = _editable_item(request, pk)
    version = selectors.open_version(item) or item.current or selectors.latest_version(item)
    initial = {
        "title": item.title,
        "category": item.category_id,
        "scenario": item.scenario,
        "text": version.text if version else "",
        "valid_through": last_day(version.valid_until) if version else None,
    }
    form = ContentForm(request.POST or None, initial=initial, editing=True)
    if request.method == "POST" and form.is_valid():
        data = form.cleaned_data
        try:
            version = services.content_edit(
                item=item,
                actor=request.user,
                title=data["title"],
                text=data["text"],
                category=data["category"],
                valid_until=end_of(data["valid_through"]),
                scenario=data["scenario"] or None,
            )
        except services.ContentError as exc:
            form.add_error(None, str(exc))
        else:
            if version.sensitive_hits:
                messages.warning(
                    request,
                    _("Saved, but it contains sensitive words (%(words)s): it cannot be submitted until they go.")
                    % {"words": "、".join(version.sensitive_hits)},
                )
            else:
                messages.success(request, _("Saved (version %(n)s).") % {"n": version.number})
            return redirect("content:edit", pk=item.pk)
    shown = version
    context = _page_context(
        request,
        form=form,
        item=item,
        version=shown,
        opened=selectors.open_version(item),
        attachment_form=AttachmentForm(),
        attachment_labels=ATTACHMENT_LABELS,
        preview=preview(
            text=form.data.get("text", shown.text) if form.is_bound else (shown.text if shown else ""),
            attachments=shown.attachments if shown else [],
            use=item.use,
        ),
    )
    return render(request, "content/editor.html", context)


@author_required
@require_POST
def content_preview(request):
    """The htmx fragment of the editor's phone: the text as typed, the saved attachments of the item."""
    use = request.POST.get("use", ContentItem.Use.MASS)
    attachments = []
    if request.POST.get("item", "").isdigit():
        item = selectors.get_visible_item(request.user, request.POST["item"])
        use = item.use
        version = selectors.open_version(item) or item.current or selectors.latest_version(item)
        attachments = version.attachments if version else []
    if use not in ContentItem.Use.values:
        use = ContentItem.Use.MASS
    shown = preview(text=request.POST.get("text", ""), attachments=attachments, use=use)
    return render(request, "content/_phone.html", {"preview": shown})


@author_required
@require_POST
def content_submit(request, pk):
    item = _editable_item(request, pk)
    version = selectors.open_version(item)
    if version is None:
        messages.error(request, _("There is no draft to submit: edit the content first."))
        return redirect("content:detail", pk=item.pk)
    try:
        services.content_submit(version=version, actor=request.user)
    except services.ContentError as exc:
        messages.error(request, str(exc))
        return redirect("content:edit", pk=item.pk)
    messages.success(request, _("Submitted for review. Compliance decides; you will see the outcome here."))
    return redirect("content:detail", pk=item.pk)


@author_required
@require_POST
def attachment_add(request, pk):
    item = _editable_item(request, pk)
    form = AttachmentForm(request.POST, request.FILES)
    if not form.is_valid():
        messages.error(request, " ".join(str(e) for errors in form.errors.values() for e in errors))
        return redirect("content:edit", pk=item.pk)
    data = form.cleaned_data
    kind = data["type"]
    try:
        if kind in (ContentAsset.Kind.IMAGE, ContentAsset.Kind.FILE, ContentAsset.Kind.VIDEO):
            asset = services.asset_store(item=item, actor=request.user, kind=kind, upload=data["file"])
            attachment = services.attachment_media(asset)
        elif kind == "link":
            cover = None
            if data.get("file"):
                cover = services.asset_store(item=item, actor=request.user, kind="image", upload=data["file"])
            attachment = services.attachment_link(title=data["title"], url=data["url"], desc=data["desc"], cover=cover)
        else:
            cover = services.asset_store(item=item, actor=request.user, kind="image", upload=data["file"])
            attachment = services.attachment_miniprogram(
                title=data["title"], appid=data["appid"], page=data["page"], cover=cover
            )
        services.content_add_attachment(item=item, actor=request.user, attachment=attachment)
    except services.ContentError as exc:
        messages.error(request, str(exc))
    else:
        messages.success(request, _("Attachment added."))
    return redirect("content:edit", pk=item.pk)


@author_required
@require_POST
def attachment_remove(request, pk, index):
    item = _editable_item(request, pk)
    try:
        services.content_remove_attachment(item=item, actor=request.user, index=index)
    except services.ContentError as exc:
        messages.error(request, str(exc))
    return redirect("content:edit", pk=item.pk)


@staff_required
def asset(request, pk):
    found = selectors.get_visible_asset(request.user, pk)
    image = found.kind == ContentAsset.Kind.IMAGE  # checked to be JPG or PNG when uploaded
    content_type = found.content_type if image else "application/octet-stream"  # never rendered by the browser
    response = HttpResponse(bytes(found.data), content_type=content_type)
    disposition = "inline" if image else "attachment"
    response["Content-Disposition"] = f"{disposition}; filename*=UTF-8''{_quoted(found.filename)}"
    response["Cache-Control"] = "private, max-age=3600"
    return response


def _quoted(name: str) -> str:
    return quote(name, safe="")


# --- review ---------------------------------------------------------------------------------------------------


@reviewer_required
def review_queue(request):
    request.workbench_section = "review"
    queue = list(selectors.review_queue())
    return render(
        request,
        "content/review_queue.html",
        _page_context(request, queue=queue, reviewed=selectors.recently_reviewed()),
    )


@reviewer_required
def review(request, pk):
    request.workbench_section = "review"
    version = selectors.get_submitted_version(pk)
    form = ReviewForm(request.POST or None)
    if request.method == "POST" and form.is_valid():
        try:
            if form.cleaned_data["decision"] == "approve":
                services.content_approve(version=version, reviewer=request.user, note=form.cleaned_data["note"])
                messages.success(
                    request, _("Approved: %(title)s is in use from now on.") % {"title": version.item.title}
                )
            else:
                services.content_reject(version=version, reviewer=request.user, reason=form.cleaned_data["note"])
                messages.success(request, _("Rejected: the author sees your reason."))
        except services.ContentError as exc:
            form.add_error(None, str(exc))
        else:
            return redirect("content:review-queue")
    item = version.item
    context = _page_context(
        request,
        version=version,
        item=item,
        form=form,
        shown=preview(text=version.text, attachments=version.attachments, use=item.use),
        current=item.current,
        own=request.user.pk == version.author_id or request.user.pk in version.editor_ids,
        valid_through=last_day(version.valid_until),
        statuses=ContentVersion.Status,
    )
    return render(request, "content/review.html", context)


@reviewer_required
def sensitive_words(request):
    request.workbench_section = "review"
    adding = request.method == "POST" and request.POST.get("action") == "add"
    form = SensitiveWordForm(request.POST if adding else None)
    if request.method == "POST":
        try:
            if request.POST.get("action") == "remove":
                word = get_object_or_404(SensitiveWord, pk=request.POST.get("word_id"))
                services.sensitive_word_remove(actor=request.user, word=word)
                messages.success(request, _("%(word)s removed from the list.") % {"word": word.word})
                return redirect("content:sensitive-words")
            if form.is_valid():
                word = services.sensitive_word_add(
                    actor=request.user, word=form.cleaned_data["word"], note=form.cleaned_data["note"]
                )
                messages.success(request, _("%(word)s added to the list.") % {"word": word.word})
                return redirect("content:sensitive-words")
        except services.ContentError as exc:
            form.add_error("word", str(exc))
    return render(
        request, "content/sensitive_words.html", _page_context(request, form=form, words=selectors.sensitive_words())
    )
