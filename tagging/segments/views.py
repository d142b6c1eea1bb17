"""Segments (every workbench user, within their scope) and rule tags (head-office rule admins)."""

import json

from django.contrib import messages
from django.core.exceptions import PermissionDenied
from django.http import JsonResponse
from django.shortcuts import get_object_or_404, redirect, render
from django.urls import reverse
from django.utils.http import url_has_allowed_host_and_scheme
from django.utils.translation import gettext as _
from django.views.decorators.http import require_POST

from tagging.models import Tag
from tagging.segments import conditions as lang
from tagging.segments import selectors, services
from tagging.segments.forms import RuleForm, SegmentForm
from tagging.segments.models import Rule, RuleRun
from tagging.tags.services import TagError
from workbench.exports.models import ExportJob
from workbench.org.scope import may_export
from workbench.web.access import export_required, rules_admin_required, staff_required


def _builder_context(user, condition) -> dict:
    config = selectors.builder_config(user, condition)
    config["text"] = {
        "all": _("match all of these conditions"),
        "any": _("match any of these conditions"),
        "none": _("match none of these conditions"),
        "match": _("How the conditions combine"),
        "compare": _("How to compare"),
        "add_row": _("Add condition"),
        "add_group": _("Add group"),
        "remove": _("Remove"),
        "choose_field": _("Choose a field…"),
        "add_tag": _("Add a tag…"),
        "add_branch": _("Add a branch…"),
        "search_operator": _("Type a name or WeCom id…"),
        "no_match": _("No operator found in your scope."),
        "any_product": _("any product"),
        "amount_at_least": _("amount at least"),
        "maturing_within": _("maturing within"),
        "in_last": _("in the last"),
        "times": _("times"),
        "days": _("days"),
        "any_tag": _("any tag"),
        "empty": _("No conditions yet: every customer in your scope matches. Add a condition."),
        "to": "–",
    }
    return {"builder_config": config, "builder_condition": condition or lang.empty_condition()}


def _condition_from(form) -> dict:
    """The condition to show in the builder: what was submitted (even if invalid), else the initial one."""
    raw = form["condition"].value()
    if isinstance(raw, dict):
        return raw
    try:
        value = json.loads(raw or "")
    except (TypeError, ValueError):
        return lang.empty_condition()
    return value if lang.is_group(value) else lang.empty_condition()


# --- segments --------------------------------------------------------------------------------------------------


@staff_required
def segment_list(request):
    request.workbench_section = "segments"
    segments = list(selectors.visible_segments(request.user)[:200])
    counts = selectors.segment_list_counts(request.user, segments)
    for segment in segments:
        segment.member_count = counts.get(segment.pk)
        segment.summary = selectors.describe(segment.condition, request.user)
        segment.editable = selectors.may_edit_segment(request.user, segment)
    return render(request, "segments/segment_list.html", {"segments": segments})


@staff_required
def segment_create(request):
    request.workbench_section = "segments"
    form = SegmentForm(request.POST or None, user=request.user, initial={"condition": lang.empty_condition()})
    if request.method == "POST" and form.is_valid():
        segment = services.segment_create(owner=request.user, **form.cleaned_data)
        messages.success(request, _("Segment “%(name)s” saved.") % {"name": segment.name})
        return redirect("segments:edit", segment.pk)
    context = {"form": form, "segment": None, "editable": True, **_builder_context(request.user, _condition_from(form))}
    return render(request, "segments/segment_form.html", context)


@staff_required
def segment_edit(request, pk):
    request.workbench_section = "segments"
    segment = selectors.get_visible_segment(request.user, pk)
    editable = selectors.may_edit_segment(request.user, segment)
    if request.method == "POST" and not editable:
        raise PermissionDenied
    initial = {
        "name": segment.name,
        "description": segment.description,
        "shared": segment.shared,
        "condition": segment.condition,
    }
    form = SegmentForm(request.POST or None, user=request.user, initial=initial)
    if request.method == "POST" and form.is_valid():
        services.segment_update(segment=segment, actor=request.user, **form.cleaned_data)
        messages.success(request, _("Segment “%(name)s” saved.") % {"name": segment.name})
        return redirect("segments:edit", segment.pk)
    context = {
        "form": form,
        "segment": segment,
        "editable": editable,
        "snapshots": segment.snapshots.select_related("created_by").defer("members")[:20],
        "may_export": may_export(request.user),
        "export_formats": ExportJob.Format.choices,
        **_builder_context(request.user, _condition_from(form)),
    }
    return render(request, "segments/segment_form.html", context)


@staff_required
@require_POST
def segment_delete(request, pk):
    segment = selectors.get_visible_segment(request.user, pk)
    if not selectors.may_edit_segment(request.user, segment):
        raise PermissionDenied
    services.segment_delete(segment=segment, actor=request.user)
    messages.success(request, _("Segment “%(name)s” deleted.") % {"name": segment.name})
    return redirect("segments:list")


@staff_required
@require_POST
def segment_freeze(request, pk):
    segment = selectors.get_visible_segment(request.user, pk)
    if not selectors.may_edit_segment(request.user, segment):
        raise PermissionDenied
    purpose = (request.POST.get("purpose") or "").strip() or _("Frozen by hand")
    try:
        snapshot = services.segment_snapshot(segment, purpose=purpose, actor=request.user)
    except lang.ConditionError as error:
        messages.error(request, " ".join(error.messages))
    else:
        messages.success(
            request,
            _("Snapshot v%(version)s frozen: %(count)s customers.")
            % {"version": snapshot.version, "count": snapshot.count},
        )
    return redirect("segments:edit", segment.pk)


