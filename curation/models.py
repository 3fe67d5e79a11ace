"""Dataset snapshots: immutable, content-hashed exports of a project's judgments in TRL's formats."""

from __future__ import annotations

from typing import Any

from django.conf import settings
from django.db import models

from core.models import Project
from curation.exporters.options import filters_parse, options_parse


class SnapshotStatus(models.TextChoices):
    QUEUED = "queued", "Queued"
    RUNNING = "running", "Running"
    SUCCEEDED = "succeeded", "Succeeded"
    FAILED = "failed", "Failed"


FINISHED_STATUSES = (SnapshotStatus.SUCCEEDED, SnapshotStatus.FAILED)
MANIFEST_NAME = "manifest.json"


class ImmutableSnapshotError(Exception):
    pass


class DatasetSnapshot(models.Model):
    """One export of a project's feedback: a filter spec, the files written from it, and their hashes.

    Lifecycle: ``queued -> running -> succeeded | failed``. Each step is a conditional UPDATE on the
    current status (``curation.services.snapshots``), so a build task delivered twice claims the row
    once and the second delivery does nothing. Once ``succeeded`` the row and its files never change:
    ``save()`` refuses, the service only updates rows whose status is not ``succeeded``, and the files
    are made read-only. ``sha256`` is the hash of ``manifest.json``, which lists every data file's
    sha256, so one value identifies the whole snapshot's content.
    """

    project = models.ForeignKey(Project, on_delete=models.CASCADE, related_name="snapshots")
    created_by = models.ForeignKey(
        settings.AUTH_USER_MODEL, on_delete=models.PROTECT, related_name="+", null=True, blank=True
    )
    name = models.CharField(max_length=200)
    filters = models.JSONField(default=dict, help_text="Validated filter spec (curation.exporters.options).")
    options = models.JSONField(default=dict, help_text="Validated export options (curation.exporters.options).")
    status = models.CharField(max_length=16, choices=SnapshotStatus.choices, default=SnapshotStatus.QUEUED)
    progress_done = models.PositiveIntegerField(default=0, help_text="Judgments processed so far.")
    progress_total = models.PositiveIntegerField(default=0, help_text="Judgments matching the filters.")
    counts = models.JSONField(default=dict, blank=True, help_text="Rows per table and origin.")
    files = models.JSONField(default=list, blank=True, help_text="[{name, path, rows, sha256, bytes}]")
    manifest = models.JSONField(default=dict, blank=True)
    sha256 = models.CharField(max_length=64, blank=True, help_text="sha256 of manifest.json.")
    error = models.TextField(blank=True)
    created_at = models.DateTimeField(auto_now_add=True, db_index=True)
    started_at = models.DateTimeField(null=True, blank=True)
    heartbeat_at = models.DateTimeField(null=True, blank=True, help_text="Last progress write of a running build.")
    finished_at = models.DateTimeField(null=True, blank=True)

    class Meta:
        ordering = ["-created_at", "-id"]
        indexes = [models.Index(fields=["project", "-created_at"], name="snapshot_by_project")]

    def __str__(self) -> str:
        return f"Snapshot {self.pk} ({self.status})"

    def save(self, *args: Any, **kwargs: Any) -> None:
        # Checked against the stored row, not this instance: an in-memory copy with a stale status
        # must not be able to overwrite a snapshot that has since succeeded.
        if self.pk is not None and DatasetSnapshot.objects.filter(pk=self.pk, status=SnapshotStatus.SUCCEEDED).exists():
            raise ImmutableSnapshotError("A succeeded snapshot is immutable; create a new snapshot instead.")
        if self._state.adding:
            # Whatever path creates the row (service, admin, shell), only a valid spec is stored, in
            # its normalised form (defaults filled in), so the manifest states every choice made.
            self.filters = filters_parse(self.filters).model_dump(mode="json")
            self.options = options_parse(self.options).model_dump(mode="json")
        super().save(*args, **kwargs)

    @property
    def is_finished(self) -> bool:
        return self.status in FINISHED_STATUSES

    @property
    def folder(self) -> str:
        """The snapshot's folder, relative to MEDIA_ROOT."""
        return f"snapshots/{self.project_id}/{self.pk}"


from curation.models_quality import *  # noqa: E402,F403
