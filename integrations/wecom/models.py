"""What the WeCom integration records: callbacks as received, sync runs, corp tags and customer transfers."""

from django.conf import settings
from django.db import models
from django.db.models import Q
from django.utils.translation import gettext_lazy as _
from django.utils.translation import pgettext_lazy

CHANGE_TYPE_LABELS = {
    "add_external_contact": _("Customer added an operator"),
    "add_half_external_contact": _("Customer added an operator (pending acceptance)"),
    "edit_external_contact": _("Contact edited"),
    "del_external_contact": _("Operator deleted the customer"),
    "del_follow_user": _("Customer deleted the operator"),
    "transfer_fail": _("Transfer failed"),
}


class CallbackEvent(models.Model):
    """One decrypted callback, stored before any work so that nothing WeCom tells us is lost."""

    class Status(models.TextChoices):
        RECEIVED = "received", _("Received")
        PROCESSED = "processed", _("Processed")
        IGNORED = "ignored", _("Ignored (unknown event)")
        FAILED = "failed", _("Failed")

    # FromUserName + CreateTime + the event's ids: WeCom's retries of one event share it.
    dedupe_key = models.CharField(_("de-duplication key"), max_length=255, unique=True)
    received_at = models.DateTimeField(_("received at"), auto_now_add=True, db_index=True)
    event = models.CharField(_("event"), max_length=64)
    change_type = models.CharField(_("change type"), max_length=64, blank=True, default="")
    payload = models.JSONField(_("payload"), default=dict)
    raw_xml = models.TextField(_("decrypted XML"))
    status = models.CharField(_("status"), max_length=16, choices=Status.choices, default=Status.RECEIVED)
    deliveries = models.PositiveIntegerField(_("deliveries received"), default=1)
    attempts = models.PositiveIntegerField(_("processing attempts"), default=0)
    processed_at = models.DateTimeField(_("processed at"), null=True, blank=True)
    error = models.TextField(_("error"), blank=True, default="")

    class Meta:
        verbose_name = _("WeCom callback")
        verbose_name_plural = _("WeCom callbacks")
        ordering = ["-received_at"]
        indexes = [models.Index(fields=["status", "received_at"], name="wecom_callback_status")]

    def __str__(self):
        return f"{self.event}/{self.change_type} {self.received_at:%Y-%m-%d %H:%M:%S}"

    @property
    def label(self) -> str:
        return str(CHANGE_TYPE_LABELS.get(self.change_type, self.change_type or self.event))


class SyncRun(models.Model):
    """One directory and contact sync, full or incremental, with its progress for the UI."""

    class Kind(models.TextChoices):
        FULL = "full", _("Full")
        INCREMENTAL = "incremental", _("Incremental")

    class Status(models.TextChoices):
        QUEUED = "queued", _("Queued")
        RUNNING = "running", pgettext_lazy("sync status", "Running")
        SUCCEEDED = "succeeded", _("Succeeded")
        FAILED = "failed", _("Failed")

    class Stage(models.TextChoices):
        DIRECTORY = "directory", _("Departments and members")
        TAGS = "tags", _("Corp tags")
        FETCHING = "fetching", _("Reading contacts")
        APPLYING = "applying", _("Applying contacts")
        RECONCILING = "reconciling", _("Comparing contacts")

    kind = models.CharField(_("kind"), max_length=16, choices=Kind.choices)
    status = models.CharField(_("status"), max_length=16, choices=Status.choices, default=Status.QUEUED)
    requested_by = models.ForeignKey(
        settings.AUTH_USER_MODEL, verbose_name=_("requested by"), null=True, blank=True, on_delete=models.SET_NULL
    )
    created_at = models.DateTimeField(_("created at"), auto_now_add=True)
    started_at = models.DateTimeField(_("started at"), null=True, blank=True)
    finished_at = models.DateTimeField(_("finished at"), null=True, blank=True)
    stage = models.CharField(_("stage"), max_length=32, choices=Stage.choices, blank=True, default="")
    done = models.PositiveIntegerField(_("done in this stage"), default=0)
    total = models.PositiveIntegerField(_("total in this stage"), default=0)
    counts = models.JSONField(_("counts"), default=dict, blank=True)
    error = models.TextField(_("error"), blank=True, default="")

    class Meta:
        verbose_name = _("WeCom sync")
        verbose_name_plural = _("WeCom syncs")
        ordering = ["-created_at"]

    def __str__(self):
        return f"{self.get_kind_display()} #{self.pk}"

    # Share of the whole run each stage stands for, so one bar moves steadily through all of them.
    _STAGE_SPANS = {
        "directory": (0, 5),
        "tags": (5, 10),
        "fetching": (10, 40),
        "applying": (40, 100),
        "reconciling": (10, 100),
    }

    @property
    def percent(self) -> int:
        if self.status == self.Status.SUCCEEDED:
            return 100
        start, end = self._STAGE_SPANS.get(self.stage, (0, 0))
        share = self.done / self.total if self.total else 0
        return int(start + (end - start) * share)


