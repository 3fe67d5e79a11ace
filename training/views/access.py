"""Who reaches training pages: researchers and admins see runs; only admins start, cancel or schedule.

Anyone else (annotators, reviewers, other projects' members) gets a 404 for the project and so for every
run in it; a researcher pressing an admin's button gets a 403.
"""

from __future__ import annotations

from django.core.exceptions import PermissionDenied
from django.http import HttpRequest

from core.models import Project, User
from core.selectors import project_get_for_user
from training.services.runs import VIEW_ROLES, run_may_manage

# htmx stops polling an element when its request answers 286.
HTMX_STOP_POLLING = 286


def request_user(request: HttpRequest) -> User:
    assert isinstance(request.user, User)  # login_required ran first
    return request.user


def viewable_project(request: HttpRequest, project_id: int) -> Project:
    return project_get_for_user(user=request_user(request), project_id=project_id, roles=list(VIEW_ROLES))


def managed_project(request: HttpRequest, project_id: int) -> Project:
    project = viewable_project(request, project_id)
    if not run_may_manage(user=request_user(request), project=project):
        raise PermissionDenied("Only admins of this project manage training.")
    return project


def can_manage(request: HttpRequest, project: Project) -> bool:
    return run_may_manage(user=request_user(request), project=project)
