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
