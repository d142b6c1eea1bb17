"""SOP playbooks: a trigger, a list of steps and exit rules, kept in immutable published versions.

- `Playbook` — the named campaign and its lifecycle (draft → active → paused → archived); `live_version` is the
  version new customers enter.
- `PlaybookVersion` — trigger, audience, steps, exits and the re-entry rule as validated JSON (`spec.py`). A
  version is edited while it is a draft and frozen once published; editing an active playbook opens a new draft,
  and publishing it moves `live_version` while running enrolments finish on the version they entered.
- `Enrolment` — one customer's pass through a version: the step it is at and when that step is due. Long delays
  are these rows, claimed by the tick with `FOR UPDATE SKIP LOCKED`, never Celery ETAs.
- `StepRun` — a step done for one enrolment, unique on (version, step, customer, entry): the step's effect is
  applied only by the transaction that inserted this row, so a step happens once however often it is tried.
- `TriggerState` — where a published version's trigger has read up to (tag changes, payroll credits, the day of a
  date trigger, the members of a watched segment).
- `Broadcast` — a one-off send to a frozen segment, planned through the delivery engine in one go.
"""

from django.conf import settings
from django.db import models
from django.db.models import Q
from django.utils.translation import gettext_lazy as _
from django.utils.translation import pgettext_lazy


class Playbook(models.Model):
    class Status(models.TextChoices):
        DRAFT = "draft", pgettext_lazy("playbook status", "Draft")
        ACTIVE = "active", pgettext_lazy("playbook status", "Active")
        PAUSED = "paused", pgettext_lazy("playbook status", "Paused")
        ARCHIVED = "archived", pgettext_lazy("playbook status", "Archived")

    name = models.CharField(_("name"), max_length=64)
    description = models.TextField(_("description"), blank=True, default="")
    status = models.CharField(_("status"), max_length=16, choices=Status.choices, default=Status.DRAFT)
    # Passed to the contact policy when playbooks compete for the same customer: 1 is the most important.
    priority = models.PositiveSmallIntegerField(_("priority"), default=5)
    live_version = models.ForeignKey(
        "PlaybookVersion",
        verbose_name=_("live version"),
        null=True,
        blank=True,
        on_delete=models.PROTECT,
        related_name="+",
    )
    # Set by the starter playbooks of the demo (seed_playbooks): found again by this key, never duplicated.
    starter_key = models.CharField(max_length=32, null=True, blank=True, unique=True, editable=False)
    created_by = models.ForeignKey(
        settings.AUTH_USER_MODEL,
        verbose_name=_("created by"),
        null=True,
        blank=True,
        on_delete=models.SET_NULL,
        related_name="+",
    )
    created_at = models.DateTimeField(_("created at"), auto_now_add=True)
    updated_at = models.DateTimeField(_("updated at"), auto_now=True)
    activated_at = models.DateTimeField(_("first activated at"), null=True, blank=True)

    class Meta:
        verbose_name = _("playbook")
        verbose_name_plural = _("playbooks")
        ordering = ["-updated_at", "-id"]
        constraints = [
            models.CheckConstraint(condition=Q(priority__gte=1, priority__lte=9), name="playbook_priority_range"),
        ]

    def __str__(self):
        return self.name

    @property
    def is_running(self) -> bool:
        return self.status == self.Status.ACTIVE


