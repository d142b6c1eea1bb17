from django.apps import AppConfig


class WecomSandboxConfig(AppConfig):
    """The local WeCom sandbox: a management command and its own SQLite state, no Django models."""

    name = "integrations.wecom_sandbox"
    label = "wecom_sandbox"
    verbose_name = "WeCom sandbox"
