from django.urls import path

from annotation.views import manage

urlpatterns = [
    path("projects/new/", manage.project_create, name="project_create"),
    path("projects/<int:project_id>/", manage.project_detail, name="project_detail"),
    path("projects/<int:project_id>/members/", manage.members, name="members"),
    path("projects/<int:project_id>/members/<int:membership_id>/", manage.member_change, name="member_change"),
]
