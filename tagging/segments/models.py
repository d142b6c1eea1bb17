"""Rules (how a rule tag is computed), segments (saved conditions), snapshots and the versioned bitmaps.

The condition of a rule or a segment is data: a JSON tree validated and compiled by `conditions.py`.
Bitmaps are immutable once written: a rebuild writes a new `BitmapVersion` and then moves its family's pointer
in one transaction, so a reader always sees a complete set (see `bitmaps.py`).
"""

from django.conf import settings
from django.db import models
from django.db.models import Q
from django.utils.translation import gettext_lazy as _


class Rule(models.Model):
    """How a rule tag (Tag.kind = rule) is computed, and when."""

    class Frequency(models.TextChoices):
        HOURLY = "hourly", _("Every hour")
        DAILY = "daily", _("Every day (02:00)")
        WEEKLY = "weekly", _("Every Monday (02:00)")
        MANUAL = "manual", _("Only when started by hand")

    tag = models.OneToOneField("tagging.Tag", verbose_name=_("tag"), on_delete=models.CASCADE, related_name="rule")
    condition = models.JSONField(_("condition"), default=dict)
    frequency = models.CharField(_("frequency"), max_length=16, choices=Frequency.choices, default=Frequency.DAILY)
    enabled = models.BooleanField(_("enabled"), default=True)
    next_run_at = models.DateTimeField(_("next run"), null=True, blank=True)
    last_run = models.ForeignKey(
        "RuleRun", verbose_name=_("last run"), null=True, blank=True, on_delete=models.SET_NULL, related_name="+"
    )
    created_by = models.ForeignKey(
        settings.AUTH_USER_MODEL, null=True, blank=True, on_delete=models.SET_NULL, related_name="+"
    )
    updated_by = models.ForeignKey(
        settings.AUTH_USER_MODEL, null=True, blank=True, on_delete=models.SET_NULL, related_name="+"
    )
    created_at = models.DateTimeField(_("created at"), auto_now_add=True)
    updated_at = models.DateTimeField(_("updated at"), auto_now=True)

    class Meta:
        verbose_name = _("rule")
        verbose_name_plural = _("rules")
        ordering = ["tag__group__order", "tag__order", "tag__name"]
        indexes = [models.Index(fields=["enabled", "next_run_at"], name="rule_due")]

    def __str__(self):
        return str(self.tag)


class RuleRun(models.Model):
    """One evaluation of a rule: progress while it runs, what it changed when done."""

    class Status(models.TextChoices):
        QUEUED = "queued", _("Queued")
        RUNNING = "running", _("Evaluating")
        DONE = "done", _("Done")
        FAILED = "failed", _("Failed")

    class Trigger(models.TextChoices):
        SCHEDULE = "schedule", _("Schedule")
        MANUAL = "manual", _("Started by hand")
        SAVED = "saved", _("Condition saved")

    ACTIVE = (Status.QUEUED, Status.RUNNING)

    rule = models.ForeignKey(Rule, verbose_name=_("rule"), on_delete=models.CASCADE, related_name="runs")
    trigger = models.CharField(_("trigger"), max_length=16, choices=Trigger.choices)
    status = models.CharField(_("status"), max_length=16, choices=Status.choices, default=Status.QUEUED)
    requested_by = models.ForeignKey(
        settings.AUTH_USER_MODEL,
        verbose_name=_("requested by"),
        null=True,
        blank=True,
        on_delete=models.SET_NULL,
        related_name="+",
    )
    # The condition as evaluated (the rule may be edited afterwards).
    condition = models.JSONField(_("condition"), default=dict)
    chunks_total = models.PositiveIntegerField(_("chunks"), default=0)
    chunks_done = models.PositiveIntegerField(_("chunks done"), default=0)
    matched = models.PositiveIntegerField(_("matching customers"), default=0)
    added = models.PositiveIntegerField(_("added"), default=0)
    removed = models.PositiveIntegerField(_("removed"), default=0)
    created_at = models.DateTimeField(_("requested at"), auto_now_add=True)
    started_at = models.DateTimeField(_("started at"), null=True, blank=True)
    heartbeat_at = models.DateTimeField(null=True, blank=True, editable=False)
    finished_at = models.DateTimeField(_("finished at"), null=True, blank=True)
    error = models.TextField(_("error"), blank=True, default="")

    class Meta:
        verbose_name = _("rule run")
        verbose_name_plural = _("rule runs")
        ordering = ["-created_at", "-id"]
        constraints = [
            # At most one queued or running evaluation per rule: a second request joins the first.
            models.UniqueConstraint(
                fields=["rule"], condition=Q(status__in=["queued", "running"]), name="rule_run_one_active"
            ),
        ]

    def __str__(self):
        return f"{self.rule} #{self.pk}"

    @property
    def is_finished(self) -> bool:
        return self.status in (self.Status.DONE, self.Status.FAILED)

    @property
    def percent(self) -> int:
        if self.status == self.Status.DONE:
            return 100
        if not self.chunks_total:
            return 0
        return min(99, int(self.chunks_done * 100 / self.chunks_total))

    @property
    def duration_s(self) -> float | None:
        if self.started_at and self.finished_at:
            return (self.finished_at - self.started_at).total_seconds()
        return None


