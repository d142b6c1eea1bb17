from django.conf import settings
from django.db import models
from django.utils.translation import gettext_lazy as _


class AuditAction(models.TextChoices):
    LOGIN = "login", _("Logged in")
    LOGIN_FAILED = "login_failed", _("Login failed")
    LOGOUT = "logout", _("Logged out")
    API_TOKEN_ISSUED = "api_token_issued", _("API token issued")
    PII_VIEW = "pii_view", _("Viewed personal data")
    EXPORT_REQUESTED = "export_requested", _("Requested an export")
    EXPORT_DOWNLOADED = "export_downloaded", _("Downloaded an export")
    ADMIN_CHANGE = "admin_change", _("Changed data in the admin")
    WECOM_SYNC_STARTED = "wecom_sync_started", _("Started a WeCom sync")
    WECOM_CONTACT_LINKED = "wecom_contact_linked", _("Linked a WeCom contact to a customer")
    TRANSFER_REQUESTED = "transfer_requested", _("Requested customer transfers")
    TAG_LIBRARY_CHANGED = "tag_library_changed", _("Changed the tag library")
    TAGS_BULK_CHANGED = "tags_bulk_changed", _("Tagged customers in bulk")
    RULE_CHANGED = "rule_changed", _("Changed a rule tag")
    SEGMENT_CHANGED = "segment_changed", _("Changed a segment")
    SEGMENT_SNAPSHOT = "segment_snapshot", _("Froze a segment")
    IMPORT_UPLOADED = "import_uploaded", _("Uploaded a bank data file")
    IMPORT_REPORT_DOWNLOADED = "import_report_downloaded", _("Downloaded an import error report")
    CONTENT_SUBMITTED = "content_submitted", _("Submitted content for approval")
    CONTENT_APPROVED = "content_approved", _("Approved content")
    CONTENT_REJECTED = "content_rejected", _("Rejected content")
    SENSITIVE_WORDS_CHANGED = "sensitive_words_changed", _("Changed the sensitive-word list")
    CHANNEL_CODE_CHANGED = "channel_code_changed", _("Changed a channel code")
    PLAYBOOK_CHANGED = "playbook_changed", _("Changed a playbook")
    PLAYBOOK_ENROLLED = "playbook_enrolled", _("Enrolled customers in a playbook by hand")
    CONTACT_POLICY_CHANGED = "contact_policy_changed", _("Changed the contact policy")
    CONTACT_PREFERENCE_CHANGED = "contact_pref_changed", _("Changed a customer's do-not-disturb")
    INCENTIVE_SCHEME_CHANGED = "incentive_scheme_changed", _("Changed an incentive scheme")
    INCENTIVE_SCHEME_ACTIVATED = "incentive_scheme_activated", _("Activated or paused an incentive scheme")
    SIDEBAR_SIGNED_IN = "sidebar_signed_in", _("Opened the WeCom chat sidebar")
    SIDEBAR_REFUSED = "sidebar_refused", _("Was refused by the WeCom chat sidebar")


class AuditEvent(models.Model):
    """Append-only: who did what, when, to which object, from where."""

    at = models.DateTimeField(_("time"), auto_now_add=True, db_index=True)
    actor = models.ForeignKey(
        settings.AUTH_USER_MODEL,
        verbose_name=_("user"),
        null=True,
        blank=True,
        on_delete=models.SET_NULL,
        related_name="+",
    )
    # Kept as text so the row still names the actor after the account is gone.
    actor_username = models.CharField(_("username"), max_length=150, blank=True)
    action = models.CharField(_("action"), max_length=32, choices=AuditAction.choices, db_index=True)
    object_type = models.CharField(_("object type"), max_length=64, blank=True)
    object_id = models.CharField(_("object id"), max_length=64, blank=True)
    object_repr = models.CharField(_("object"), max_length=255, blank=True)
    ip_address = models.GenericIPAddressField(_("IP address"), null=True, blank=True)
    detail = models.JSONField(_("detail"), default=dict, blank=True)

    class Meta:
        verbose_name = _("audit event")
        verbose_name_plural = _("audit events")
        ordering = ["-at", "-id"]
        indexes = [models.Index(fields=["object_type", "object_id"], name="audit_object")]

    def __str__(self):
        return f"{self.at:%Y-%m-%d %H:%M:%S} {self.actor_username} {self.action}"
