"""Bank data imports: the job of one uploaded file, and the bank-side facts imports write (payroll, purchases).

Customer master data goes to `tagging.Customer` and product holdings to `tagging.ProductHolding`; what only
the bank knows about money moving — payroll credits and product purchases (the conversions later issues
attribute to operators) — lives here, unique on the bank's business key so that a file imported twice
writes each fact once.
"""

from pathlib import Path

from django.conf import settings
from django.db import models
from django.db.models import Q
from django.db.models.functions import Now
from django.utils.translation import gettext_lazy as _


class ImportJob(models.Model):
    """One uploaded file and its processing: status, progress, counts and the report of rejected rows."""

    class Kind(models.TextChoices):
        CUSTOMERS = "customers", _("Customer master data")
        PAYROLL = "payroll", _("Payroll credits")
        HOLDINGS = "holdings", _("Product holdings")
        PURCHASES = "purchases", _("Product purchases")

    class Format(models.TextChoices):
        CSV = "csv", "CSV"
        XLSX = "xlsx", "Excel (XLSX)"

    class Via(models.TextChoices):
        WEB = "web", _("Web upload")
        API = "api", _("API")

    class Status(models.TextChoices):
        QUEUED = "queued", _("Queued")
        RUNNING = "running", _("Running")
        DONE = "done", _("Done")
        FAILED = "failed", _("Failed")

    kind = models.CharField(_("kind"), max_length=16, choices=Kind.choices)
    file_name = models.CharField(_("file name"), max_length=255)  # as uploaded, for people
    stored_name = models.CharField(_("stored file"), max_length=255, editable=False)  # under IMPORT_ROOT
    file_size = models.BigIntegerField(_("file size (bytes)"))
    sha256 = models.CharField(_("SHA-256"), max_length=64)
    format = models.CharField(_("format"), max_length=8, choices=Format.choices)
    # As asked for: "auto" or a codec name; what was actually used is in `details`.
    encoding = models.CharField(_("encoding"), max_length=16, default="auto")
    language = models.CharField(_("report language"), max_length=16, default=settings.LANGUAGE_CODE)
    uploaded_by = models.ForeignKey(
        settings.AUTH_USER_MODEL,
        verbose_name=_("uploaded by"),
        null=True,
        blank=True,
        on_delete=models.SET_NULL,
        related_name="+",
    )
    via = models.CharField(_("via"), max_length=8, choices=Via.choices, default=Via.WEB)
    status = models.CharField(_("status"), max_length=16, choices=Status.choices, default=Status.QUEUED)

    # Progress. Each chunk's rows and these counters are committed in one transaction, so after a crash the
    # counters describe exactly what is in the database and `rows_read` is where a re-run resumes.
    rows_total = models.PositiveIntegerField(_("rows in the file"), null=True, blank=True)
    rows_read = models.PositiveIntegerField(_("rows read"), default=0)
    rows_applied = models.PositiveIntegerField(_("rows applied"), default=0)
    rows_unchanged = models.PositiveIntegerField(_("rows unchanged"), default=0)
    rows_rejected = models.PositiveIntegerField(_("rows rejected"), default=0)
    bytes_read = models.BigIntegerField(_("bytes read"), default=0)

    # Rejected rows go to a CSV under IMPORT_ROOT; only its first `error_report_size` bytes are committed
    # (a re-run cuts off what a crashed run wrote after its last commit).
    error_report = models.CharField(_("error report"), max_length=255, blank=True, editable=False)
    error_report_size = models.BigIntegerField(default=0, editable=False)
    error = models.TextField(_("error"), blank=True)
    # Detected encoding and delimiter, the columns recognised and those ignored.
    details = models.JSONField(_("details"), default=dict, blank=True)
    attempts = models.PositiveSmallIntegerField(_("runs"), default=0)

    created_at = models.DateTimeField(_("uploaded at"), auto_now_add=True)
    started_at = models.DateTimeField(_("started at"), null=True, blank=True)
    heartbeat_at = models.DateTimeField(_("last progress at"), null=True, blank=True)
    finished_at = models.DateTimeField(_("finished at"), null=True, blank=True)

    class Meta:
        verbose_name = _("import")
        verbose_name_plural = _("imports")
        ordering = ["-created_at", "-id"]
        indexes = [
            models.Index(fields=["status", "created_at"], name="bank_import_status"),
            models.Index(fields=["sha256"], name="bank_import_sha256"),
        ]
        constraints = [
            models.CheckConstraint(
                condition=Q(
                    rows_read=models.F("rows_applied") + models.F("rows_unchanged") + models.F("rows_rejected")
                ),
                name="bank_import_counts_add_up",
            ),
        ]

    def __str__(self):
        return f"{self.get_kind_display()} #{self.pk} ({self.file_name})"

    @property
    def is_finished(self) -> bool:
        return self.status in {self.Status.DONE, self.Status.FAILED}

    @property
    def percent(self) -> int:
        if self.status == self.Status.DONE:
            return 100
        if self.rows_total:
            return min(99, int(self.rows_read * 100 / self.rows_total))
        if self.file_size and self.bytes_read:
            return min(99, int(self.bytes_read * 100 / self.file_size))
        return 0

    @property
    def rows_estimated(self) -> int | None:
        """The number of rows: known for a finished job or a workbook, estimated from bytes for a running CSV."""
        if self.rows_total is not None:
            return self.rows_total
        if self.bytes_read and self.rows_read:
            return round(self.rows_read * self.file_size / self.bytes_read)
        return None

    @property
    def upload_path(self) -> Path:
        return Path(settings.IMPORT_ROOT) / self.stored_name

    @property
    def can_resume(self) -> bool:
        """A failed job continues after its last committed chunk, as long as its upload is kept."""
        return self.status == self.Status.FAILED and self.upload_path.exists()

    @property
    def has_error_report(self) -> bool:
        return bool(self.error_report) and self.rows_rejected > 0


