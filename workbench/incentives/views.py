"""Incentive pages: the scheme list and builder (head office), the leaderboard, score cards, the Excel export."""

from datetime import date
from functools import wraps

from django.contrib import messages
from django.contrib.auth.decorators import login_required
from django.core.exceptions import PermissionDenied
from django.http import Http404
from django.shortcuts import get_object_or_404, redirect, render
from django.utils import timezone
from django.utils.translation import gettext as _
from django.views.decorators.http import require_POST

from workbench.audit.models import AuditEvent
from workbench.incentives import selectors, services
from workbench.incentives.export import leaderboard_export_request
from workbench.incentives.forms import LineFormSet, SchemeForm, initial_lines
from workbench.incentives.metrics import METRICS, UNIT_LABELS
from workbench.incentives.models import Scheme
from workbench.incentives.periods import period_label, recent_periods
from workbench.org.scope import may_export, may_manage_incentives, viewer_for
from workbench.web.access import export_required, staff_required


def incentives_admin_required(view):
    @login_required
    @wraps(view)
    def wrapped(request, *args, **kwargs):
        if not may_manage_incentives(request.user):
            raise PermissionDenied
        return view(request, *args, **kwargs)

    return wrapped


# --- schemes (head office) --------------------------------------------------------------------------------------


@incentives_admin_required
def scheme_list(request):
    request.workbench_section = "incentive-schemes"
    rows = list(selectors.schemes())
    today = timezone.localdate()
    for scheme in rows:
        scheme.version = scheme.current
        scheme.last_run = selectors.latest_run(scheme)
        kind = scheme.version.period_kind if scheme.version else "month"
        scheme.periods = [(start, period_label(start, kind)) for start, _end in recent_periods(today, kind, 2)]
    return render(request, "incentives/schemes.html", {"schemes": rows})


@incentives_admin_required
def scheme_edit(request, pk=None):
    request.workbench_section = "incentive-schemes"
    scheme = get_object_or_404(Scheme, pk=pk) if pk else None
    version = scheme.current if scheme else None
    if request.method == "POST":
        form = SchemeForm(request.POST, scheme=scheme)
        lines = LineFormSet(request.POST, prefix="lines")
        # Both validated, so the settings' and the rows' messages show together.
        form_valid, lines_valid = form.is_valid(), lines.is_valid()
        if form_valid and lines_valid:
            saved = services.scheme_save(
                user=request.user,
                scheme=scheme,
                name=form.cleaned_data["name"],
                period_kind=form.cleaned_data["period_kind"],
                roles=form.cleaned_data["roles"],
                branches=list(form.cleaned_data["branches"]),
                lines=lines.lines(),
                note=form.cleaned_data["note"],
            )
            if version is not None and saved != version:
                messages.success(
                    request,
                    _("Saved as version %(n)s; scores already computed keep version %(old)s.")
                    % {"n": saved.number, "old": version.number},
                )
            else:
                messages.success(request, _("Scheme saved."))
            return redirect("incentives:schemes")
    else:
        initial = None
        if version is not None:
            initial = {
                "name": scheme.name,
                "period_kind": version.period_kind,
                "roles": version.roles,
                "branches": list(version.branches.all()),
            }
        form = SchemeForm(initial=initial, scheme=scheme)
        lines = LineFormSet(initial=initial_lines(version), prefix="lines")
    context = {
        "scheme": scheme,
        "version": version,
        "frozen": version is not None and version.scores.exists(),
        "form": form,
        "lines": lines,
        "metrics": [
            {"code": m.code, "label": m.label, "unit": UNIT_LABELS[m.unit], "lower": m.lower_is_better, "help": m.help}
            for m in METRICS.values()
        ],
        "versions": scheme.versions.prefetch_related("lines") if scheme else [],
        "history": AuditEvent.objects.filter(object_type="incentives.scheme", object_id=str(scheme.pk))[:20]
        if scheme
        else [],
    }
    return render(request, "incentives/scheme_edit.html", context)


