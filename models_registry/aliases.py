"""Aliases ``active-reward`` / ``active-policy``: promote, roll back, and the reward model's eval gate.

Every change of an alias appends an ``AliasEvent`` and an audit event in the same transaction, so the
history is complete and never describes a change that rolled back. The alias row is locked while it
changes: two admins promoting at once are serialised, and each event's ``previous`` is the truth.
"""

from __future__ import annotations

from dataclasses import dataclass
from enum import StrEnum
from typing import Any

from django.db import transaction

from core.audit import audit_record
from core.models import Membership, Project, Role, User
from models_registry.models import (
    ALIAS_KIND,
    Alias,
    AliasEvent,
    AliasEventKind,
    AliasName,
    Checkpoint,
    CheckpointKind,
    LoopSettings,
    PriorityStrategy,
)

PROMOTE_EVENTS = (AliasEventKind.PROMOTE, AliasEventKind.AUTO_PROMOTE)
LOOP_SETTINGS_FIELDS = frozenset(
    {
        "ensemble_size",
        "suggestions_enabled",
        "generate_on_promotion",
        "generation_selection",
        "generation_prompt_limit",
        "generation_pairing",
        "generation_params",
    }
)


class AliasError(ValueError):
    """The alias cannot change this way; the message says why."""


def alias_may_manage(*, user: User, project: Project) -> bool:
    """Promoting and rolling back change what the whole loop uses: project admins only."""
    if user.is_superuser:
        return True
    return Membership.objects.filter(user=user, project=project, role=Role.ADMIN).exists()


def alias_for_kind(kind: str) -> AliasName:
    return AliasName.ACTIVE_REWARD if kind == CheckpointKind.REWARD else AliasName.ACTIVE_POLICY


def alias_checkpoint(*, project: Project, name: AliasName) -> Checkpoint | None:
    alias = Alias.objects.select_related("checkpoint").filter(project=project, name=name).first()
    return alias.checkpoint if alias is not None else None


def loop_settings_get(*, project: Project) -> LoopSettings:
    settings, _ = LoopSettings.objects.get_or_create(project=project)
    return settings


def loop_settings_update(
    *,
    project: Project,
    priority_strategy: PriorityStrategy,
    gate_margin: float,
    **changes: Any,
) -> LoopSettings:
    """Save the settings; ``changes`` may set any other LoopSettings field (unknown names raise)."""
    settings = loop_settings_get(project=project)
    settings.priority_strategy = priority_strategy
    settings.gate_margin = gate_margin
    fields = ["priority_strategy", "gate_margin"]
    for name, value in changes.items():
        if name not in LOOP_SETTINGS_FIELDS:
            raise AliasError(f"unknown loop setting {name!r}")
        setattr(settings, name, value)
        fields.append(name)
    settings.save(update_fields=fields)
    return settings


def _point(
    *, project: Project, name: AliasName, checkpoint: Checkpoint, kind: AliasEventKind, actor: User | None, reason: str
) -> AliasEvent:
    """Precondition: inside a transaction. Lock (or create) the alias row, move it, record the event."""
    alias = Alias.objects.select_for_update().filter(project=project, name=name).first()
    previous = alias.checkpoint if alias is not None else None
    if previous is not None and previous.pk == checkpoint.pk:
        raise AliasError(f"{checkpoint.name} is already the {name}.")
    if alias is None:
        Alias.objects.create(project=project, name=name, checkpoint=checkpoint)
    else:
        alias.checkpoint = checkpoint
        alias.save(update_fields=["checkpoint", "updated_at"])
    event = AliasEvent.objects.create(
        project=project, alias=name, kind=kind, checkpoint=checkpoint, previous=previous, actor=actor, reason=reason
    )
    details: dict[str, Any] = {"alias": str(name), "previous": previous.pk if previous else None, "reason": reason}
    audit_record(actor=actor, action=f"models_registry.{kind}", project=project, target=checkpoint, details=details)
    return event


