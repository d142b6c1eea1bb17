"""The imports API for the bank's batch systems: upload a file, poll the job, fetch the error report."""

from django.conf import settings
from django.http import FileResponse
from django.urls import reverse
from drf_spectacular.types import OpenApiTypes
from drf_spectacular.utils import OpenApiResponse, extend_schema
from rest_framework import serializers, status
from rest_framework.exceptions import APIException, NotFound, ValidationError
from rest_framework.pagination import CursorPagination
from rest_framework.parsers import FormParser, MultiPartParser
from rest_framework.permissions import BasePermission, IsAuthenticated
from rest_framework.response import Response
from rest_framework.views import APIView

from integrations.bank.forms import ENCODING_CHOICES
from integrations.bank.models import ImportJob
from integrations.bank.selectors import get_import_for, imports_for
from integrations.bank.services import (
    ImportRefused,
    error_report_path,
    import_create,
    import_report_downloaded,
    max_upload_bytes,
)
from workbench.org.scope import may_import


class MayImport(BasePermission):
    message = "Your role may not import bank data."

    def has_permission(self, request, view):
        return may_import(request.user)


class PayloadTooLarge(APIException):
    status_code = status.HTTP_413_REQUEST_ENTITY_TOO_LARGE
    default_code = "too_large"
    default_detail = "The file is larger than the upload limit."


class ImportJobSerializer(serializers.ModelSerializer):
    uploaded_by = serializers.CharField(source="uploaded_by.username", default=None, read_only=True)
    encoding = serializers.SerializerMethodField()
    percent = serializers.IntegerField(read_only=True)
    url = serializers.SerializerMethodField()
    errors_url = serializers.SerializerMethodField()

    class Meta:
        model = ImportJob
        fields = [
            "id", "kind", "status", "percent", "file_name", "file_size", "sha256", "format", "encoding", "via",
            "uploaded_by", "rows_total", "rows_read", "rows_applied", "rows_unchanged", "rows_rejected", "error",
            "created_at", "started_at", "finished_at", "url", "errors_url",
        ]  # fmt: skip

    def get_encoding(self, job) -> str:
        """The encoding the file was read with (CSV), once the job has started; otherwise what was asked for."""
        return job.details.get("encoding") or job.encoding

    def get_url(self, job) -> str:
        return self._absolute(reverse("api:import-detail", args=[job.pk]))

    def get_errors_url(self, job) -> str | None:
        return self._absolute(reverse("api:import-errors", args=[job.pk])) if job.has_error_report else None

    def _absolute(self, path: str) -> str:
        request = self.context.get("request")
        return request.build_absolute_uri(path) if request else path


class ImportUploadSerializer(serializers.Serializer):
    kind = serializers.ChoiceField(choices=ImportJob.Kind.choices)
    file = serializers.FileField(
        help_text="CSV (UTF-8, GBK/GB18030 or UTF-16) or XLSX; the first row names the columns."
    )
    encoding = serializers.ChoiceField(choices=[code for code, _label in ENCODING_CHOICES], default="auto")


class NewestFirst(CursorPagination):
    ordering = "-created_at"
    page_size = 50
    page_size_query_param = "page_size"
    max_page_size = 200


class ImportListApi(APIView):
    """Import jobs, newest first (GET); a new import from an uploaded file (POST, multipart)."""

    permission_classes = [IsAuthenticated, MayImport]
    parser_classes = [MultiPartParser, FormParser]

    @extend_schema(responses=ImportJobSerializer(many=True))
    def get(self, request):
        paginator = NewestFirst()
        page = paginator.paginate_queryset(imports_for(request.user), request, view=self)
        return paginator.get_paginated_response(ImportJobSerializer(page, many=True, context={"request": request}).data)

    @extend_schema(
        request={"multipart/form-data": ImportUploadSerializer},
        responses={
            202: ImportJobSerializer,
            413: OpenApiResponse(description="The file is over IMPORT_MAX_UPLOAD_MB."),
        },
    )
    def post(self, request):
        try:
            length = int(request.META.get("CONTENT_LENGTH") or 0)
        except ValueError:
            length = 0
        if length > max_upload_bytes() + (1 << 20):
            raise PayloadTooLarge(f"The file is larger than {settings.IMPORT_MAX_UPLOAD_MB} MB; split it.")
        data = ImportUploadSerializer(data=request.data)
        data.is_valid(raise_exception=True)
        fields = data.validated_data
        try:
            job = import_create(
                user=request.user,
                kind=fields["kind"],
                upload=fields["file"],
                encoding=fields["encoding"],
                via=ImportJob.Via.API,
            )
        except ImportRefused as refused:
            raise ValidationError({"file": [str(refused)]}) from None
        body = ImportJobSerializer(job, context={"request": request}).data
        return Response(body, status=status.HTTP_202_ACCEPTED, headers={"Location": body["url"]})


class ImportDetailApi(APIView):
    """One import: status, progress, counts and the error report's URL when rows were rejected."""

    permission_classes = [IsAuthenticated, MayImport]

    @extend_schema(responses=ImportJobSerializer)
    def get(self, request, pk: int):
        job = get_import_for(request.user, pk)
        return Response(ImportJobSerializer(job, context={"request": request}).data)


class ImportErrorsApi(APIView):
    """The rejected rows as CSV (UTF-8 with BOM): row, column, reason, customer number, value. Audited."""

    permission_classes = [IsAuthenticated, MayImport]

    @extend_schema(responses={(200, "text/csv"): OpenApiTypes.BINARY, 404: OpenApiResponse(description="No report.")})
    def get(self, request, pk: int):
        job = get_import_for(request.user, pk)
        path = error_report_path(job)
        if not job.has_error_report or path is None or not path.exists():
            raise NotFound("This import has no error report.")
        import_report_downloaded(job=job, user=request.user)
        return FileResponse(
            path.open("rb"), as_attachment=True, filename=f"import-{job.pk}-errors.csv", content_type="text/csv"
        )
