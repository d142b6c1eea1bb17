"""The workbench's navigation. Only capability areas that exist are listed."""

from dataclasses import dataclass

from django.utils.translation import gettext_lazy as _

from workbench.org.scope import (
    has_access,
    may_import,
    may_manage_channels,
    may_manage_contact_policy,
    may_manage_incentives,
    may_manage_playbooks,
    may_manage_rules,
    may_manage_wecom,
    may_review_content,
    may_transfer,
    may_use_admin,
    may_view_audit,
)


@dataclass(frozen=True)
class NavItem:
    url_name: str
    label: str
    icon: str
    visible: object  # callable(user) -> bool
    section: str


NAV_ITEMS = [
    NavItem("home", _("Today"), "home", has_access, "home"),
    NavItem("delivery:tasks-today", _("Today's tasks"), "eye", has_access, "tasks"),
    NavItem("customers:list", _("Customers"), "users", has_access, "customers"),
    NavItem("tags:library", _("Tags"), "tag", has_access, "tags"),
    NavItem("segments:list", _("Segments"), "filter", has_access, "segments"),
    NavItem("segments:rules", _("Rule tags"), "bolt", may_manage_rules, "rules"),
    NavItem("content:list", _("Content library"), "file", has_access, "content"),
    NavItem("content:quick-replies", _("Quick replies"), "file", has_access, "quick-replies"),
    NavItem("content:review-queue", _("Content review"), "eye", may_review_content, "review"),
    NavItem("channels:list", _("Channel codes"), "qr", may_manage_channels, "channels"),
    NavItem("channels:report", _("Channel report"), "chart", has_access, "channel-report"),
    NavItem("playbooks:list", _("Playbooks"), "refresh", may_manage_playbooks, "playbooks"),
    NavItem("delivery:sources", _("Mass sends"), "chart", has_access, "deliveries"),
    NavItem("delivery:policy", _("Contact policy"), "settings", may_manage_contact_policy, "contact-policy"),
    NavItem("reports:index", _("Performance reports"), "chart", has_access, "reports"),
    NavItem("incentives:my-card", _("My score"), "bolt", has_access, "my-score"),
    NavItem("incentives:leaderboard", _("Leaderboard"), "chart", has_access, "leaderboard"),
    NavItem("incentives:schemes", _("Incentive schemes"), "settings", may_manage_incentives, "incentive-schemes"),
    NavItem("org:branches", _("Organisation"), "tree", has_access, "org"),
    NavItem("wecom:transfers", _("Customer transfers"), "swap", may_transfer, "transfers"),
    NavItem("wecom:overview", _("WeCom"), "link", may_manage_wecom, "wecom"),
    NavItem("imports:list", _("Bank data imports"), "file", may_import, "imports"),
    NavItem("exports:list", _("My exports"), "download", has_access, "exports"),
    NavItem("audit:list", _("Audit log"), "shield", may_view_audit, "audit"),
]


def items_for(user):
    return [item for item in NAV_ITEMS if item.visible(user)] if user.is_authenticated else []


def admin_link_visible(user) -> bool:
    return user.is_authenticated and may_use_admin(user)
