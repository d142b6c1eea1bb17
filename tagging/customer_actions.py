"""What a person does from the customer 360 page: write a note, create a task, enrol the customer in a playbook.

Tags (the tags card, `tagging.tags`) and do-not-disturb (the contact preference card, `campaigns.delivery`) keep
their own views and services; the page embeds their cards. Every action here re-checks, on the server:

- scope: the customer must be visible to the user (`get_visible_customer`: 404 otherwise, existence not revealed);
- role: staff who look after customers act on them; compliance reviewers read only (the same rule as
  do-not-disturb, `may_set_dnd`); enrolling in a playbook needs `may_manage_playbooks` (head office), as on the
  playbook monitor.

Views answer htmx with the card they changed, and a plain POST with a redirect to the page and a message.
"""

import secrets
from datetime import datetime, timedelta

from django import forms
from django.contrib import messages
from django.core.exceptions import PermissionDenied
from django.shortcuts import redirect, render
from django.utils import timezone
from django.utils.translation import gettext as _
from django.utils.translation import gettext_lazy
from django.views.decorators.http import require_POST

from campaigns.delivery.models import OperatorTask
from campaigns.delivery.services import DeliveryError, create_operator_task
from campaigns.delivery.views import may_set_dnd
from campaigns.playbooks.models import Playbook
from campaigns.playbooks.services import PlaybookError, playbook_enrol_manual
from tagging import customer360
from tagging.models import Customer, CustomerEvent
from workbench.org.roles import Role
from workbench.org.scope import get_visible_customer, may_manage_playbooks, viewer_for
from workbench.web.access import staff_required

NOTE_MAX = 255  # CustomerEvent.summary
TASK_KINDS = [OperatorTask.Kind.CALL, OperatorTask.Kind.MESSAGE, OperatorTask.Kind.VISIT]
MANUAL_SOURCE = "manual"


class CustomerActionError(ValueError):
    """The action cannot be carried out; the message is for the user as it is."""


def may_act_on_customers(user) -> bool:
    """Write notes and tasks: everyone who may record a customer's do-not-disturb (not compliance reviewers)."""
    return may_set_dnd(user)


# --- services ------------------------------------------------------------------------------------------------


def customer_note_add(*, customer: Customer, actor, text: str, now: datetime | None = None) -> CustomerEvent:
    text = " ".join((text or "").split())
    if not text:
        raise CustomerActionError(_("Write the note first."))
    if len(text) > NOTE_MAX:
        raise CustomerActionError(_("A note has at most %(n)s characters.") % {"n": NOTE_MAX})
    operator = viewer_for(actor).operator
    return CustomerEvent.objects.create(
        customer=customer,
        occurred_at=now or timezone.now(),
        kind=CustomerEvent.Kind.NOTE,
        summary=text,
        operator=operator,
        data={"by": actor.get_username()},
    )


def customer_task_create(
    *, customer: Customer, actor, kind: str, title: str, due_at: datetime, script: str = ""
) -> OperatorTask:
    """A task made by hand. Its business key must never meet another's: a fresh random source id under the
    "manual" kind (62 bits; the key also holds the customer, so a clash would need the same customer too).

    An operator makes the task for themselves; anyone else makes it for the customer's operator (the owner,
    else the newest live follow) — the person who will call or visit."""
    if kind not in TASK_KINDS:
        raise CustomerActionError(_("Choose a call, a 1:1 message or a visit."))
    viewer = viewer_for(actor)
    operator_id = viewer.operator.pk if viewer.operator and viewer.operator.role == Role.OPERATOR else None
    try:
        return create_operator_task(
            customer_id=customer.pk,
            operator_id=operator_id,
            kind=kind,
            title=title.strip(),
            script=script.strip(),
            due_at=due_at,
            source_kind=MANUAL_SOURCE,
            source_id=secrets.randbits(62),
            step_key=f"by-{actor.pk}",
        )
    except DeliveryError as exc:
        raise CustomerActionError(str(exc)) from None


def customer_enrol(*, customer: Customer, playbook: Playbook, actor) -> bool:
    """Enrol the customer in the playbook's live version; False when the re-entry rule, the audience or an
    enrolment in progress keeps them out."""
    if not customer.customer_no:
        raise CustomerActionError(_("Only customers with a bank customer number can be enrolled by hand."))
    try:
        result = playbook_enrol_manual(playbook=playbook, numbers=[customer.customer_no], actor=actor)
    except PlaybookError as exc:
        raise CustomerActionError("; ".join(exc.messages)) from None
    return result.enrolled == 1


# --- forms -----------------------------------------------------------------------------------------------------


class NoteForm(forms.Form):
    text = forms.CharField(label=gettext_lazy("Note"), max_length=NOTE_MAX)


