"""Read-only admin views of the computed rows: they are rewritten by `compute_facts`, never edited by hand."""

from django.contrib import admin

from workbench.supervision.models import Attribution, BehaviorDay, OperatorDay
from workbench.web.admin_site import ReadOnlyAdmin


@admin.register(OperatorDay)
class OperatorDayAdmin(ReadOnlyAdmin):
    list_display = ("day", "operator", "branch", "customers_owned", "customers_new", "effective_customers",
                    "tasks_done", "mass_tasks_confirmed", "deliveries", "clicks", "conversions")  # fmt: skip
    list_filter = ("day",)
    date_hierarchy = "day"
    raw_id_fields = ("operator", "branch")
    search_fields = ("operator__name",)
    list_select_related = ("operator", "branch")


@admin.register(BehaviorDay)
class BehaviorDayAdmin(ReadOnlyAdmin):
    list_display = ("day", "operator", "chat_cnt", "message_cnt", "reply_percentage", "avg_reply_time",
                    "negative_feedback_cnt", "fetched_at")  # fmt: skip
    date_hierarchy = "day"
    raw_id_fields = ("operator",)
    search_fields = ("operator__name", "operator__wecom_userid")
    list_select_related = ("operator",)


@admin.register(Attribution)
class AttributionAdmin(ReadOnlyAdmin):
    list_display = ("purchase", "purchased_at", "amount", "operator", "touch_kind", "touched_at", "source_kind")
    list_filter = ("touch_kind",)
    date_hierarchy = "purchased_at"
    raw_id_fields = ("purchase", "customer", "operator")
    list_select_related = ("operator", "purchase")
