"""Supervision's rows: what each operator did each day, and which touch earned each conversion.

- `OperatorDay` — one operator's facts for one day (China time), computed by `services.compute_day` after the day
  closes and recomputable for any past range; reports and incentive scores read only these rows.
- `BehaviorDay` — WeCom's own behaviour data for a member and day (`get_user_behavior_data`), kept as fetched.
- `SourceDay` — per operator, day and source (a playbook version, a broadcast …): deliveries, clicks and conversions,
  the funnels' input, written with the operator's day so that a dashboard never scans raw deliveries.
- `Attribution` — one imported purchase credited to the operator and the touch that last reached the customer
  inside the window; one row per purchase, so no conversion counts twice.
"""

from django.db import models
from django.db.models import Q
from django.db.models.functions import Now
from django.utils.translation import gettext_lazy as _


class OperatorDay(models.Model):
    day = models.DateField(_("day"))
    operator = models.ForeignKey(
        "org.Operator", verbose_name=_("operator"), on_delete=models.PROTECT, related_name="+", db_index=False
    )
    # Where the operator stood that day: rollups by team, branch and bank are prefix matches on the path.
    branch = models.ForeignKey("org.Branch", verbose_name=_("branch"), on_delete=models.PROTECT, related_name="+")
    branch_path = models.CharField(_("branch path"), max_length=255)

    customers_owned = models.PositiveIntegerField(_("customers followed"), default=0)
    customers_new = models.PositiveIntegerField(_("new customers"), default=0)
    lost_by_customer = models.PositiveIntegerField(_("customers who deleted the operator"), default=0)
    lost_by_operator = models.PositiveIntegerField(_("customers the operator deleted"), default=0)
    effective_customers = models.PositiveIntegerField(_("effective customers"), default=0)

    tasks_due = models.PositiveIntegerField(_("tasks due"), default=0)
    tasks_done = models.PositiveIntegerField(_("tasks done"), default=0)
    tasks_on_time = models.PositiveIntegerField(_("tasks done on time"), default=0)
    tasks_overdue = models.PositiveIntegerField(_("tasks overdue"), default=0)

    mass_tasks_received = models.PositiveIntegerField(_("mass sends received"), default=0)
    mass_tasks_confirmed = models.PositiveIntegerField(_("mass sends confirmed"), default=0)
    # Sum over the confirmed ones of (confirmed_at − submitted_at): the average is this over the count.
    confirm_delay_seconds = models.BigIntegerField(_("confirmation delay (seconds, summed)"), default=0)
    deliveries = models.PositiveIntegerField(_("messages delivered"), default=0)
    chat_messages = models.PositiveIntegerField(_("1:1 messages from the sidebar"), default=0)
    clicks = models.PositiveIntegerField(_("link clicks"), default=0)
    conversions = models.PositiveIntegerField(_("conversions"), default=0)
    conversion_amount = models.DecimalField(_("AUM converted (yuan)"), max_digits=18, decimal_places=2, default=0)

    # From WeCom's behaviour data.
    chats = models.PositiveIntegerField(_("chats"), default=0)
    messages = models.PositiveIntegerField(_("messages sent"), default=0)
    reply_percentage = models.DecimalField(_("reply percentage"), max_digits=5, decimal_places=2, null=True)
    avg_reply_minutes = models.DecimalField(
        _("average reply time (minutes)"), max_digits=8, decimal_places=2, null=True
    )
    negative_feedback = models.PositiveIntegerField(_("negative feedback"), default=0)
    # The 5-minute first-reply standard: customer-initiated conversations, and those answered within 5 minutes.
    conversations_started = models.PositiveIntegerField(_("conversations started by customers"), default=0)
    replied_within_5min = models.PositiveIntegerField(_("answered within 5 minutes"), default=0)

    computed_at = models.DateTimeField(_("computed at"), db_default=Now())

    class Meta:
        verbose_name = _("operator day")
        verbose_name_plural = _("operator days")
        constraints = [models.UniqueConstraint(fields=["operator", "day"], name="operator_day_once")]
        indexes = [
            models.Index(fields=["day", "branch_path"], name="operator_day_day_path"),
            models.Index(
                fields=["branch_path", "day"],
                name="operator_day_path_day",
                opclasses=["varchar_pattern_ops", "date_ops"],
            ),
        ]

    def __str__(self):
        return f"{self.operator_id} {self.day}"


