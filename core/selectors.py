"""Reads scoped by membership: the only way views reach a project."""

from __future__ import annotations

from collections.abc import Iterable

from django.db.models import QuerySet
from django.http import Http404

from core.models import AuditEvent, Membership, Project, Role, User


def project_list_for_user(*, user: User) -> QuerySet[Project]:
    """Projects the user is a member of (superusers see all)."""
    if user.is_superuser:
        return Project.objects.all()
    return Project.objects.filter(memberships__user=user).distinct()


def membership_get(*, user: User, project: Project) -> Membership | None:
    return Membership.objects.filter(user=user, project=project).first()


def project_get_for_user(*, user: User, project_id: int, roles: Iterable[Role] | None = None) -> Project:
    """The project if ``user`` holds one of ``roles`` in it (any role when None), else Http404.

    A project the user may not see is indistinguishable from one that does not exist: a guessed id
    never confirms that an object is there.
    """
    queryset = Project.objects.filter(pk=project_id)
    if not user.is_superuser:
        memberships = Membership.objects.filter(user=user, project_id=project_id)
        if roles is not None:
            memberships = memberships.filter(role__in=[str(role) for role in roles])
        if not memberships.exists():
            raise Http404("No such project.")
    project = queryset.first()
    if project is None:
        raise Http404("No such project.")
    return project


def audit_events(*, project: Project | None = None, action: str = "") -> QuerySet[AuditEvent]:
    """Audit events, newest first: one project's when ``project`` is given, else the whole site's.

    Callers check who may read them (project admins for a project, staff for the site).
    """
    events = AuditEvent.objects.select_related("actor", "project").order_by("-created_at", "-pk")
    if project is not None:
        events = events.filter(project=project)
    if action:
        events = events.filter(action=action)
    return events


def audit_actions(*, project: Project | None = None) -> list[str]:
    """The action names that occur (in ``project``), for the filter menu."""
    events = AuditEvent.objects.all() if project is None else AuditEvent.objects.filter(project=project)
    return list(events.order_by("action").values_list("action", flat=True).distinct())
