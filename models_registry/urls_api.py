from django.urls import path

from models_registry import api
from models_registry.lineage import KINDS

urlpatterns = [
    path("projects/<int:project_id>/leaderboard/", api.Leaderboard.as_view(), name="api-leaderboard"),
    *(
        path(
            f"projects/<int:project_id>/lineage/{kind}/<int:{kind}_id>/",
            api.Lineage.as_view(kind=kind),
            name=f"api-lineage-{kind}",
        )
        for kind in KINDS
    ),
]
