from django.apps import AppConfig
from django.utils.translation import gettext_lazy as _


class TaggingConfig(AppConfig):
    name = "tagging"
    verbose_name = _("Customers and tags")
    default_auto_field = "django.db.models.BigAutoField"
