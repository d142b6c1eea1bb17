from django.conf import settings
from django.core.validators import MaxValueValidator, MinValueValidator
from django.db import models
from django.db.models import Q
from django.utils.translation import gettext_lazy as _

from workbench.pii import EncryptedTextField


class OccupationGroup(models.TextChoices):
    WHITE_COLLAR = "white_collar", _("White-collar")
    INDUSTRIAL_WORKER = "industrial_worker", _("Industrial worker")
    RETIREE = "retiree", _("Retiree")
    OTHER = "other", _("Other")


class RiskLevel(models.IntegerChoices):
    C1 = 1, _("C1 conservative")
    C2 = 2, _("C2 cautious")
    C3 = 3, _("C3 balanced")
    C4 = 4, _("C4 growth")
    C5 = 5, _("C5 aggressive")


class Customer(models.Model):
    """One person, identified across channels by the bank customer number."""

    class Gender(models.TextChoices):
        UNKNOWN = "U", _("Unknown")
        MALE = "M", _("Male")
        FEMALE = "F", _("Female")

    # A 32-bit dense id: tag and segment sets are compressed bitmaps of these.
    id = models.AutoField(primary_key=True)
    # Empty for a WeCom contact not yet matched to a bank customer (an admin links it, see integrations.wecom).
    customer_no = models.CharField(_("customer number"), max_length=32, unique=True, null=True, blank=True)
    name = models.CharField(_("name"), max_length=64)
    gender = models.CharField(_("gender"), max_length=1, choices=Gender.choices, default=Gender.UNKNOWN)
    external_userid = models.CharField(_("WeCom external_userid"), max_length=64, null=True, blank=True, unique=True)
    unionid = models.CharField(_("WeChat unionid"), max_length=64, null=True, blank=True, unique=True)
    owner = models.ForeignKey(
        "org.Operator",
        verbose_name=_("owner operator"),
        null=True,
        blank=True,
        on_delete=models.PROTECT,
        related_name="owned_customers",
    )
    # The owner's branch, kept beside the owner so that branch scope is one indexed column.
    branch = models.ForeignKey(
        "org.Branch", verbose_name=_("branch"), null=True, blank=True, on_delete=models.PROTECT, related_name="+"
    )

    mobile = EncryptedTextField(_("mobile"), blank=True, default="")
    mobile_masked = models.CharField(_("mobile (masked)"), max_length=16, blank=True, default="")
    mobile_last4 = models.CharField(_("mobile last four digits"), max_length=4, blank=True, default="")
    mobile_hash = models.CharField(max_length=64, blank=True, default="", editable=False)
    id_number = EncryptedTextField(_("ID number"), blank=True, default="")
    id_number_masked = models.CharField(_("ID number (masked)"), max_length=24, blank=True, default="")
    id_number_hash = models.CharField(max_length=64, blank=True, default="", editable=False)

    aum = models.DecimalField(_("AUM (yuan)"), max_digits=16, decimal_places=2, default=0)
    payroll_employer = models.CharField(_("payroll employer"), max_length=128, blank=True, default="")
    payday = models.PositiveSmallIntegerField(
        _("pay day"), null=True, blank=True, validators=[MinValueValidator(1), MaxValueValidator(31)]
    )
    birth_date = models.DateField(_("birth date"), null=True, blank=True)
    occupation_group = models.CharField(
        _("occupation group"), max_length=32, choices=OccupationGroup.choices, blank=True, default=""
    )
    risk_level = models.PositiveSmallIntegerField(_("risk level"), choices=RiskLevel.choices, null=True, blank=True)
    last_transaction_date = models.DateField(_("last transaction date"), null=True, blank=True)
    created_at = models.DateTimeField(_("created at"), auto_now_add=True)
    updated_at = models.DateTimeField(_("updated at"), auto_now=True)

    class Meta:
        verbose_name = _("customer")
        verbose_name_plural = _("customers")
        indexes = [
            models.Index(fields=["branch", "-id"], name="customer_branch_id"),
            models.Index(fields=["owner", "-id"], name="customer_owner_id"),
            models.Index(fields=["occupation_group", "-id"], name="customer_occupation_id"),
            models.Index(fields=["aum"], name="customer_aum"),
            models.Index(fields=["name"], name="customer_name", opclasses=["varchar_pattern_ops"]),
            models.Index(fields=["mobile_hash"], name="customer_mobile_hash"),
            models.Index(fields=["mobile_last4"], name="customer_mobile_last4"),
            models.Index(fields=["id_number_hash"], name="customer_id_number_hash"),
        ]
        constraints = [
            models.CheckConstraint(
                condition=Q(payday__isnull=True) | Q(payday__gte=1, payday__lte=31), name="customer_payday_range"
            ),
            models.CheckConstraint(condition=Q(aum__gte=0), name="customer_aum_not_negative"),
        ]

    def __str__(self):
        return f"{self.name} ({self.customer_no or self.external_userid})"

    @property
    def is_unmatched_contact(self) -> bool:
        return not self.customer_no


