from django.urls import path

from annotation import api, api_imports

urlpatterns = [
    path("projects/", api.ProjectList.as_view(), name="api-projects"),
    path("projects/<int:project_id>/", api.ProjectDetail.as_view(), name="api-project"),
    path("projects/<int:project_id>/items/", api.ItemList.as_view(), name="api-items"),
    path("projects/<int:project_id>/items/<int:item_id>/", api.ItemDetail.as_view(), name="api-item"),
    path("projects/<int:project_id>/judgments/", api.JudgmentList.as_view(), name="api-judgments"),
    path("projects/<int:project_id>/queue/claim/", api.Claim.as_view(), name="api-claim"),
    path("projects/<int:project_id>/assignments/<int:assignment_id>/submit/", api.Submit.as_view(), name="api-submit"),
    path(
        "projects/<int:project_id>/assignments/<int:assignment_id>/submit-next/",
        api.SubmitNext.as_view(),
        name="api-submit-next",
    ),
    path("projects/<int:project_id>/assignments/<int:assignment_id>/skip/", api.Skip.as_view(), name="api-skip"),
    path("projects/<int:project_id>/assignments/<int:assignment_id>/flag/", api.Flag.as_view(), name="api-flag"),
    path("projects/<int:project_id>/imports/", api_imports.ImportJobList.as_view(), name="api-imports"),
    path("projects/<int:project_id>/imports/<int:job_id>/", api_imports.ImportJobDetail.as_view(), name="api-import"),
]
