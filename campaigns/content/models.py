"""The content library (素材库): items, their versions under maker-checker approval, assets, sensitive words.

An item's text and attachments live in versions. A version is written (draft), submitted, and approved or
rejected by a compliance reviewer who never edited it. The item's `current` version is the approved one in use;
editing approved content opens a new version while `current` stays in use until the new one is approved.
"""

from django.conf import settings
from django.db import models
from django.db.models import F, Q
from django.utils import timezone
from django.utils.translation import gettext_lazy as _
from django.utils.translation import pgettext_lazy

TEXT_MAX_BYTES = 4000  # WeCom's text.content
ATTACHMENTS_MAX = 9  # WeCom's attachments per message


class SensitiveWord(models.Model):
    """A word no customer-facing text may contain (保本, 稳赚 …); compliance keeps the list."""

    word = models.CharField(_("word"), max_length=50, unique=True)
    note = models.CharField(_("why it is listed"), max_length=200, blank=True, default="")
    created_by = models.ForeignKey(
        settings.AUTH_USER_MODEL,
        verbose_name=_("added by"),
        null=True,
        blank=True,
        on_delete=models.SET_NULL,
        related_name="+",
    )
    created_at = models.DateTimeField(_("added at"), auto_now_add=True)

    class Meta:
        verbose_name = _("sensitive word")
        verbose_name_plural = _("sensitive words")
        ordering = ["word"]

    def __str__(self):
        return self.word


class ContentCategory(models.Model):
    name = models.CharField(_("name"), max_length=30, unique=True)
    order = models.PositiveIntegerField(_("order"), default=0)

    class Meta:
        verbose_name = _("content category")
        verbose_name_plural = _("content categories")
        ordering = ["order", "name"]

    def __str__(self):
        return self.name


class Scenario(models.TextChoices):
    """When an operator reaches for the content (话术场景)."""

    GENERAL = "general", _("General")
    PAYROLL = "payroll", _("Payroll day")
    RETIREE = "retiree", _("Retirees")
    WEALTH = "wealth", _("Wealth products")
    ANTI_FRAUD = "anti_fraud", _("Anti-fraud")


class ContentItem(models.Model):
    """A piece of content as the library lists it; what it says is in its versions."""

    class Use(models.TextChoices):
        MASS = "mass", _("Mass sends and the sidebar")
        WELCOME = "welcome", _("Welcome messages")
        TASK = "task", _("Operator tasks")
        QUICK_REPLY = "quick_reply", _("Quick replies (1:1 chats)")

    title = models.CharField(pgettext_lazy("content", "title"), max_length=100)
    category = models.ForeignKey(
        ContentCategory,
        verbose_name=_("category"),
        null=True,
        blank=True,
        on_delete=models.PROTECT,
        related_name="items",
    )
    use = models.CharField(_("used for"), max_length=16, choices=Use.choices, default=Use.MASS)
    # The operator's situation the content is written for (话术场景): the quick-reply page and the sidebar's
    # recommendations filter by it.
    scenario = models.CharField(_("scenario"), max_length=16, choices=Scenario.choices, default=Scenario.GENERAL)
    # The branch the content belongs to: its operators (the whole subtree) may use it once approved.
    branch = models.ForeignKey(
        "org.Branch", verbose_name=_("branch"), on_delete=models.PROTECT, related_name="content_items"
    )
    created_by = models.ForeignKey(
        settings.AUTH_USER_MODEL, verbose_name=_("created by"), on_delete=models.PROTECT, related_name="+"
    )
    created_at = models.DateTimeField(_("created at"), auto_now_add=True)
    updated_at = models.DateTimeField(_("updated at"), auto_now=True)
    # The approved version in use; None until a first version is approved.
    current = models.ForeignKey(
        "ContentVersion",
        verbose_name=_("version in use"),
        null=True,
        blank=True,
        on_delete=models.SET_NULL,
        related_name="+",
    )

    class Meta:
        verbose_name = _("content item")
        verbose_name_plural = _("content items")
        ordering = ["-updated_at", "-id"]
        indexes = [
            models.Index(fields=["branch", "-updated_at"], name="content_item_branch"),
            models.Index(fields=["category", "-updated_at"], name="content_item_category"),
        ]

    def __str__(self):
        return self.title

    @property
    def per_customer_allowed(self) -> bool:
        return self.use in PER_CUSTOMER_USES


# Uses where one message goes to one known customer, so the customer's variables can be filled in.
PER_CUSTOMER_USES = (ContentItem.Use.WELCOME, ContentItem.Use.TASK, ContentItem.Use.QUICK_REPLY)


