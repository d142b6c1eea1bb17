from django.contrib import admin

from workbench.org.models import Branch, Operator


@admin.register(Branch)
class BranchAdmin(admin.ModelAdmin):
    list_display = ["name", "code", "level", "parent", "wecom_department_id", "is_active"]
    list_filter = ["level", "is_active"]
    search_fields = ["name", "=code"]
    raw_id_fields = ["parent"]
    readonly_fields = ["path"]

    def save_model(self, request, obj, form, change):
        from workbench.org.services import branch_move

        super().save_model(request, obj, form, change)
        expected = Branch.path_for(parent_path=obj.parent.path if obj.parent else None, pk=obj.pk)
        if obj.path != expected:
            if obj.parent and change:
                branch_move(branch=obj, new_parent=obj.parent)
            else:
                Branch.objects.filter(pk=obj.pk).update(path=expected)


@admin.register(Operator)
class OperatorAdmin(admin.ModelAdmin):
    list_display = ["name", "wecom_userid", "branch", "role", "status"]
    list_filter = ["role", "status", "branch__level"]
    search_fields = ["name", "wecom_userid"]
    raw_id_fields = ["user", "branch"]
    list_select_related = ["branch"]
