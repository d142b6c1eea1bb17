from django.apps import AppConfig
from django.utils.translation import gettext_lazy as _


class SegmentsConfig(AppConfig):
    name = "tagging.segments"
    label = "segments"
    verbose_name = _("Rules and segments")
    default_auto_field = "django.db.models.BigAutoField"
