from django.contrib import admin

from workbench.reports.models import ReportDispatch


@admin.register(ReportDispatch)
class ReportDispatchAdmin(admin.ModelAdmin):
    """Read-only: rows are written by the schedule; editing one could send a report twice."""

    list_display = ["manager", "kind", "period_start", "period_end", "status", "attempts", "sent_at", "error"]
    list_filter = ["kind", "status", "period_start"]
    search_fields = ["manager__name", "msgid"]

    def has_add_permission(self, request):
        return False

    def has_change_permission(self, request, obj=None):
        return False
