"""REST API for projects, items, judgments and the annotator flow.

Interfaces only: parse, call one service or selector, serialise. Every object is reached through a
project the caller is a member of; another project's object is a 404, exactly like a missing one.
Filters come from an allowlist of query parameters, never from client-supplied lookup paths.
"""

from __future__ import annotations

from typing import Any

from django.db.models import QuerySet
from django.utils.dateparse import parse_datetime
from drf_spectacular.utils import OpenApiParameter, extend_schema, inline_serializer
from rest_framework import generics, serializers, status
from rest_framework.exceptions import NotFound, ValidationError
from rest_framework.request import Request
from rest_framework.response import Response as ApiResponse
from rest_framework.views import APIView

from annotation.models import Assignment, AssignmentStatus, Item, Judgment
from annotation.selectors import AssignmentView, assignment_view
from annotation.services.queue import (
    ClaimResult,
    InvalidPayload,
    LeaseClosed,
    LeaseExpired,
    LeaseNotFound,
    NotAMember,
    QueueError,
    assignment_claim_next,
    assignment_release,
    judgment_submit,
    judgment_submit_and_claim,
)
from core.models import Project, Role, User
from core.selectors import membership_get, project_get_for_user, project_list_for_user

READ_ALL_ROLES = (Role.ADMIN, Role.REVIEWER, Role.RESEARCHER)


def _user(request: Request) -> User:
    assert isinstance(request.user, User)
    return request.user


def _project(request: Request, project_id: int, roles: tuple[Role, ...] | None = None) -> Project:
    return project_get_for_user(user=_user(request), project_id=project_id, roles=roles)


# --- Serializers ----------------------------------------------------------------------------------


class ProjectSerializer(serializers.ModelSerializer[Project]):
    role = serializers.SerializerMethodField()

    class Meta:
        model = Project
        fields = [
            "id", "name", "slug", "description", "guidelines", "task_kind", "task_config", "overlap",
            "lease_ttl_seconds", "blind_sources", "randomise_order", "created_at", "role",
        ]  # fmt: skip

    def get_role(self, project: Project) -> str | None:
        membership = membership_get(user=self.context["request"].user, project=project)
        return membership.role if membership else None


class ItemSerializer(serializers.ModelSerializer[Item]):
    prompt = serializers.JSONField(source="prompt.messages")
    responses = serializers.SerializerMethodField()

    class Meta:
        model = Item
        fields = [
            "id", "prompt", "responses", "priority", "required", "open_slots", "submitted_count",
            "is_gold", "gold_answer", "created_at",
        ]  # fmt: skip

    def get_responses(self, item: Item) -> list[dict[str, Any]]:
        return [
            {"id": r.response_id, "position": r.position, "text": r.response.text, "source": r.response.source}
            for r in item.item_responses.all()
        ]


class JudgmentSerializer(serializers.ModelSerializer[Judgment]):
    class Meta:
        model = Judgment
        fields = [
            "id", "item", "annotator", "kind", "payload", "display_order", "time_spent_ms", "gold_correct",
            "created_at",
        ]  # fmt: skip


class ShownResponseSerializer(serializers.Serializer[Any]):
    id = serializers.IntegerField()
    label = serializers.CharField()  # type: ignore[assignment]  # shadows Field.label in the stubs
    text = serializers.CharField()
    source = serializers.CharField(allow_null=True)  # type: ignore[assignment]


class AssignmentSerializer(serializers.Serializer[Any]):
    """A lease as the annotator sees it: responses in their shown order, sources hidden when blinded."""

    id = serializers.IntegerField(source="assignment.id")
    item = serializers.IntegerField(source="assignment.item_id")
    expires_at = serializers.DateTimeField(source="assignment.expires_at")
    seconds_left = serializers.IntegerField()
    task_kind = serializers.CharField(source="assignment.project.task_kind")
    task_config = serializers.JSONField(source="assignment.project.task_config")
    messages = serializers.JSONField()
    responses = ShownResponseSerializer(many=True)


class SubmitSerializer(serializers.Serializer[Any]):
    payload = serializers.JSONField()
    client_key = serializers.CharField(max_length=64, help_text="Unique per answer; a resend returns the first.")
    time_spent_ms = serializers.IntegerField(min_value=0)


