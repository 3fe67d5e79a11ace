"""Users, projects and project roles: the tenancy every other app is scoped by."""

from __future__ import annotations

from typing import Any

from django.conf import settings
from django.contrib.auth.models import AbstractUser
from django.db import models


class TimeStampedModel(models.Model):
    created_at = models.DateTimeField(auto_now_add=True, db_index=True)
    updated_at = models.DateTimeField(auto_now=True)

    class Meta:
        abstract = True


class User(AbstractUser):
    """Our own user model from the first migration, so fields can be added without a swap later."""

    display_name = models.CharField(max_length=150, blank=True)

    def __str__(self) -> str:
        return self.display_name or self.username


class Role(models.TextChoices):
    ANNOTATOR = "annotator", "Annotator"
    REVIEWER = "reviewer", "Reviewer"
    RESEARCHER = "researcher", "Researcher"
    ADMIN = "admin", "Admin"


class TaskKind(models.TextChoices):
    PAIRWISE = "pairwise", "Pairwise comparison"
    RANKING = "ranking", "K-wise ranking"
    RATING = "rating", "Multi-aspect rating"
    FREE_TEXT = "free_text", "Critique and edit"


class Project(TimeStampedModel):
    """The tenant. Every domain object hangs off a project; access is by membership only.

    The task fields are plain data here; their meaning and validation live in ``annotation.schemas``
    (``task_config`` is checked against the schema of ``task_kind`` whenever a project is saved
    through ``annotation.services.projects``).
    """

    name = models.CharField(max_length=200)
    slug = models.SlugField(max_length=80, unique=True)
    description = models.TextField(blank=True)
    guidelines = models.TextField(blank=True, help_text="Markdown shown to annotators.")
    task_kind = models.CharField(max_length=16, choices=TaskKind.choices, default=TaskKind.PAIRWISE)
    task_config = models.JSONField(default=dict, blank=True)
    overlap = models.PositiveSmallIntegerField(default=1, help_text="Judgments wanted per item (k).")
    lease_ttl_seconds = models.PositiveIntegerField(default=900, help_text="How long a claimed item stays reserved.")
    blind_sources = models.BooleanField(default=True, help_text="Hide where each response came from.")
    randomise_order = models.BooleanField(default=True, help_text="Shuffle response order per assignment.")
    created_by = models.ForeignKey(
        settings.AUTH_USER_MODEL, on_delete=models.PROTECT, related_name="+", null=True, blank=True
    )

    class Meta:
        ordering = ["name"]

    def __str__(self) -> str:
        return self.name


class Membership(TimeStampedModel):
    user = models.ForeignKey(settings.AUTH_USER_MODEL, on_delete=models.CASCADE, related_name="memberships")
    project = models.ForeignKey(Project, on_delete=models.CASCADE, related_name="memberships")
    role = models.CharField(max_length=16, choices=Role.choices)

    class Meta:
        constraints = [models.UniqueConstraint(fields=["user", "project"], name="membership_unique_user_project")]
        indexes = [models.Index(fields=["project", "role"])]

    def __str__(self) -> str:
        return f"{self.user} in {self.project} as {self.role}"


class AppendOnlyError(Exception):
    pass


class AuditEventQuerySet(models.QuerySet["AuditEvent"]):
    """Bulk writes are refused too: ``.update()`` and ``.delete()`` bypass ``save()`` and ``delete()``."""

    def update(self, **kwargs: Any) -> int:
        raise AppendOnlyError("Audit events are append-only.")

    def delete(self) -> tuple[int, dict[str, int]]:
        raise AppendOnlyError("Audit events are append-only.")


class AuditEvent(models.Model):
    """One security-relevant action: who did what, to what, in which project, from where.

    Append-only: rows are written by ``core.audit.audit_record`` and never changed or deleted by the
    application (the admin shows them read-only). Deleting the actor or the project keeps the event:
    Django sets the foreign key to NULL (a bulk SQL update, not ``save()``) and ``actor_label`` still names who it was.
    """

    actor = models.ForeignKey(
        settings.AUTH_USER_MODEL, on_delete=models.SET_NULL, null=True, blank=True, related_name="+"
    )
    actor_label = models.CharField(max_length=150, blank=True, help_text="The actor's username when it happened.")
    project = models.ForeignKey(Project, on_delete=models.SET_NULL, null=True, blank=True, related_name="+")
    action = models.CharField(max_length=64, db_index=True)
    target_type = models.CharField(max_length=100, blank=True)
    target_id = models.CharField(max_length=64, blank=True)
    details = models.JSONField(default=dict, blank=True)
    ip = models.GenericIPAddressField(null=True, blank=True)
    created_at = models.DateTimeField(auto_now_add=True, db_index=True)

    objects = AuditEventQuerySet.as_manager()

    class Meta:
        ordering = ["-created_at", "-pk"]
        indexes = [models.Index(fields=["project", "created_at"], name="audit_by_project")]

    def __str__(self) -> str:
        return f"{self.action} by {self.actor_label or 'system'}"

    def save(self, *args: Any, **kwargs: Any) -> None:
        if self.pk is not None and not kwargs.get("force_insert"):
            raise AppendOnlyError("Audit events are append-only.")
        super().save(*args, **kwargs)

    def delete(self, *args: Any, **kwargs: Any) -> tuple[int, dict[str, int]]:
        raise AppendOnlyError("Audit events are append-only.")
