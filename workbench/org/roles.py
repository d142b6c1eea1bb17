"""Roles and what each may do. The one table every permission check reads."""

from dataclasses import dataclass

from django.db import models
from django.utils.translation import gettext_lazy as _


class Role(models.TextChoices):
    OPERATOR = "operator", _("Operator")
    TEAM_LEAD = "team_lead", _("Team lead")
    BRANCH_MANAGER = "branch_manager", _("Branch manager")
    HEAD_OFFICE_ADMIN = "head_office_admin", _("Head-office admin")
    COMPLIANCE_REVIEWER = "compliance_reviewer", _("Compliance reviewer")


class Scope(models.TextChoices):
    NONE = "none", _("Nothing")
    SELF = "self", _("Own customers")
    BRANCH = "branch", _("Own branch and below")
    BANK = "bank", _("Whole bank")


@dataclass(frozen=True)
class RolePolicy:
    scope: Scope
    may_view_pii: bool
    may_export: bool
    may_view_audit: bool
    may_use_admin: bool
    # Start WeCom syncs and link unmatched WeCom contacts to bank customers.
    may_manage_wecom: bool = False
    # Move customers between operators through WeCom's on-the-job and resigned transfers.
    may_transfer: bool = False


POLICIES: dict[str, RolePolicy] = {
    Role.OPERATOR: RolePolicy(
        Scope.SELF, may_view_pii=False, may_export=False, may_view_audit=False, may_use_admin=False
    ),
    Role.TEAM_LEAD: RolePolicy(
        Scope.BRANCH, may_view_pii=False, may_export=True, may_view_audit=False, may_use_admin=False
    ),
    Role.BRANCH_MANAGER: RolePolicy(
        Scope.BRANCH, may_view_pii=True, may_export=True, may_view_audit=False, may_use_admin=False, may_transfer=True
    ),
    Role.HEAD_OFFICE_ADMIN: RolePolicy(
        Scope.BANK,
        may_view_pii=True,
        may_export=True,
        may_view_audit=True,
        may_use_admin=True,
        may_manage_wecom=True,
        may_transfer=True,
    ),
    Role.COMPLIANCE_REVIEWER: RolePolicy(
        Scope.BANK, may_view_pii=False, may_export=False, may_view_audit=True, may_use_admin=False
    ),
}

NO_ACCESS = RolePolicy(Scope.NONE, may_view_pii=False, may_export=False, may_view_audit=False, may_use_admin=False)
SUPERUSER = RolePolicy(
    Scope.BANK,
    may_view_pii=True,
    may_export=True,
    may_view_audit=True,
    may_use_admin=True,
    may_manage_wecom=True,
    may_transfer=True,
)
