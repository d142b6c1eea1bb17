"""Channel QR codes (渠道活码): WeCom 「联系我」 configs with a unique `state`, so every customer who adds an
operator through one is credited to it, tagged, and welcomed with approved content.

A code is a row first and a WeCom config second: the row is written (sync `pending`), then WeCom is asked
(add_contact_way / update_contact_way / del_contact_way); what WeCom could not take yet stays `pending` for the
periodic push. A deleted code keeps its row (deleted_at): its customers stay credited to it.
"""

from django.conf import settings
from django.db import models
from django.utils.translation import gettext_lazy as _


class ChannelCode(models.Model):
    class Sync(models.TextChoices):
        PENDING = "pending", _("Waiting for WeCom")
        SYNCED = "synced", _("In WeCom")
        FAILED = "failed", _("WeCom refused")

    name = models.CharField(_("name"), max_length=30)  # also the config's remark in WeCom (≤ 30 characters)
    # WeCom returns it in the add event and in follow_user.state: how a customer is credited to this code.
    state = models.CharField(_("state"), max_length=30, unique=True, editable=False)
    operators = models.ManyToManyField(
        "org.Operator", verbose_name=_("operators"), through="ChannelCodeMember", related_name="channel_codes"
    )
    # Takes the adds when every operator has reached their daily cap.
    backup_operator = models.ForeignKey(
        "org.Operator",
        verbose_name=_("backup operator"),
        null=True,
        blank=True,
        on_delete=models.PROTECT,
        related_name="+",
    )
    auto_tags = models.ManyToManyField("tagging.Tag", verbose_name=_("tags for new customers"), blank=True)
    welcome_item = models.ForeignKey(
        "content.ContentItem",
        verbose_name=_("welcome message"),
        null=True,
        blank=True,
        on_delete=models.PROTECT,
        related_name="channel_codes",
    )
    skip_verify = models.BooleanField(_("accept without verification"), default=True)
    config_id = models.CharField(_("WeCom config_id"), max_length=64, blank=True, default="")
    qr_code = models.URLField(_("QR code URL"), max_length=500, blank=True, default="")
    # The members WeCom holds for the config now (those under their daily cap, or the backup).
    wecom_users = models.JSONField(_("members in WeCom"), default=list, blank=True)
    sync = models.CharField(_("WeCom"), max_length=8, choices=Sync.choices, default=Sync.PENDING)
    sync_error = models.CharField(_("WeCom error"), max_length=255, blank=True, default="")
    synced_at = models.DateTimeField(_("last pushed to WeCom"), null=True, blank=True)
    created_by = models.ForeignKey(
        settings.AUTH_USER_MODEL, verbose_name=_("created by"), on_delete=models.PROTECT, related_name="+"
    )
    created_at = models.DateTimeField(_("created at"), auto_now_add=True)
    updated_at = models.DateTimeField(_("updated at"), auto_now=True)
    deleted_at = models.DateTimeField(_("deleted at"), null=True, blank=True)

    class Meta:
        verbose_name = _("channel code")
        verbose_name_plural = _("channel codes")
        ordering = ["-created_at", "-id"]
        indexes = [models.Index(fields=["sync"], name="channels_code_sync")]

    def __str__(self):
        return self.name


class ChannelCodeMember(models.Model):
    code = models.ForeignKey(
        ChannelCode, verbose_name=_("channel code"), on_delete=models.CASCADE, related_name="members"
    )
    operator = models.ForeignKey("org.Operator", verbose_name=_("operator"), on_delete=models.PROTECT, related_name="+")
    # New customers per day through this code; None: no cap.
    daily_cap = models.PositiveSmallIntegerField(_("daily cap"), null=True, blank=True)

    class Meta:
        verbose_name = _("channel code operator")
        verbose_name_plural = _("channel code operators")
        constraints = [models.UniqueConstraint(fields=["code", "operator"], name="channels_member_once")]

    def __str__(self):
        return f"{self.code_id}: {self.operator_id}"


class ChannelAdd(models.Model):
    """A customer who added an operator through a channel code (one per follow), with what the code did."""

    code = models.ForeignKey(ChannelCode, verbose_name=_("channel code"), on_delete=models.PROTECT, related_name="adds")
    follow = models.OneToOneField(
        "tagging.FollowRelationship", verbose_name=_("follow relationship"), on_delete=models.CASCADE, related_name="+"
    )
    customer = models.ForeignKey(
        "tagging.Customer", verbose_name=_("customer"), on_delete=models.CASCADE, related_name="+"
    )
    operator = models.ForeignKey("org.Operator", verbose_name=_("operator"), on_delete=models.PROTECT, related_name="+")
    added_at = models.DateTimeField(_("added at"))
    event = models.ForeignKey(
        "wecom.CallbackEvent",
        verbose_name=_("callback"),
        null=True,
        blank=True,
        on_delete=models.SET_NULL,
        related_name="+",
    )
    tags_added = models.JSONField(_("tags added"), default=list, blank=True)
    created_at = models.DateTimeField(_("recorded at"), auto_now_add=True)

    class Meta:
        verbose_name = _("channel add")
        verbose_name_plural = _("channel adds")
        indexes = [
            models.Index(fields=["code", "added_at"], name="channels_add_code"),
            models.Index(fields=["operator", "added_at"], name="channels_add_operator"),
        ]

    def __str__(self):
        return f"{self.code_id}: {self.customer_id}"


class WelcomeMessage(models.Model):
    """The welcome message of one add event: written before send_welcome_msg is called, settled after."""

    class Status(models.TextChoices):
        SENDING = "sending", _("Sending")
        SENT = "sent", _("Sent")
        LATE = "late", _("Too late (the welcome code had expired)")
        FAILED = "failed", _("Failed")

    event = models.OneToOneField(
        "wecom.CallbackEvent", verbose_name=_("callback"), on_delete=models.CASCADE, related_name="+"
    )
    code = models.ForeignKey(
        ChannelCode, verbose_name=_("channel code"), null=True, blank=True, on_delete=models.SET_NULL, related_name="+"
    )
    # The approved content sent; None for the configured default text (WECOM_WELCOME_TEXT).
    version = models.ForeignKey(
        "content.ContentVersion",
        verbose_name=_("content version"),
        null=True,
        blank=True,
        on_delete=models.PROTECT,
        related_name="+",
    )
    userid = models.CharField(_("member"), max_length=64)
    external_userid = models.CharField(_("WeCom external_userid"), max_length=64)
    status = models.CharField(_("status"), max_length=8, choices=Status.choices, default=Status.SENDING)
    error = models.CharField(_("error"), max_length=255, blank=True, default="")
    created_at = models.DateTimeField(_("created at"), auto_now_add=True)
    sent_at = models.DateTimeField(_("sent at"), null=True, blank=True)

    class Meta:
        verbose_name = _("welcome message")
        verbose_name_plural = _("welcome messages")

    def __str__(self):
        return f"{self.external_userid} {self.status}"
