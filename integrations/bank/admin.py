from django.contrib import admin

from integrations.bank.models import ImportJob, PayrollCredit, ProductPurchase


@admin.register(ImportJob)
class ImportJobAdmin(admin.ModelAdmin):
    list_display = ["pk", "kind", "file_name", "status", "rows_read", "rows_applied", "rows_rejected", "created_at"]
    list_filter = ["kind", "status", "via"]
    search_fields = ["file_name", "=sha256"]
    readonly_fields = [f.name for f in ImportJob._meta.fields]

    def has_add_permission(self, request):
        return False

    def has_change_permission(self, request, obj=None):
        return False


@admin.register(PayrollCredit)
class PayrollCreditAdmin(admin.ModelAdmin):
    list_display = ["credit_date", "customer", "employer", "amount", "reference"]
    list_filter = ["credit_date"]
    search_fields = ["=reference", "=customer__customer_no", "employer"]
    raw_id_fields = ["customer", "import_job"]
    list_select_related = ["customer"]
    show_full_result_count = False


@admin.register(ProductPurchase)
class ProductPurchaseAdmin(admin.ModelAdmin):
    list_display = ["purchased_at", "customer", "product", "amount", "channel", "reference"]
    list_filter = ["product__category", "channel"]
    search_fields = ["=reference", "=customer__customer_no"]
    raw_id_fields = ["customer", "product", "import_job"]
    list_select_related = ["customer", "product"]
    show_full_result_count = False
