from django.urls import include, path

app_name = "annotation"

urlpatterns = [
    path("", include("annotation.urls_manage")),
    path("projects/<int:project_id>/annotate/", include("annotation.urls_annotate")),
    path("projects/<int:project_id>/imports/", include("annotation.urls_imports")),
]
