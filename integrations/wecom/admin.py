from django.contrib import admin

from integrations.wecom.models import CallbackEvent, ContactTransfer, CorpTag, SyncRun


@admin.register(CallbackEvent)
class CallbackEventAdmin(admin.ModelAdmin):
    list_display = ["received_at", "event", "change_type", "status", "deliveries", "attempts", "processed_at"]
    list_filter = ["status", "event", "change_type"]
    search_fields = ["dedupe_key"]
    date_hierarchy = "received_at"
    show_full_result_count = False


@admin.register(SyncRun)
class SyncRunAdmin(admin.ModelAdmin):
    list_display = ["pk", "kind", "status", "requested_by", "started_at", "finished_at", "done", "total"]
    list_filter = ["kind", "status"]
    raw_id_fields = ["requested_by"]


@admin.register(CorpTag)
class CorpTagAdmin(admin.ModelAdmin):
    list_display = ["group_name", "name", "tag_id", "order", "deleted_at"]
    list_filter = ["group_name"]
    search_fields = ["name", "=tag_id"]


@admin.register(ContactTransfer)
class ContactTransferAdmin(admin.ModelAdmin):
    list_display = ["requested_at", "customer", "handover", "takeover", "kind", "status", "errcode"]
    list_filter = ["kind", "status"]
    raw_id_fields = ["customer", "handover", "takeover", "requested_by"]
    list_select_related = ["customer", "handover", "takeover"]
