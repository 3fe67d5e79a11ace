from django.urls import path

from models_registry import api

urlpatterns = [
    path("projects/<int:project_id>/leaderboard/", api.Leaderboard.as_view(), name="api-leaderboard"),
]