class CorpTag(models.Model):
    """A WeCom corp tag (企业标签) as WeCom holds it; the tag system maps its own tags onto these."""

    tag_id = models.CharField(_("WeCom tag id"), max_length=64, unique=True)
    name = models.CharField(_("name"), max_length=30)
    group_id = models.CharField(_("WeCom group id"), max_length=64)
    group_name = models.CharField(_("group name"), max_length=30)
    order = models.PositiveIntegerField(_("order"), default=0)
    group_order = models.PositiveIntegerField(_("group order"), default=0)
    created_at = models.DateTimeField(_("created in WeCom"), null=True, blank=True)
    deleted_at = models.DateTimeField(_("deleted in WeCom"), null=True, blank=True)

    class Meta:
        verbose_name = _("WeCom corp tag")
        verbose_name_plural = _("WeCom corp tags")
        ordering = ["-group_order", "group_name", "-order", "name"]

    def __str__(self):
        return f"{self.group_name} / {self.name}"


class ContactTransfer(models.Model):
    """Moving one customer's WeCom relationship from one operator to another (在职继承 / 离职继承)."""

    class Kind(models.TextChoices):
        ON_THE_JOB = "on_the_job", _("On-the-job transfer")
        RESIGNED = "resigned", _("Resigned-member transfer")

    class Status(models.TextChoices):
        REQUESTED = "requested", _("Requested")
        WAITING = "waiting", _("Waiting for the customer")
        SUCCEEDED = "succeeded", _("Succeeded")
        REFUSED = "refused", _("Refused by the customer")
        TAKEOVER_LIMIT = "takeover_limit", _("Takeover member at the contact limit")
        REJECTED = "rejected", _("Rejected by WeCom")
        FAILED = "failed", _("Failed")

    FINAL = (Status.SUCCEEDED, Status.REFUSED, Status.TAKEOVER_LIMIT, Status.REJECTED, Status.FAILED)

    kind = models.CharField(_("kind"), max_length=16, choices=Kind.choices)
    customer = models.ForeignKey(
        "tagging.Customer", verbose_name=_("customer"), on_delete=models.CASCADE, related_name="transfers"
    )
    external_userid = models.CharField(_("WeCom external_userid"), max_length=64)
    handover = models.ForeignKey(
        "org.Operator", verbose_name=_("handover operator"), on_delete=models.PROTECT, related_name="+"
    )
    takeover = models.ForeignKey(
        "org.Operator", verbose_name=_("takeover operator"), on_delete=models.PROTECT, related_name="+"
    )
    status = models.CharField(_("status"), max_length=16, choices=Status.choices, default=Status.REQUESTED)
    errcode = models.IntegerField(_("WeCom errcode"), null=True, blank=True)
    message = models.CharField(_("message to the customer"), max_length=200, blank=True, default="")
    requested_by = models.ForeignKey(
        settings.AUTH_USER_MODEL, verbose_name=_("requested by"), null=True, on_delete=models.SET_NULL, related_name="+"
    )
    requested_at = models.DateTimeField(_("requested at"), auto_now_add=True)
    takeover_at = models.DateTimeField(_("taken over at"), null=True, blank=True)
    checked_at = models.DateTimeField(_("last checked at"), null=True, blank=True)

    class Meta:
        verbose_name = _("customer transfer")
        verbose_name_plural = _("customer transfers")
        ordering = ["-requested_at"]
        constraints = [
            models.UniqueConstraint(
                fields=["customer"],
                condition=Q(status__in=["requested", "waiting"]),
                name="transfer_one_open_per_customer",
            ),
        ]
        indexes = [models.Index(fields=["status", "handover", "takeover"], name="transfer_open_pairs")]

    def __str__(self):
        return f"{self.customer} {self.handover} → {self.takeover}"
