"""REST API for quality: statistics, annotator reliability, the review queue, reviews, adjudications, gold.

Interfaces only: parse, call one service or selector, serialise. Project-scoped like every endpoint:
another project's objects, and the whole quality API for annotators, are 404s. Reliability, reviews
and adjudications are for reviewers and admins; gold settings for admins; the summary and item
agreement also for researchers.
"""

from __future__ import annotations

from typing import Any

from django.core.exceptions import PermissionDenied
from django.db.models import QuerySet
from drf_spectacular.types import OpenApiTypes
from drf_spectacular.utils import OpenApiParameter, extend_schema
from rest_framework import generics, serializers, status
from rest_framework.exceptions import NotFound, ValidationError
from rest_framework.request import Request
from rest_framework.response import Response as ApiResponse
from rest_framework.views import APIView

from annotation.models import Item, Judgment
from annotation.schemas import SchemaError
from core.models import Project, Role, User
from core.selectors import project_get_for_user
from curation.models_quality import Adjudication, AnnotatorReliability, ItemAgreement, Review, ReviewDecision
from curation.selectors_quality import (
    READ_ROLES,
    STAFF_ROLES,
    dashboard_data,
    item_agreement_list,
    project_quality,
    reliability_list,
)
from curation.selectors_review import QUEUE_STATES, item_review, review_queryset
from curation.services.gold import gold_fraction_set, gold_mark, gold_unmark
from curation.services.review import adjudication_record, review_may, review_record

ADMIN_ONLY = (Role.ADMIN,)


def _user(request: Request) -> User:
    assert isinstance(request.user, User)
    return request.user


def _project(request: Request, project_id: int, roles: tuple[Role, ...]) -> Project:
    return project_get_for_user(user=_user(request), project_id=project_id, roles=roles)


def _refusal(exc: SchemaError | PermissionDenied) -> ApiResponse:
    if isinstance(exc, PermissionDenied):
        return ApiResponse({"detail": str(exc)}, status=status.HTTP_403_FORBIDDEN)
    errors: dict[str, list[str]] = {}
    for error in exc.errors:
        errors.setdefault(error.field or "non_field_errors", []).append(error.message)
    return ApiResponse(errors, status=status.HTTP_400_BAD_REQUEST)


# --- Serializers ----------------------------------------------------------------------------------


def _require_in_project(project: Project, *, item_id: int | None = None, judgment_id: int | None = None) -> None:
    """Another project's id is a 404 before the request body is read (no 400-vs-404 oracle)."""
    if item_id is not None and not Item.objects.filter(project=project, pk=item_id).exists():
        raise NotFound("No such item.")
    if judgment_id is not None and not Judgment.objects.filter(project=project, pk=judgment_id).exists():
        raise NotFound("No such judgment.")


class ReliabilitySerializer(serializers.ModelSerializer[AnnotatorReliability]):
    annotator = serializers.CharField(source="annotator.username")
    annotator_id = serializers.IntegerField()

    class Meta:
        model = AnnotatorReliability
        fields = [
            "annotator_id", "annotator", "judgments", "gold_accuracy", "gold_total", "consensus_agreement",
            "consensus_compared", "median_ms", "speed_z", "fast_share", "position_first_rate", "position_n",
            "spammer_score", "flags", "flagged", "detail", "computed_at",
        ]  # fmt: skip


class ItemAgreementSerializer(serializers.ModelSerializer[ItemAgreement]):
    item = serializers.IntegerField(source="item_id")

    class Meta:
        model = ItemAgreement
        fields = [
            "item", "kind", "judgments", "agreement", "agreement_no_ties", "consensus", "support", "method",
            "last_judgment_at", "computed_at",
        ]  # fmt: skip


class QueueJudgmentSerializer(serializers.ModelSerializer[Judgment]):
    decision = serializers.CharField(allow_null=True)
    item_agreement = serializers.FloatField(allow_null=True)
    annotator_flagged = serializers.BooleanField()
    annotator_agreement = serializers.FloatField(allow_null=True)

    class Meta:
        model = Judgment
        fields = [
            "id", "item", "annotator", "kind", "payload", "display_order", "time_spent_ms", "created_at",
            "decision", "item_agreement", "annotator_flagged", "annotator_agreement",
        ]  # fmt: skip