class PlaybookVersion(models.Model):
    class Reentry(models.TextChoices):
        NEVER = "never", _("Never: a customer goes through this playbook once")
        COOLDOWN = "cooldown", _("Again after a cool-down")

    playbook = models.ForeignKey(
        Playbook, verbose_name=_("playbook"), on_delete=models.CASCADE, related_name="versions"
    )
    number = models.PositiveIntegerField(_("version"))
    trigger = models.JSONField(_("trigger"), default=dict)
    # Criteria every customer must meet to enter (all of them); empty: everyone the trigger names.
    audience = models.JSONField(_("audience"), default=list, blank=True)
    steps = models.JSONField(_("steps"), default=list)
    exits = models.JSONField(_("exit rules"), default=list, blank=True)
    reentry = models.CharField(_("re-entry"), max_length=16, choices=Reentry.choices, default=Reentry.NEVER)
    cooldown_days = models.PositiveIntegerField(_("cool-down (days)"), default=30)
    created_by = models.ForeignKey(
        settings.AUTH_USER_MODEL,
        verbose_name=_("created by"),
        null=True,
        blank=True,
        on_delete=models.SET_NULL,
        related_name="+",
    )
    created_at = models.DateTimeField(_("created at"), auto_now_add=True)
    updated_at = models.DateTimeField(_("updated at"), auto_now=True)
    # None while a draft; set once, when the version is published (and then never edited).
    published_at = models.DateTimeField(_("published at"), null=True, blank=True)
    published_by = models.ForeignKey(
        settings.AUTH_USER_MODEL,
        verbose_name=_("published by"),
        null=True,
        blank=True,
        on_delete=models.SET_NULL,
        related_name="+",
    )

    class Meta:
        verbose_name = _("playbook version")
        verbose_name_plural = _("playbook versions")
        ordering = ["playbook", "-number"]
        constraints = [
            models.UniqueConstraint(fields=["playbook", "number"], name="playbook_version_number"),
            models.UniqueConstraint(
                fields=["playbook"], condition=Q(published_at__isnull=True), name="playbook_one_draft"
            ),
        ]

    def __str__(self):
        return f"{self.playbook.name} v{self.number}"

    @property
    def is_draft(self) -> bool:
        return self.published_at is None

    def step(self, key: str) -> dict | None:
        return next((step for step in self.steps if step.get("key") == key), None)


class Enrolment(models.Model):
    class State(models.TextChoices):
        ACTIVE = "active", _("In progress")
        COMPLETED = "completed", _("Completed")
        EXITED = "exited", _("Exited")

    class Reason(models.TextChoices):
        CONVERTED = "converted", _("Converted (bought a product)")
        UNFOLLOWED = "unfollowed", _("Deleted the operator")
        DND = "dnd", _("Do not disturb")
        CONDITION = "condition", _("Met an exit condition")
        CONTROL = "control", _("Control group")
        ARCHIVED = "archived", _("Playbook archived")
        CUSTOMER_GONE = "customer_gone", _("Customer no longer exists")

    # Not indexed alone: the unique constraints below lead with it.
    playbook = models.ForeignKey(
        Playbook, verbose_name=_("playbook"), on_delete=models.CASCADE, related_name="+", db_index=False
    )
    # Not indexed: every index is written again on each step (due_at and step change), and the tick is the hot
    # path; versions are never deleted once published.
    version = models.ForeignKey(
        PlaybookVersion, verbose_name=_("version"), on_delete=models.PROTECT, related_name="enrolments", db_index=False
    )
    customer = models.ForeignKey(
        "tagging.Customer", verbose_name=_("customer"), on_delete=models.CASCADE, related_name="+"
    )
    # 1 for the customer's first pass through this playbook, 2 for the second (re-entry after a cool-down) …
    entry = models.PositiveIntegerField(_("entry"))
    # What brought the customer in ("tag:<change id>", "date:2026-05-10", "follow:<id>", "manual:<user>:<time>"):
    # the same event never enrols the same customer twice.
    trigger_key = models.CharField(_("trigger"), max_length=64)
    state = models.CharField(_("journey state"), max_length=16, choices=State.choices, default=State.ACTIVE)
    step = models.CharField(_("current step"), max_length=16, blank=True, default="")
    # When the tick next looks at this enrolment (NULL once finished).
    due_at = models.DateTimeField(_("due at"), null=True, blank=True)
    # Set while the enrolment waits at a delay or condition step: the end of the wait (its timeout).
    step_until = models.DateTimeField(_("waiting until"), null=True, blank=True)
    arm = models.CharField(_("A/B arm"), max_length=16, blank=True, default="")
    entered_at = models.DateTimeField(_("entered at"))
    finished_at = models.DateTimeField(_("finished at"), null=True, blank=True)
    exit_reason = models.CharField(_("exit reason"), max_length=16, choices=Reason.choices, blank=True, default="")

    class Meta:
        verbose_name = _("enrolment")
        verbose_name_plural = _("enrolments")
        constraints = [
            models.UniqueConstraint(fields=["playbook", "customer", "entry"], name="enrolment_entry_once"),
            models.UniqueConstraint(fields=["playbook", "customer", "trigger_key"], name="enrolment_event_once"),
            models.UniqueConstraint(
                fields=["playbook", "customer"], condition=Q(state="active"), name="enrolment_one_active"
            ),
        ]
        indexes = [
            # The tick's claim: due enrolments of one running playbook, oldest first.
            models.Index(fields=["playbook", "due_at"], condition=Q(state="active"), name="enrolment_due"),
        ]

    def __str__(self):
        return f"{self.playbook_id}/{self.customer_id}#{self.entry}"


