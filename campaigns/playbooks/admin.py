"""Playbooks in the Django admin: to look at, not to edit — the builder page is where playbooks change (it
validates, versions and audits every change)."""

from django.contrib import admin

from campaigns.playbooks.models import Broadcast, Enrolment, Playbook, PlaybookVersion, StepRun
from workbench.web.admin_site import ReadOnlyAdmin


@admin.register(Playbook)
class PlaybookAdmin(ReadOnlyAdmin):
    list_display = ("name", "status", "priority", "live_version", "updated_at")
    list_filter = ("status",)
    search_fields = ("name",)


@admin.register(PlaybookVersion)
class PlaybookVersionAdmin(ReadOnlyAdmin):
    list_display = ("playbook", "number", "published_at", "published_by")
    list_select_related = ("playbook", "published_by")


@admin.register(Enrolment)
class EnrolmentAdmin(ReadOnlyAdmin):
    list_display = ("playbook", "version", "customer", "entry", "state", "step", "due_at", "arm", "exit_reason")
    list_filter = ("state", "exit_reason")
    raw_id_fields = ("playbook", "version", "customer")
    show_full_result_count = False  # a million rows: no COUNT(*) per page


@admin.register(StepRun)
class StepRunAdmin(ReadOnlyAdmin):
    list_display = ("version", "step_key", "customer_id", "entry", "outcome", "at")
    raw_id_fields = ("version", "enrolment")
    show_full_result_count = False


@admin.register(Broadcast)
class BroadcastAdmin(ReadOnlyAdmin):
    list_display = ("version", "status", "mode", "members", "planned", "enrolled", "started_at", "finished_at")
