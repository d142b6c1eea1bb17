"""The engine's rows in the Django admin: read only. Changes go through the pages and services (the policy page,
the task list), so that every rule and the audit log apply."""

from django.contrib import admin

from campaigns.delivery.models import ContactPolicy, ContactPreference, Delivery, OperatorTask, SendTask, Suppression
from workbench.web.admin_site import ReadOnlyAdmin as SharedReadOnlyAdmin


class ReadOnlyAdmin(SharedReadOnlyAdmin):
    show_full_result_count = False  # a million deliveries: no COUNT(*) on every page


@admin.register(ContactPolicy)
class ContactPolicyAdmin(ReadOnlyAdmin):
    list_display = ("cap_per_day", "cap_per_week", "cap_per_month", "quiet_start", "quiet_end", "wecom_quota_mode")


@admin.register(ContactPreference)
class ContactPreferenceAdmin(ReadOnlyAdmin):
    list_display = ("customer", "dnd", "opted_out", "reason", "updated_at")
    list_filter = ("dnd", "opted_out")
    raw_id_fields = ("customer", "updated_by")


@admin.register(Delivery)
class DeliveryAdmin(ReadOnlyAdmin):
    list_display = ("pk", "source_kind", "source_id", "step_key", "customer", "sender", "status", "reason", "due_at")
    list_filter = ("status", "source_kind")
    search_fields = ("=customer__customer_no", "=customer__external_userid")
    raw_id_fields = ("customer", "sender", "content_version", "send_task")


@admin.register(SendTask)
class SendTaskAdmin(ReadOnlyAdmin):
    list_display = ("pk", "source_kind", "source_id", "sender", "recipients", "status", "attempts", "msgid")
    list_filter = ("status", "source_kind", "adopted")
    search_fields = ("=msgid", "=marker")
    raw_id_fields = ("sender", "content_version")


@admin.register(Suppression)
class SuppressionAdmin(ReadOnlyAdmin):
    list_display = ("at", "customer", "action", "reason", "source_kind", "source_id", "step_key")
    list_filter = ("action", "reason")
    raw_id_fields = ("customer",)


@admin.register(OperatorTask)
class OperatorTaskAdmin(ReadOnlyAdmin):
    list_display = ("title", "kind", "operator", "customer", "status", "due_at", "done_at")
    list_filter = ("status", "kind")
    raw_id_fields = ("customer", "operator", "done_by")
