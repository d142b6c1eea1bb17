from rest_framework import serializers
from rest_framework.generics import ListAPIView

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


class OperatorListApi(ListAPIView):
    """Operators in the caller's data scope."""

    serializer_class = OperatorSerializer

    def get_queryset(self):
        return visible_operators(self.request.user).select_related("branch").order_by("pk")
