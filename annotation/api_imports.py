"""REST API for import jobs: upload a file (admins), list jobs, read one job's progress and summary."""

from __future__ import annotations

from typing import Any

from django.db.models import QuerySet
from drf_spectacular.utils import extend_schema, inline_serializer
from rest_framework import generics, serializers, status
from rest_framework.parsers import MultiPartParser
from rest_framework.request import Request
from rest_framework.response import Response as ApiResponse
from rest_framework.views import APIView

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
            "id", "original_filename", "file_size", "format", "shape", "status", "phase", "rows_read",
            "rows_written", "total_rows", "prompts_created", "prompts_duplicate", "responses_created",
            "responses_duplicate", "items_created", "items_duplicate", "error_count", "errors",
            "created_at", "started_at", "finished_at",
        ]  # fmt: skip


class ImportJobList(generics.ListAPIView[ImportJob]):
    """Imports of a project (admins). POST a multipart ``file`` (and optional ``shape``) to start one."""

    serializer_class = ImportJobSerializer
    parser_classes = [MultiPartParser]

    def get_queryset(self) -> QuerySet[ImportJob]:
        return import_job_list(project=_admin_project(self.request, self.kwargs["project_id"]))

    @extend_schema(
        request=inline_serializer(
            "ImportUpload", {"file": serializers.FileField(), "shape": serializers.CharField(required=False)}
        ),
        responses={201: ImportJobSerializer},
    )
    def post(self, request: Request, project_id: int) -> ApiResponse:
        project = _admin_project(request, project_id)
        upload = request.FILES.get("file")
        shape = request.POST.get("shape") or None
        if upload is None:
            return ApiResponse({"file": ["attach the file as multipart field 'file'"]}, status=400)
        try:
            job = import_job_create(
                project=project, user=request.user if isinstance(request.user, User) else None,
                uploaded_file=upload, shape=shape,
            )  # fmt: skip
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
