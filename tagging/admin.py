from django.contrib import admin

from tagging.models import Customer, CustomerEvent, FollowRelationship, Product, ProductHolding


class FollowInline(admin.TabularInline):
    model = FollowRelationship
    extra = 0
    raw_id_fields = ["operator"]


class HoldingInline(admin.TabularInline):
    model = ProductHolding
    extra = 0
    raw_id_fields = ["product"]


@admin.register(Customer)
class CustomerAdmin(admin.ModelAdmin):
    """PII is never decrypted here: the admin shows the masked columns only (unmasking is audited elsewhere)."""

    list_display = ["customer_no", "name", "mobile_masked", "owner", "branch", "occupation_group", "aum"]
    list_filter = ["occupation_group", "risk_level"]
    search_fields = ["customer_no", "=external_userid"]
    raw_id_fields = ["owner", "branch"]
    list_select_related = ["owner", "branch"]
    show_full_result_count = False
    exclude = ["mobile", "id_number"]
    readonly_fields = ["mobile_masked", "mobile_last4", "id_number_masked"]
    inlines = [FollowInline, HoldingInline]

    def get_queryset(self, request):
        return super().get_queryset(request).defer("mobile", "id_number")


@admin.register(FollowRelationship)
class FollowRelationshipAdmin(admin.ModelAdmin):
    list_display = ["customer", "operator", "added_at", "add_way", "state", "deleted_at", "deleted_by"]
    list_filter = ["add_way", "deleted_by"]
    search_fields = ["state", "=customer__customer_no"]
    raw_id_fields = ["customer", "operator"]
    list_select_related = ["customer", "operator"]
    show_full_result_count = False


@admin.register(Product)
class ProductAdmin(admin.ModelAdmin):
    list_display = ["code", "name", "category", "risk_level", "term_days"]
    list_filter = ["category"]
    search_fields = ["code", "name"]


@admin.register(ProductHolding)
class ProductHoldingAdmin(admin.ModelAdmin):
    list_display = ["customer", "product", "amount", "opened_on", "maturity_date"]
    raw_id_fields = ["customer", "product"]
    list_select_related = ["customer", "product"]
    show_full_result_count = False


@admin.register(CustomerEvent)
class CustomerEventAdmin(admin.ModelAdmin):
    list_display = ["customer", "occurred_at", "kind", "summary", "operator"]
    list_filter = ["kind"]
    raw_id_fields = ["customer", "operator"]
    show_full_result_count = False
