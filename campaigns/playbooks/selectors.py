"""Reads of playbooks: the list, the builder's choices, the campaign monitor's figures.

Playbooks are whole-bank (head office manages them); the customers a person may touch through them — dry-run
samples, manual enrolment — come from the data-scope selector.
"""

import datetime as dt
from collections import defaultdict
from dataclasses import dataclass, field

from django.db.models import Count, Exists, OuterRef, Q, QuerySet
from django.http import Http404
from django.template import TemplateDoesNotExist
from django.template.loader import get_template
from django.utils.translation import gettext as _
from django.utils.translation import gettext_lazy

from campaigns.playbooks import engine, spec
from campaigns.playbooks.models import Enrolment, Playbook, PlaybookVersion, StepRun
from tagging.models import ProductCategory, Tag

CONVERSION_WINDOW = dt.timedelta(days=30)  # a purchase this long after entering counts as a conversion

# What a step run's outcome means, for the monitor.
OUTCOMES = {
    "done": gettext_lazy("done"),
    "skipped": gettext_lazy("skipped (content not usable)"),
    "failed": gettext_lazy("not carried out"),
    "waited": gettext_lazy("waited"),
    "met": gettext_lazy("condition met"),
    "timeout": gettext_lazy("timed out"),
    "then": gettext_lazy("condition held"),
    "else": gettext_lazy("condition did not hold"),
    "control": gettext_lazy("control group"),
}


def outcome_label(outcome: str) -> str:
    if outcome.startswith("arm:"):
        return _("arm %(arm)s") % {"arm": outcome[4:]}
    return str(OUTCOMES.get(outcome, outcome))


def playbooks() -> QuerySet[Playbook]:
    return Playbook.objects.select_related("live_version", "created_by")


def get_playbook(pk) -> Playbook:
    try:
        return playbooks().get(pk=pk)
    except (Playbook.DoesNotExist, ValueError, TypeError):
        raise Http404("No such playbook.") from None


def list_counts(ids: list[int]) -> dict[int, dict]:
    """Enrolments in progress and ever, per playbook, in one query."""
    rows = (
        Enrolment.objects.filter(playbook_id__in=ids)
        .values("playbook_id")
        .annotate(active=Count("pk", filter=Q(state=Enrolment.State.ACTIVE)), total=Count("pk"))
    )
    return {row["playbook_id"]: row for row in rows}


def versions_of(playbook: Playbook) -> QuerySet[PlaybookVersion]:
    return playbook.versions.select_related("published_by", "created_by").order_by("-number")


# --- builder choices -----------------------------------------------------------------------------------------


def builder_choices(user) -> dict:
    from campaigns.channels.models import ChannelCode
    from campaigns.content.models import ContentItem
    from campaigns.content.selectors import usable_items
    from tagging.segments.selectors import visible_segments

    tags = list(
        Tag.objects.filter(is_active=True)
        .select_related("group")
        .order_by("group__order", "group__name", "order", "name")
    )
    return {
        "trigger_types": list(spec.TRIGGER_TYPES.items()),
        "date_attributes": list(spec.DATE_ATTRIBUTES.items()),
        "step_types": list(spec.STEP_TYPES.items()),
        "linear_steps": spec.LINEAR_STEPS,
        "task_kinds": list(spec.TASK_KINDS.items()),
        "criterion_kinds": [(k, v) for k, v in spec.CRITERION_KINDS.items() if k != "condition"],
        "exit_kinds": list(spec.EXIT_KINDS.items()),
        "weekdays": list(spec.WEEKDAYS.items()),
        "categories": ProductCategory.choices,
        "tags": [(tag.pk, str(tag)) for tag in tags],
        "settable_tags": [(tag.pk, str(tag)) for tag in tags if tag.kind in (Tag.Kind.EVENT, Tag.Kind.MANUAL)],
        "segments": list(visible_segments(user).order_by("name").values_list("pk", "name")),
        "contents": list(usable_items(user, uses=[ContentItem.Use.MASS]).values_list("pk", "title")),
        "channel_codes": list(
            ChannelCode.objects.filter(deleted_at__isnull=True).order_by("name").values_list("pk", "name")
        ),
    }


# --- describing a version ---------------------------------------------------------------------------------------


def describe_criterion(criterion: dict | None) -> str:
    if not criterion:
        return ""
    kind = spec.CRITERION_KINDS.get(criterion.get("kind"), "")
    return f"{kind} “{criterion.get('name') or criterion.get('tag') or criterion.get('segment') or ''}”"


def step_rows(version: PlaybookVersion) -> list[dict]:
    """The steps with their number and type label (for the monitor and the versions view)."""
    return [
        {
            "number": index + 1,
            "key": step["key"],
            "type": step.get("type"),
            "label": spec.STEP_TYPES.get(step.get("type"), ""),
        }
        for index, step in enumerate(version.steps or [])
    ]


# --- the monitor ----------------------------------------------------------------------------------------------


@dataclass
class StepFigure:
    number: int
    key: str
    label: str
    summary: str
    waiting: int = 0  # enrolments in progress at this step now
    outcomes: dict = field(default_factory=dict)  # StepRun outcome → count

    @property
    def done(self) -> int:
        return sum(self.outcomes.values())


@dataclass
class VersionFigures:
    version: PlaybookVersion
    steps: list[StepFigure]
    funnel: dict | None


