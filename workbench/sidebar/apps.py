from django.apps import AppConfig
from django.utils.translation import gettext_lazy as _


class SidebarConfig(AppConfig):
    name = "workbench.sidebar"
    label = "sidebar"
    verbose_name = _("WeCom chat sidebar")