class AddWay(models.IntegerChoices):
    """How the customer added the operator (WeCom follow_user.add_way)."""

    UNKNOWN = 0, _("Unknown")
    QR_CODE = 1, _("Scanned QR code")
    MOBILE_SEARCH = 2, _("Searched mobile number")
    CARD_SHARE = 3, _("Shared business card")
    GROUP_CHAT = 4, _("Group chat")
    PHONE_CONTACTS = 5, _("Phone contacts")
    WECHAT_CONTACTS = 6, _("WeChat contacts")
    WECHAT_FRIEND_REQUEST = 7, _("WeChat friend request")
    THIRD_PARTY = 8, _("Third-party service")
    EMAIL_SEARCH = 9, _("Searched e-mail")
    VIDEO_ACCOUNT = 10, _("Video account")
    SCHEDULE = 11, _("Schedule participant")
    MEETING = 12, _("Meeting participant")
    WECHAT_FRIEND_CUSTOMER = 13, _("Added from a WeChat friend's customer")
    SMART_ASSISTANT = 14, _("Smart assistant")
    PHONE_CONSULT = 15, _("Phone consultation")
    INTERNAL_SHARE = 201, _("Shared by a colleague")
    ADMIN_ASSIGNED = 202, _("Assigned by an administrator")


class FollowRelationship(models.Model):
    """One WeCom follow (a customer is an external contact of an operator); kept after deletion as history."""

    class DeletedBy(models.TextChoices):
        CUSTOMER = "customer", _("Customer deleted the operator")
        OPERATOR = "operator", _("Operator deleted the customer")
        TRANSFER = "transfer", _("Moved to another operator by a transfer")
        SYNC = "sync", _("No longer in WeCom (found by a sync)")

    customer = models.ForeignKey(Customer, verbose_name=_("customer"), on_delete=models.CASCADE, related_name="follows")
    operator = models.ForeignKey(
        "org.Operator", verbose_name=_("operator"), on_delete=models.PROTECT, related_name="follows"
    )
    added_at = models.DateTimeField(_("added at"))
    add_way = models.PositiveSmallIntegerField(_("add way"), choices=AddWay.choices, default=AddWay.UNKNOWN)
    state = models.CharField(_("channel state"), max_length=30, blank=True, default="")
    remark = models.CharField(_("remark"), max_length=20, blank=True, default="")
    description = models.CharField(_("description"), max_length=150, blank=True, default="")
    deleted_at = models.DateTimeField(_("deleted at"), null=True, blank=True)
    deleted_by = models.CharField(_("deleted by"), max_length=16, choices=DeletedBy.choices, blank=True, default="")
    # The WeCom corp tag ids the operator put on this customer (follow_info.tag_id), mirrored by the sync.
    # A database default too: the demo seeder's COPY leaves the column out.
    wecom_tag_ids = models.JSONField(_("WeCom tag ids"), default=list, db_default=models.Value("[]"), blank=True)

    class Meta:
        verbose_name = _("follow relationship")
        verbose_name_plural = _("follow relationships")
        constraints = [
            models.UniqueConstraint(
                fields=["customer", "operator"], condition=Q(deleted_at__isnull=True), name="follow_one_live_per_pair"
            ),
            models.CheckConstraint(
                condition=Q(deleted_at__isnull=True, deleted_by="") | Q(deleted_at__isnull=False),
                name="follow_deleted_by_needs_deleted_at",
            ),
        ]
        indexes = [
            models.Index(fields=["operator", "customer"], name="follow_operator_customer"),
            models.Index(fields=["state"], name="follow_state"),
        ]

    def __str__(self):
        return f"{self.operator} ↔ {self.customer}"


