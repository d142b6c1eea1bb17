"""The delivery engine's rows. PostgreSQL is the truth: every tick re-derives its work from these.

- `ContactPolicy` — the one set of contact rules (a singleton row): caps, quiet hours, the WeCom quota setting.
- `ContactPreference` — a customer's do-not-disturb (set by staff) and opt-out (the customer's own wish).
- `Delivery` — one message to one customer, written when it is planned and before any call to WeCom, unique on its
  business key (source, step, customer): planning the same key again is a no-op.
- `SendTask` — one `add_msg_template` call: the due deliveries of one sender and one content, at most 10,000.
  Written before the call, claimed by a conditional update, retried alone; `marker` lets a task whose call may
  have happened be found in WeCom instead of being created twice (docs/delivery.md).
- `Suppression` — history: every time the policy held a message back or deferred it, and why.
- `OperatorTask` — a to-do (待办) for an operator: a call, a 1:1 message, a visit, confirming a mass send.
- `ChatMessage` — a 1:1 message sent from the WeCom sidebar into a chat (a touch for attribution and supervision).
"""

from datetime import time

from django.conf import settings
from django.db import models
from django.db.models import Q
from django.db.models.functions import Now
from django.utils.translation import gettext_lazy as _


class QuotaMode(models.TextChoices):
    """WeCom's per-customer mass-message quota, as the corp's admin set it in the WeCom console (DOC-92135)."""

    MONTHLY = "monthly", _("As many per month as the month has days (WeCom's default)")
    WEEKLY = "7_per_week", _("7 per natural week")
    DAILY = "1_per_day", _("1 per day")


class ContactPolicy(models.Model):
    """The contact rules every customer message passes (one row, pk 1)."""

    cap_per_day = models.PositiveSmallIntegerField(_("messages per customer per day"), default=1)
    cap_per_week = models.PositiveSmallIntegerField(_("messages per customer per week"), default=3)
    cap_per_month = models.PositiveSmallIntegerField(_("messages per customer per month"), default=8)
    quiet_start = models.TimeField(_("quiet hours start"), default=time(21, 0))
    quiet_end = models.TimeField(_("quiet hours end"), default=time(8, 0))
    wecom_quota_mode = models.CharField(
        _("WeCom quota setting"), max_length=16, choices=QuotaMode.choices, default=QuotaMode.MONTHLY
    )
    remind_after_minutes = models.PositiveIntegerField(_("remind an operator after (minutes)"), default=30)
    stale_after_hours = models.PositiveIntegerField(_("cancel unconfirmed mass sends after (hours)"), default=24)
    conversion_window_days = models.PositiveSmallIntegerField(_("conversion window (days)"), default=7)
    updated_at = models.DateTimeField(_("updated at"), auto_now=True)
    updated_by = models.ForeignKey(
        settings.AUTH_USER_MODEL,
        verbose_name=_("updated by"),
        null=True,
        blank=True,
        on_delete=models.SET_NULL,
        related_name="+",
    )

    class Meta:
        verbose_name = _("contact policy")
        verbose_name_plural = _("contact policy")

    def __str__(self):
        return str(_("Contact policy"))


class ContactPreference(models.Model):
    customer = models.OneToOneField(
        "tagging.Customer",
        verbose_name=_("customer"),
        primary_key=True,
        on_delete=models.CASCADE,
        related_name="contact_preference",
    )
    # Set by staff: the customer asked not to be disturbed for now.
    dnd = models.BooleanField(_("do not disturb"), default=False)
    # The customer opted out of marketing messages (退订).
    opted_out = models.BooleanField(_("opted out"), default=False)
    reason = models.CharField(_("reason"), max_length=200, blank=True, default="")
    updated_at = models.DateTimeField(_("updated at"), auto_now=True)
    updated_by = models.ForeignKey(
        settings.AUTH_USER_MODEL,
        verbose_name=_("updated by"),
        null=True,
        blank=True,
        on_delete=models.SET_NULL,
        related_name="+",
    )

    class Meta:
        verbose_name = _("contact preference")
        verbose_name_plural = _("contact preferences")

    def __str__(self):
        return f"{self.customer_id}: dnd={self.dnd} opted_out={self.opted_out}"