class ReviewSerializer(serializers.ModelSerializer[Review]):
    class Meta:
        model = Review
        fields = ["id", "judgment", "reviewer", "decision", "note", "created_at"]


class ReviewCreateSerializer(serializers.Serializer[Any]):
    decision = serializers.ChoiceField(choices=ReviewDecision.choices)
    note = serializers.CharField(required=False, allow_blank=True, max_length=2000, default="")


class AdjudicationSerializer(serializers.ModelSerializer[Adjudication]):
    class Meta:
        model = Adjudication
        fields = ["id", "item", "adjudicator", "answer", "note", "created_at"]


class AnswerSerializer(serializers.Serializer[Any]):
    answer = serializers.JSONField(help_text="The answer in the task kind's form (see curation.answers).")
    note = serializers.CharField(required=False, allow_blank=True, max_length=2000, default="")


class GoldSettingsSerializer(serializers.Serializer[Any]):
    gold_fraction = serializers.FloatField(
        allow_null=True, min_value=0, max_value=0.5, help_text="null: gold items are served like any other."
    )


# --- Views ----------------------------------------------------------------------------------------


class QualitySummary(APIView):
    """Agreement, bias, gold accuracy and activity series (per-annotator parts for reviewers and admins)."""

    @extend_schema(responses={200: OpenApiTypes.OBJECT})
    def get(self, request: Request, project_id: int) -> ApiResponse:
        project = _project(request, project_id, READ_ROLES)
        return ApiResponse(dashboard_data(project=project, staff=review_may(user=_user(request), project=project)))


class QualityRecompute(APIView):
    """Recompute the statistics in the background. 202: queued."""

    @extend_schema(request=None, responses={202: None})
    def post(self, request: Request, project_id: int) -> ApiResponse:
        project = _project(request, project_id, STAFF_ROLES)
        from curation.tasks_quality import recompute_quality  # the task module imports the services

        recompute_quality.delay(project.pk)
        return ApiResponse(status=status.HTTP_202_ACCEPTED)


class AnnotatorReliabilityList(generics.ListAPIView[AnnotatorReliability]):
    serializer_class = ReliabilitySerializer

    def get_queryset(self) -> QuerySet[AnnotatorReliability]:
        return reliability_list(project=_project(self.request, self.kwargs["project_id"], STAFF_ROLES))


@extend_schema(parameters=[OpenApiParameter("below", float, description="Only items with agreement below this.")])
class ItemAgreementList(generics.ListAPIView[ItemAgreement]):
    """Stored per-item agreement and consensus, least agreed first."""

    serializer_class = ItemAgreementSerializer

    def get_queryset(self) -> QuerySet[ItemAgreement]:
        project = _project(self.request, self.kwargs["project_id"], READ_ROLES)
        below = self.request.query_params.get("below")
        try:
            threshold = float(below) if below is not None else None
        except ValueError as exc:
            raise ValidationError({"below": "must be a number"}) from exc
        return item_agreement_list(project=project, below=threshold)


@extend_schema(parameters=[OpenApiParameter("state", str, enum=list(QUEUE_STATES))])
class ReviewQueue(generics.ListAPIView[Judgment]):
    """Judgments to review, most in need first (see the review page)."""

    serializer_class = QueueJudgmentSerializer

    def get_queryset(self) -> QuerySet[Judgment]:
        project = _project(self.request, self.kwargs["project_id"], STAFF_ROLES)
        state = self.request.query_params.get("state", "unreviewed")
        if state not in QUEUE_STATES:
            raise ValidationError({"state": f"one of {', '.join(QUEUE_STATES)}"})
        return review_queryset(project=project, reviewer=_user(self.request), state=state)


