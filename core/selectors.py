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


# Plain SQL, one statement: every API call and page of a project starts here, and the ORM spent
# ~1.5 ms of CPU building and compiling this query with its EXISTS (BENCHMARKS.md, section 1).
_PROJECT_SQL = "SELECT p.* FROM core_project p WHERE p.id = %s"
_PROJECT_WITH_ROLE_SQL = (
    "SELECT p.*, m.role AS member_role FROM core_project p"
    " JOIN core_membership m ON m.project_id = p.id AND m.user_id = %s WHERE p.id = %s"
)


def project_get_for_user(*, user: User, project_id: int, roles: Iterable[Role] | None = None) -> Project:
    """The project if ``user`` holds one of ``roles`` in it (any role when None), else Http404.

    A project the user may not see is indistinguishable from one that does not exist: a guessed id
    never confirms that an object is there.
    """
    if user.is_superuser:
        found = list(Project.objects.raw(_PROJECT_SQL, [project_id]))
    else:
        found = list(Project.objects.raw(_PROJECT_WITH_ROLE_SQL, [user.pk, project_id]))  # one membership per user
        if roles is not None:
            allowed = {str(role) for role in roles}
            found = [project for project in found if project.member_role in allowed]  # type: ignore[attr-defined]
    if not found:
        raise Http404("No such project.")
    return found[0]


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
