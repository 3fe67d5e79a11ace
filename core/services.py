"""Writes for users, projects and memberships."""

from __future__ import annotations

import secrets
from dataclasses import dataclass

from django.db import transaction
from django.utils.text import slugify
from rest_framework.authtoken.models import Token

from core.audit import AuditAction, audit_record
from core.models import Membership, Project, Role, User


@dataclass(frozen=True)
class CreatedAdmin:
    user: User
    password: str | None  # None when the account already existed: a password is shown only once.


@transaction.atomic
def admin_ensure(*, username: str, email: str = "") -> CreatedAdmin:
    """Create the first superuser with a generated password; never a default one.

    Idempotent: when the user exists nothing changes and no password is returned.
    """
    existing = User.objects.filter(username=username).first()
    if existing is not None:
        return CreatedAdmin(user=existing, password=None)
    password = secrets.token_urlsafe(18)
    user = User.objects.create_superuser(username=username, email=email, password=password)
    # The password is shown once to whoever ran the command; the log only says an admin was made.
    audit_record(actor=None, action=AuditAction.ADMIN_CREATE, target=user, details={"username": username})
    return CreatedAdmin(user=user, password=password)


def _unique_slug(name: str) -> str:
    base = slugify(name)[:60] or "project"
    slug, n = base, 1
    while Project.objects.filter(slug=slug).exists():
        n += 1
        slug = f"{base}-{n}"
    return slug


@transaction.atomic
def project_create(*, name: str, created_by: User | None, description: str = "") -> Project:
    project = Project.objects.create(name=name, slug=_unique_slug(name), description=description, created_by=created_by)
    if created_by is not None:
        Membership.objects.create(user=created_by, project=project, role=Role.ADMIN)
    audit_record(actor=created_by, action=AuditAction.PROJECT_CREATE, project=project, target=project)
    return project


@transaction.atomic
def membership_set(*, project: Project, user: User, role: Role, actor: User | None = None) -> Membership:
    """Give ``user`` ``role`` in ``project`` (added or changed); an actual change is audited."""
    before = Membership.objects.select_for_update().filter(project=project, user=user).first()
    membership, _ = Membership.objects.update_or_create(project=project, user=user, defaults={"role": role})
    if before is None or before.role != membership.role:
        audit_record(
            actor=actor,
            action=AuditAction.MEMBERSHIP_SET,
            project=project,
            target=user,
            details={"username": user.get_username(), "from": before.role if before else None, "to": str(role)},
        )
    return membership


class LastAdminError(ValueError):
    pass


@transaction.atomic
def membership_change(
    *, project: Project, user: User, role: Role | None, actor: User | None = None
) -> Membership | None:
    """Set ``user``'s role in ``project`` (None removes them). A project always keeps one admin.

    ``actor`` is who asked (the project admin), recorded in the audit log with the old and new role.
    """
    current = Membership.objects.select_for_update().filter(project=project, user=user).first()
    if current is not None and current.role == Role.ADMIN and role != Role.ADMIN:
        admins = Membership.objects.select_for_update().filter(project=project, role=Role.ADMIN).count()
        if admins <= 1:
            raise LastAdminError("A project needs at least one admin: make someone else admin first.")
    if role is None:
        if current is not None:
            current.delete()
            audit_record(
                actor=actor,
                action=AuditAction.MEMBERSHIP_REMOVE,
                project=project,
                target=user,
                details={"username": user.get_username(), "from": current.role, "to": None},
            )
        return None
    return membership_set(project=project, user=user, role=role, actor=actor)


@transaction.atomic
def token_rotate(*, user: User) -> Token:
    """A fresh API token for ``user``; any previous one is deleted first. Audited without the key."""
    replaced, _ = Token.objects.filter(user=user).delete()
    token: Token = Token.objects.create(user=user)
    audit_record(actor=user, action=AuditAction.API_KEY_ROTATE, target=user, details={"replaced": bool(replaced)})
    return token
