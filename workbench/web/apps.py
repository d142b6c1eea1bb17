from django.apps import AppConfig
from django.utils.translation import gettext_lazy as _


class WebConfig(AppConfig):
    name = "workbench.web"
    label = "web"
    verbose_name = _("Web workbench")

    def ready(self):
        from workbench.celery import ensure_broker_folders

        ensure_broker_folders()