class Reason(models.TextChoices):
    """Why a message was held back, deferred, failed or cancelled."""

    DND = "dnd", _("Do not disturb")
    OPTED_OUT = "opted_out", _("Opted out")
    CAP_DAY = "cap_day", _("Daily cap reached")
    CAP_WEEK = "cap_week", _("Weekly cap reached")
    CAP_MONTH = "cap_month", _("Monthly cap reached")
    MEMBER_DAILY = "member_daily", _("Already messaged by this operator today")
    NO_RELATIONSHIP = "no_relationship", _("No operator follows the customer on WeCom")
    UNMATCHED = "unmatched", _("Not a WeCom contact")
    QUIET_HOURS = "quiet_hours", _("Quiet hours: deferred")
    NOT_FRIEND = "not_friend", _("No longer a WeCom contact of the operator")
    OVER_QUOTA = "over_quota", _("Over WeCom's mass-message quota")
    NOT_SENDABLE = "not_sendable", _("WeCom could not send to this customer")
    REJECTED = "rejected", _("WeCom refused the mass send")
    CONTENT_UNUSABLE = "content_unusable", _("The content is no longer approved")
    NOT_CONFIRMED = "not_confirmed", _("The operator did not confirm the mass send in time")
    EXPIRED = "expired", _("Could not reach WeCom in time")


class Delivery(models.Model):
    class Status(models.TextChoices):
        PLANNED = "planned", _("Planned")
        SUPPRESSED = "suppressed", _("Suppressed")
        QUEUED = "queued", _("In a send task")
        SUBMITTED = "submitted", _("Waiting for the operator")
        DELIVERED = "delivered", _("Delivered")
        FAILED = "failed", _("Failed")
        CANCELLED = "cancelled", _("Cancelled")

    # Hold a slot of the customer's caps: sent, being sent, or planned (planned ones by rank, see policy.py).
    HOLDING = (Status.QUEUED, Status.SUBMITTED, Status.DELIVERED)

    # The business key: (source_kind, source_id, step_key, customer).
    source_kind = models.CharField(_("source kind"), max_length=16)
    source_id = models.BigIntegerField(_("source id"))
    step_key = models.CharField(_("step"), max_length=64)
    customer = models.ForeignKey(
        "tagging.Customer",
        verbose_name=_("customer"),
        on_delete=models.CASCADE,
        related_name="deliveries",
        db_index=False,  # the (customer, due_at) index leads with it
    )
    # The operator whose WeCom account sends it (the customer's live follow; the owner's when the owner follows).
    sender = models.ForeignKey(
        "org.Operator",
        verbose_name=_("sender"),
        null=True,
        blank=True,
        on_delete=models.PROTECT,
        related_name="+",
        db_index=False,  # never looked up by sender alone
        # No database constraint on this and the next two keys (Django still protects them on delete): checking
        # three more foreign keys per row would cost a million-customer plan half a minute at COMMIT. Operators
        # and content versions are never deleted; send tasks are the engine's own rows.
        db_constraint=False,
    )
    content_version = models.ForeignKey(
        "content.ContentVersion",
        verbose_name=_("content"),
        on_delete=models.PROTECT,
        related_name="+",
        db_index=False,  # never looked up by version
        db_constraint=False,
    )
    # Lower is more important (1 … 9), as playbooks number it.
    priority = models.PositiveSmallIntegerField(_("priority"), default=5)
    status = models.CharField(_("status"), max_length=12, choices=Status.choices, default=Status.PLANNED)
    # Why it was suppressed, failed or cancelled; on a planned one, why its due time was moved.
    reason = models.CharField(_("reason"), max_length=24, choices=Reason.choices, blank=True, default="")
    # When it is due; once in a send task, when it was handed to WeCom (the day it counts against the caps).
    due_at = models.DateTimeField(_("due at"))
    send_task = models.ForeignKey(
        "SendTask",
        verbose_name=_("send task"),
        null=True,
        blank=True,
        on_delete=models.SET_NULL,
        related_name="+",
        db_index=False,  # a partial index below: planned rows (most of a big broadcast) have none
        db_constraint=False,
    )
    result_at = models.DateTimeField(_("result at"), null=True, blank=True)
    created_at = models.DateTimeField(_("planned at"), db_default=Now())

    class Meta:
        verbose_name = _("delivery")
        verbose_name_plural = _("deliveries")
        constraints = [
            models.UniqueConstraint(
                fields=["source_kind", "source_id", "step_key", "customer"], name="delivery_business_key"
            ),
        ]
        indexes = [
            # The tick: planned rows due by now (a range), with their sender for grouping.
            models.Index(fields=["due_at", "sender"], condition=Q(status="planned"), name="delivery_due"),
            # The policy's counts per customer and period, and the customer's history.
            models.Index(fields=["customer", "due_at"], name="delivery_customer_due"),
            models.Index(fields=["send_task"], condition=Q(send_task__isnull=False), name="delivery_send_task"),
        ]

    def __str__(self):
        return f"{self.source_kind}:{self.source_id}/{self.step_key} → {self.customer_id}: {self.status}"


