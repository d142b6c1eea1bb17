"""Playbook pages (head-office playbook admins): the list, the builder, lifecycle buttons, the campaign monitor.

The builder is one form. Its buttons post the whole form: "op" buttons (add / move / remove a step …) only
redraw it (htmx swaps the builder; without JavaScript the page comes back), "save" keeps the draft, "publish"
saves and publishes, "dryrun" shows what a sample of customers would receive. Nothing is lost on a redraw.
"""

from django.contrib import messages
from django.shortcuts import redirect, render
from django.utils.translation import gettext as _
from django.views.decorators.http import require_POST

from campaigns.playbooks import builder, dryrun, selectors, services, spec
from campaigns.playbooks.models import Playbook
from workbench.web.access import playbooks_admin_required

SECTION = "playbooks"


@playbooks_admin_required
def playbook_list(request):
    request.workbench_section = SECTION
    rows = list(selectors.playbooks()[:200])
    counts = selectors.list_counts([row.pk for row in rows])
    for row in rows:
        row.counts = counts.get(row.pk, {"active": 0, "total": 0})
        row.trigger_label = spec.TRIGGER_TYPES.get(
            (row.live_version.trigger if row.live_version else {}).get("type"), ""
        )
    return render(request, "playbooks/list.html", {"playbooks": rows})


def _meta(request, playbook: Playbook | None) -> dict:
    if request.method == "POST":
        return {
            "name": request.POST.get("name", ""),
            "description": request.POST.get("description", ""),
            "priority": request.POST.get("priority", "5"),
        }
    if playbook is None:
        return {"name": "", "description": "", "priority": 5}
    return {"name": playbook.name, "description": playbook.description, "priority": playbook.priority}


def _context(request, *, playbook, draft, meta, readonly=False, shown_version=None, **extra) -> dict:
    context = {
        "playbook": playbook,
        "draft": builder.with_ids(draft),
        "meta": meta,
        "readonly": readonly,
        "shown_version": shown_version,
        "choices": selectors.builder_choices(request.user),
        **extra,
    }
    if playbook is not None:
        context["versions"] = selectors.versions_of(playbook)
        context["has_draft"] = services.draft_of(playbook) is not None
    return context


def _dry_run(request, playbook: Playbook | None, draft: dict, meta: dict) -> dict:
    try:
        clean = spec.validate(builder.stored(draft), user=request.user)
    except spec.SpecError as error:
        return {"problems": error.messages}
    numbers = services.parse_numbers(request.POST.get("dryrun_numbers", ""))
    try:
        sample = int(request.POST.get("dryrun_sample") or 10)
    except ValueError:
        sample = 10
    try:
        priority = int(meta.get("priority") or 5)
    except ValueError:
        priority = 5
    result = dryrun.dry_run(
        clean,
        playbook_id=playbook.pk if playbook else 0,
        priority=priority,
        user=request.user,
        sample=sample,
        numbers=numbers,
    )
    return {"dryrun": result}


def _handle_post(request, playbook: Playbook | None):
    """Returns a response (redirect) or the extra context to draw the page with."""
    draft = builder.parse(request.POST)
    meta = _meta(request, playbook)
    op = request.POST.get("op", "")
    action = request.POST.get("action", "")
    if op:
        return {"draft": builder.apply(draft, op), "meta": meta}
    if action == "dryrun":
        return {"draft": draft, "meta": meta, **_dry_run(request, playbook, draft, meta)}
    try:
        if playbook is None:
            playbook = services.playbook_create(
                name=meta["name"],
                description=meta["description"],
                priority=meta["priority"],
                draft=builder.stored(draft),
                actor=request.user,
            )
        else:
            services.playbook_save(
                playbook=playbook,
                name=meta["name"],
                description=meta["description"],
                priority=meta["priority"],
                draft=builder.stored(draft),
                actor=request.user,
            )
        if action == "publish":
            version = services.playbook_publish(playbook=playbook, actor=request.user)
            messages.success(request, _("Version %(n)s is live: new customers enter it.") % {"n": version.number})
            return redirect("playbooks:edit", playbook.pk)
    except spec.SpecError as error:
        return {"draft": draft, "meta": meta, "problems": error.messages, "saved_playbook": playbook}
    except services.PlaybookError as error:
        return {"draft": draft, "meta": meta, "problems": error.messages, "saved_playbook": playbook}
    problems = services.problems(builder.stored(draft), user=request.user)
    if problems:
        messages.warning(request, _("Draft saved. Fix what is listed before publishing."))
    else:
        messages.success(request, _("Draft saved. It can be published."))
    return redirect("playbooks:edit", playbook.pk)