class Segment(models.Model):
    """A saved, named condition over tags and attributes. Its members are always computed within the viewer's
    data scope; `shared` makes it visible to every workbench user (each still sees only their own customers)."""

    name = models.CharField(_("name"), max_length=64)
    description = models.TextField(_("description"), blank=True, default="")
    condition = models.JSONField(_("condition"), default=dict)
    owner = models.ForeignKey(
        settings.AUTH_USER_MODEL,
        verbose_name=_("created by"),
        null=True,
        blank=True,
        on_delete=models.SET_NULL,
        related_name="+",
    )
    shared = models.BooleanField(_("shared with all workbench users"), default=False)
    created_at = models.DateTimeField(_("created at"), auto_now_add=True)
    updated_at = models.DateTimeField(_("updated at"), auto_now=True)

    class Meta:
        verbose_name = _("segment")
        verbose_name_plural = _("segments")
        ordering = ["-updated_at", "-id"]
        indexes = [models.Index(fields=["owner", "-updated_at"], name="segment_owner")]

    def __str__(self):
        return self.name


class SegmentSnapshot(models.Model):
    """Frozen membership of a segment at one moment: what a campaign was sent to, whatever changes later."""

    segment = models.ForeignKey(Segment, verbose_name=_("segment"), on_delete=models.CASCADE, related_name="snapshots")
    version = models.PositiveIntegerField(_("version"))
    condition = models.JSONField(_("condition"), default=dict)
    # Customer ids as a serialized roaring bitmap (pyroaring): ≈ 2 bytes per member or less.
    members = models.BinaryField(_("members"))
    count = models.PositiveIntegerField(_("members"))
    purpose = models.CharField(_("purpose"), max_length=255)
    # The data scope the membership was computed in ("bank", "branch:<path>", "self:<operator id>").
    scope = models.CharField(_("data scope"), max_length=300)
    created_by = models.ForeignKey(
        settings.AUTH_USER_MODEL,
        verbose_name=_("created by"),
        null=True,
        blank=True,
        on_delete=models.SET_NULL,
        related_name="+",
    )
    created_at = models.DateTimeField(_("created at"))

    class Meta:
        verbose_name = _("segment snapshot")
        verbose_name_plural = _("segment snapshots")
        ordering = ["-version"]
        constraints = [models.UniqueConstraint(fields=["segment", "version"], name="snapshot_version_once")]

    def __str__(self):
        return f"{self.segment} v{self.version}"

    def member_ids(self):
        from pyroaring import BitMap

        return BitMap.deserialize(bytes(self.members))


class BitmapVersion(models.Model):
    """One build of a family of bitmaps ("attributes", or "tag:<id>"). Immutable once ready."""

    class Status(models.TextChoices):
        BUILDING = "building", _("Building")
        READY = "ready", _("Ready")
        FAILED = "failed", _("Failed")

    family = models.CharField(_("family"), max_length=64)
    status = models.CharField(_("status"), max_length=16, choices=Status.choices, default=Status.BUILDING)
    # key → member count, so a reader knows which buckets exist without loading them.
    keys = models.JSONField(_("keys"), default=dict)
    started_at = models.DateTimeField(_("started at"))
    finished_at = models.DateTimeField(_("finished at"), null=True, blank=True)

    class Meta:
        verbose_name = _("bitmap version")
        verbose_name_plural = _("bitmap versions")
        indexes = [models.Index(fields=["family", "-id"], name="bitmap_version_family")]

    def __str__(self):
        return f"{self.family} v{self.pk}"


class BitmapSet(models.Model):
    """A serialized roaring bitmap of customer ids: one bucket (a tag's members, the retirees, AUM 10–20万 …)."""

    version = models.ForeignKey(BitmapVersion, on_delete=models.CASCADE, related_name="sets")
    key = models.CharField(_("key"), max_length=64)
    data = models.BinaryField(_("data"))
    count = models.PositiveIntegerField(_("members"))

    class Meta:
        verbose_name = _("bitmap")
        verbose_name_plural = _("bitmaps")
        constraints = [models.UniqueConstraint(fields=["version", "key"], name="bitmap_key_once_per_version")]

    def __str__(self):
        return f"{self.version_id}:{self.key}"


class BitmapFamily(models.Model):
    """The pointer readers follow: the active (complete) version of a family, switched in one UPDATE."""

    name = models.CharField(_("family"), max_length=64, primary_key=True)
    active = models.ForeignKey(
        BitmapVersion, verbose_name=_("active version"), null=True, on_delete=models.SET_NULL, related_name="+"
    )
    switched_at = models.DateTimeField(_("switched at"), null=True)

    class Meta:
        verbose_name = _("bitmap family")
        verbose_name_plural = _("bitmap families")

    def __str__(self):
        return self.name
