"""The checkpoint registry: every model the loop may load, with the hashes it must still match.

A checkpoint is either the output of a training run (its folder is moved under the checkpoints root,
``MEDIA_ROOT/checkpoints``, and ``location`` is relative to it) or an external base model registered from
a local directory (``location`` is then that absolute path, unless the folder lies inside the root).
Weights are safetensors only; ``sha256`` maps each weight file to the hash recorded when the checkpoint
was registered, so a folder swapped or edited on disk afterwards is refused instead of loaded.
"""

from __future__ import annotations

import os
from pathlib import Path

from django.conf import settings
from django.db import models

from core.models import Project

CHECKPOINTS_DIR = "checkpoints"


class CheckpointKind(models.TextChoices):
    REWARD = "reward", "Reward model"
    POLICY = "policy", "Policy (causal LM)"


class UnsafeLocationError(ValueError):
    """A relative location that resolves outside the checkpoints root."""


def checkpoints_root() -> Path:
    """Read at call time: tests and deployments point MEDIA_ROOT elsewhere after import."""
    return Path(os.path.realpath(Path(settings.MEDIA_ROOT) / CHECKPOINTS_DIR))


class Checkpoint(models.Model):
    project = models.ForeignKey(Project, on_delete=models.CASCADE, related_name="checkpoints")
    kind = models.CharField(max_length=16, choices=CheckpointKind.choices)
    name = models.CharField(max_length=200)
    # RESTRICT, not PROTECT: lineage rows block deleting a run or snapshot on their own, but not the
    # project-wide cascade that deletes them together.
    run = models.ForeignKey(
        "training.TrainingRun", on_delete=models.RESTRICT, null=True, blank=True, related_name="checkpoints"
    )
    snapshot = models.ForeignKey(
        "curation.DatasetSnapshot", on_delete=models.RESTRICT, null=True, blank=True, related_name="checkpoints"
    )
    location = models.CharField(
        max_length=1000, help_text="Relative to the checkpoints root, or an absolute base-model directory."
    )
    sha256 = models.JSONField(default=dict, help_text="{weight file path relative to the folder: sha256}.")
    manifest = models.JSONField(default=dict, blank=True, help_text="The ml manifest (empty for base models).")
    metrics = models.JSONField(default=dict, blank=True, help_text="Evaluation metrics of the training run.")
    created_by = models.ForeignKey(
        settings.AUTH_USER_MODEL, on_delete=models.PROTECT, related_name="+", null=True, blank=True
    )
    created_at = models.DateTimeField(auto_now_add=True, db_index=True)

    class Meta:
        ordering = ["-created_at", "-id"]
        constraints = [
            # One registered model per run: registering is idempotent, a redelivered task finds this row.
            models.UniqueConstraint(
                fields=["run"], condition=models.Q(run__isnull=False), name="checkpoint_one_per_run"
            )
        ]
        indexes = [models.Index(fields=["project", "kind", "-created_at"], name="checkpoint_by_project_kind")]

    def __str__(self) -> str:
        return self.name

    @property
    def is_base(self) -> bool:
        return self.run_id is None

    @property
    def path(self) -> Path:
        """The folder on disk. A relative location must stay inside the checkpoints root (no ``..``)."""
        location = Path(self.location)
        if location.is_absolute():
            return location
        root = checkpoints_root()
        folder = Path(os.path.realpath(root / location))
        if os.path.commonpath([root, folder]) != str(root):
            raise UnsafeLocationError(f"checkpoint location {self.location!r} leaves the checkpoints root")
        return folder


class AliasName(models.TextChoices):
    ACTIVE_REWARD = "active-reward", "Active reward model"
    ACTIVE_POLICY = "active-policy", "Active policy"


ALIAS_KIND = {AliasName.ACTIVE_REWARD: CheckpointKind.REWARD, AliasName.ACTIVE_POLICY: CheckpointKind.POLICY}


class Alias(models.Model):
    """Which checkpoint a project's loop uses now. Changed only by ``alias_promote`` / ``alias_rollback``."""

    project = models.ForeignKey(Project, on_delete=models.CASCADE, related_name="aliases")
    name = models.CharField(max_length=32, choices=AliasName.choices)
    checkpoint = models.ForeignKey(Checkpoint, on_delete=models.RESTRICT, related_name="aliases")
    updated_at = models.DateTimeField(auto_now=True)

    class Meta:
        constraints = [models.UniqueConstraint(fields=["project", "name"], name="alias_one_per_project_name")]

    def __str__(self) -> str:
        return f"{self.name} → {self.checkpoint_id}"


class AliasEventKind(models.TextChoices):
    PROMOTE = "promote", "Promoted"
    AUTO_PROMOTE = "auto_promote", "Promoted by the gate"
    ROLLBACK = "rollback", "Rolled back"
    GATE_HOLD = "gate_hold", "Held by the gate"


