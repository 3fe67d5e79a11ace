"""REST API of the loop: checkpoints, promote and roll back aliases, generation and scoring jobs.

Interfaces only: parse, call one service or selector, serialise. The roles are the checkpoints page's
(``models_registry.views``): researchers and admins of the project read, only admins act (403 for a
researcher); anyone else, and any id of another project, gets a 404. Refusals of the loop's services
(an alias with nothing to roll back to, a job already active, no model to use) are 409s with the
service's message; SchemaError is a 400 naming each field. Promotions and rollbacks are audited by
``models_registry.aliases``.
"""

from __future__ import annotations

from functools import cached_property
from typing import Any

from django.core.exceptions import PermissionDenied
from django.db.models import QuerySet
from drf_spectacular.types import OpenApiTypes
from drf_spectacular.utils import OpenApiParameter, extend_schema, extend_schema_view, inline_serializer
from rest_framework import generics, serializers, status
from rest_framework.exceptions import NotFound, ValidationError
from rest_framework.request import Request
from rest_framework.response import Response as ApiResponse
from rest_framework.views import APIView

from annotation.schemas import SchemaError
from core.models import Project, Role, User
from core.selectors import project_get_for_user
from models_registry.aliases import (
    AliasError,
    alias_checkpoint,
    alias_may_manage,
    alias_names_by_checkpoint,
    alias_promote,
    alias_rollback,
)
from models_registry.api_serializers import (
    AliasEventSerializer,
    CheckpointSerializer,
    GenerationCreateSerializer,
    GenerationJobSerializer,
    PromoteSerializer,
    ScoringJobSerializer,
)
from models_registry.generation import GenerationRefused, generation_job_cancel, generation_job_create
from models_registry.models import AliasName, Checkpoint, CheckpointKind, ScoringJob
from models_registry.models_jobs import GenerationJob
from models_registry.scoring import ScoringRefused, scoring_job_create

LOOP_ROLES = (Role.RESEARCHER, Role.ADMIN)
_Refusal = inline_serializer("LoopRefusal", {"detail": serializers.CharField()})


def _user(request: Request) -> User:
    assert isinstance(request.user, User)  # IsAuthenticated ran first
    return request.user


def _project(request: Request, project_id: int, *, manage: bool = False) -> Project:
    project = project_get_for_user(user=_user(request), project_id=project_id, roles=LOOP_ROLES)
    if manage and not alias_may_manage(user=_user(request), project=project):
        raise PermissionDenied("Only admins of this project promote, roll back, generate or re-score.")
    return project


def _refused(exc: Exception) -> ApiResponse:
    return ApiResponse({"detail": str(exc)}, status=status.HTTP_409_CONFLICT)


def _field_errors(exc: SchemaError) -> ApiResponse:
    errors: dict[str, list[str]] = {}
    for error in exc.errors:
        errors.setdefault(error.field or "non_field_errors", []).append(error.message)
    return ApiResponse(errors, status=status.HTTP_400_BAD_REQUEST)


# --- Checkpoints and aliases ----------------------------------------------------------------------


def _checkpoints(project: Project) -> QuerySet[Checkpoint]:
    return Checkpoint.objects.filter(project=project).order_by("-created_at", "-id")


def _checkpoint(request: Request, project_id: int, checkpoint_id: int, *, manage: bool = False) -> Checkpoint:
    checkpoint = _checkpoints(_project(request, project_id, manage=manage)).filter(pk=checkpoint_id).first()
    if checkpoint is None:
        raise NotFound("No such checkpoint.")
    return checkpoint


@extend_schema_view(get=extend_schema(parameters=[OpenApiParameter("kind", str, enum=list(CheckpointKind.values))]))
class CheckpointList(generics.ListAPIView[Checkpoint]):
    """Every checkpoint of the project, newest first, with the aliases pointing at it now."""

    serializer_class = CheckpointSerializer

    @cached_property
    def project(self) -> Project:
        return _project(self.request, self.kwargs["project_id"])

    def get_queryset(self) -> QuerySet[Checkpoint]:
        checkpoints = _checkpoints(self.project)
        kind = self.request.query_params.get("kind")
        if kind is not None:
            if kind not in CheckpointKind.values:
                raise ValidationError({"kind": [f"must be one of {', '.join(CheckpointKind.values)}"]})
            checkpoints = checkpoints.filter(kind=kind)
        return checkpoints

    def get_serializer_context(self) -> dict[str, Any]:
        return {**super().get_serializer_context(), "aliases": alias_names_by_checkpoint(project=self.project)}


class CheckpointDetail(APIView):
    @extend_schema(responses={200: CheckpointSerializer})
    def get(self, request: Request, project_id: int, checkpoint_id: int) -> ApiResponse:
        checkpoint = _checkpoint(request, project_id, checkpoint_id)
        aliases = alias_names_by_checkpoint(project=checkpoint.project)
        return ApiResponse(CheckpointSerializer(checkpoint, context={"aliases": aliases}).data)


