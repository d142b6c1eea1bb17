"""Tracked links: every link in content that reaches a customer goes through `/l/<token>`, so a click is counted
against what was sent (content version), by whom (sender) and why (context: a welcome message, a playbook, a
task), and — when the customer opens it inside WeChat — against the customer too."""

from django.db import models
from django.utils.translation import gettext_lazy as _


class TrackedLink(models.Model):
    """One target URL as sent in one context. Created when content is used, never edited."""

    class Context(models.TextChoices):
        WELCOME = "welcome", _("Welcome message")
        PLAYBOOK = "playbook", _("Playbook")
        TASK = "task", _("Operator task")
        SIDEBAR = "sidebar", _("Sidebar")

    token = models.CharField(_("token"), max_length=32, unique=True)
    # A digest of everything below: the same link in the same send is one row, however often it is rendered.
    key = models.CharField(max_length=64, unique=True, editable=False)
    url = models.URLField(_("target URL"), max_length=2048)
    version = models.ForeignKey(
        "content.ContentVersion",
        verbose_name=_("content version"),
        null=True,
        blank=True,
        on_delete=models.PROTECT,
        related_name="tracked_links",
    )
    sender = models.ForeignKey(
        "org.Operator", verbose_name=_("sender"), null=True, blank=True, on_delete=models.PROTECT, related_name="+"
    )
    # A message to one customer (a welcome message, a task's personal message): a click is theirs.
    customer = models.ForeignKey(
        "tagging.Customer",
        verbose_name=_("customer"),
        null=True,
        blank=True,
        on_delete=models.SET_NULL,
        related_name="+",
    )
    external_userid = models.CharField(_("WeCom external_userid"), max_length=64, blank=True, default="")
    context = models.CharField(_("sent as"), max_length=16, choices=Context.choices)
    # The playbook, task or channel code behind the send (its kind is `context`).
    context_id = models.PositiveBigIntegerField(_("context id"), null=True, blank=True)
    created_at = models.DateTimeField(_("created at"), auto_now_add=True)

    class Meta:
        verbose_name = _("tracked link")
        verbose_name_plural = _("tracked links")
        indexes = [
            models.Index(fields=["version"], name="links_link_version"),
            models.Index(fields=["sender"], name="links_link_sender"),
            models.Index(fields=["context", "context_id"], name="links_link_context"),
        ]

    def __str__(self):
        return f"{self.token} → {self.url}"


class LinkClick(models.Model):
    """A click on a tracked link (repeats by the same visitor within minutes count once; bots not at all)."""

    class IdentifiedBy(models.TextChoices):
        NONE = "", _("Not identified")
        LINK = "link", _("Sent to this customer only")
        OAUTH = "oauth", _("WeChat web authorisation")

    link = models.ForeignKey(TrackedLink, verbose_name=_("link"), on_delete=models.CASCADE, related_name="clicks")
    clicked_at = models.DateTimeField(_("clicked at"), auto_now_add=True, db_index=True)
    customer = models.ForeignKey(
        "tagging.Customer",
        verbose_name=_("customer"),
        null=True,
        blank=True,
        on_delete=models.SET_NULL,
        related_name="link_clicks",
    )
    identified_by = models.CharField(
        _("identified by"), max_length=8, choices=IdentifiedBy.choices, blank=True, default=""
    )
    external_userid = models.CharField(_("WeCom external_userid"), max_length=64, blank=True, default="")
    openid = models.CharField(_("WeChat openid"), max_length=64, blank=True, default="")
    in_wechat = models.BooleanField(_("opened in WeChat"), default=False)
    # A keyed digest of the visitor (customer, or address and browser): enough to count repeats, not to track.
    visitor = models.CharField(max_length=64, editable=False)

    class Meta:
        verbose_name = _("link click")
        verbose_name_plural = _("link clicks")
        indexes = [
            models.Index(fields=["link", "clicked_at"], name="links_click_link"),
            models.Index(fields=["customer", "clicked_at"], name="links_click_customer"),
        ]

    def __str__(self):
        return f"{self.link_id} @ {self.clicked_at:%Y-%m-%d %H:%M}"