class TaskForm(forms.Form):
    kind = forms.ChoiceField(label=gettext_lazy("Kind"), choices=[(k.value, k.label) for k in TASK_KINDS])
    title = forms.CharField(label=gettext_lazy("Task title"), max_length=100)
    due_at = forms.DateTimeField(
        label=gettext_lazy("Due at"),
        widget=forms.DateTimeInput(attrs={"type": "datetime-local"}, format="%Y-%m-%dT%H:%M"),
        input_formats=["%Y-%m-%dT%H:%M", "%Y-%m-%d %H:%M"],
    )
    script = forms.CharField(label=gettext_lazy("Script or details"), max_length=2000, required=False)

    def clean_due_at(self):
        due_at = self.cleaned_data["due_at"]
        now = timezone.now()
        if due_at < now - timedelta(hours=1) or due_at > now + timedelta(days=365):
            raise forms.ValidationError(_("Choose a time from now to a year ahead."))
        return due_at


class EnrolForm(forms.Form):
    playbook = forms.ModelChoiceField(label=gettext_lazy("Playbook"), queryset=Playbook.objects.none())

    def __init__(self, *args, **kwargs):
        super().__init__(*args, **kwargs)
        self.fields["playbook"].queryset = customer360.enrollable_playbooks()


# --- views -----------------------------------------------------------------------------------------------------


def _first_error(form) -> str:
    return next((error for errors in form.errors.values() for error in errors), _("Check the form."))


def _answer(request, customer, template: str, context: dict, *, ok: str = "", error: str = ""):
    if request.htmx:
        status = 400 if error else 200
        return render(request, template, {"customer": customer, "ok": ok, "error": error, **context}, status=status)
    if error:
        messages.error(request, error)
    elif ok:
        messages.success(request, ok)
    return redirect("customers:detail", pk=customer.pk)


def _customer_for_action(request, pk) -> Customer:
    customer = get_visible_customer(request.user, pk)  # 404 out of scope, before anything else is said
    if not may_act_on_customers(request.user):
        raise PermissionDenied
    return customer


@staff_required
@require_POST
def note_add(request, pk):
    customer = _customer_for_action(request, pk)
    form = NoteForm(request.POST)
    ok = error = ""
    if not form.is_valid():
        error = _first_error(form)
    else:
        try:
            customer_note_add(customer=customer, actor=request.user, text=form.cleaned_data["text"])
            ok = _("Note saved.")
        except CustomerActionError as exc:
            error = str(exc)
    context = {"notes": customer360.notes_of(customer), "may_act": True}
    return _answer(request, customer, "tagging/_c360_notes.html", context, ok=ok, error=error)


@staff_required
@require_POST
def task_create(request, pk):
    customer = _customer_for_action(request, pk)
    form = TaskForm(request.POST)
    ok = error = ""
    if not form.is_valid():
        error = _first_error(form)
    else:
        try:
            task = customer_task_create(customer=customer, actor=request.user, **form.cleaned_data)
        except CustomerActionError as exc:
            error = str(exc)
        else:
            if task.status == OperatorTask.Status.CANCELLED:
                error = _("The task was not created as open: %(why)s") % {"why": task.outcome_note}
            else:
                ok = _("Task created for %(operator)s.") % {"operator": task.operator.name}
    context = task_card_context(customer, may_act=True)
    return _answer(request, customer, "tagging/_c360_tasks.html", context, ok=ok, error=error)


@staff_required
@require_POST
def enrol(request, pk):
    customer = get_visible_customer(request.user, pk)
    if not may_manage_playbooks(request.user):
        raise PermissionDenied
    form = EnrolForm(request.POST)
    ok = error = ""
    if not form.is_valid():
        error = _("Choose an active playbook.")
    else:
        playbook = form.cleaned_data["playbook"]
        try:
            entered = customer_enrol(customer=customer, playbook=playbook, actor=request.user)
        except CustomerActionError as exc:
            error = str(exc)
        else:
            if entered:
                ok = _("Enrolled in “%(name)s”.") % {"name": playbook.name}
            else:
                error = _("Not enrolled: already in progress, kept out by the re-entry rule, or outside the audience.")
    context = journey_card_context(customer, may_enrol=True)
    return _answer(request, customer, "tagging/_c360_journeys.html", context, ok=ok, error=error)


# --- card contexts (the page and the htmx answers render the same cards) ------------------------------------------


def task_card_context(customer: Customer, *, may_act: bool) -> dict:
    return {
        "open_tasks": customer360.open_tasks(customer),
        "task_kinds": [(k.value, k.label) for k in TASK_KINDS],
        "default_due": timezone.localtime() + timedelta(hours=1),
        "may_act": may_act,
    }


def journey_card_context(customer: Customer, *, may_enrol: bool) -> dict:
    return {
        "journeys": customer360.journeys_of(customer),
        "planned": customer360.planned_next(customer),
        "playbooks": list(customer360.enrollable_playbooks()) if may_enrol else [],
        "may_enrol": may_enrol,
    }
