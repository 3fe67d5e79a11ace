from django.urls import path

from curation import api

urlpatterns = [
    path("projects/<int:project_id>/snapshots/", api.SnapshotList.as_view(), name="api-snapshots"),
    path("projects/<int:project_id>/snapshots/<int:snapshot_id>/", api.SnapshotDetail.as_view(), name="api-snapshot"),
    path(
        "projects/<int:project_id>/snapshots/<int:snapshot_id>/files/<str:name>",
        api.SnapshotFile.as_view(),
        name="api-snapshot-file",
    ),
]
