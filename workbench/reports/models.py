"""Scheduled reports pushed to managers: one row per (manager, kind, period), written before WeCom is called, so a
re-run of the schedule, a second worker or the send-now button never sends the same report twice."""

from django.db import models
from django.db.models.functions import Now
from django.utils.translation import gettext_lazy as _


class ReportDispatch(models.Model):
    class Kind(models.TextChoices):
        WEEKLY = "weekly", _("Weekly report")
        MONTHLY = "monthly", _("Monthly report")

    class Status(models.TextChoices):
        PENDING = "pending", _("Waiting to be sent")
        SENDING = "sending", _("Sending")
        SENT = "sent", _("Sent")
        FAILED = "failed", _("Failed")

    manager = models.ForeignKey(
        "org.Operator", verbose_name=_("manager"), on_delete=models.CASCADE, related_name="+", db_index=False
    )
    kind = models.CharField(_("kind"), max_length=8, choices=Kind.choices)
    period_start = models.DateField(_("period start"))
    period_end = models.DateField(_("period end"))
    status = models.CharField(_("status"), max_length=8, choices=Status.choices, default=Status.PENDING)
    attempts = models.PositiveSmallIntegerField(_("attempts"), default=0)
    next_attempt_at = models.DateTimeField(_("next attempt at"), db_default=Now())
    claimed_at = models.DateTimeField(_("claimed at"), null=True, blank=True)
    msgid = models.CharField(_("WeCom msgid"), max_length=64, blank=True, default="")
    error = models.CharField(_("error"), max_length=255, blank=True, default="")
    created_at = models.DateTimeField(_("created at"), db_default=Now())
    sent_at = models.DateTimeField(_("sent at"), null=True, blank=True)

    class Meta:
        verbose_name = _("report sent to a manager")
        verbose_name_plural = _("reports sent to managers")
        ordering = ["-period_start", "manager_id"]
        constraints = [models.UniqueConstraint(fields=["manager", "kind", "period_start"], name="report_dispatch_once")]
        indexes = [
            models.Index(
                fields=["next_attempt_at"], condition=models.Q(status="pending"), name="report_dispatch_pending"
            )
        ]

    def __str__(self):
        return f"{self.get_kind_display()} {self.period_start} → {self.manager_id}"