@transaction.atomic
def alias_promote(*, actor: User | None, checkpoint: Checkpoint, reason: str = "", auto: bool = False) -> AliasEvent:
    """Point the alias of the checkpoint's kind at it. ``auto`` marks a promotion by the gate (no actor)."""
    kind = AliasEventKind.AUTO_PROMOTE if auto else AliasEventKind.PROMOTE
    event = _point(
        project=checkpoint.project,
        name=alias_for_kind(checkpoint.kind),
        checkpoint=checkpoint,
        kind=kind,
        actor=actor,
        reason=reason,
    )
    _after_promotion(checkpoint, actor)
    return event


def _after_promotion(checkpoint: Checkpoint, actor: User | None) -> None:
    """The loop's next steps (queued on commit): a new policy writes candidates when the project asks for
    it; a new reward model is checked against the humans' newest snapshot. Neither may block the promotion.
    """
    from annotation.schemas import SchemaError
    from models_registry.agreement import agreement_check_latest_snapshot
    from models_registry.generation import GenerationRefused, generation_job_create
    from models_registry.models_jobs import GenerationTrigger

    project = checkpoint.project
    if checkpoint.kind == CheckpointKind.REWARD:
        agreement_check_latest_snapshot(project=project, checkpoint=checkpoint)
        return
    if not loop_settings_get(project=project).generate_on_promotion:
        return
    try:
        generation_job_create(project=project, actor=actor, checkpoint=checkpoint, trigger=GenerationTrigger.PROMOTION)
    except (GenerationRefused, SchemaError) as exc:
        audit_record(
            actor=actor, action="models_registry.generation_not_started", project=project, target=checkpoint,
            details={"reason": str(exc)},
        )  # fmt: skip


@transaction.atomic
def alias_rollback(*, actor: User | None, project: Project, name: AliasName) -> AliasEvent:
    """Point ``name`` back at the checkpoint that was active before the current one was promoted.

    Rolling back twice walks further back (A → B → C, rollback: B, rollback: A), never ping-pongs.
    """
    alias = Alias.objects.select_for_update().filter(project=project, name=name).first()
    if alias is None:
        raise AliasError(f"{name} points at nothing yet.")
    promoted = (
        AliasEvent.objects.filter(
            project=project, alias=name, kind__in=PROMOTE_EVENTS, checkpoint_id=alias.checkpoint_id
        )
        .select_related("previous")
        .first()
    )
    if promoted is None or promoted.previous is None:
        raise AliasError(f"nothing was active before {alias.checkpoint.name}; there is nothing to roll back to.")
    return _point(
        project=project,
        name=name,
        checkpoint=promoted.previous,
        kind=AliasEventKind.ROLLBACK,
        actor=actor,
        reason=f"rolled back from {alias.checkpoint.name}",
    )


def alias_history(*, project: Project, limit: int = 50) -> list[AliasEvent]:
    return list(AliasEvent.objects.filter(project=project).select_related("checkpoint", "previous", "actor")[:limit])


def alias_names_by_checkpoint(*, project: Project) -> dict[int, str]:
    return {a.checkpoint_id: str(a.name) for a in Alias.objects.filter(project=project)}


def checkpoint_kind_matches(*, checkpoint: Checkpoint, name: AliasName) -> bool:
    return ALIAS_KIND[name] == checkpoint.kind


class GateOutcome(StrEnum):
    PROMOTED = "promoted"
    HELD = "held"
    NOT_APPLICABLE = "not_applicable"


@dataclass(frozen=True)
class GateDecision:
    outcome: GateOutcome
    reason: str


def heldout_key(checkpoint: Checkpoint) -> str | None:
    """Identity of the held-out set a checkpoint was evaluated on, from its manifest; None if unknown.

    An eval file is identified by its sha256; a split by the train file's sha256 and the fraction (the
    split is a deterministic hash of each prompt, so the same file and fraction give the same held-out set).
    """
    data = checkpoint.manifest.get("data") or {}
    if data.get("eval_source") == "file" and data.get("eval_sha256"):
        return f"file:{data['eval_sha256']}"
    fraction = (checkpoint.manifest.get("config") or {}).get("eval_fraction")
    if data.get("eval_source") == "split" and data.get("train_sha256") and fraction:
        return f"split:{data['train_sha256']}:{fraction}"
    return None


