from django.contrib.auth import authenticate
from drf_spectacular.utils import extend_schema
from rest_framework import serializers, status
from rest_framework.authtoken.models import Token
from rest_framework.permissions import AllowAny
from rest_framework.response import Response
from rest_framework.throttling import ScopedRateThrottle
from rest_framework.views import APIView

from workbench.audit.models import AuditAction
from workbench.audit.services import audit_record
from workbench.org.scope import has_access


class ObtainTokenApi(APIView):
    """Exchange a username and password for an API token. Failed attempts count toward the login lockout."""

    authentication_classes: list = []
    permission_classes = [AllowAny]
    throttle_classes = [ScopedRateThrottle]
    throttle_scope = "token"

    class TokenRequestSerializer(serializers.Serializer):
        username = serializers.CharField(max_length=150)
        password = serializers.CharField(max_length=128, trim_whitespace=False)

    class TokenSerializer(serializers.Serializer):
        token = serializers.CharField()

    @extend_schema(request=TokenRequestSerializer, responses={200: TokenSerializer}, auth=[])
    def post(self, request):
        data = self.TokenRequestSerializer(data=request.data)
        data.is_valid(raise_exception=True)
        # The Django request goes to authenticate() so django-axes sees and throttles the attempt.
        user = authenticate(request._request, **data.validated_data)
        if user is None or not has_access(user):
            return Response(
                {"error": {"code": "authentication_failed", "message": "Invalid username or password."}},
                status=status.HTTP_401_UNAUTHORIZED,
            )
        token, _created = Token.objects.get_or_create(user=user)
        audit_record(actor=user, action=AuditAction.API_TOKEN_ISSUED)
        return Response(self.TokenSerializer({"token": token.key}).data)