class CheckpointPromote(APIView):
    """Point the alias of the checkpoint's kind (active-reward or active-policy) at it (admins)."""

    @extend_schema(request=PromoteSerializer, responses={200: AliasEventSerializer, 409: _Refusal})
    def post(self, request: Request, project_id: int, checkpoint_id: int) -> ApiResponse:
        checkpoint = _checkpoint(request, project_id, checkpoint_id, manage=True)
        body = PromoteSerializer(data=request.data)
        body.is_valid(raise_exception=True)
        try:
            event = alias_promote(actor=_user(request), checkpoint=checkpoint, reason=body.validated_data["reason"])
        except AliasError as exc:
            return _refused(exc)
        return ApiResponse(AliasEventSerializer(event).data)


class AliasRollback(APIView):
    """Point the alias back at the checkpoint active before the current one (admins).

    An alias that was never set is a 404; one with nothing before it is a 409.
    """

    @extend_schema(
        parameters=[OpenApiParameter("alias", str, OpenApiParameter.PATH, enum=list(AliasName.values))],
        request=None,
        responses={200: AliasEventSerializer, 409: _Refusal},
    )
    def post(self, request: Request, project_id: int, alias: str) -> ApiResponse:
        project = _project(request, project_id, manage=True)
        if alias not in AliasName.values or alias_checkpoint(project=project, name=AliasName(alias)) is None:
            raise NotFound("No such alias in this project (active-reward or active-policy, once promoted).")
        try:
            event = alias_rollback(actor=_user(request), project=project, name=AliasName(alias))
        except AliasError as exc:
            return _refused(exc)
        return ApiResponse(AliasEventSerializer(event).data)


# --- Generation and scoring jobs ------------------------------------------------------------------


def _generation_jobs(project: Project) -> QuerySet[GenerationJob]:
    return GenerationJob.objects.filter(project=project).order_by("-created_at", "-id")


def _generation_job(request: Request, project_id: int, job_id: int, *, manage: bool = False) -> GenerationJob:
    job = _generation_jobs(_project(request, project_id, manage=manage)).filter(pk=job_id).first()
    if job is None:
        raise NotFound("No such generation job.")
    return job


class GenerationJobList(generics.ListAPIView[GenerationJob]):
    """Generation jobs of the project, newest first. POST queues one with the active policy (admins)."""

    serializer_class = GenerationJobSerializer

    def get_queryset(self) -> QuerySet[GenerationJob]:
        return _generation_jobs(_project(self.request, self.kwargs["project_id"]))

    @extend_schema(
        request=GenerationCreateSerializer,
        responses={201: GenerationJobSerializer, 400: OpenApiTypes.OBJECT, 409: _Refusal},
    )
    def post(self, request: Request, project_id: int) -> ApiResponse:
        project = _project(request, project_id, manage=True)
        body = GenerationCreateSerializer(data=request.data)
        body.is_valid(raise_exception=True)
        try:
            job = generation_job_create(project=project, actor=_user(request), **body.validated_data)
        except GenerationRefused as exc:
            return _refused(exc)
        except SchemaError as exc:
            return _field_errors(exc)
        return ApiResponse(GenerationJobSerializer(job).data, status=status.HTTP_201_CREATED)


class GenerationJobDetail(APIView):
    @extend_schema(responses={200: GenerationJobSerializer})
    def get(self, request: Request, project_id: int, generation_job_id: int) -> ApiResponse:
        return ApiResponse(GenerationJobSerializer(_generation_job(request, project_id, generation_job_id)).data)


class GenerationJobCancel(APIView):
    """A queued job ends at once; a running one stops without adding anything. Repeating is harmless."""

    @extend_schema(request=None, responses={200: GenerationJobSerializer})
    def post(self, request: Request, project_id: int, generation_job_id: int) -> ApiResponse:
        job = _generation_job(request, project_id, generation_job_id, manage=True)
        generation_job_cancel(job=job)
        job.refresh_from_db()
        return ApiResponse(GenerationJobSerializer(job).data)


class ScoringJobList(generics.ListAPIView[ScoringJob]):
    """Re-scorings of the queue, newest first. POST queues one with the project's strategy (admins)."""

    serializer_class = ScoringJobSerializer

    def get_queryset(self) -> QuerySet[ScoringJob]:
        return ScoringJob.objects.filter(project=_project(self.request, self.kwargs["project_id"])).order_by(
            "-created_at", "-id"
        )

    @extend_schema(request=None, responses={201: ScoringJobSerializer, 409: _Refusal})
    def post(self, request: Request, project_id: int) -> ApiResponse:
        project = _project(request, project_id, manage=True)
        try:
            job = scoring_job_create(project=project, actor=_user(request))
        except ScoringRefused as exc:
            return _refused(exc)
        return ApiResponse(ScoringJobSerializer(job).data, status=status.HTTP_201_CREATED)


class ScoringJobDetail(APIView):
    @extend_schema(responses={200: ScoringJobSerializer})
    def get(self, request: Request, project_id: int, scoring_job_id: int) -> ApiResponse:
        project = _project(request, project_id)
        job = ScoringJob.objects.filter(project=project, pk=scoring_job_id).first()
        if job is None:
            raise NotFound("No such scoring job.")
        return ApiResponse(ScoringJobSerializer(job).data)
