from django.db.models import QuerySet

from workbench.audit.models import AuditEvent
from workbench.org.scope import may_view_audit


def audit_events_for(
    user, *, action: str = "", username: str = "", object_type: str = "", object_id: str = ""
) -> QuerySet[AuditEvent]:
    """The audit trail is whole-bank and readable only by roles with audit access."""
    if not may_view_audit(user):
        return AuditEvent.objects.none()
    events = AuditEvent.objects.all()
    if action:
        events = events.filter(action=action)
    if username:
        events = events.filter(actor_username=username)
    if object_type:
        events = events.filter(object_type=object_type)
    if object_id:
        events = events.filter(object_id=object_id)
    return events