@playbooks_admin_required
def playbook_create(request):
    request.workbench_section = SECTION
    extra = {}
    if request.method == "POST":
        outcome = _handle_post(request, None)
        if not isinstance(outcome, dict):
            return outcome
        if outcome.get("saved_playbook") is not None:
            return redirect("playbooks:edit", outcome["saved_playbook"].pk)
        extra = outcome
    draft = extra.pop("draft", None) or services.empty_draft()
    meta = extra.pop("meta", None) or _meta(request, None)
    return render(request, "playbooks/form.html", _context(request, playbook=None, draft=draft, meta=meta, **extra))


@playbooks_admin_required
def playbook_edit(request, pk):
    request.workbench_section = SECTION
    playbook = selectors.get_playbook(pk)
    readonly = playbook.status == Playbook.Status.ARCHIVED
    shown = None
    if request.method == "POST":
        if readonly:
            messages.error(request, _("An archived playbook cannot be changed."))
            return redirect("playbooks:edit", playbook.pk)
        outcome = _handle_post(request, playbook)
        if not isinstance(outcome, dict):
            return outcome
        outcome.pop("saved_playbook", None)
        return render(request, "playbooks/form.html", _context(request, playbook=playbook, **outcome))
    number = request.GET.get("version")
    if number:
        shown = playbook.versions.filter(number=number if str(number).isdigit() else 0).first()
    if shown is None:
        shown = services.draft_of(playbook) or playbook.live_version
    readonly = readonly or not shown.is_draft
    context = _context(
        request,
        playbook=playbook,
        draft=services.version_draft(shown),
        meta=_meta(request, playbook),
        readonly=readonly,
        shown_version=shown,
        problems=services.problems(services.version_draft(shown), user=request.user) if shown.is_draft else [],
    )
    return render(request, "playbooks/form.html", context)


@playbooks_admin_required
@require_POST
def builder_redraw(request):
    """htmx: the builder drawn again after one of its buttons (nothing is saved)."""
    draft = builder.apply(builder.parse(request.POST), request.POST.get("op", ""))
    context = {"draft": builder.with_ids(draft), "choices": selectors.builder_choices(request.user), "readonly": False}
    return render(request, "playbooks/_builder.html", context)


def _lifecycle(action):
    @playbooks_admin_required
    @require_POST
    def view(request, pk):
        playbook = selectors.get_playbook(pk)
        try:
            action(request, playbook)
        except services.PlaybookError as error:
            for message in error.messages:
                messages.error(request, message)
        return redirect(request.POST.get("next") == "monitor" and "playbooks:monitor" or "playbooks:edit", playbook.pk)

    return view


def _edit_draft(request, playbook):
    """Open a new draft from the live version (editing an active playbook)."""
    if services.draft_of(playbook) is None:
        services.playbook_save(
            playbook=playbook,
            name=playbook.name,
            description=playbook.description,
            priority=playbook.priority,
            draft=services.version_draft(playbook.live_version),
            actor=request.user,
        )
    messages.info(request, _("A new draft version is open; running enrolments stay on their version."))


def _pause(request, playbook):
    services.playbook_pause(playbook=playbook, actor=request.user)
    messages.success(request, _("Paused: nobody enters and no step runs until it is resumed."))


def _resume(request, playbook):
    services.playbook_resume(playbook=playbook, actor=request.user)
    messages.success(request, _("Resumed."))


def _archive(request, playbook):
    ended = services.playbook_archive(playbook=playbook, actor=request.user)
    messages.success(request, _("Archived; %(n)s enrolments in progress were ended.") % {"n": ended})


def _discard(request, playbook):
    services.playbook_discard_draft(playbook=playbook, actor=request.user)
    messages.success(request, _("Draft discarded."))


playbook_new_draft = _lifecycle(_edit_draft)
playbook_pause = _lifecycle(_pause)
playbook_resume = _lifecycle(_resume)
playbook_archive = _lifecycle(_archive)
playbook_discard = _lifecycle(_discard)


@playbooks_admin_required
def playbook_monitor(request, pk):
    request.workbench_section = SECTION
    playbook = selectors.get_playbook(pk)
    context = {"playbook": playbook, **selectors.monitor(playbook)}
    if request.method == "POST":
        numbers = services.parse_numbers(request.POST.get("numbers", ""))
        try:
            result = services.playbook_enrol_manual(playbook=playbook, numbers=numbers, actor=request.user)
        except services.PlaybookError as error:
            context["enrol_errors"] = error.messages
        else:
            messages.success(
                request,
                _("%(enrolled)s of %(asked)s customers enrolled.")
                % {"enrolled": result.enrolled, "asked": result.asked},
            )
            if result.not_found:
                messages.warning(
                    request,
                    _("Not found in your scope: %(numbers)s") % {"numbers": "、".join(result.not_found[:20])},
                )
            if result.not_entered:
                messages.info(
                    request,
                    _("%(n)s could not enter (already in progress, the re-entry rule, or outside the audience).")
                    % {"n": result.not_entered},
                )
            return redirect("playbooks:monitor", playbook.pk)
    return render(request, "playbooks/monitor.html", context)
