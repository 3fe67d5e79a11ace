from django.urls import path

from models_registry import views, views_lineage, views_loop
from models_registry.lineage import KINDS

app_name = "models_registry"

BASE = "projects/<int:project_id>/checkpoints/"

urlpatterns = [
    path(BASE, views.checkpoint_list_view, name="checkpoint_list"),
    path(BASE + "<int:checkpoint_id>/promote/", views.checkpoint_promote_view, name="checkpoint_promote"),
    path(BASE + "rollback/", views.alias_rollback_view, name="alias_rollback"),
    path(BASE + "settings/", views.loop_settings_view, name="loop_settings"),
    path(BASE + "scoring/", views.scoring_start_view, name="scoring_start"),
    path(BASE + "scoring/<int:scoring_job_id>/", views.scoring_status_view, name="scoring_status"),
    path(BASE + "generation/", views_loop.generation_start_view, name="generation_start"),
    path(BASE + "generation/<int:generation_job_id>/", views_loop.generation_status_view, name="generation_status"),
    path(
        BASE + "generation/<int:generation_job_id>/cancel/",
        views_loop.generation_cancel_view,
        name="generation_cancel",
    ),
    path(BASE + "agreement/", views_loop.agreement_start_view, name="agreement_start"),
    path("projects/<int:project_id>/leaderboard/", views.leaderboard_view, name="leaderboard"),
    *(
        path(
            f"projects/<int:project_id>/lineage/{kind}/<int:{kind}_id>/",
            views_lineage.lineage_view,
            {"kind": kind},
            name=f"lineage_{kind}",
        )
        for kind in KINDS
    ),
]
