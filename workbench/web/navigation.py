"""The workbench's navigation. Only capability areas that exist are listed."""

from dataclasses import dataclass

from django.utils.translation import gettext_lazy as _

from workbench.org.scope import has_access, may_manage_wecom, may_transfer, may_use_admin, may_view_audit


@dataclass(frozen=True)
class NavItem:
    url_name: str
    label: str
    icon: str
    visible: object  # callable(user) -> bool
    section: str


NAV_ITEMS = [
    NavItem("home", _("Today"), "home", has_access, "home"),
    NavItem("customers:list", _("Customers"), "users", has_access, "customers"),
    NavItem("org:branches", _("Organisation"), "tree", has_access, "org"),
    NavItem("wecom:transfers", _("Customer transfers"), "swap", may_transfer, "transfers"),
    NavItem("wecom:overview", _("WeCom"), "link", may_manage_wecom, "wecom"),
    NavItem("exports:list", _("My exports"), "download", has_access, "exports"),
    NavItem("audit:list", _("Audit log"), "shield", may_view_audit, "audit"),
]


def items_for(user):
    return [item for item in NAV_ITEMS if item.visible(user)] if user.is_authenticated else []


def admin_link_visible(user) -> bool:
    return user.is_authenticated and may_use_admin(user)
