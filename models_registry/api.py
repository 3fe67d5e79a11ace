"""REST API of the model registry: the project's leaderboard of models, and lineage of loop objects.

Admins, researchers and reviewers of the project read it; anyone else gets a 404 for the project.
"""

from __future__ import annotations

from drf_spectacular.utils import extend_schema, inline_serializer
from rest_framework import serializers
from rest_framework.exceptions import NotFound
from rest_framework.request import Request
from rest_framework.response import Response as ApiResponse
from rest_framework.views import APIView

from core.models import Role, User
from core.selectors import project_get_for_user
from models_registry.leaderboard import ELO_MEAN
from models_registry.lineage import LineageNotFound, lineage_of
from models_registry.selectors_leaderboard import leaderboard_standings, standing_as_dict

LEADERBOARD_ROLES = (Role.ADMIN, Role.RESEARCHER, Role.REVIEWER)
LINEAGE_ROLES = (Role.ADMIN, Role.RESEARCHER)

_Standing = inline_serializer(
    "LeaderboardStanding",
    fields={
        "rank": serializers.IntegerField(),
        "model": serializers.CharField(),
        "rating": serializers.FloatField(),
        "ci_low": serializers.FloatField(),
        "ci_high": serializers.FloatField(),
        "battles": serializers.IntegerField(),
        "wins": serializers.IntegerField(),
        "ties": serializers.IntegerField(),
        "losses": serializers.IntegerField(),
    },
    many=True,
)


class Leaderboard(APIView):
    @extend_schema(
        responses=inline_serializer(
            "Leaderboard",
            fields={
                "project": serializers.IntegerField(),
                "scale": serializers.CharField(),
                "mean": serializers.FloatField(),
                "confidence": serializers.FloatField(),
                "standings": _Standing,
            },
        ),
        summary="Bradley-Terry leaderboard of the models judged against each other (Elo scale).",
    )
    def get(self, request: Request, project_id: int) -> ApiResponse:
        user = request.user
        assert isinstance(user, User)
        project = project_get_for_user(user=user, project_id=project_id, roles=LEADERBOARD_ROLES)
        standings = leaderboard_standings(project=project)
        return ApiResponse(
            {
                "project": project.pk,
                "scale": "elo",
                "mean": ELO_MEAN,
                "confidence": 0.95,
                "standings": [standing_as_dict(s) for s in standings],
            }
        )


_Node = inline_serializer(
    "LineageNode",
    fields={
        "kind": serializers.CharField(),
        "id": serializers.IntegerField(),
        "label": serializers.CharField(),
        "detail": serializers.CharField(),
    },
)
_Group = inline_serializer(
    "LineageGroup",
    fields={"title": serializers.CharField(), "total": serializers.IntegerField(), "nodes": _Node},
    many=True,
)


class Lineage(APIView):
    """Where an object came from and what it produced: judgment → snapshot → run → checkpoint → responses."""

    kind = ""

    @extend_schema(
        responses=inline_serializer("Lineage", fields={"node": _Node, "upstream": _Group, "downstream": _Group}),
        summary="Lineage of one object of the loop (upstream and downstream, each list capped at 20 with its total).",
    )
    def get(self, request: Request, project_id: int, **ids: int) -> ApiResponse:
        user = request.user
        assert isinstance(user, User)
        project = project_get_for_user(user=user, project_id=project_id, roles=LINEAGE_ROLES)
        try:
            lineage = lineage_of(project=project, kind=self.kind, pk=ids[f"{self.kind}_id"])
        except LineageNotFound as exc:
            raise NotFound(str(exc)) from exc
        return ApiResponse(lineage.as_dict())
