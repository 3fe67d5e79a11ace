"""REST API for import jobs: upload a file or give its URL (admins), list jobs, read one job's progress."""

from __future__ import annotations

from collections.abc import Mapping
from typing import Any

from django.db.models import QuerySet
from drf_spectacular.utils import extend_schema, inline_serializer
from rest_framework import generics, serializers, status
from rest_framework.parsers import FormParser, JSONParser, MultiPartParser
from rest_framework.request import Request
from rest_framework.response import Response as ApiResponse
from rest_framework.views import APIView

from annotation.imports.fetch import MAX_URL_CHARS, import_job_create_from_url
from annotation.models_imports import ImportJob
from annotation.schemas import SchemaError
from annotation.selectors_imports import import_job_get, import_job_list
from annotation.services.imports import import_job_create
from core.models import Project, Role, User
from core.selectors import project_get_for_user


def _admin_project(request: Request, project_id: int) -> Project:
    assert isinstance(request.user, User)
    return project_get_for_user(user=request.user, project_id=project_id, roles=[Role.ADMIN])


class ImportJobSerializer(serializers.ModelSerializer[ImportJob]):
    class Meta:
        model = ImportJob
        fields = [
            "id", "original_filename", "source_url", "file_size", "format", "shape", "status", "phase", "rows_read",
            "rows_written", "total_rows", "prompts_created", "prompts_duplicate", "responses_created",
            "responses_duplicate", "items_created", "items_duplicate", "error_count", "errors",
            "created_at", "started_at", "finished_at",
        ]  # fmt: skip


class ImportJobList(generics.ListAPIView[ImportJob]):
    """Imports of a project (admins). POST a multipart ``file``, or a ``url`` for the worker to download
    (multipart, form or JSON), and an optional ``shape`` to start one.
    """

    serializer_class = ImportJobSerializer
    parser_classes = [MultiPartParser, FormParser, JSONParser]
    throttle_scope = "imports"  # POSTs only (core.security.api_throttle.WriteScopeThrottle)

    def get_queryset(self) -> QuerySet[ImportJob]:
        return import_job_list(project=_admin_project(self.request, self.kwargs["project_id"]))

    @extend_schema(
        request=inline_serializer(
            "ImportUpload",
            {
                "file": serializers.FileField(required=False, help_text="The file (multipart); or give `url`."),
                "url": serializers.CharField(
                    required=False,
                    max_length=MAX_URL_CHARS,
                    help_text="http(s) URL of a .jsonl, .csv or .parquet file, downloaded by the worker.",
                ),
                "shape": serializers.CharField(required=False),
            },
        ),
        responses={201: ImportJobSerializer},
    )
    def post(self, request: Request, project_id: int) -> ApiResponse:
        project = _admin_project(request, project_id)
        upload = request.FILES.get("file")
        data = request.data if isinstance(request.data, Mapping) else {}  # a JSON body may be a list
        url, shape = data.get("url"), data.get("shape") or None
        if not isinstance(url, str | None) or not isinstance(shape, str | None):
            return ApiResponse({"non_field_errors": ["'url' and 'shape' are strings"]}, status=400)
        if (upload is None) == (not url):
            message = "attach the file as multipart field 'file', or give its 'url' (one of the two)"
            return ApiResponse({"file": [message]}, status=400)
        user = request.user if isinstance(request.user, User) else None
        try:
            if url:
                job = import_job_create_from_url(project=project, user=user, url=url, shape=shape)
            else:
                assert upload is not None
                job = import_job_create(project=project, user=user, uploaded_file=upload, shape=shape)
        except SchemaError as exc:
            body: dict[str, Any] = {}
            for error in exc.errors:
                body.setdefault(error.field or "non_field_errors", []).append(error.message)
            return ApiResponse(body, status=status.HTTP_400_BAD_REQUEST)
        return ApiResponse(ImportJobSerializer(job).data, status=status.HTTP_201_CREATED)


class ImportJobDetail(APIView):
    @extend_schema(responses={200: ImportJobSerializer})
    def get(self, request: Request, project_id: int, job_id: int) -> ApiResponse:
        job = import_job_get(project=_admin_project(request, project_id), job_id=job_id)
        return ApiResponse(ImportJobSerializer(job).data)