class SourceDay(models.Model):
    day = models.DateField(_("day"))
    operator = models.ForeignKey(
        "org.Operator", verbose_name=_("operator"), on_delete=models.PROTECT, related_name="+", db_index=False
    )
    branch_path = models.CharField(_("branch path"), max_length=255)
    source_kind = models.CharField(_("source kind"), max_length=16)
    source_id = models.BigIntegerField(_("source id"))
    # Delivered that day (by result time), clicked that day, bought that day (credited to this source).
    delivered = models.PositiveIntegerField(_("messages delivered"), default=0)
    clicks = models.PositiveIntegerField(_("link clicks"), default=0)
    conversions = models.PositiveIntegerField(_("conversions"), default=0)
    conversion_amount = models.DecimalField(_("AUM converted (yuan)"), max_digits=18, decimal_places=2, default=0)

    class Meta:
        verbose_name = _("source day")
        verbose_name_plural = _("source days")
        constraints = [
            models.UniqueConstraint(fields=["operator", "day", "source_kind", "source_id"], name="source_day_once")
        ]
        indexes = [models.Index(fields=["day", "branch_path"], name="source_day_day_path")]

    def __str__(self):
        return f"{self.operator_id} {self.day} {self.source_kind}:{self.source_id}"


class BehaviorDay(models.Model):
    """A member's day as WeCom's `get_user_behavior_data` reports it (fetched ≤100 members × ≤30 days a call)."""

    day = models.DateField(_("day"))
    operator = models.ForeignKey(
        "org.Operator", verbose_name=_("operator"), on_delete=models.PROTECT, related_name="+", db_index=False
    )
    chat_cnt = models.PositiveIntegerField(_("chats"), default=0)
    message_cnt = models.PositiveIntegerField(_("messages sent"), default=0)
    reply_percentage = models.DecimalField(_("reply percentage"), max_digits=5, decimal_places=2, null=True)
    avg_reply_time = models.DecimalField(_("average reply time (minutes)"), max_digits=8, decimal_places=2, null=True)
    negative_feedback_cnt = models.PositiveIntegerField(_("negative feedback"), default=0)
    new_apply_cnt = models.PositiveIntegerField(_("friend requests sent"), default=0)
    new_contact_cnt = models.PositiveIntegerField(_("new contacts"), default=0)
    fetched_at = models.DateTimeField(_("fetched at"), db_default=Now())

    class Meta:
        verbose_name = _("WeCom behaviour day")
        verbose_name_plural = _("WeCom behaviour days")
        constraints = [models.UniqueConstraint(fields=["operator", "day"], name="behavior_day_once")]

    def __str__(self):
        return f"{self.operator_id} {self.day}"


class TouchKind(models.TextChoices):
    DELIVERY = "delivery", _("Mass send")
    TASK = "task", _("Operator task")
    CHAT = "chat", _("1:1 message")


class Attribution(models.Model):
    purchase = models.OneToOneField(
        "bank.ProductPurchase", verbose_name=_("purchase"), on_delete=models.CASCADE, related_name="attribution"
    )
    customer = models.ForeignKey(
        "tagging.Customer", verbose_name=_("customer"), on_delete=models.CASCADE, related_name="+", db_index=False
    )
    # Empty when no touch reached the customer inside the window (the purchase is then nobody's).
    operator = models.ForeignKey(
        "org.Operator", verbose_name=_("operator"), null=True, blank=True, on_delete=models.PROTECT, related_name="+"
    )
    touch_kind = models.CharField(_("touch"), max_length=12, choices=TouchKind.choices, blank=True, default="")
    touch_id = models.BigIntegerField(_("touch id"), null=True, blank=True)
    touched_at = models.DateTimeField(_("touched at"), null=True, blank=True)
    # The playbook behind the touch, when there is one (a delivery or task of a playbook's step).
    source_kind = models.CharField(_("source kind"), max_length=16, blank=True, default="")
    source_id = models.BigIntegerField(_("source id"), null=True, blank=True)
    amount = models.DecimalField(_("amount (yuan)"), max_digits=16, decimal_places=2)
    purchased_at = models.DateTimeField(_("purchased at"))
    window_days = models.PositiveSmallIntegerField(_("window (days)"))
    computed_at = models.DateTimeField(_("computed at"), db_default=Now())

    class Meta:
        verbose_name = _("attribution")
        verbose_name_plural = _("attributions")
        indexes = [
            models.Index(fields=["operator", "purchased_at"], name="attribution_operator_time"),
            models.Index(fields=["source_kind", "source_id"], condition=~Q(source_kind=""), name="attribution_source"),
            models.Index(fields=["purchased_at"], name="attribution_time"),
        ]

    def __str__(self):
        return f"{self.purchase_id} → {self.operator_id}"
