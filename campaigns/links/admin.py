from django.contrib import admin

from campaigns.links.models import LinkClick, TrackedLink


@admin.register(TrackedLink)
class TrackedLinkAdmin(admin.ModelAdmin):
    list_display = ("token", "url", "context", "context_id", "sender", "version", "created_at")
    list_filter = ("context",)
    search_fields = ("token", "url")
    raw_id_fields = ("version", "sender", "customer")

    def has_change_permission(self, request, obj=None):
        return False


@admin.register(LinkClick)
class LinkClickAdmin(admin.ModelAdmin):
    list_display = ("clicked_at", "link", "customer", "identified_by", "in_wechat")
    list_filter = ("identified_by", "in_wechat")
    raw_id_fields = ("link", "customer")

    def has_add_permission(self, request):
        return False

    def has_change_permission(self, request, obj=None):
        return False