@incentives_admin_required
@require_POST
def scheme_activate(request, pk):
    scheme = get_object_or_404(Scheme, pk=pk)
    active = request.POST.get("active") == "1"
    services.scheme_set_active(user=request.user, scheme=scheme, active=active)
    messages.success(
        request,
        _("“%(name)s” is active.") % {"name": scheme.name}
        if active
        else _("“%(name)s” is paused.") % {"name": scheme.name},
    )
    return redirect("incentives:schemes")


@incentives_admin_required
@require_POST
def scheme_compute(request, pk):
    scheme = get_object_or_404(Scheme, pk=pk)
    try:
        period_start = date.fromisoformat(request.POST.get("period", ""))
    except ValueError:
        raise Http404("No such period.") from None
    services.score_run_request(user=request.user, scheme=scheme, period_start=period_start)
    messages.success(request, _("Scores are being computed; the progress is shown below."))
    return redirect("incentives:schemes")


@incentives_admin_required
def run_progress(request, pk):
    """The htmx fragment polled while a run computes."""
    return render(request, "incentives/_run.html", {"run": selectors.get_run(pk)})


# --- leaderboard, cards, export ---------------------------------------------------------------------------------


def _board_params(request, source) -> dict | None:
    schemes = list(selectors.scored_schemes())
    if not schemes:
        return None
    scheme = next((s for s in schemes if str(s.pk) == source.get("scheme")), schemes[0])
    periods = selectors.scored_periods(scheme)
    period_start = next(
        (start for start, _label in periods if start.isoformat() == source.get("period")), periods[0][0]
    )
    default_level = "team" if viewer_for(request.user).operator else "bank"
    level = source.get("level") if source.get("level") in selectors.LEVELS else default_level
    return {
        "scheme": scheme,
        "schemes": schemes,
        "periods": periods,
        "period_start": period_start,
        "level": level,
        "anchor_id": source.get("anchor") or None,
    }


@staff_required
def leaderboard(request):
    request.workbench_section = "leaderboard"
    params = _board_params(request, request.GET)
    if params is None:
        return render(request, "incentives/leaderboard.html", {"board": None})
    board = selectors.board_for(
        request.user,
        scheme=params["scheme"],
        period_start=params["period_start"],
        level=params["level"],
        anchor_id=params["anchor_id"],
    )
    context = params | {"board": board, "may_export": may_export(request.user)}
    return render(request, "incentives/leaderboard.html", context)


@export_required
@require_POST
def leaderboard_export(request):
    params = _board_params(request, request.POST)
    if params is None:
        raise Http404("Nothing to export.")
    leaderboard_export_request(
        user=request.user,
        scheme=params["scheme"],
        period_start=params["period_start"],
        level=params["level"],
        anchor_id=params["anchor_id"],
    )
    messages.success(request, _("The leaderboard is being exported; download it here when it is ready."))
    return redirect("exports:list")


@staff_required
def my_card(request):
    request.workbench_section = "my-score"
    operator = viewer_for(request.user).operator
    scores = list(selectors.scores_of(operator)) if operator else []
    periods = sorted({(score.period_start, selectors.period_name(score)) for score in scores}, reverse=True)
    chosen = request.GET.get("period")
    starts = [start for start, _label in periods]
    period_start = next((start for start in starts if start.isoformat() == chosen), starts[0] if starts else None)
    shown = [score for score in scores if score.period_start == period_start]
    cards = [
        {"score": score, "lines": selectors.explain(score), "period": selectors.period_name(score)} for score in shown
    ]
    context = {
        "operator": operator,
        "cards": cards,
        "periods": periods,
        "period_start": period_start,
        "schemes": selectors.applicable_schemes(operator) if operator else [],
    }
    return render(request, "incentives/my_card.html", context)


@staff_required
def score_detail(request, pk):
    request.workbench_section = "leaderboard"
    score = selectors.get_visible_score(request.user, pk)
    card = {"score": score, "lines": selectors.explain(score), "period": selectors.period_name(score)}
    return render(request, "incentives/score.html", {"card": card})
