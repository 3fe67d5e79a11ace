from django.urls import path

from models_registry import views

app_name = "models_registry"

BASE = "projects/<int:project_id>/checkpoints/"

urlpatterns = [
    path(BASE, views.checkpoint_list_view, name="checkpoint_list"),
    path(BASE + "<int:checkpoint_id>/promote/", views.checkpoint_promote_view, name="checkpoint_promote"),
    path(BASE + "rollback/", views.alias_rollback_view, name="alias_rollback"),
    path(BASE + "settings/", views.loop_settings_view, name="loop_settings"),
    path(BASE + "scoring/", views.scoring_start_view, name="scoring_start"),
    path(BASE + "scoring/<int:scoring_job_id>/", views.scoring_status_view, name="scoring_status"),
    path("projects/<int:project_id>/leaderboard/", views.leaderboard_view, name="leaderboard"),
]
