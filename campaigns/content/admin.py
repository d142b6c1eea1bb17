"""The content library in the Django admin: categories are edited here; everything else is read-only, because
approval, versions and the word list must go through the workbench's services (maker-checker, audit log)."""

from django.contrib import admin

from campaigns.content.models import ContentCategory, ContentItem, ContentVersion, SensitiveWord
from workbench.web.admin_site import ReadOnlyAdmin


@admin.register(ContentCategory)
class ContentCategoryAdmin(admin.ModelAdmin):
    list_display = ("name", "order")
    list_editable = ("order",)


class VersionInline(admin.TabularInline):
    model = ContentVersion
    fields = ("number", "status", "author", "submitted_at", "reviewed_by", "reviewed_at", "valid_until")
    readonly_fields = fields
    extra = 0
    can_delete = False

    def has_add_permission(self, request, obj=None):
        return False


@admin.register(ContentItem)
class ContentItemAdmin(ReadOnlyAdmin):
    list_display = ("title", "category", "use", "branch", "current", "updated_at")
    list_filter = ("use", "category")
    search_fields = ("title",)
    list_select_related = ("category", "branch", "current")
    inlines = [VersionInline]


@admin.register(ContentVersion)
class ContentVersionAdmin(ReadOnlyAdmin):
    list_display = ("item", "number", "status", "author", "reviewed_by", "reviewed_at")
    list_filter = ("status",)
    list_select_related = ("item", "author", "reviewed_by")
    search_fields = ("item__title", "text")


@admin.register(SensitiveWord)
class SensitiveWordAdmin(ReadOnlyAdmin):
    list_display = ("word", "note", "created_by", "created_at")
    search_fields = ("word",)