def _gate_metric(checkpoint: Checkpoint) -> tuple[str, bool]:
    gate = checkpoint.manifest.get("gate_metric") or {}
    return str(gate.get("name") or "heldout_accuracy"), bool(gate.get("higher_is_better", True))


def _metric(checkpoint: Checkpoint, name: str) -> float | None:
    value = checkpoint.metrics.get(name)
    return float(value) if isinstance(value, int | float) and not isinstance(value, bool) else None


def _path_or_empty(checkpoint: Checkpoint) -> str:
    try:
        return str(checkpoint.path)
    except ValueError:  # an unsafe location never matches
        return ""


def _decide(new: Checkpoint, active: Checkpoint | None, margin: float) -> GateDecision:
    name, higher = _gate_metric(new)
    value = _metric(new, name)
    if value is None:
        return GateDecision(GateOutcome.HELD, f"{new.name} has no {name}: it waits for an admin.")
    if active is None:
        return GateDecision(GateOutcome.PROMOTED, f"no active reward model yet; {name} {value:.4f}.")
    old = _metric(active, name)
    if old is None:
        return GateDecision(GateOutcome.HELD, f"the active {active.name} has no {name} to compare with.")
    new_set, old_set = heldout_key(new), heldout_key(active)
    comparison = f"{name} {value:.4f} vs active {old:.4f} (margin {margin:g})"
    if new_set is None or new_set != old_set:
        # Different held-out sets: compare on the new run's held-out set, where the training child also
        # scored the active model (baseline_*), if it scored this very active model.
        baseline = _metric(new, f"baseline_{name}")
        compared = str((new.manifest.get("config") or {}).get("compare_model_dir") or "")
        if baseline is None or not compared or compared != _path_or_empty(active):
            return GateDecision(
                GateOutcome.HELD,
                f"held-out sets differ ({new.name} and {active.name} were not evaluated on the same held-out "
                f"data), so their {name} cannot be compared: an admin decides.",
            )
        old = baseline
        comparison = f"{name} {value:.4f} vs active {old:.4f} on {new.name}'s held-out set (margin {margin:g})"
    passes = value >= old - margin if higher else value <= old + margin
    if passes:
        return GateDecision(GateOutcome.PROMOTED, f"not worse than {active.name}: {comparison}.")
    return GateDecision(GateOutcome.HELD, f"worse than {active.name}: {comparison}; it waits for an admin.")


def reward_gate_decide(*, checkpoint: Checkpoint) -> GateDecision:
    """Promote a new reward checkpoint automatically when it is not worse than the active one, else hold.

    Called once when a reward run succeeds. Compares stored held-out metrics only when both were computed
    on the same held-out set; otherwise the checkpoint waits for an admin, and the recorded reason says why.
    """
    if checkpoint.kind != CheckpointKind.REWARD:
        return GateDecision(GateOutcome.NOT_APPLICABLE, "only reward models pass the gate; an admin promotes policies.")
    project = checkpoint.project
    margin = loop_settings_get(project=project).gate_margin
    with transaction.atomic():
        Alias.objects.select_for_update().filter(project=project, name=AliasName.ACTIVE_REWARD).first()
        active = alias_checkpoint(project=project, name=AliasName.ACTIVE_REWARD)
        if active is not None and active.pk == checkpoint.pk:
            return GateDecision(GateOutcome.PROMOTED, "already active.")
        decision = _decide(checkpoint, active, margin)
        if decision.outcome == GateOutcome.PROMOTED:
            alias_promote(actor=None, checkpoint=checkpoint, reason=f"gate: {decision.reason}", auto=True)
        else:
            AliasEvent.objects.create(
                project=project,
                alias=AliasName.ACTIVE_REWARD,
                kind=AliasEventKind.GATE_HOLD,
                checkpoint=checkpoint,
                previous=active,
                reason=decision.reason,
            )
    return decision