class SubmitNextSerializer(serializers.Serializer[Any]):
    judgment = JudgmentSerializer()
    next = AssignmentSerializer(allow_null=True, help_text="The next lease; null when nothing is left for you.")


# The claim and submit answer with these instead of ``AssignmentSerializer(...).data`` and
# ``JudgmentSerializer(...).data``: a DRF serializer deep-copies its declared fields on every instance
# (a ModelSerializer also rebuilds them from the model), ~1 ms of CPU per judgment on a 2-core machine.
# Same keys, order and values as the serializers (tests/annotation/test_api.py compares them); the
# serializers stay the API's documented schema.
_DATETIME = serializers.DateTimeField()


def _lease_data(view: AssignmentView) -> dict[str, Any]:
    assignment = view.assignment
    return {
        "id": assignment.pk,
        "item": assignment.item_id,
        "expires_at": _DATETIME.to_representation(assignment.expires_at),
        "seconds_left": int(view.seconds_left),
        "task_kind": str(assignment.project.task_kind),
        "task_config": assignment.project.task_config,
        "messages": view.messages,
        "responses": [
            {
                "id": r.id,
                "label": str(r.label),
                "text": str(r.text),
                "source": None if r.source is None else str(r.source),
            }
            for r in view.responses
        ],
    }


def _judgment_data(judgment: Judgment) -> dict[str, Any]:
    return {
        "id": judgment.pk,
        "item": judgment.item_id,
        "annotator": judgment.annotator_id,
        "kind": str(judgment.kind),
        "payload": judgment.payload,
        "display_order": judgment.display_order,
        "time_spent_ms": int(judgment.time_spent_ms),
        "gold_correct": judgment.gold_correct,
        "created_at": _DATETIME.to_representation(judgment.created_at),
    }


def _submit_body(data: Any) -> dict[str, Any] | None:
    """``SubmitSerializer``'s validated data for the usual body (a JSON object of plain values), read
    without the serializer; None for anything else, which then goes through the serializer and its errors.
    """
    if type(data) is not dict:
        return None
    payload, key, spent = data.get("payload"), data.get("client_key"), data.get("time_spent_ms")
    plain_key = type(key) is str and 0 < len(key) <= 64 and key.isascii() and key.isprintable() and key == key.strip()
    if payload is None or not plain_key or type(spent) is not int or spent < 0:
        return None
    return {"payload": payload, "client_key": key, "time_spent_ms": spent}


SUBMIT_ERROR = inline_serializer("SubmitError", {"code": serializers.CharField(), "detail": serializers.CharField()})


class ReleaseSerializer(serializers.Serializer[Any]):
    reason = serializers.CharField(max_length=2000, allow_blank=False)


# --- Views ----------------------------------------------------------------------------------------


class ProjectList(generics.ListAPIView[Project]):
    serializer_class = ProjectSerializer

    def get_queryset(self) -> QuerySet[Project]:
        return project_list_for_user(user=_user(self.request)).order_by("id")


class ProjectDetail(generics.RetrieveAPIView[Project]):
    serializer_class = ProjectSerializer

    def get_object(self) -> Project:
        return _project(self.request, self.kwargs["project_id"])


ITEM_ORDERINGS = {"id": "id", "-id": "-id", "priority": "priority", "-priority": "-priority"}


@extend_schema(
    parameters=[
        OpenApiParameter("status", str, enum=["open", "complete"]),
        OpenApiParameter("is_gold", bool),
        OpenApiParameter("ordering", str, enum=list(ITEM_ORDERINGS)),
    ]
)
class ItemList(generics.ListAPIView[Item]):
    serializer_class = ItemSerializer

    def get_queryset(self) -> QuerySet[Item]:
        project = _project(self.request, self.kwargs["project_id"], READ_ALL_ROLES)
        items = (
            Item.objects.filter(project=project).select_related("prompt").prefetch_related("item_responses__response")
        )
        params = self.request.query_params
        if params.get("status") == "open":
            items = items.filter(open_slots__gt=0)
        elif params.get("status") == "complete":
            items = items.filter(open_slots=0, submitted_count__gte=1)
        if "is_gold" in params:
            items = items.filter(is_gold=params["is_gold"].lower() in ("1", "true", "yes"))
        ordering = params.get("ordering", "id")
        if ordering not in ITEM_ORDERINGS:
            raise ValidationError({"ordering": f"must be one of {sorted(ITEM_ORDERINGS)}"})
        return items.order_by(ITEM_ORDERINGS[ordering])