@dataclass
class ArmFigure:
    arm: str
    enrolled: int
    converted: int
    sends: int

    @property
    def rate(self) -> float | None:
        return (self.converted * 100 / self.enrolled) if self.enrolled else None


def step_summary(step: dict) -> str:
    kind = step.get("type")
    if kind == spec.StepType.SEND:
        return step.get("content_title", "")
    if kind == spec.StepType.TASK:
        return step.get("title", "")
    if kind == spec.StepType.TAG:
        return step.get("tag_name", "")
    if kind in (spec.StepType.BRANCH, spec.StepType.WAIT_CONDITION):
        return describe_criterion(step.get("criterion"))
    if kind == spec.StepType.DELAY:
        return _("%(days)s days %(hours)s h %(minutes)s min") % {
            "days": step.get("days", 0),
            "hours": step.get("hours", 0),
            "minutes": step.get("minutes", 0),
        }
    if kind == spec.StepType.WAIT_UNTIL:
        return step.get("time", "")
    if kind == spec.StepType.AB_SPLIT:
        arms = " / ".join(f"{arm['name']} {arm['weight']}%" for arm in step.get("arms", []))
        return _("%(arms)s / control group %(control)s%%") % {"arms": arms, "control": step.get("control", 0)}
    return ""


def monitor(playbook: Playbook) -> dict:
    published = [v for v in versions_of(playbook) if v.published_at is not None]
    states = dict(
        Enrolment.objects.filter(playbook=playbook)
        .values_list("state")
        .annotate(n=Count("pk"))
        .values_list("state", "n")
    )
    reasons = dict(
        Enrolment.objects.filter(playbook=playbook, state__in=[Enrolment.State.EXITED, Enrolment.State.COMPLETED])
        .exclude(exit_reason="")
        .values_list("exit_reason")
        .annotate(n=Count("pk"))
        .values_list("exit_reason", "n")
    )
    waiting: dict[tuple[int, str], int] = {
        (row["version_id"], row["step"]): row["n"]
        for row in Enrolment.objects.filter(playbook=playbook, state=Enrolment.State.ACTIVE)
        .values("version_id", "step")
        .annotate(n=Count("pk"))
    }
    outcomes: dict[tuple[int, str], dict] = defaultdict(dict)
    for row in (
        StepRun.objects.filter(version_id__in=[v.pk for v in published])
        .values("version_id", "step_key", "outcome")
        .annotate(n=Count("pk"))
    ):
        outcomes[(row["version_id"], row["step_key"])][row["outcome"]] = row["n"]
    has_engine = engine.available()
    versions = []
    for version in published:
        figures = [
            StepFigure(
                number=index + 1,
                key=step["key"],
                label=str(spec.STEP_TYPES.get(step.get("type"), "")),
                summary=step_summary(step),
                waiting=waiting.get((version.pk, step["key"]), 0),
                outcomes=outcomes.get((version.pk, step["key"]), {}),
            )
            for index, step in enumerate(version.steps)
        ]
        funnel = engine.delivery_funnel(source_id=version.pk) if has_engine else None
        versions.append(VersionFigures(version=version, steps=figures, funnel=funnel))
    return {
        "states": states,
        "reasons": [
            (Enrolment.Reason(reason).label, n)
            for reason, n in sorted(reasons.items())
            if reason in Enrolment.Reason.values and reason != Enrolment.Reason.CONTROL  # shown with the A/B arms
        ],
        "versions": versions,
        "funnel": engine.merge_funnels([v.funnel for v in versions if v.funnel]) if has_engine else None,
        "funnel_template": funnel_template() if has_engine else None,
        "arms": arm_figures(playbook, published),
        "broadcasts": [v.broadcast for v in published if hasattr(v, "broadcast")],
        "engine": has_engine,
    }


def funnel_template() -> str | None:
    """The engine's funnel partial when it ships one."""
    try:
        get_template("delivery/_funnel.html")
    except TemplateDoesNotExist:
        return None
    return "delivery/_funnel.html"


def arm_figures(playbook: Playbook, published: list[PlaybookVersion]) -> list[ArmFigure]:
    """A/B arms and the control group side by side: entrants, conversions within the window, sends."""
    if not any(step.get("type") == spec.StepType.AB_SPLIT for v in published for step in v.steps):
        return []
    from integrations.bank.models import ProductPurchase

    purchases = ProductPurchase.objects.filter(
        customer_id=OuterRef("customer_id"),
        purchased_at__gte=OuterRef("entered_at"),
        purchased_at__lt=OuterRef("entered_at") + CONVERSION_WINDOW,
    )
    rows = (
        Enrolment.objects.filter(playbook=playbook)
        .exclude(arm="")
        .values("arm")
        .annotate(enrolled=Count("pk"), converted=Count("pk", filter=Q(Exists(purchases))))
    )
    send_keys = {(v.pk, s["key"]) for v in published for s in v.steps if s.get("type") == spec.StepType.SEND}
    sends: dict[str, int] = defaultdict(int)
    if send_keys:
        send_q = Q()
        for version_id, key in send_keys:
            send_q |= Q(version_id=version_id, step_key=key)
        for row in StepRun.objects.filter(send_q, outcome="done").values("enrolment__arm").annotate(n=Count("pk")):
            sends[row["enrolment__arm"]] += row["n"]
    figures = [ArmFigure(row["arm"], row["enrolled"], row["converted"], sends.get(row["arm"], 0)) for row in rows]
    return sorted(figures, key=lambda f: (f.arm == "control", f.arm))
