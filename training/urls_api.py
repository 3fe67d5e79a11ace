from django.urls import path

from training import api

RUN = "projects/<int:project_id>/runs/<int:run_id>/"

urlpatterns = [
    path("projects/<int:project_id>/runs/", api.RunList.as_view(), name="api-runs"),
    path(RUN, api.RunDetail.as_view(), name="api-run"),
    path(RUN + "cancel/", api.RunCancel.as_view(), name="api-run-cancel"),
    path(RUN + "resume/", api.RunResume.as_view(), name="api-run-resume"),
    path(RUN + "metrics/", api.RunMetricList.as_view(), name="api-run-metrics"),
]
