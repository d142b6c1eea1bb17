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
    # Create, edit and delete tag groups and tags (the bank's tag library).
    may_manage_tags: bool = False
    # Write rule tags' conditions and run them.
    may_manage_rules: bool = False
    # Upload bank data files (customers, payroll, holdings, purchases) and read their error reports.
    may_import: bool = False
    # Write content and submit it for approval.
    may_author_content: bool = False
    # Approve or reject submitted content and keep the sensitive-word list (compliance).
    may_review_content: bool = False
    # Create and edit channel QR codes (渠道活码).
    may_manage_channels: bool = False
    # Build, publish, pause and archive SOP playbooks; see their monitor; enrol customers by hand.
    may_manage_playbooks: bool = False
    # Set the contact policy (caps, quiet hours, the WeCom quota setting) for the whole bank.
    may_manage_contact_policy: bool = False
    # Define incentive schemes (metrics, weights, targets), activate them and recompute scores.
    may_manage_incentives: bool = False


POLICIES: dict[str, RolePolicy] = {
    Role.OPERATOR: RolePolicy(
        Scope.SELF, may_view_pii=False, may_export=False, may_view_audit=False, may_use_admin=False
    ),
    Role.TEAM_LEAD: RolePolicy(
        Scope.BRANCH, may_view_pii=False, may_export=True, may_view_audit=False, may_use_admin=False
    ),
    Role.BRANCH_MANAGER: RolePolicy(
        Scope.BRANCH,
        may_view_pii=True,
        may_export=True,
        may_view_audit=False,
        may_use_admin=False,
        may_transfer=True,
        may_author_content=True,
    ),
    Role.HEAD_OFFICE_ADMIN: RolePolicy(
        Scope.BANK,
        may_view_pii=True,
        may_export=True,
        may_view_audit=True,
        may_use_admin=True,
        may_manage_wecom=True,
        may_transfer=True,
        may_manage_tags=True,
        may_manage_rules=True,
        may_import=True,
        may_author_content=True,
        may_manage_channels=True,
        may_manage_playbooks=True,
        may_manage_contact_policy=True,
        may_manage_incentives=True,
    ),
    Role.COMPLIANCE_REVIEWER: RolePolicy(
        Scope.BANK,
        may_view_pii=False,
        may_export=False,
        may_view_audit=True,
        may_use_admin=False,
        may_review_content=True,
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
    may_manage_tags=True,
    may_manage_rules=True,
    may_import=True,
    may_manage_playbooks=True,
    may_manage_contact_policy=True,
    may_manage_incentives=True,
)
