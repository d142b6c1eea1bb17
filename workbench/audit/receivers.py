from django.contrib.auth.signals import user_logged_in, user_logged_out, user_login_failed
from django.dispatch import receiver

from workbench.audit.middleware import client_ip_of
from workbench.audit.models import AuditAction
from workbench.audit.services import audit_record


def _ip(request):
    return client_ip_of(request) if request is not None else None


@receiver(user_logged_in)
def _on_login(sender, request, user, **kwargs):
    audit_record(actor=user, action=AuditAction.LOGIN, ip_address=_ip(request))


@receiver(user_logged_out)
def _on_logout(sender, request, user, **kwargs):
    if user is not None:
        audit_record(actor=user, action=AuditAction.LOGOUT, ip_address=_ip(request))


@receiver(user_login_failed)
def _on_login_failed(sender, credentials, request=None, **kwargs):
    username = str(credentials.get("username", ""))[:150]
    audit_record(actor=None, username=username, action=AuditAction.LOGIN_FAILED, ip_address=_ip(request))
