"""REST API for training runs: list and start, read one run's progress and curve points, cancel, resume.

Interfaces only: parse, call one service or selector, serialise. The roles are the run pages' own
(``training.views.access``): researchers and admins of the project read, only admins start, cancel or
resume (403 for a researcher); anyone else, and any id of another project, gets a 404. Starting and
cancelling are audited by the services.
"""

from __future__ import annotations

from typing import Any

from django.core.exceptions import PermissionDenied
from django.db.models import QuerySet
from drf_spectacular.types import OpenApiTypes
from drf_spectacular.utils import OpenApiParameter, extend_schema, extend_schema_view, inline_serializer
from rest_framework import generics, serializers, status
from rest_framework.exceptions import ValidationError
from rest_framework.pagination import PageNumberPagination
from rest_framework.request import Request
from rest_framework.response import Response as ApiResponse
from rest_framework.views import APIView

from annotation.schemas import SchemaError
from core.models import Project, User
from core.selectors import project_get_for_user
from curation.selectors import snapshot_list
from training.api_serializers import (
    KIND_CHOICES,
    SPLIT_CHOICES,
    STATUS_CHOICES,
    RunCreateSerializer,
    RunMetricSerializer,
    RunSerializer,
)
from training.models import RunMetric, TrainingRun
from training.selectors import checkpoints_for, run_get, run_list
from training.services.runs import VIEW_ROLES, RunStateError, run_cancel, run_create, run_may_manage, run_resume


def _user(request: Request) -> User:
    assert isinstance(request.user, User)  # IsAuthenticated ran first
    return request.user


def _project(request: Request, project_id: int, *, manage: bool = False) -> Project:
    project = project_get_for_user(user=_user(request), project_id=project_id, roles=list(VIEW_ROLES))
    if manage and not run_may_manage(user=_user(request), project=project):
        raise PermissionDenied("Only admins of this project start, cancel or resume training runs.")
    return project


def _run(request: Request, project_id: int, run_id: int, *, manage: bool = False) -> TrainingRun:
    return run_get(project=_project(request, project_id, manage=manage), run_id=run_id)


def _detail(run: TrainingRun, code: int = status.HTTP_200_OK) -> ApiResponse:
    fresh = run_list(project=run.project).prefetch_related("checkpoints").get(pk=run.pk)
    return ApiResponse(RunSerializer(fresh).data, status=code)


def _choice(request: Request, name: str, choices: list[str]) -> str | None:
    value = request.query_params.get(name)
    if value is not None and value not in choices:
        raise ValidationError({name: [f"must be one of {', '.join(choices)}"]})
    return value


@extend_schema_view(
    get=extend_schema(
        parameters=[
            OpenApiParameter("status", str, enum=STATUS_CHOICES),
            OpenApiParameter("kind", str, enum=KIND_CHOICES),
        ]
    )
)
class RunList(generics.ListAPIView[TrainingRun]):
    """Runs of a project, newest first. POST starts one (admins): queued, executed on the gpu queue."""

    serializer_class = RunSerializer

    def get_queryset(self) -> QuerySet[TrainingRun]:
        runs = run_list(project=_project(self.request, self.kwargs["project_id"])).prefetch_related("checkpoints")
        for name, choices in (("status", STATUS_CHOICES), ("kind", KIND_CHOICES)):
            value = _choice(self.request, name, choices)
            if value is not None:
                runs = runs.filter(**{name: value})
        return runs

    @extend_schema(
        request=RunCreateSerializer,
        responses={201: RunSerializer, 400: OpenApiTypes.OBJECT},
        description='Start a run (admins). 400 names each refused field: `{"params.learning_rate": [...]}`.',
    )
    def post(self, request: Request, project_id: int) -> ApiResponse:
        project = _project(request, project_id, manage=True)
        body = RunCreateSerializer(data=request.data)
        body.is_valid(raise_exception=True)
        data = body.validated_data
        # Ids are looked up inside this project only: another project's snapshot reads as a missing one,
        # and the service names the field ("choose a snapshot of this project").
        try:
            run = run_create(
                project=project,
                user=_user(request),
                kind=data["kind"],
                snapshot=snapshot_list(project=project).filter(pk=data["snapshot"]).first(),
                base_checkpoint=checkpoints_for(project=project).filter(pk=data["base_checkpoint"]).first(),
                params=data["params"],
                preset=data["preset"],
            )
        except SchemaError as exc:
            errors: dict[str, list[str]] = {}
            for error in exc.errors:
                errors.setdefault(error.field or "non_field_errors", []).append(error.message)
            return ApiResponse(errors, status=status.HTTP_400_BAD_REQUEST)
        return _detail(run, status.HTTP_201_CREATED)


class RunDetail(APIView):
    @extend_schema(responses={200: RunSerializer})
    def get(self, request: Request, project_id: int, run_id: int) -> ApiResponse:
        return _detail(_run(request, project_id, run_id))


class RunCancel(APIView):
    """Cancel: a queued run ends at once, a running one stops after its current step. Repeating is harmless."""

    @extend_schema(request=None, responses={200: RunSerializer})
    def post(self, request: Request, project_id: int, run_id: int) -> ApiResponse:
        run = _run(request, project_id, run_id, manage=True)
        return _detail(run_cancel(run=run, user=_user(request)))


class RunResume(APIView):
    """Queue a failed or cancelled run again; it continues from its last checkpoint. 409 for any other run."""

    @extend_schema(
        request=None,
        responses={200: RunSerializer, 409: inline_serializer("RunNotResumable", {"detail": serializers.CharField()})},
    )
    def post(self, request: Request, project_id: int, run_id: int) -> ApiResponse:
        run = _run(request, project_id, run_id, manage=True)
        try:
            run = run_resume(run=run, user=_user(request))
        except RunStateError as exc:
            return ApiResponse({"detail": str(exc)}, status=status.HTTP_409_CONFLICT)
        return _detail(run)


class MetricPagination(PageNumberPagination):
    page_size = 500
    page_size_query_param = "page_size"
    max_page_size = 1000


@extend_schema_view(
    get=extend_schema(
        parameters=[
            OpenApiParameter("split", str, enum=SPLIT_CHOICES),
            OpenApiParameter("since", int, description="Only points after this step (poll with the last step seen)."),
        ]
    )
)
class RunMetricList(generics.ListAPIView[RunMetric]):
    """The run's curve points in step order: one row per progress line the child wrote (train or eval)."""

    serializer_class = RunMetricSerializer
    pagination_class = MetricPagination

    def get_queryset(self) -> QuerySet[RunMetric]:
        run = _run(self.request, self.kwargs["project_id"], self.kwargs["run_id"])
        filters: dict[str, Any] = {}
        split = _choice(self.request, "split", SPLIT_CHOICES)
        if split is not None:
            filters["split"] = split
        since = self.request.query_params.get("since")
        if since is not None:
            if not (since.isascii() and since.isdigit()) or int(since) > 2**31:
                raise ValidationError({"since": ["must be a step number (0 or more)"]})
            filters["step__gt"] = int(since)
        return run.metric_points.filter(**filters).order_by("step", "id")
