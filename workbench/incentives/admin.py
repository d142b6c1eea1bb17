from django.contrib import admin

from workbench.incentives.models import Scheme, SchemeVersion, Score, ScoreRun


@admin.register(Scheme)
class SchemeAdmin(admin.ModelAdmin):
    list_display = ["name", "is_active", "created_at"]


@admin.register(SchemeVersion)
class SchemeVersionAdmin(admin.ModelAdmin):
    list_display = ["scheme", "number", "period_kind", "created_at"]
    readonly_fields = ["scheme", "number", "period_kind", "roles", "note", "created_by"]


@admin.register(Score)
class ScoreAdmin(admin.ModelAdmin):
    list_display = ["scheme", "period_start", "operator", "total", "rank_bank"]
    list_filter = ["scheme", "period_start"]
    readonly_fields = [f.name for f in Score._meta.fields]

    def has_add_permission(self, request):
        return False


@admin.register(ScoreRun)
class ScoreRunAdmin(admin.ModelAdmin):
    list_display = ["scheme", "period_start", "status", "done", "total", "created_at"]
    readonly_fields = [f.name for f in ScoreRun._meta.fields]

    def has_add_permission(self, request):
        return False
