"""REST API of the model registry: the project's leaderboard of models.

Admins, researchers and reviewers of the project read it; anyone else gets a 404 for the project.
"""

from __future__ import annotations

from drf_spectacular.utils import extend_schema, inline_serializer
from rest_framework import serializers
from rest_framework.request import Request
from rest_framework.response import Response as ApiResponse
from rest_framework.views import APIView

from core.models import Role, User
from core.selectors import project_get_for_user
from models_registry.leaderboard import ELO_MEAN
from models_registry.selectors_leaderboard import leaderboard_standings, standing_as_dict

LEADERBOARD_ROLES = (Role.ADMIN, Role.RESEARCHER, Role.REVIEWER)

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
