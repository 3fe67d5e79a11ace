from django.urls import path

from models_registry import api, api_loop
from models_registry.lineage import KINDS

PROJECT = "projects/<int:project_id>/"
CHECKPOINT = PROJECT + "checkpoints/<int:checkpoint_id>/"
GENERATION_JOB = PROJECT + "generation-jobs/<int:generation_job_id>/"

urlpatterns = [
    path(PROJECT + "leaderboard/", api.Leaderboard.as_view(), name="api-leaderboard"),
    *(
        path(
            f"projects/<int:project_id>/lineage/{kind}/<int:{kind}_id>/",
            api.Lineage.as_view(kind=kind),
            name=f"api-lineage-{kind}",
        )
        for kind in KINDS
    ),
    path(PROJECT + "checkpoints/", api_loop.CheckpointList.as_view(), name="api-checkpoints"),
    path(CHECKPOINT, api_loop.CheckpointDetail.as_view(), name="api-checkpoint"),
    path(CHECKPOINT + "promote/", api_loop.CheckpointPromote.as_view(), name="api-checkpoint-promote"),
    path(PROJECT + "aliases/<str:alias>/rollback/", api_loop.AliasRollback.as_view(), name="api-alias-rollback"),
    path(PROJECT + "generation-jobs/", api_loop.GenerationJobList.as_view(), name="api-generation-jobs"),
    path(GENERATION_JOB, api_loop.GenerationJobDetail.as_view(), name="api-generation-job"),
    path(GENERATION_JOB + "cancel/", api_loop.GenerationJobCancel.as_view(), name="api-generation-job-cancel"),
    path(PROJECT + "scoring-jobs/", api_loop.ScoringJobList.as_view(), name="api-scoring-jobs"),
    path(PROJECT + "scoring-jobs/<int:scoring_job_id>/", api_loop.ScoringJobDetail.as_view(), name="api-scoring-job"),
]
