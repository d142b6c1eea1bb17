from django.contrib import admin
from django.utils.translation import gettext_lazy as _

from workbench.org.scope import may_use_admin


class WorkbenchAdminSite(admin.AdminSite):
    """Django admin is whole-bank: only head-office admins (and superusers) may enter."""

    site_header = _("直营工作台 administration")
    site_title = _("直营工作台")
    index_title = _("Administration")

    def has_permission(self, request):
        return bool(request.user.is_active and request.user.is_staff and may_use_admin(request.user))


class ReadOnlyAdmin(admin.ModelAdmin):
    """Rows the workbench's services write (with their rules and audit log): the admin may look, never change."""

    def has_add_permission(self, request, obj=None):
        return False

    def has_change_permission(self, request, obj=None):
        return False

    def has_delete_permission(self, request, obj=None):
        return False