class ProductCategory(models.TextChoices):
    DEPOSIT = "deposit", _("Deposit")
    WEALTH = "wealth", _("Wealth management")
    FUND = "fund", _("Fund")
    INSURANCE = "insurance", _("Insurance")
    PENSION = "pension", _("Pension")
    LOAN = "loan", _("Loan")
    CREDIT_CARD = "credit_card", _("Credit card")


class Product(models.Model):
    code = models.CharField(_("product code"), max_length=32, unique=True)
    name = models.CharField(_("name"), max_length=128)
    category = models.CharField(_("category"), max_length=16, choices=ProductCategory.choices)
    risk_level = models.PositiveSmallIntegerField(_("risk level"), choices=RiskLevel.choices, null=True, blank=True)
    term_days = models.PositiveIntegerField(_("term (days)"), null=True, blank=True)

    class Meta:
        verbose_name = _("product")
        verbose_name_plural = _("products")
        ordering = ["code"]

    def __str__(self):
        return self.name


class ProductHolding(models.Model):
    customer = models.ForeignKey(
        Customer, verbose_name=_("customer"), on_delete=models.CASCADE, related_name="holdings"
    )
    product = models.ForeignKey(Product, verbose_name=_("product"), on_delete=models.PROTECT, related_name="holdings")
    amount = models.DecimalField(_("amount (yuan)"), max_digits=16, decimal_places=2, default=0)
    opened_on = models.DateField(_("opened on"))
    maturity_date = models.DateField(_("maturity date"), null=True, blank=True)

    class Meta:
        verbose_name = _("product holding")
        verbose_name_plural = _("product holdings")
        constraints = [models.UniqueConstraint(fields=["customer", "product"], name="holding_one_per_product")]
        indexes = [models.Index(fields=["maturity_date"], name="holding_maturity")]

    def __str__(self):
        return f"{self.customer_id}: {self.product}"


class CustomerEvent(models.Model):
    """A line of the customer's timeline that is not already a row elsewhere (notes, data changes, owner moves)."""

    class Kind(models.TextChoices):
        NOTE = "note", _("Note")
        MASTER_DATA = "master_data", _("Master data updated")
        OWNER_CHANGED = "owner_changed", _("Owner changed")
        TRANSFER = "transfer", _("WeCom transfer")
        CONTACT_LINKED = "contact_linked", _("WeCom contact linked")
        TRANSACTION = "transaction", _("Transaction")

    customer = models.ForeignKey(Customer, verbose_name=_("customer"), on_delete=models.CASCADE, related_name="events")
    occurred_at = models.DateTimeField(_("occurred at"))
    kind = models.CharField(_("kind"), max_length=32, choices=Kind.choices)
    summary = models.CharField(_("summary"), max_length=255)
    operator = models.ForeignKey(
        "org.Operator", verbose_name=_("operator"), null=True, blank=True, on_delete=models.SET_NULL, related_name="+"
    )
    data = models.JSONField(_("data"), default=dict, blank=True)

    class Meta:
        verbose_name = _("customer event")
        verbose_name_plural = _("customer events")
        indexes = [models.Index(fields=["customer", "-occurred_at"], name="event_customer_time")]

    def __str__(self):
        return self.summary


class WeComState(models.TextChoices):
    """Where a tag group or tag stands with its WeCom corp tag (the tag system's WeCom side)."""

    SYNCED = "synced", _("In WeCom")
    PENDING = "pending", _("Waiting for WeCom")
    ERROR = "error", _("WeCom refused")


