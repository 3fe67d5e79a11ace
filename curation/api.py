"""REST API for dataset snapshots: create (researchers, admins), list, read, download a file."""

from __future__ import annotations

from typing import Any

from django.core.exceptions import PermissionDenied
from django.db.models import QuerySet
from django.http import FileResponse
from drf_spectacular.types import OpenApiTypes
from drf_spectacular.utils import extend_schema
from rest_framework import generics, serializers, status
from rest_framework.request import Request
from rest_framework.response import Response as ApiResponse
from rest_framework.views import APIView

from annotation.schemas import SchemaError
from core.audit import audit_record
from core.models import Project, Role, User
from core.selectors import project_get_for_user
from curation.models import DatasetSnapshot
from curation.selectors import snapshot_file_path, snapshot_get, snapshot_list
from curation.services.snapshots import snapshot_create

SNAPSHOT_ROLES = (Role.RESEARCHER, Role.ADMIN)


def _user(request: Request) -> User:
    assert isinstance(request.user, User)
    return request.user


def _project(request: Request, project_id: int) -> Project:
    return project_get_for_user(user=_user(request), project_id=project_id, roles=SNAPSHOT_ROLES)


class SnapshotSerializer(serializers.ModelSerializer[DatasetSnapshot]):
    class Meta:
        model = DatasetSnapshot
        fields = [
            "id", "name", "filters", "options", "status", "progress_done", "progress_total", "counts", "files",
            "manifest", "sha256", "error", "created_at", "started_at", "finished_at",
        ]  # fmt: skip


class SnapshotCreateSerializer(serializers.Serializer[Any]):
    name = serializers.CharField(max_length=200)
    filters = serializers.JSONField(required=False, default=dict, help_text="See the snapshot form for fields.")
    options = serializers.JSONField(required=False, default=dict)


class SnapshotList(generics.ListAPIView[DatasetSnapshot]):
    """Snapshots of a project. POST ``{name, filters, options}`` to build a new one in the background."""

    serializer_class = SnapshotSerializer

    def get_queryset(self) -> QuerySet[DatasetSnapshot]:
        return snapshot_list(project=_project(self.request, self.kwargs["project_id"]))

    @extend_schema(request=SnapshotCreateSerializer, responses={201: SnapshotSerializer})
    def post(self, request: Request, project_id: int) -> ApiResponse:
        project = _project(request, project_id)
        body = SnapshotCreateSerializer(data=request.data)
        body.is_valid(raise_exception=True)
        try:
            snapshot = snapshot_create(project=project, user=_user(request), **body.validated_data)
        except PermissionDenied as exc:
            return ApiResponse({"detail": str(exc)}, status=status.HTTP_403_FORBIDDEN)
        except SchemaError as exc:
            errors: dict[str, list[str]] = {}
            for error in exc.errors:
                errors.setdefault(error.field or "non_field_errors", []).append(error.message)
            return ApiResponse(errors, status=status.HTTP_400_BAD_REQUEST)
        return ApiResponse(SnapshotSerializer(snapshot).data, status=status.HTTP_201_CREATED)


class SnapshotDetail(APIView):
    @extend_schema(responses={200: SnapshotSerializer})
    def get(self, request: Request, project_id: int, snapshot_id: int) -> ApiResponse:
        snapshot = snapshot_get(project=_project(request, project_id), snapshot_id=snapshot_id)
        return ApiResponse(SnapshotSerializer(snapshot).data)


class SnapshotFile(APIView):
    """One stored file of a succeeded snapshot (the same bytes on every download)."""

    @extend_schema(responses={(200, "application/octet-stream"): OpenApiTypes.BINARY})
    def get(self, request: Request, project_id: int, snapshot_id: int, name: str) -> FileResponse:
        project = _project(request, project_id)
        snapshot = snapshot_get(project=project, snapshot_id=snapshot_id)
        path = snapshot_file_path(snapshot=snapshot, name=name)
        audit_record(
            actor=_user(request), action="snapshot.download", project=project, target=snapshot,
            details={"file": name, "via": "api"}, request=request,
        )  # fmt: skip
        return FileResponse(path.open("rb"), as_attachment=True, filename=name)
