"""Import pages, included by annotation/urls.py under ``projects/<int:project_id>/imports/``."""

from django.urls import path

from annotation.views import imports

urlpatterns = [
    path("", imports.import_list, name="import_list"),
    path("new/", imports.import_create, name="import_create"),
    path("<int:job_id>/", imports.import_detail, name="import_detail"),
    path("<int:job_id>/status/", imports.import_status, name="import_status"),
]