class TagGroup(models.Model):
    """A group of tags (资产等级, 代发客群 …); mirrored in WeCom as a corp tag group."""

    name = models.CharField(_("name"), max_length=30, unique=True)  # WeCom's limit for group names
    description = models.TextField(_("description"), blank=True, default="")
    order = models.PositiveIntegerField(_("order"), default=0)
    wecom_group_id = models.CharField(_("WeCom group id"), max_length=64, null=True, blank=True, unique=True)
    # WeCom has no empty groups: a group reaches WeCom with its first tag, so "pending" until then.
    wecom_state = models.CharField(
        _("WeCom state"), max_length=8, choices=WeComState.choices, default=WeComState.PENDING
    )
    wecom_error = models.CharField(_("WeCom error"), max_length=255, blank=True, default="")
    created_at = models.DateTimeField(_("created at"), auto_now_add=True)

    class Meta:
        verbose_name = _("tag group")
        verbose_name_plural = _("tag groups")
        ordering = ["order", "name"]

    def __str__(self):
        return self.name


class Tag(models.Model):
    """A customer tag. Its kind says who sets it: a person, a rule, a playbook or channel code, or an import."""

    class Kind(models.TextChoices):
        MANUAL = "manual", _("Manual")
        RULE = "rule", _("Rule")
        EVENT = "event", _("Event")
        IMPORTED = "imported", _("Imported")

    group = models.ForeignKey(TagGroup, verbose_name=_("tag group"), on_delete=models.PROTECT, related_name="tags")
    name = models.CharField(_("name"), max_length=30)  # WeCom's limit for tag names
    kind = models.CharField(_("kind"), max_length=16, choices=Kind.choices, default=Kind.MANUAL)
    description = models.TextField(_("description"), blank=True, default="")
    order = models.PositiveIntegerField(_("order"), default=0)
    wecom_tag_id = models.CharField(_("WeCom tag id"), max_length=64, null=True, blank=True, unique=True)
    # pending: to be created, renamed or deleted in WeCom by the library sync; error: WeCom refused (wecom_error).
    wecom_state = models.CharField(
        _("WeCom state"), max_length=8, choices=WeComState.choices, default=WeComState.PENDING
    )
    wecom_error = models.CharField(_("WeCom error"), max_length=255, blank=True, default="")
    is_active = models.BooleanField(_("active"), default=True)
    created_at = models.DateTimeField(_("created at"), auto_now_add=True)
    updated_at = models.DateTimeField(_("updated at"), auto_now=True)

    class Meta:
        verbose_name = _("tag")
        verbose_name_plural = _("tags")
        ordering = ["group__order", "order", "name"]
        constraints = [models.UniqueConstraint(fields=["group", "name"], name="tag_unique_name_in_group")]

    def __str__(self):
        return f"{self.group.name}/{self.name}" if self.group_id else self.name


class TagSource(models.TextChoices):
    """Who put a tag on a customer, or took it off."""

    MANUAL = "manual", _("By hand")
    RULE = "rule", _("Rule")
    EVENT = "event", _("Playbook or channel code")
    IMPORT = "import", _("Import")
    WECOM = "wecom", _("WeCom client")