class ItemDetail(generics.RetrieveAPIView[Item]):
    serializer_class = ItemSerializer

    def get_object(self) -> Item:
        project = _project(self.request, self.kwargs["project_id"], READ_ALL_ROLES)
        item = (
            Item.objects.filter(project=project, pk=self.kwargs["item_id"])
            .select_related("prompt")
            .prefetch_related("item_responses__response")
            .first()
        )
        if item is None:
            raise NotFound("No such item.")
        return item


@extend_schema(
    parameters=[
        OpenApiParameter("annotator", int),
        OpenApiParameter("item", int),
        OpenApiParameter("created_after", str, description="ISO 8601 date-time"),
        OpenApiParameter("created_before", str, description="ISO 8601 date-time"),
    ]
)
class JudgmentList(generics.ListAPIView[Judgment]):
    """Admins, reviewers and researchers read every judgment; annotators only their own."""

    serializer_class = JudgmentSerializer

    def get_queryset(self) -> QuerySet[Judgment]:
        user = _user(self.request)
        project = _project(self.request, self.kwargs["project_id"])
        membership = membership_get(user=user, project=project)
        judgments = Judgment.objects.filter(project=project).order_by("id")
        if not user.is_superuser and (membership is None or membership.role not in READ_ALL_ROLES):
            judgments = judgments.filter(annotator=user)
        params = self.request.query_params
        for name in ("annotator", "item"):
            if name in params:
                if not params[name].isdigit():
                    raise ValidationError({name: "must be an id"})
                judgments = judgments.filter(**{f"{name}_id": int(params[name])})
        for name, lookup in (("created_after", "created_at__gte"), ("created_before", "created_at__lt")):
            if name in params:
                moment = parse_datetime(params[name])
                if moment is None:
                    raise ValidationError({name: "must be an ISO 8601 date-time"})
                judgments = judgments.filter(**{lookup: moment})
        return judgments


def _own_lease_or_404(request: Request, project: Project, assignment_id: int) -> None:
    """Someone else's lease id is a 404 before the body is even read (no 400-vs-404 oracle)."""
    if not Assignment.objects.filter(pk=assignment_id, project=project, annotator=_user(request)).exists():
        raise NotFound("This task is not assigned to you.")


def _queue_error(exc: QueueError) -> ApiResponse:
    codes = {
        LeaseNotFound: status.HTTP_404_NOT_FOUND,
        NotAMember: status.HTTP_404_NOT_FOUND,
        LeaseExpired: status.HTTP_409_CONFLICT,
        LeaseClosed: status.HTTP_409_CONFLICT,
    }
    body: dict[str, Any] = {"code": exc.code, "detail": str(exc)}
    if isinstance(exc, InvalidPayload):
        body["errors"] = [{"field": e.field, "message": e.message} for e in exc.errors]
        return ApiResponse(body, status=status.HTTP_400_BAD_REQUEST)
    return ApiResponse(body, status=codes.get(type(exc), status.HTTP_409_CONFLICT))


def _claim(request: Request, project: Project) -> dict[str, Any] | None:
    """The caller's next lease, serialised (None: nothing left); QueueError as the claim raises it."""
    return _lease_of(assignment_claim_next(annotator=_user(request), project=project))


def _lease_of(result: ClaimResult | None) -> dict[str, Any] | None:
    if result is None or result.assignment is None:
        return None
    view = assignment_view(assignment=result.assignment, responses=result.responses or None, messages=result.messages)
    return _lease_data(view)


class Claim(APIView):
    """Lease the next item (or resume the live one). 204 when nothing is left for you."""

    @extend_schema(request=None, responses={200: AssignmentSerializer, 204: None})
    def post(self, request: Request, project_id: int) -> ApiResponse:
        project = _project(request, project_id)
        try:
            lease = _claim(request, project)
        except QueueError as exc:
            return _queue_error(exc)
        if lease is None:
            return ApiResponse(status=status.HTTP_204_NO_CONTENT)
        return ApiResponse(lease)


