"""Reads for the checkpoints page."""

from __future__ import annotations

from dataclasses import dataclass

from core.models import Project
from models_registry.aliases import alias_history, loop_settings_get
from models_registry.models import Alias, AliasEvent, AliasEventKind, AliasName, Checkpoint, LoopSettings, ScoringJob


@dataclass(frozen=True)
class CheckpointRow:
    checkpoint: Checkpoint
    active_as: str | None  # the alias pointing at it, if any
    held_reason: str | None  # the gate's latest word when it held this checkpoint
    metrics: list[tuple[str, object]]


@dataclass(frozen=True)
class CheckpointsPage:
    rows: list[CheckpointRow]
    active_reward: Checkpoint | None
    active_policy: Checkpoint | None
    history: list[AliasEvent]
    settings: LoopSettings
    job: ScoringJob | None


SHOWN_METRICS = (
    "heldout_accuracy",
    "heldout_accuracy_with_ties",
    "heldout_ece",
    "heldout_pairs",
    "eval_loss",
    "train_loss",
)


def _shown(checkpoint: Checkpoint) -> list[str]:
    """The checkpoint's gate metric first (the one promotion is judged by), then the usual ones."""
    gate = str((checkpoint.manifest.get("gate_metric") or {}).get("name") or "")
    return [gate, *(k for k in SHOWN_METRICS if k != gate)] if gate else list(SHOWN_METRICS)


def checkpoints_page(*, project: Project) -> CheckpointsPage:
    aliases = {a.name: a.checkpoint for a in Alias.objects.filter(project=project).select_related("checkpoint")}
    by_checkpoint = {c.pk: name for name, c in aliases.items()}
    held: dict[int, str] = {}
    for event in AliasEvent.objects.filter(project=project, kind=AliasEventKind.GATE_HOLD).order_by("created_at"):
        held[event.checkpoint_id] = event.reason
    rows = [
        CheckpointRow(
            checkpoint=c,
            active_as=by_checkpoint.get(c.pk),
            held_reason=held.get(c.pk) if c.pk not in by_checkpoint else None,
            metrics=[(k, c.metrics[k]) for k in _shown(c) if isinstance(c.metrics.get(k), int | float)],
        )
        for c in Checkpoint.objects.filter(project=project).select_related("run")[:200]
    ]
    return CheckpointsPage(
        rows=rows,
        active_reward=aliases.get(AliasName.ACTIVE_REWARD),
        active_policy=aliases.get(AliasName.ACTIVE_POLICY),
        history=alias_history(project=project),
        settings=loop_settings_get(project=project),
        job=ScoringJob.objects.filter(project=project).first(),
    )
