"""The annotator's page and its endpoints, under ``projects/<project_id>/annotate/``."""

from django.urls import path

from annotation.views import annotate

urlpatterns = [
    path("", annotate.annotate, name="annotate"),
    path("next/", annotate.prefetch, name="prefetch"),
    path("<int:assignment_id>/submit/", annotate.submit, name="submit"),
    path("<int:assignment_id>/skip/", annotate.skip, name="skip"),
    path("<int:assignment_id>/flag/", annotate.flag, name="flag"),
]