class PayrollCredit(models.Model):
    """A salary or pension credited to a customer's account (代发入账).

    Unique on the bank's reference when the file has one, otherwise on customer + date + employer + amount.
    """

    customer = models.ForeignKey(
        "tagging.Customer", verbose_name=_("customer"), on_delete=models.CASCADE, related_name="payroll_credits"
    )
    employer = models.CharField(_("payroll employer"), max_length=128)
    amount = models.DecimalField(_("amount (yuan)"), max_digits=16, decimal_places=2)
    credit_date = models.DateField(_("credit date"))
    reference = models.CharField(_("bank reference"), max_length=64, blank=True, default="")
    import_job = models.ForeignKey(
        ImportJob, verbose_name=_("import"), null=True, blank=True, on_delete=models.SET_NULL, related_name="+"
    )
    created_at = models.DateTimeField(_("created at"), db_default=Now())

    class Meta:
        verbose_name = _("payroll credit")
        verbose_name_plural = _("payroll credits")
        constraints = [
            models.UniqueConstraint(fields=["reference"], condition=~Q(reference=""), name="payroll_unique_reference"),
            models.UniqueConstraint(
                fields=["customer", "credit_date", "employer", "amount"],
                condition=Q(reference=""),
                name="payroll_unique_business_key",
            ),
            models.CheckConstraint(condition=Q(amount__gt=0), name="payroll_amount_positive"),
        ]
        indexes = [
            models.Index(fields=["customer", "-credit_date"], name="payroll_customer_date"),
            models.Index(fields=["credit_date"], name="payroll_credit_date"),
        ]

    def __str__(self):
        return f"{self.customer_id} {self.credit_date} {self.amount}"


class ProductPurchase(models.Model):
    """A product bought by a customer: the conversion later attributed to the operators who worked on it."""

    customer = models.ForeignKey(
        "tagging.Customer", verbose_name=_("customer"), on_delete=models.CASCADE, related_name="purchases"
    )
    product = models.ForeignKey(
        "tagging.Product", verbose_name=_("product"), on_delete=models.PROTECT, related_name="purchases"
    )
    amount = models.DecimalField(_("amount (yuan)"), max_digits=16, decimal_places=2)
    purchased_at = models.DateTimeField(_("purchased at"))
    reference = models.CharField(_("bank transaction reference"), max_length=64, unique=True)
    channel = models.CharField(_("channel"), max_length=32, blank=True, default="")
    import_job = models.ForeignKey(
        ImportJob, verbose_name=_("import"), null=True, blank=True, on_delete=models.SET_NULL, related_name="+"
    )
    created_at = models.DateTimeField(_("created at"), db_default=Now())

    class Meta:
        verbose_name = _("product purchase")
        verbose_name_plural = _("product purchases")
        constraints = [models.CheckConstraint(condition=Q(amount__gt=0), name="purchase_amount_positive")]
        indexes = [
            models.Index(fields=["customer", "-purchased_at"], name="purchase_customer_time"),
            models.Index(fields=["purchased_at"], name="purchase_time"),
            models.Index(fields=["product", "purchased_at"], name="purchase_product_time"),
        ]

    def __str__(self):
        return f"{self.reference}: {self.customer_id} {self.amount}"
