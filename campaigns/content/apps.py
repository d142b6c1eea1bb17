from django.apps import AppConfig
from django.utils.translation import gettext_lazy as _


class ContentConfig(AppConfig):
    name = "campaigns.content"
    label = "content"
    verbose_name = _("Content library")
    default_auto_field = "django.db.models.BigAutoField"
