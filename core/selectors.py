"""Reads scoped by membership: the only way views reach a project."""

from __future__ import annotations

from collections.abc import Iterable

from django.db import connection
from django.db.models import QuerySet
from django.http import Http404

from core.db import columns, model_from_row
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
_PROJECT_SQL = "SELECT {columns}, NULL FROM core_project p WHERE p.id = %s"
_PROJECT_WITH_ROLE_SQL = (
    "SELECT {columns}, m.role FROM core_project p"
    " JOIN core_membership m ON m.project_id = p.id AND m.user_id = %s WHERE p.id = %s"
)


def project_get_for_user(*, user: User, project_id: int, roles: Iterable[Role] | None = None) -> Project:
    """The project if ``user`` holds one of ``roles`` in it (any role when None), else Http404.

    A project the user may not see is indistinguishable from one that does not exist: a guessed id
    never confirms that an object is there. The caller's role rides along as ``member_role`` (None for
    a superuser who is not a member).
    """
    with connection.cursor() as cursor:
        if user.is_superuser:
            cursor.execute(_PROJECT_SQL.format(columns=columns(Project, "p")), [project_id])
        else:  # one membership per user and project
            cursor.execute(_PROJECT_WITH_ROLE_SQL.format(columns=columns(Project, "p")), [user.pk, project_id])
        row = cursor.fetchone()
    if row is None or (not user.is_superuser and roles is not None and row[-1] not in {str(r) for r in roles}):
        raise Http404("No such project.")
    project = model_from_row(Project, row[:-1])
    project.member_role = row[-1]  # type: ignore[attr-defined]
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
