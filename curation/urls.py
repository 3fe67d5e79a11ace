from django.urls import path

from curation import views

app_name = "curation"

urlpatterns = [
    path("projects/<int:project_id>/snapshots/", views.snapshot_list_view, name="snapshot_list"),
    path("projects/<int:project_id>/snapshots/new/", views.snapshot_create_view, name="snapshot_create"),
    path("projects/<int:project_id>/snapshots/<int:snapshot_id>/", views.snapshot_detail_view, name="snapshot_detail"),
    path(
        "projects/<int:project_id>/snapshots/<int:snapshot_id>/status/",
        views.snapshot_status_view,
        name="snapshot_status",
    ),
    path(
        "projects/<int:project_id>/snapshots/<int:snapshot_id>/files/<str:name>",
        views.snapshot_download_view,
        name="snapshot_download",
    ),
]
