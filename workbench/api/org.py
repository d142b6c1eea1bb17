from rest_framework import serializers
from rest_framework.generics import ListAPIView
from rest_framework.pagination import CursorPagination

from workbench.org.models import Branch, Operator
from workbench.org.scope import visible_branches, visible_operators


class BranchSerializer(serializers.ModelSerializer):
    class Meta:
        model = Branch
        fields = ["id", "name", "level", "parent", "wecom_department_id", "is_active"]


class OperatorSerializer(serializers.ModelSerializer):
    branch_name = serializers.CharField(source="branch.name", read_only=True)

    class Meta:
        model = Operator
        fields = ["id", "name", "wecom_userid", "branch", "branch_name", "role", "title", "status", "resigned_at"]


class BranchListApi(ListAPIView):
    """Branches in the caller's data scope."""

    serializer_class = BranchSerializer
    pagination_class = None

    def get_queryset(self):
        return visible_branches(self.request.user)


class ByIdCursor(CursorPagination):
    ordering = "id"
    page_size = 200
    page_size_query_param = "page_size"
    max_page_size = 1000


class OperatorListApi(ListAPIView):
    """Operators in the caller's data scope, cursor-paginated by id."""

    serializer_class = OperatorSerializer
    pagination_class = ByIdCursor

    def get_queryset(self):
        return visible_operators(self.request.user).select_related("branch")
