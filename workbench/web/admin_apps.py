from django.contrib.admin.apps import AdminConfig


class WorkbenchAdminConfig(AdminConfig):
    """Django admin with the workbench's site (kept apart so loading the app imports no models)."""

    default_site = "workbench.web.admin_site.WorkbenchAdminSite"
