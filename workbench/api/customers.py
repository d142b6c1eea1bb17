"""Customer endpoints. Querysets come from the scope selector; PII is masked unless revealed (and audited)."""

from drf_spectacular.utils import OpenApiParameter, extend_schema
from rest_framework import serializers
from rest_framework.exceptions import PermissionDenied
from rest_framework.generics import ListAPIView
from rest_framework.pagination import CursorPagination
from rest_framework.response import Response
from rest_framework.views import APIView

from tagging.filters import CustomerFilter
from tagging.models import Customer, FollowRelationship, ProductHolding
from tagging.selectors import customer_detail
from workbench.audit.models import AuditAction
from workbench.audit.services import audit_record
from workbench.org.scope import get_visible_customer, may_view_pii, visible_customers


class NewestFirst(CursorPagination):
    ordering = "-id"
    page_size = 50
    page_size_query_param = "page_size"
    max_page_size = 200


class CustomerListSerializer(serializers.ModelSerializer):
    owner = serializers.SlugRelatedField(slug_field="wecom_userid", read_only=True)
    owner_name = serializers.CharField(source="owner.name", read_only=True, default=None)
    branch = serializers.CharField(source="branch.name", read_only=True, default=None)

    class Meta:
        model = Customer
        fields = [
            "id",
            "customer_no",
            "name",
            "gender",
            "external_userid",
            "unionid",
            "owner",
            "owner_name",
            "branch",
            "mobile_masked",
            "id_number_masked",
            "aum",
            "payroll_employer",
            "payday",
            "birth_date",
            "occupation_group",
            "risk_level",
            "last_transaction_date",
        ]


class FollowSerializer(serializers.ModelSerializer):
    operator = serializers.CharField(source="operator.wecom_userid", read_only=True)
    operator_name = serializers.CharField(source="operator.name", read_only=True)

    class Meta:
        model = FollowRelationship
        fields = ["operator", "operator_name", "added_at", "add_way", "state", "remark", "deleted_at", "deleted_by"]


class HoldingSerializer(serializers.ModelSerializer):
    product_code = serializers.CharField(source="product.code", read_only=True)
    product_name = serializers.CharField(source="product.name", read_only=True)
    category = serializers.CharField(source="product.category", read_only=True)

    class Meta:
        model = ProductHolding
        fields = ["product_code", "product_name", "category", "amount", "opened_on", "maturity_date"]


class CustomerDetailSerializer(CustomerListSerializer):
    follows = FollowSerializer(many=True, read_only=True)
    holdings = HoldingSerializer(many=True, read_only=True)

    class Meta(CustomerListSerializer.Meta):
        fields = [*CustomerListSerializer.Meta.fields, "follows", "holdings", "created_at", "updated_at"]


class CustomerListApi(ListAPIView):
    """Customers in the caller's data scope, newest first, with the same filters as the web list."""

    serializer_class = CustomerListSerializer
    pagination_class = NewestFirst
    filterset_class = CustomerFilter

    def get_queryset(self):
        return visible_customers(self.request.user).select_related("owner", "branch").defer("mobile", "id_number")


class CustomerDetailApi(APIView):
    @extend_schema(responses=CustomerDetailSerializer)
    def get(self, request, pk: int):
        return Response(CustomerDetailSerializer(customer_detail(request.user, pk)).data)


class CustomerPiiApi(APIView):
    """The unmasked mobile and ID number. Only for roles allowed to see PII; every call is audited."""

    class CustomerPiiSerializer(serializers.Serializer):
        id = serializers.IntegerField()
        mobile = serializers.CharField()
        id_number = serializers.CharField()

    @extend_schema(responses=CustomerPiiSerializer, parameters=[OpenApiParameter("pk", int, OpenApiParameter.PATH)])
    def get(self, request, pk: int):
        customer = get_visible_customer(request.user, pk)
        if not may_view_pii(request.user):
            raise PermissionDenied("Your role may not see unmasked personal data.")
        audit_record(
            actor=request.user,
            action=AuditAction.PII_VIEW,
            obj=customer,
            detail={"fields": ["mobile", "id_number"], "via": "api"},
        )
        return Response(
            self.CustomerPiiSerializer(
                {"id": customer.pk, "mobile": customer.mobile, "id_number": customer.id_number}
            ).data
        )