class CustomerTag(models.Model):
    """A tag a customer has now. The history of how it got there is in TagChange."""

    # No single-column indexes: (tag, customer) and (customer, tag) below serve both, and every index slows the
    # set-based writes of rules and imports.
    customer = models.ForeignKey(
        Customer, verbose_name=_("customer"), on_delete=models.CASCADE, related_name="tags", db_index=False
    )
    tag = models.ForeignKey(
        Tag, verbose_name=_("tag"), on_delete=models.CASCADE, related_name="customer_tags", db_index=False
    )
    source = models.CharField(_("source"), max_length=16, choices=TagSource.choices)
    # Set by hand on a rule tag: the rule's evaluation neither removes nor re-adds it.
    pinned = models.BooleanField(_("pinned by hand"), default=False)
    added_at = models.DateTimeField(_("added at"), auto_now_add=True)
    added_by = models.ForeignKey(
        settings.AUTH_USER_MODEL,
        verbose_name=_("added by"),
        null=True,
        blank=True,
        on_delete=models.SET_NULL,
        related_name="+",
    )

    class Meta:
        verbose_name = _("customer tag")
        verbose_name_plural = _("customer tags")
        constraints = [models.UniqueConstraint(fields=["tag", "customer"], name="customer_tag_once")]
        indexes = [models.Index(fields=["customer", "tag"], name="customer_tag_by_customer")]

    def __str__(self):
        return f"{self.customer_id}: {self.tag_id}"


class TagChange(models.Model):
    """Append-only: a tag added to or removed from a customer — the customer's history and a playbook trigger."""

    class Action(models.TextChoices):
        ADDED = "added", _("Added")
        REMOVED = "removed", _("Removed")

    # Indexed by (customer, -at) and (tag, -at) below, not on their own.
    customer = models.ForeignKey(
        Customer, verbose_name=_("customer"), on_delete=models.CASCADE, related_name="tag_changes", db_index=False
    )
    tag = models.ForeignKey(
        Tag, verbose_name=_("tag"), on_delete=models.CASCADE, related_name="changes", db_index=False
    )
    action = models.CharField(_("action"), max_length=8, choices=Action.choices)
    source = models.CharField(_("source"), max_length=16, choices=TagSource.choices)
    actor = models.ForeignKey(
        settings.AUTH_USER_MODEL,
        verbose_name=_("by"),
        null=True,
        blank=True,
        on_delete=models.SET_NULL,
        related_name="+",
    )
    # The rule, playbook, channel code or import that made the change (its kind is `source`).
    source_id = models.PositiveBigIntegerField(_("source id"), null=True, blank=True)
    at = models.DateTimeField(_("at"), auto_now_add=True)

    class Meta:
        verbose_name = _("tag change")
        verbose_name_plural = _("tag changes")
        indexes = [
            models.Index(fields=["customer", "-at"], name="tag_change_customer"),
            models.Index(fields=["tag", "-at"], name="tag_change_tag"),
            models.Index(fields=["at"], name="tag_change_at"),
        ]

    def __str__(self):
        return f"{self.customer_id} {self.action} {self.tag_id}"


class TagPush(models.Model):
    """Outbox: one tag to add to or remove from one WeCom follow with `mark_tag`, written with the tag change.

    At most one pending row per (follow, tag): a later change of the same pair rewrites its action. A worker
    claims rows (status `sending`, a lease and a claim token), calls `mark_tag` once per follow for all its
    claimed tags, then settles them under its token; a worker that died leaves rows whose lease runs out.
    """

    class Action(models.TextChoices):
        ADD = "add", _("Add")
        REMOVE = "remove", _("Remove")

    class Status(models.TextChoices):
        PENDING = "pending", _("Pending")
        SENDING = "sending", _("Sending")
        DONE = "done", _("Done")
        FAILED = "failed", _("Failed")
        SKIPPED = "skipped", _("Skipped")

    # Lower first: a change made by hand goes ahead of a rule's or an import's thousands.
    PRIORITY_BY_HAND = 0
    PRIORITY_BULK = 5

    follow = models.ForeignKey(
        FollowRelationship, verbose_name=_("follow relationship"), on_delete=models.CASCADE, related_name="+"
    )
    # Looked up by follow (its own index) or by status; by tag only in rare admin actions.
    tag = models.ForeignKey(Tag, verbose_name=_("tag"), on_delete=models.CASCADE, related_name="+", db_index=False)
    action = models.CharField(_("action"), max_length=8, choices=Action.choices)
    status = models.CharField(_("status"), max_length=8, choices=Status.choices, default=Status.PENDING)
    priority = models.PositiveSmallIntegerField(_("priority"), default=PRIORITY_BULK)
    attempts = models.PositiveSmallIntegerField(_("attempts"), default=0)
    due_at = models.DateTimeField(_("due at"))
    lease_until = models.DateTimeField(_("lease until"), null=True, blank=True)
    claim_token = models.CharField(_("claim token"), max_length=32, blank=True, default="")
    errcode = models.IntegerField(_("WeCom errcode"), null=True, blank=True)
    error = models.CharField(_("error"), max_length=255, blank=True, default="")
    created_at = models.DateTimeField(_("created at"))
    updated_at = models.DateTimeField(_("updated at"))
    done_at = models.DateTimeField(_("done at"), null=True, blank=True)

    class Meta:
        verbose_name = _("WeCom tag push")
        verbose_name_plural = _("WeCom tag pushes")
        constraints = [
            models.UniqueConstraint(
                fields=["follow", "tag"], condition=Q(status="pending"), name="tag_push_one_pending_per_pair"
            ),
        ]
        indexes = [
            models.Index(fields=["priority", "due_at"], condition=Q(status="pending"), name="tag_push_claimable"),
            models.Index(fields=["status", "updated_at"], name="tag_push_status"),
        ]

    def __str__(self):
        return f"{self.action} {self.tag_id} on follow {self.follow_id}: {self.status}"


