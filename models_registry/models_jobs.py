"""Loop jobs beside scoring: generating candidates with a policy, and checking a reward model against humans.

Both follow the scoring job's discipline: a row with a status, claimed queued → running by a conditional
UPDATE (a redelivered message does nothing), a heartbeat the reaper watches, and nothing half-written: a
generation job stores its responses and items in one transaction after the child finished.
"""

from __future__ import annotations

from django.conf import settings
from django.db import models

from core.models import Project
from models_registry.models import Checkpoint, JobStatus, Pairing, PromptSelection


class GenerationTrigger(models.TextChoices):
    MANUAL = "manual", "Started by an admin"
    PROMOTION = "promotion", "Started by a policy promotion"


class GenerationJob(models.Model):
    """Candidates from ``checkpoint`` (and ``baseline`` for new-vs-previous) for chosen prompts → new items."""

    project = models.ForeignKey(Project, on_delete=models.CASCADE, related_name="generation_jobs")
    checkpoint = models.ForeignKey(Checkpoint, on_delete=models.RESTRICT, related_name="generation_jobs")
    baseline = models.ForeignKey(
        Checkpoint,
        on_delete=models.RESTRICT,
        null=True,
        blank=True,
        related_name="+",
        help_text="The previous active policy, for new-vs-previous pairs.",
    )
    selection = models.CharField(max_length=16, choices=PromptSelection.choices)
    prompt_limit = models.PositiveIntegerField()
    pairing = models.CharField(max_length=16, choices=Pairing.choices)
    params = models.JSONField(default=dict, help_text="Validated ml.generate parameters.")
    trigger = models.CharField(max_length=16, choices=GenerationTrigger.choices, default=GenerationTrigger.MANUAL)
    status = models.CharField(max_length=16, choices=JobStatus.choices, default=JobStatus.QUEUED, db_index=True)
    total = models.PositiveIntegerField(default=0, help_text="Generations to run (prompts x samples x models).")
    done = models.PositiveIntegerField(default=0)
    prompts = models.PositiveIntegerField(default=0)
    responses_created = models.PositiveIntegerField(default=0)
    duplicates = models.PositiveIntegerField(default=0, help_text="Candidates dropped as empty or already known.")
    items_created = models.PositiveIntegerField(default=0)
    cancel_requested = models.BooleanField(default=False)
    error = models.TextField(blank=True)
    created_by = models.ForeignKey(
        settings.AUTH_USER_MODEL, on_delete=models.PROTECT, null=True, blank=True, related_name="+"
    )
    created_at = models.DateTimeField(auto_now_add=True)
    started_at = models.DateTimeField(null=True, blank=True)
    heartbeat_at = models.DateTimeField(null=True, blank=True)
    finished_at = models.DateTimeField(null=True, blank=True)

    class Meta:
        ordering = ["-created_at", "-id"]

    def __str__(self) -> str:
        return f"generation job {self.pk}"

    @property
    def is_finished(self) -> bool:
        return self.status not in (JobStatus.QUEUED, JobStatus.RUNNING)

    @property
    def percent(self) -> int:
        return min(100, int(100 * self.done / self.total)) if self.total else 0


class AgreementCheck(models.Model):
    """How often a reward model prefers what the humans preferred, on one snapshot's preference pairs."""

    project = models.ForeignKey(Project, on_delete=models.CASCADE, related_name="agreement_checks")
    snapshot = models.ForeignKey("curation.DatasetSnapshot", on_delete=models.RESTRICT, related_name="agreement_checks")
    checkpoint = models.ForeignKey(Checkpoint, on_delete=models.RESTRICT, related_name="agreement_checks")
    status = models.CharField(max_length=16, choices=JobStatus.choices, default=JobStatus.QUEUED, db_index=True)
    pairs = models.PositiveIntegerField(default=0)
    agreed = models.PositiveIntegerField(default=0, help_text="Pairs where the model's reward ranks chosen first.")
    mean_p_chosen = models.FloatField(null=True, blank=True)
    error = models.TextField(blank=True)
    created_by = models.ForeignKey(
        settings.AUTH_USER_MODEL, on_delete=models.PROTECT, null=True, blank=True, related_name="+"
    )
    created_at = models.DateTimeField(auto_now_add=True)
    heartbeat_at = models.DateTimeField(null=True, blank=True)
    finished_at = models.DateTimeField(null=True, blank=True)

    class Meta:
        ordering = ["-created_at", "-id"]
        constraints = [
            models.UniqueConstraint(fields=["snapshot", "checkpoint"], name="agreement_one_per_snapshot_checkpoint")
        ]

    def __str__(self) -> str:
        return f"agreement of {self.checkpoint_id} on snapshot {self.snapshot_id}"

    @property
    def accuracy(self) -> float | None:
        return self.agreed / self.pairs if self.pairs else None
