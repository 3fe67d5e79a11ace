"""Writes for users, projects and memberships."""

from __future__ import annotations

import secrets
from dataclasses import dataclass

from django.db import transaction
from django.utils.text import slugify

from core.models import Membership, Project, Role, User


@dataclass(frozen=True)
class CreatedAdmin:
    user: User
    password: str | None  # None when the account already existed: a password is shown only once.


def admin_ensure(*, username: str, email: str = "") -> CreatedAdmin:
    """Create the first superuser with a generated password; never a default one.

    Idempotent: when the user exists nothing changes and no password is returned.
    """
    existing = User.objects.filter(username=username).first()
    if existing is not None:
        return CreatedAdmin(user=existing, password=None)
    password = secrets.token_urlsafe(18)
    user = User.objects.create_superuser(username=username, email=email, password=password)
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
    return project


def membership_set(*, project: Project, user: User, role: Role) -> Membership:
    membership, _ = Membership.objects.update_or_create(project=project, user=user, defaults={"role": role})
    return membership