class JudgmentReviews(APIView):
    """A judgment's decisions, oldest first; POST adds one (the latest counts)."""

    @extend_schema(responses={200: ReviewSerializer(many=True)})
    def get(self, request: Request, project_id: int, judgment_id: int) -> ApiResponse:
        project = _project(request, project_id, STAFF_ROLES)
        _require_in_project(project, judgment_id=judgment_id)
        reviews = Review.objects.filter(project=project, judgment_id=judgment_id).order_by("created_at", "id")
        return ApiResponse(ReviewSerializer(reviews, many=True).data)

    @extend_schema(request=ReviewCreateSerializer, responses={201: ReviewSerializer})
    def post(self, request: Request, project_id: int, judgment_id: int) -> ApiResponse:
        project = _project(request, project_id, STAFF_ROLES)
        _require_in_project(project, judgment_id=judgment_id)
        body = ReviewCreateSerializer(data=request.data)
        body.is_valid(raise_exception=True)
        try:
            review = review_record(
                reviewer=_user(request), project=project, judgment_id=judgment_id, **body.validated_data
            )
        except (SchemaError, PermissionDenied) as exc:
            return _refusal(exc)
        return ApiResponse(ReviewSerializer(review).data, status=status.HTTP_201_CREATED)


class ItemAdjudication(APIView):
    """The item's latest final answer (204 when none yet); POST records a new one (the latest counts)."""

    @extend_schema(responses={200: AdjudicationSerializer, 204: None})
    def get(self, request: Request, project_id: int, item_id: int) -> ApiResponse:
        project = _project(request, project_id, STAFF_ROLES)
        adjudication = item_review(project=project, item_id=item_id).adjudication
        if adjudication is None:
            return ApiResponse(status=status.HTTP_204_NO_CONTENT)
        return ApiResponse(AdjudicationSerializer(adjudication).data)

    @extend_schema(request=AnswerSerializer, responses={201: AdjudicationSerializer})
    def post(self, request: Request, project_id: int, item_id: int) -> ApiResponse:
        project = _project(request, project_id, STAFF_ROLES)
        _require_in_project(project, item_id=item_id)
        body = AnswerSerializer(data=request.data)
        body.is_valid(raise_exception=True)
        try:
            adjudication = adjudication_record(
                user=_user(request),
                project=project,
                item_id=item_id,
                answer=body.validated_data["answer"],
                note=body.validated_data["note"],
            )
        except (SchemaError, PermissionDenied) as exc:
            return _refusal(exc)
        return ApiResponse(AdjudicationSerializer(adjudication).data, status=status.HTTP_201_CREATED)


class GoldSettings(APIView):
    @extend_schema(responses={200: GoldSettingsSerializer})
    def get(self, request: Request, project_id: int) -> ApiResponse:
        project = _project(request, project_id, ADMIN_ONLY)
        return ApiResponse({"gold_fraction": project_quality(project=project).gold_fraction})

    @extend_schema(request=GoldSettingsSerializer, responses={200: GoldSettingsSerializer})
    def put(self, request: Request, project_id: int) -> ApiResponse:
        project = _project(request, project_id, ADMIN_ONLY)
        body = GoldSettingsSerializer(data=request.data)
        body.is_valid(raise_exception=True)
        try:
            row = gold_fraction_set(user=_user(request), project=project, fraction=body.validated_data["gold_fraction"])
        except (SchemaError, PermissionDenied) as exc:
            return _refusal(exc)
        return ApiResponse({"gold_fraction": row.gold_fraction})


class GoldItem(APIView):
    """PUT ``{"answer": ...}`` makes the item gold (or changes its answer); DELETE makes it ordinary again."""

    @extend_schema(request=AnswerSerializer, responses={200: OpenApiTypes.OBJECT})
    def put(self, request: Request, project_id: int, item_id: int) -> ApiResponse:
        project = _project(request, project_id, ADMIN_ONLY)
        _require_in_project(project, item_id=item_id)
        body = AnswerSerializer(data=request.data)
        body.is_valid(raise_exception=True)
        try:
            item = gold_mark(
                user=_user(request), project=project, item_id=item_id, answer=body.validated_data["answer"]
            )
        except (SchemaError, PermissionDenied) as exc:
            return _refusal(exc)
        return ApiResponse({"item": item.pk, "is_gold": item.is_gold, "gold_answer": item.gold_answer})

    @extend_schema(responses={200: OpenApiTypes.OBJECT})
    def delete(self, request: Request, project_id: int, item_id: int) -> ApiResponse:
        project = _project(request, project_id, ADMIN_ONLY)
        item = gold_unmark(user=_user(request), project=project, item_id=item_id)
        return ApiResponse({"item": item.pk, "is_gold": item.is_gold, "gold_answer": item.gold_answer})
