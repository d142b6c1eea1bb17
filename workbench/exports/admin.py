from django.contrib import admin

from workbench.exports.models import ExportJob


@admin.register(ExportJob)
class ExportJobAdmin(admin.ModelAdmin):
    list_display = ["pk", "kind", "format", "requested_by", "status", "rows_written", "total_rows", "created_at"]
    list_filter = ["kind", "status", "format"]
    readonly_fields = [f.name for f in ExportJob._meta.fields]

    def has_add_permission(self, request):
        return False
