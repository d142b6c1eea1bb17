from django.conf import settings
from django.db import models
from django.utils.translation import gettext_lazy as _

from workbench.org.roles import Role


class Branch(models.Model):
    """A node of the bank's tree (总行 → 分行 → 支行 → 网点), mirroring a WeCom department."""

    class Level(models.IntegerChoices):
        HEAD_OFFICE = 1, _("Head office")
        BRANCH = 2, _("Branch")
        SUB_BRANCH = 3, _("Sub-branch")
        OUTLET = 4, _("Outlet")

    name = models.CharField(_("name"), max_length=64)
    level = models.PositiveSmallIntegerField(_("level"), choices=Level.choices)
    parent = models.ForeignKey(
        "self", verbose_name=_("parent"), null=True, blank=True, on_delete=models.PROTECT, related_name="children"
    )
    # Materialised path of zero-padded ids ("/00000001/00000004/"): a subtree is one indexed prefix match, and
    # fixed-width segments sort in tree order under any collation (locale collations skip the slashes).
    path = models.CharField(_("path"), max_length=255, editable=False)
    wecom_department_id = models.PositiveIntegerField(_("WeCom department id"), null=True, blank=True, unique=True)
    # The bank's own code for the branch (机构号): bank data imports place customers by it.
    code = models.CharField(_("branch code"), max_length=32, null=True, blank=True, unique=True)
    order = models.PositiveIntegerField(_("order"), default=0)
    is_active = models.BooleanField(_("active"), default=True)

    class Meta:
        verbose_name = _("branch")
        verbose_name_plural = _("branches")
        ordering = ["path"]
        indexes = [models.Index(fields=["path"], name="branch_path_prefix", opclasses=["varchar_pattern_ops"])]

    def __str__(self):
        return self.name

    @property
    def depth(self) -> int:
        return self.path.count("/") - 2

    @staticmethod
    def path_for(*, parent_path: str | None, pk: int) -> str:
        return f"{parent_path or '/'}{pk:08d}/"


class Operator(models.Model):
    """A staff member: a WeCom member linked to a workbench login, with a role and a home branch."""

    class Status(models.TextChoices):
        ACTIVE = "active", _("Active")
        RESIGNED = "resigned", _("Resigned")

    user = models.OneToOneField(
        settings.AUTH_USER_MODEL,
        verbose_name=_("login"),
        null=True,
        blank=True,
        on_delete=models.SET_NULL,
        related_name="operator",
    )
    name = models.CharField(_("name"), max_length=64)
    wecom_userid = models.CharField(_("WeCom userid"), max_length=64, null=True, blank=True, unique=True)
    branch = models.ForeignKey(Branch, verbose_name=_("branch"), on_delete=models.PROTECT, related_name="operators")
    role = models.CharField(_("role"), max_length=32, choices=Role.choices, default=Role.OPERATOR)
    title = models.CharField(_("title"), max_length=64, blank=True)
    status = models.CharField(_("status"), max_length=16, choices=Status.choices, default=Status.ACTIVE)
    resigned_at = models.DateTimeField(_("resigned at"), null=True, blank=True)
    created_at = models.DateTimeField(_("created at"), auto_now_add=True)

    class Meta:
        verbose_name = _("operator")
        verbose_name_plural = _("operators")
        ordering = ["branch__path", "name"]
        indexes = [models.Index(fields=["branch", "status"], name="org_operator_branch_status")]

    def __str__(self):
        return self.name

    @property
    def is_active(self) -> bool:
        return self.status == self.Status.ACTIVE