@export_required
@require_POST
def segment_export(request, pk):
    segment = selectors.get_visible_segment(request.user, pk)
    file_format = request.POST.get("format")
    if file_format not in ExportJob.Format.values:
        file_format = ExportJob.Format.XLSX
    job = services.segment_export_request(segment=segment, user=request.user, file_format=file_format)
    messages.success(request, _("Export #%(id)s started; it appears below when ready.") % {"id": job.pk})
    return redirect("exports:list")


@staff_required
@require_POST
def preview(request):
    """The live count and sample while a condition is edited (htmx, debounced by the builder)."""
    try:
        condition = lang.validate(json.loads(request.POST.get("condition") or ""), user=request.user, allow_empty=True)
    except (TypeError, ValueError):
        return render(request, "segments/_preview.html", {"errors": [_("The condition could not be read.")]})
    except lang.ConditionError as error:
        return render(request, "segments/_preview.html", {"errors": error.messages})
    result = selectors.segment_count(request.user, condition)
    return render(request, "segments/_preview.html", {"result": result})


@staff_required
def operator_options(request):
    """Operators within the user's scope for the builder's owner picker (JSON)."""
    return JsonResponse({"results": selectors.operator_options(request.user, request.GET.get("q", ""))})


# --- rules -----------------------------------------------------------------------------------------------------


@rules_admin_required
def rule_list(request):
    request.workbench_section = "rules"
    rules = selectors.rules_overview()
    for rule in rules:
        rule.summary = selectors.describe(rule.condition, request.user)
    context = {"rules": rules, "waiting": selectors.rule_tags_without_rules()}
    return render(request, "segments/rule_list.html", context)


def _waiting_tag(request) -> Tag | None:
    """A starter (or any) rule-kind tag that has no rule yet, chosen with ?tag=<id>."""
    pk = request.GET.get("tag") or request.POST.get("tag")
    if not pk:
        return None
    return get_object_or_404(Tag, pk=pk, kind=Tag.Kind.RULE, is_active=True, rule__isnull=True)


@rules_admin_required
def rule_create(request):
    request.workbench_section = "rules"
    tag = _waiting_tag(request)
    form = RuleForm(request.POST or None, tag=tag, initial={"condition": lang.empty_condition()})
    if request.method == "POST" and form.is_valid():
        data = dict(form.cleaned_data)
        if tag is not None:
            data.pop("group"), data.pop("name")
        try:
            rule = services.rule_create(actor=request.user, tag=tag, **data)
        except TagError as error:
            form.add_error(error.field if error.field in form.fields else None, error.message)
        else:
            messages.success(
                request, _("Rule tag “%(name)s” saved; its first evaluation has started.") % {"name": rule.tag.name}
            )
            return redirect("segments:rule-edit", rule.pk)
    context = {"form": form, "rule": None, "waiting_tag": tag, **_builder_context(request.user, _condition_from(form))}
    return render(request, "segments/rule_form.html", context)


@rules_admin_required
def rule_edit(request, pk):
    request.workbench_section = "rules"
    rule = get_object_or_404(Rule.objects.select_related("tag__group"), pk=pk, tag__is_active=True)
    initial = {
        "group": rule.tag.group_id,
        "name": rule.tag.name,
        "description": rule.tag.description,
        "frequency": rule.frequency,
        "enabled": rule.enabled,
        "condition": rule.condition,
    }
    form = RuleForm(request.POST or None, rule=rule, initial=initial)
    if request.method == "POST" and form.is_valid():
        data = {key: value for key, value in form.cleaned_data.items() if key != "group"}
        try:
            services.rule_update(rule=rule, actor=request.user, **data)
        except TagError as error:
            form.add_error(error.field if error.field in form.fields else None, error.message)
        else:
            messages.success(request, _("Rule tag “%(name)s” saved.") % {"name": data["name"]})
            return redirect("segments:rule-edit", rule.pk)
    context = {
        "form": form,
        "rule": rule,
        "runs": selectors.recent_runs(rule),
        **_builder_context(request.user, _condition_from(form)),
    }
    return render(request, "segments/rule_form.html", context)


@rules_admin_required
@require_POST
def rule_run(request, pk):
    rule = get_object_or_404(Rule, pk=pk)
    run = services.rule_run_request(rule=rule, trigger=RuleRun.Trigger.MANUAL, actor=request.user)
    messages.success(request, _("Evaluation #%(id)s of “%(name)s” started.") % {"id": run.pk, "name": rule.tag.name})
    back = request.POST.get("next", "")
    if not url_has_allowed_host_and_scheme(back, allowed_hosts={request.get_host()}, require_https=request.is_secure()):
        back = reverse("segments:rules")
    return redirect(back)


@rules_admin_required
def rule_run_progress(request, pk):
    """The htmx fragment polled every 2 s while a run is queued or running."""
    run = get_object_or_404(RuleRun.objects.select_related("rule__tag"), pk=pk)
    return render(request, "segments/_rule_run.html", {"run": run})