class SendTask(models.Model):
    class Status(models.TextChoices):
        PENDING = "pending", _("Waiting to be sent to WeCom")
        CALLING = "calling", _("Being sent to WeCom")
        UNKNOWN = "unknown", _("Outcome unknown: being checked in WeCom")
        SUBMITTED = "submitted", _("Waiting for the operator to confirm")
        SENT = "sent", _("Confirmed: reading results")
        DONE = "done", _("Done")
        FAILED = "failed", _("Failed")
        CANCELLED = "cancelled", _("Cancelled")

    # Work for the sender loop: calls to make, and calls whose outcome must be found out first.
    TO_CALL = (Status.PENDING, Status.UNKNOWN)
    # In WeCom, waiting for the member or for results.
    OPEN = (Status.SUBMITTED, Status.SENT)
    FINISHED = (Status.DONE, Status.FAILED, Status.CANCELLED)

    source_kind = models.CharField(_("source kind"), max_length=16)
    source_id = models.BigIntegerField(_("source id"))
    step_key = models.CharField(_("step"), max_length=64)
    sender = models.ForeignKey("org.Operator", verbose_name=_("sender"), on_delete=models.PROTECT, related_name="+")
    content_version = models.ForeignKey(
        "content.ContentVersion", verbose_name=_("content"), on_delete=models.PROTECT, related_name="+"
    )
    recipients = models.PositiveIntegerField(_("recipients"))
    # Accepted by WeCom: recipients minus fail_list (set when the msgid is known).
    accepted = models.PositiveIntegerField(_("accepted by WeCom"), default=0)
    status = models.CharField(_("status"), max_length=12, choices=Status.choices, default=Status.PENDING)
    # Random, unique: written into the message (invisibly) so the task can be recognised in WeCom's list.
    marker = models.CharField(_("marker"), max_length=16, unique=True)
    attempts = models.PositiveSmallIntegerField(_("attempts"), default=0)
    next_attempt_at = models.DateTimeField(_("next attempt at"), db_default=Now())
    lease_until = models.DateTimeField(_("lease until"), null=True, blank=True)
    claim_token = models.CharField(max_length=32, blank=True, default="", editable=False)
    first_called_at = models.DateTimeField(_("first called at"), null=True, blank=True)
    last_called_at = models.DateTimeField(_("last called at"), null=True, blank=True)
    msgid = models.CharField(_("WeCom msgid"), max_length=64, null=True, blank=True, unique=True)
    # How the msgid was learnt: from the call's answer, or found in WeCom's list after a lost answer.
    adopted = models.BooleanField(_("found in WeCom after a lost answer"), default=False)
    fail_list = models.JSONField(_("fail_list"), default=list, blank=True)
    payload = models.JSONField(_("message"), default=dict, blank=True)  # the last request, without recipients
    errcode = models.IntegerField(_("WeCom errcode"), null=True, blank=True)
    error = models.CharField(_("error"), max_length=255, blank=True, default="")
    submitted_at = models.DateTimeField(_("submitted at"), null=True, blank=True)
    # The member confirmed (sent) it in the WeCom client.
    confirmed_at = models.DateTimeField(_("confirmed at"), null=True, blank=True)
    # Unconfirmed by then: cancelled in WeCom (see docs/delivery.md for why it is the end of the day at the latest).
    deadline_at = models.DateTimeField(_("deadline"))
    next_poll_at = models.DateTimeField(_("next poll at"), null=True, blank=True)
    reminders = models.JSONField(_("reminders sent"), default=list, blank=True)  # timestamps (remind_groupmsg_send)
    created_at = models.DateTimeField(_("created at"), db_default=Now())
    finished_at = models.DateTimeField(_("finished at"), null=True, blank=True)

    class Meta:
        verbose_name = _("send task")
        verbose_name_plural = _("send tasks")
        indexes = [
            models.Index(
                fields=["next_attempt_at"], condition=Q(status__in=["pending", "unknown"]), name="sendtask_to_call"
            ),
            models.Index(fields=["lease_until"], condition=Q(status="calling"), name="sendtask_calling"),
            models.Index(fields=["next_poll_at"], condition=Q(status__in=["submitted", "sent"]), name="sendtask_open"),
            models.Index(fields=["source_kind", "source_id"], name="sendtask_source"),
            models.Index(fields=["sender", "-created_at"], name="sendtask_sender"),
        ]

    def __str__(self):
        return f"#{self.pk} {self.sender_id} ×{self.recipients}: {self.status}"

    @property
    def is_finished(self) -> bool:
        return self.status in self.FINISHED