class StepRun(models.Model):
    """A step done: sent, task created, tag changed, waited, branch taken, arm drawn, condition met or timed out."""

    # Not indexed alone: the unique constraint leads with it.
    version = models.ForeignKey(
        PlaybookVersion, verbose_name=_("version"), on_delete=models.CASCADE, related_name="+", db_index=False
    )
    step_key = models.CharField(_("step"), max_length=16)
    # The enrolment's customer and entry, repeated for the unique key (no foreign key: the enrolment has it, and
    # a customer's deletion reaches step runs through it).
    customer_id = models.IntegerField(_("customer"))
    entry = models.PositiveIntegerField(_("entry"))
    enrolment = models.ForeignKey(Enrolment, verbose_name=_("enrolment"), on_delete=models.CASCADE, related_name="runs")
    # "done", "skipped", "met", "timeout", "then", "else", "arm:A", "control" … (see runner.py)
    outcome = models.CharField(_("outcome"), max_length=32)
    at = models.DateTimeField(_("at"))

    class Meta:
        verbose_name = _("step run")
        verbose_name_plural = _("step runs")
        constraints = [
            models.UniqueConstraint(fields=["version", "step_key", "customer_id", "entry"], name="step_run_once"),
        ]

    def __str__(self):
        return f"{self.version_id}:{self.step_key}:{self.customer_id}#{self.entry}"


class TriggerState(models.Model):
    """How far a published version's trigger has read. Claimed with SKIP LOCKED by the trigger scan."""

    version = models.OneToOneField(
        PlaybookVersion, verbose_name=_("version"), on_delete=models.CASCADE, related_name="trigger_state"
    )
    # Tag changes and payroll credits: the highest id already looked at.
    last_id = models.BigIntegerField(default=0)
    # Date triggers: the last local day scanned.
    last_date = models.DateField(null=True, blank=True)
    # Segment entry: the members at the last check (a serialized roaring bitmap); NULL before the first check.
    members = models.BinaryField(null=True, blank=True)
    member_count = models.PositiveIntegerField(default=0)
    checked_at = models.DateTimeField(null=True, blank=True)

    class Meta:
        verbose_name = _("trigger state")
        verbose_name_plural = _("trigger states")

    def __str__(self):
        return f"trigger of {self.version_id}"


class Broadcast(models.Model):
    """A one-off send of a version to a segment frozen at the chosen time. One per version."""

    class Status(models.TextChoices):
        PLANNING = "planning", _("Planning")
        DONE = "done", _("Planned")
        FAILED = "failed", _("Failed")

    version = models.OneToOneField(
        PlaybookVersion, verbose_name=_("version"), on_delete=models.CASCADE, related_name="broadcast"
    )
    snapshot = models.ForeignKey(
        "segments.SegmentSnapshot",
        verbose_name=_("segment snapshot"),
        null=True,
        blank=True,
        on_delete=models.SET_NULL,
        related_name="+",
    )
    status = models.CharField(_("status"), max_length=16, choices=Status.choices, default=Status.PLANNING)
    # "direct": one plan_sends call for every member (a single send step); "enrolments": members enrolled.
    mode = models.CharField(_("mode"), max_length=16, blank=True, default="")
    members = models.PositiveIntegerField(_("members"), default=0)
    planned = models.PositiveIntegerField(_("planned"), default=0)
    suppressed = models.PositiveIntegerField(_("suppressed"), default=0)
    deferred = models.PositiveIntegerField(_("deferred"), default=0)
    enrolled = models.PositiveIntegerField(_("enrolled"), default=0)
    error = models.TextField(_("error"), blank=True, default="")
    started_at = models.DateTimeField(_("started at"))
    heartbeat_at = models.DateTimeField(_("last progress at"), null=True, blank=True)
    finished_at = models.DateTimeField(_("finished at"), null=True, blank=True)

    class Meta:
        verbose_name = _("broadcast")
        verbose_name_plural = _("broadcasts")

    def __str__(self):
        return f"broadcast of {self.version_id}"