class AliasEvent(models.Model):
    """Append-only history of an alias: who pointed it where, when, and why (the gate's reason)."""

    project = models.ForeignKey(Project, on_delete=models.CASCADE, related_name="alias_events")
    alias = models.CharField(max_length=32, choices=AliasName.choices)
    kind = models.CharField(max_length=16, choices=AliasEventKind.choices)
    checkpoint = models.ForeignKey(Checkpoint, on_delete=models.RESTRICT, related_name="alias_events")
    previous = models.ForeignKey(
        Checkpoint, on_delete=models.RESTRICT, null=True, blank=True, related_name="+", help_text="Before the event."
    )
    actor = models.ForeignKey(
        settings.AUTH_USER_MODEL, on_delete=models.PROTECT, null=True, blank=True, related_name="+"
    )
    reason = models.TextField(blank=True)
    created_at = models.DateTimeField(auto_now_add=True, db_index=True)

    class Meta:
        ordering = ["-created_at", "-id"]

    def __str__(self) -> str:
        return f"{self.alias} {self.kind} {self.checkpoint_id}"


class PriorityStrategy(models.TextChoices):
    UNCERTAINTY = "uncertainty", "Uncertainty (reward model)"
    ENSEMBLE = "ensemble", "Ensemble disagreement (several reward models)"
    RANDOM = "random", "Random"
    FIFO = "fifo", "First in, first out"


class PromptSelection(models.TextChoices):
    NEW = "new", "Prompts with no generated responses yet"
    LOW_AGREEMENT = "low_agreement", "Prompts whose items have the lowest agreement"
    SAMPLE = "sample", "A random sample of the pool"


class Pairing(models.TextChoices):
    VS_PREVIOUS = "vs_previous", "New policy against the previous active policy"
    TWO_SAMPLES = "two_samples", "Samples of the new policy against each other"


class LoopSettings(models.Model):
    """Per-project settings of the loop (kept here so core.Project stays free of domain fields)."""

    project = models.OneToOneField(Project, on_delete=models.CASCADE, related_name="loop_settings")
    priority_strategy = models.CharField(
        max_length=16, choices=PriorityStrategy.choices, default=PriorityStrategy.UNCERTAINTY
    )
    gate_margin = models.FloatField(
        default=0.0, help_text="A new reward model may be this much less accurate than the active one and still pass."
    )
    ensemble_size = models.PositiveSmallIntegerField(
        default=3, help_text="Ensemble strategy: the active reward model and the newest others, this many in all."
    )
    suggestions_enabled = models.BooleanField(
        default=False,
        help_text="Show the active reward model's preferred answer pre-selected to annotators. Off by default: "
        "a visible suggestion anchors people on the model's answer. Every judgment records whether it was shown.",
    )
    generate_on_promotion = models.BooleanField(
        default=False, help_text="Promoting a policy starts a generation job with the settings below."
    )
    generation_selection = models.CharField(max_length=16, choices=PromptSelection.choices, default=PromptSelection.NEW)
    generation_prompt_limit = models.PositiveIntegerField(default=50, help_text="At most this many prompts per job.")
    generation_pairing = models.CharField(max_length=16, choices=Pairing.choices, default=Pairing.VS_PREVIOUS)
    generation_params = models.JSONField(
        default=dict, blank=True, help_text="ml.generate parameters (max_new_tokens, temperature, top_p, ...)."
    )

    def __str__(self) -> str:
        return f"loop settings of project {self.project_id}"


class JobStatus(models.TextChoices):
    QUEUED = "queued", "Queued"
    RUNNING = "running", "Running"
    SUCCEEDED = "succeeded", "Succeeded"
    FAILED = "failed", "Failed"
    CANCELLED = "cancelled", "Cancelled"


class ScoringJob(models.Model):
    """One re-prioritisation of a project's open items. Claimed queued → running by a conditional UPDATE."""

    project = models.ForeignKey(Project, on_delete=models.CASCADE, related_name="scoring_jobs")
    strategy = models.CharField(max_length=16, choices=PriorityStrategy.choices)
    checkpoint = models.ForeignKey(
        Checkpoint, on_delete=models.RESTRICT, null=True, blank=True, related_name="scoring_jobs"
    )
    status = models.CharField(max_length=16, choices=JobStatus.choices, default=JobStatus.QUEUED, db_index=True)
    total = models.PositiveIntegerField(default=0)
    done = models.PositiveIntegerField(default=0)
    error = models.TextField(blank=True)
    created_by = models.ForeignKey(
        settings.AUTH_USER_MODEL, on_delete=models.PROTECT, null=True, blank=True, related_name="+"
    )
    created_at = models.DateTimeField(auto_now_add=True)
    started_at = models.DateTimeField(null=True, blank=True)
    heartbeat_at = models.DateTimeField(null=True, blank=True, help_text="Last progress write of the worker.")
    finished_at = models.DateTimeField(null=True, blank=True)

    class Meta:
        ordering = ["-created_at", "-id"]

    def __str__(self) -> str:
        return f"scoring job {self.pk}"

    @property
    def is_finished(self) -> bool:
        return self.status in (JobStatus.SUCCEEDED, JobStatus.FAILED)

    @property
    def percent(self) -> int:
        return int(100 * self.done / self.total) if self.total else 0


from models_registry.models_jobs import AgreementCheck, GenerationJob  # noqa: E402,F401