class Suppression(models.Model):
    """History: a message the policy held back or deferred (shown on the customer's timeline)."""

    class Action(models.TextChoices):
        SUPPRESSED = "suppressed", _("Held back")
        DEFERRED = "deferred", _("Deferred")

    customer = models.ForeignKey(
        "tagging.Customer", verbose_name=_("customer"), on_delete=models.CASCADE, related_name="+", db_index=False
    )
    at = models.DateTimeField(_("at"), db_default=Now())
    action = models.CharField(_("action"), max_length=12, choices=Action.choices)
    reason = models.CharField(_("reason"), max_length=24, choices=Reason.choices)
    until = models.DateTimeField(_("deferred until"), null=True, blank=True)
    kind = models.CharField(_("kind"), max_length=16, default="mass_send")
    source_kind = models.CharField(_("source kind"), max_length=16)
    source_id = models.BigIntegerField(_("source id"))
    step_key = models.CharField(_("step"), max_length=64)

    class Meta:
        verbose_name = _("suppression")
        verbose_name_plural = _("suppressions")
        indexes = [
            models.Index(fields=["customer", "-at"], name="suppression_customer"),
            models.Index(fields=["source_kind", "source_id"], name="suppression_source"),
        ]

    def __str__(self):
        return f"{self.customer_id} {self.action} {self.reason}"