class ContentVersion(models.Model):
    class Status(models.TextChoices):
        DRAFT = "draft", _("Draft")
        SUBMITTED = "submitted", _("Awaiting review")
        APPROVED = "approved", _("Approved")
        REJECTED = "rejected", _("Rejected")
        SUPERSEDED = "superseded", _("Replaced by a newer version")

    # At most one of these per item: the version being written or reviewed. A rejected version stays as it was
    # (the history keeps the reason); reworking it opens a new version.
    OPEN = (Status.DRAFT, Status.SUBMITTED)

    item = models.ForeignKey(
        ContentItem, verbose_name=_("content item"), on_delete=models.CASCADE, related_name="versions"
    )
    number = models.PositiveIntegerField(_("version"))
    text = models.TextField(_("text"), blank=True, default="")
    # Our own shapes ({"type": "image", "asset": 12}, {"type": "link", "title", "url", "desc", "asset"} …);
    # turned into WeCom's attachments, media uploaded, when the content is used.
    attachments = models.JSONField(_("attachments"), default=list, blank=True)
    valid_until = models.DateTimeField(_("valid until"), null=True, blank=True)
    status = models.CharField(_("status"), max_length=16, choices=Status.choices, default=Status.DRAFT)
    author = models.ForeignKey(
        settings.AUTH_USER_MODEL, verbose_name=_("author"), on_delete=models.PROTECT, related_name="+"
    )
    # Everyone who edited this version: none of them may approve it.
    editor_ids = models.JSONField(_("editors"), default=list, blank=True)
    # The sensitive words found at the last save (shown to the author and the reviewer).
    sensitive_hits = models.JSONField(_("sensitive words found"), default=list, blank=True)
    created_at = models.DateTimeField(_("created at"), auto_now_add=True)
    updated_at = models.DateTimeField(_("updated at"), auto_now=True)
    submitted_at = models.DateTimeField(_("submitted at"), null=True, blank=True)
    reviewed_by = models.ForeignKey(
        settings.AUTH_USER_MODEL,
        verbose_name=_("reviewed by"),
        null=True,
        blank=True,
        on_delete=models.PROTECT,
        related_name="+",
    )
    reviewed_at = models.DateTimeField(_("reviewed at"), null=True, blank=True)
    review_note = models.TextField(_("reviewer's note"), blank=True, default="")

    class Meta:
        verbose_name = _("content version")
        verbose_name_plural = _("content versions")
        ordering = ["item", "-number"]
        constraints = [
            models.UniqueConstraint(fields=["item", "number"], name="content_version_number"),
            models.UniqueConstraint(
                fields=["item"], condition=Q(status__in=["draft", "submitted"]), name="content_one_open"
            ),
            # Maker-checker in the schema too: whoever wrote a version never approves it.
            models.CheckConstraint(condition=~Q(reviewed_by=F("author")), name="content_reviewer_not_author"),
        ]
        indexes = [models.Index(fields=["status", "submitted_at"], name="content_version_queue")]

    def __str__(self):
        return f"{self.item.title} v{self.number}"

    @property
    def is_open(self) -> bool:
        return self.status in self.OPEN

    def is_expired(self, now=None) -> bool:
        return self.valid_until is not None and self.valid_until <= (now or timezone.now())


class ContentAsset(models.Model):
    """An image, file or video of a content item. The bytes are kept in the database (any worker on any machine
    can upload them); WeCom gets them when the content is used, as a media_id that lives 3 days and is
    refreshed before it gets old, or as a permanent image URL for link and mini-program covers."""

    class Kind(models.TextChoices):
        IMAGE = "image", _("Image")
        FILE = "file", _("File")
        VIDEO = "video", _("Video")

    item = models.ForeignKey(
        ContentItem, verbose_name=_("content item"), on_delete=models.CASCADE, related_name="assets"
    )
    kind = models.CharField(_("kind"), max_length=8, choices=Kind.choices)
    filename = models.CharField(_("file name"), max_length=255)
    content_type = models.CharField(_("content type"), max_length=100, blank=True, default="")
    size = models.PositiveIntegerField(_("size (bytes)"))
    sha256 = models.CharField(max_length=64, editable=False)
    data = models.BinaryField(_("content"))
    media_id = models.CharField(_("WeCom media_id"), max_length=128, blank=True, default="")
    media_uploaded_at = models.DateTimeField(_("media_id issued at"), null=True, blank=True)
    image_url = models.URLField(_("WeCom image URL"), max_length=500, blank=True, default="")
    created_by = models.ForeignKey(
        settings.AUTH_USER_MODEL, verbose_name=_("uploaded by"), on_delete=models.PROTECT, related_name="+"
    )
    created_at = models.DateTimeField(_("uploaded at"), auto_now_add=True)

    class Meta:
        verbose_name = _("content asset")
        verbose_name_plural = _("content assets")

    def __str__(self):
        return self.filename
