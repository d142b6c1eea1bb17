"""Channel codes in the Django admin, read-only: changes go through the workbench, which keeps WeCom in step."""

from django.contrib import admin

from campaigns.channels.models import ChannelAdd, ChannelCode, WelcomeMessage
from campaigns.content.admin import ReadOnlyAdmin


@admin.register(ChannelCode)
class ChannelCodeAdmin(ReadOnlyAdmin):
    list_display = ("name", "state", "sync", "config_id", "created_at", "deleted_at")
    list_filter = ("sync",)
    search_fields = ("name", "state")


@admin.register(ChannelAdd)
class ChannelAddAdmin(ReadOnlyAdmin):
    list_display = ("added_at", "code", "customer", "operator", "tags_added")
    list_select_related = ("code", "customer", "operator")
    raw_id_fields = ("customer", "follow", "event")


@admin.register(WelcomeMessage)
class WelcomeMessageAdmin(ReadOnlyAdmin):
    list_display = ("created_at", "code", "userid", "external_userid", "status", "error")
    list_filter = ("status",)
