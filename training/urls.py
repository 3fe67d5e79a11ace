from django.urls import path

from training.views import runs, schedules

app_name = "training"

RUN = "projects/<int:project_id>/runs/<int:run_id>/"

urlpatterns = [
    path("projects/<int:project_id>/runs/", runs.run_list_view, name="run_list"),
    path("projects/<int:project_id>/runs/new/", runs.run_create_view, name="run_create"),
    path(RUN, runs.run_detail_view, name="run_detail"),
    path(RUN + "status/", runs.run_status_view, name="run_status"),
    path(RUN + "log/", runs.run_log_view, name="run_log"),
    path(RUN + "curves.json", runs.run_curves_view, name="run_curves"),
    path(RUN + "cancel/", runs.run_cancel_view, name="run_cancel"),
    path(RUN + "resume/", runs.run_resume_view, name="run_resume"),
    path("projects/<int:project_id>/runs/schedules/", schedules.schedule_list_view, name="schedule_list"),
    path(
        "projects/<int:project_id>/runs/schedules/<int:schedule_id>/toggle/",
        schedules.schedule_toggle_view,
        name="schedule_toggle",
    ),
    path(
        "projects/<int:project_id>/runs/schedules/<int:schedule_id>/delete/",
        schedules.schedule_delete_view,
        name="schedule_delete",
    ),
]