class Submit(APIView):
    @extend_schema(
        request=SubmitSerializer,
        responses={
            201: JudgmentSerializer,
            200: JudgmentSerializer,
            400: SUBMIT_ERROR,
        },
    )
    def post(self, request: Request, project_id: int, assignment_id: int) -> ApiResponse:
        return self.submit(request, _project(request, project_id), assignment_id)

    def submit(self, request: Request, project: Project, assignment_id: int) -> ApiResponse:
        return self.record(request, project, assignment_id, then_claim=False)[0]

    def record(
        self, request: Request, project: Project, assignment_id: int, *, then_claim: bool
    ) -> tuple[ApiResponse, ClaimResult | None]:
        """The answer's response and, with ``then_claim``, the claim made in the same transaction."""
        validated = _submit_body(request.data)
        if validated is None:
            body = SubmitSerializer(data=request.data)
            if not body.is_valid():
                # Someone else's lease is a 404 before its body is judged (no 400-vs-404 oracle); a valid
                # body skips this read, since the submit's own locked read answers 404 the same way.
                _own_lease_or_404(request, project, assignment_id)
                raise ValidationError(body.errors)
            validated = body.validated_data
        answer = dict(
            annotator=_user(request),
            project=project,
            assignment_id=assignment_id,
            payload=validated["payload"],
            client_key=validated["client_key"],
            time_spent_ms=validated["time_spent_ms"],
        )
        claim: ClaimResult | None = None
        try:
            if then_claim:
                result, claim = judgment_submit_and_claim(**answer)
            else:
                result = judgment_submit(**answer)
        except QueueError as exc:
            return _queue_error(exc), None
        code = status.HTTP_200_OK if result.duplicate else status.HTTP_201_CREATED
        return ApiResponse(_judgment_data(result.judgment), status=code), claim


class SubmitNext(Submit):
    """Submit this lease's answer and lease the next item, in one request: one round trip per judgment.

    The answer is recorded exactly as by ``submit`` (same errors, nothing claimed when it is refused);
    then the next item is claimed as by ``queue/claim``, in the same transaction (``next`` is null when
    nothing is left, or when the claim is refused right after the answer: the membership was just
    suspended, and ``queue/claim`` says why). A resent answer (same ``client_key``) is a 200 with the
    first judgment and the same live lease, not a second one.
    """

    @extend_schema(
        request=SubmitSerializer,
        responses={
            201: SubmitNextSerializer,
            200: SubmitNextSerializer,
            400: SUBMIT_ERROR,
        },
    )
    def post(self, request: Request, project_id: int, assignment_id: int) -> ApiResponse:
        submitted, claim = self.record(request, _project(request, project_id), assignment_id, then_claim=True)
        if submitted.status_code not in (status.HTTP_200_OK, status.HTTP_201_CREATED):
            return submitted
        return ApiResponse({"judgment": submitted.data, "next": _lease_of(claim)}, status=submitted.status_code)


class Release(APIView):
    """Skip or flag a leased item, with a reason; its slot goes back to the queue."""

    release_status = AssignmentStatus.SKIPPED

    @extend_schema(request=ReleaseSerializer, responses={200: None})
    def post(self, request: Request, project_id: int, assignment_id: int) -> ApiResponse:
        project = _project(request, project_id)
        _own_lease_or_404(request, project, assignment_id)
        body = ReleaseSerializer(data=request.data)
        body.is_valid(raise_exception=True)
        try:
            assignment: Assignment = assignment_release(
                annotator=_user(request),
                project=project,
                assignment_id=assignment_id,
                status=self.release_status,
                reason=body.validated_data["reason"],
            )
        except QueueError as exc:
            return _queue_error(exc)
        return ApiResponse({"id": assignment.pk, "status": assignment.status, "reason": assignment.reason})


class Skip(Release):
    release_status = AssignmentStatus.SKIPPED


class Flag(Release):
    release_status = AssignmentStatus.FLAGGED