class WeComFollowTags(models.Model):
    """The corp tag ids we last knew on a follow in WeCom (from a sync, a callback or our own `mark_tag`).

    The baseline against which a follow's `wecom_tag_ids` shows what an operator changed in the WeCom client.
    """

    follow = models.OneToOneField(
        FollowRelationship,
        verbose_name=_("follow relationship"),
        primary_key=True,
        on_delete=models.CASCADE,
        related_name="+",
    )
    tag_ids = models.JSONField(_("WeCom tag ids"), default=list, blank=True)
    updated_at = models.DateTimeField(_("updated at"), auto_now=True)

    class Meta:
        verbose_name = _("WeCom tags of a follow (last known)")
        verbose_name_plural = _("WeCom tags of follows (last known)")

    def __str__(self):
        return f"follow {self.follow_id}: {self.tag_ids}"


class BulkTagJob(models.Model):
    """A tag added to or removed from every customer matching a list's filters, in the requester's scope."""

    class Action(models.TextChoices):
        ADD = "add", _("Add")
        REMOVE = "remove", _("Remove")

    class Status(models.TextChoices):
        QUEUED = "queued", _("Queued")
        RUNNING = "running", _("Running")
        DONE = "done", _("Done")
        FAILED = "failed", _("Failed")

    requested_by = models.ForeignKey(
        settings.AUTH_USER_MODEL, verbose_name=_("requested by"), on_delete=models.CASCADE, related_name="+"
    )
    tag = models.ForeignKey(Tag, verbose_name=_("tag"), on_delete=models.CASCADE, related_name="+")
    action = models.CharField(_("action"), max_length=8, choices=Action.choices)
    params = models.JSONField(_("filters"), default=dict, blank=True)
    status = models.CharField(_("status"), max_length=8, choices=Status.choices, default=Status.QUEUED)
    total = models.PositiveIntegerField(_("customers matching"), default=0)
    done = models.PositiveIntegerField(_("customers done"), default=0)
    changed = models.PositiveIntegerField(_("customers changed"), default=0)
    error = models.TextField(_("error"), blank=True, default="")
    created_at = models.DateTimeField(_("created at"), auto_now_add=True)
    finished_at = models.DateTimeField(_("finished at"), null=True, blank=True)

    class Meta:
        verbose_name = _("bulk tag job")
        verbose_name_plural = _("bulk tag jobs")
        ordering = ["-created_at"]

    def __str__(self):
        return f"{self.get_action_display()} {self.tag_id} #{self.pk}"

    @property
    def is_finished(self) -> bool:
        return self.status in (self.Status.DONE, self.Status.FAILED)

    @property
    def percent(self) -> int:
        if self.status == self.Status.DONE:
            return 100
        return min(99, int(self.done * 100 / self.total)) if self.total else 0