class OperatorTask(models.Model):
    """A to-do for an operator (待办), unique on its business key like a delivery."""

    class Kind(models.TextChoices):
        CALL = "call", _("Call")
        MESSAGE = "message", _("1:1 message")
        VISIT = "visit", _("Visit")
        CONFIRM_SEND = "confirm_send", _("Confirm a mass send")

    class Status(models.TextChoices):
        OPEN = "open", _("Open")
        DONE = "done", _("Done")
        POSTPONED = "postponed", _("Postponed")
        CANCELLED = "cancelled", _("Cancelled")

    class Outcome(models.TextChoices):
        REACHED = "reached", _("Reached the customer")
        NOT_REACHED = "not_reached", _("Could not reach the customer")
        INTERESTED = "interested", _("Interested")
        NOT_INTERESTED = "not_interested", _("Not interested")
        COMPLETED = "completed", _("Completed")

    PENDING = (Status.OPEN, Status.POSTPONED)

    customer = models.ForeignKey(
        "tagging.Customer",
        verbose_name=_("customer"),
        null=True,
        blank=True,
        on_delete=models.CASCADE,
        related_name="operator_tasks",
    )
    operator = models.ForeignKey(
        "org.Operator", verbose_name=_("operator"), on_delete=models.PROTECT, related_name="tasks"
    )
    kind = models.CharField(_("kind"), max_length=16, choices=Kind.choices)
    title = models.CharField(_("title"), max_length=100)
    script = models.TextField(_("script"), blank=True, default="")
    due_at = models.DateTimeField(_("due at"))
    original_due_at = models.DateTimeField(_("first due at"))
    status = models.CharField(_("status"), max_length=12, choices=Status.choices, default=Status.OPEN)
    outcome = models.CharField(_("outcome"), max_length=16, choices=Outcome.choices, blank=True, default="")
    outcome_note = models.CharField(_("note"), max_length=500, blank=True, default="")
    done_at = models.DateTimeField(_("done at"), null=True, blank=True)
    done_by = models.ForeignKey(
        settings.AUTH_USER_MODEL,
        verbose_name=_("done by"),
        null=True,
        blank=True,
        on_delete=models.SET_NULL,
        related_name="+",
    )
    postponed_count = models.PositiveSmallIntegerField(_("times postponed"), default=0)
    reminders_sent = models.PositiveSmallIntegerField(_("reminders sent"), default=0)
    last_reminded_at = models.DateTimeField(_("last reminded at"), null=True, blank=True)
    source_kind = models.CharField(_("source kind"), max_length=16)
    source_id = models.BigIntegerField(_("source id"))
    step_key = models.CharField(_("step"), max_length=64)
    created_at = models.DateTimeField(_("created at"), db_default=Now())

    class Meta:
        verbose_name = _("operator task")
        verbose_name_plural = _("operator tasks")
        constraints = [
            models.UniqueConstraint(
                fields=["source_kind", "source_id", "step_key", "customer"],
                condition=Q(customer__isnull=False),
                name="operator_task_business_key",
            ),
            models.UniqueConstraint(
                fields=["source_kind", "source_id", "step_key"],
                condition=Q(customer__isnull=True),
                name="operator_task_business_key_no_customer",
            ),
        ]
        indexes = [
            models.Index(fields=["operator", "status", "due_at"], name="operator_task_list"),
            models.Index(fields=["status", "due_at"], name="operator_task_due"),
        ]

    def __str__(self):
        return self.title

    @property
    def is_pending(self) -> bool:
        return self.status in self.PENDING

    def is_overdue(self, now) -> bool:
        return self.is_pending and self.due_at < now


class ChatMessage(models.Model):
    """A 1:1 message an operator sent into a customer's chat from the WeCom sidebar: a touch like a delivery."""

    customer = models.ForeignKey(
        "tagging.Customer", verbose_name=_("customer"), on_delete=models.CASCADE, related_name="chat_messages"
    )
    operator = models.ForeignKey(
        "org.Operator", verbose_name=_("operator"), on_delete=models.PROTECT, related_name="+", db_index=False
    )
    # The approved content or quick reply it came from (empty for a free text the operator typed).
    content_version = models.ForeignKey(
        "content.ContentVersion",
        verbose_name=_("content"),
        null=True,
        blank=True,
        on_delete=models.PROTECT,
        related_name="+",
    )
    text = models.TextField(_("text as sent"), blank=True, default="")
    # Issued when the send is prepared and echoed when it is recorded: a repeated record is the same touch.
    send_key = models.CharField(_("send key"), max_length=32, blank=True, default="", db_default="", editable=False)
    sent_at = models.DateTimeField(_("sent at"), db_default=Now())

    class Meta:
        verbose_name = _("1:1 message")
        verbose_name_plural = _("1:1 messages")
        constraints = [
            models.UniqueConstraint(fields=["send_key"], condition=~Q(send_key=""), name="chat_message_send_once")
        ]
        indexes = [
            models.Index(fields=["operator", "sent_at"], name="chat_message_operator_time"),
            models.Index(fields=["customer", "-sent_at"], name="chat_message_customer_time"),
        ]

    def __str__(self):
        return f"{self.operator_id} → {self.customer_id} {self.sent_at:%Y-%m-%d %H:%M}"
