"""Import jobs: one row per uploaded file, with its status, progress and summary."""

from __future__ import annotations

from django.conf import settings
from django.db import models

from annotation.imports.records import FORMAT_LABELS, SHAPE_LABELS, FileFormat, Shape
from core.models import Project, TimeStampedModel


class ImportStatus(models.TextChoices):
    QUEUED = "queued", "Queued"
    RUNNING = "running", "Running"
    SUCCEEDED = "succeeded", "Succeeded"
    FAILED = "failed", "Failed"


class ImportPhase(models.TextChoices):
    WAITING = "", "Waiting"
    CHECKING = "checking", "Checking every row"
    WRITING = "writing", "Writing"


FINISHED = (ImportStatus.SUCCEEDED, ImportStatus.FAILED)
# Errors kept on the row; ``error_count`` has the total.
MAX_STORED_ERRORS = 50


class ImportJob(TimeStampedModel):
    """One uploaded (or URL-fetched) file and what its import did.

    Lifecycle: ``queued`` -> ``running`` (claimed by one task run with a conditional UPDATE) ->
    ``succeeded`` or ``failed``. All or nothing: a failed job wrote no prompt, response or item.
    The uploaded file is deleted once the job has finished; ``file_path`` stays as a record.
    """

    project = models.ForeignKey(Project, on_delete=models.CASCADE, related_name="import_jobs")
    created_by = models.ForeignKey(
        settings.AUTH_USER_MODEL, on_delete=models.SET_NULL, null=True, blank=True, related_name="+"
    )
    original_filename = models.CharField(max_length=255)
    # Import from a URL: the worker downloads it through core.security.outbound (annotation.imports.fetch)
    # and only then sets file_path and file_size. Empty for uploads.
    source_url = models.URLField(max_length=2000, blank=True, default="")
    file_path = models.CharField(max_length=255, help_text="Relative to MEDIA_ROOT.")
    file_size = models.BigIntegerField()
    format = models.CharField(max_length=8, choices=[(f.value, FORMAT_LABELS[f]) for f in FileFormat])
    shape = models.CharField(
        max_length=16,
        blank=True,
        choices=[(s.value, SHAPE_LABELS[s]) for s in Shape],
        help_text="Empty until detected from the first row, unless chosen on upload.",
    )
    status = models.CharField(max_length=16, choices=ImportStatus.choices, default=ImportStatus.QUEUED)
    phase = models.CharField(max_length=16, choices=ImportPhase.choices, blank=True, default=ImportPhase.WAITING)

    # Progress: rows checked in pass 1, rows written in pass 2, and the row count (an estimate from
    # the bytes read until pass 1 has counted every row; exact from the Parquet footer).
    rows_read = models.PositiveIntegerField(default=0)
    rows_written = models.PositiveIntegerField(default=0)
    total_rows = models.PositiveIntegerField(null=True, blank=True)

    # Summary. "duplicate" counts what was already there (in the project or earlier in the file) and
    # was reused or skipped rather than written twice.
    prompts_created = models.PositiveIntegerField(default=0)
    prompts_duplicate = models.PositiveIntegerField(default=0)
    responses_created = models.PositiveIntegerField(default=0)
    responses_duplicate = models.PositiveIntegerField(default=0)
    items_created = models.PositiveIntegerField(default=0)
    items_duplicate = models.PositiveIntegerField(default=0)
    error_count = models.PositiveIntegerField(default=0)
    errors = models.JSONField(default=list, blank=True, help_text="Up to 50 of {line, field, message}.")

    started_at = models.DateTimeField(null=True, blank=True)
    heartbeat_at = models.DateTimeField(null=True, blank=True)
    finished_at = models.DateTimeField(null=True, blank=True)

    class Meta:
        indexes = [models.Index(fields=["project", "-created_at"], name="importjob_by_project")]

    def __str__(self) -> str:
        return f"Import {self.pk} ({self.status})"

    @property
    def is_finished(self) -> bool:
        return self.status in FINISHED

    @property
    def duplicates_skipped(self) -> int:
        return self.prompts_duplicate + self.responses_duplicate + self.items_duplicate

    @property
    def row_word(self) -> str:
        """What the file's errors count in: JSONL has lines, CSV and Parquet rows."""
        return "line" if self.format == FileFormat.JSONL else "row"
