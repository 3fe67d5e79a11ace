"""Reads for the loop parts of the checkpoints page: generation jobs, agreement checks, policy standings."""

from __future__ import annotations

from dataclasses import dataclass
from typing import Any

from django.db.models import QuerySet

from core.models import Project
from curation.models import DatasetSnapshot, SnapshotStatus
from models_registry.models import Checkpoint, CheckpointKind, JobStatus
from models_registry.models_jobs import AgreementCheck, GenerationJob
from models_registry.selectors_leaderboard import leaderboard_standings


@dataclass(frozen=True)
class PolicyStanding:
    rank: int
    of: int
    rating: float
    ci_low: float
    ci_high: float
    battles: int


def policy_standings(*, project: Project) -> dict[int, PolicyStanding]:
    """Leaderboard position of each policy checkpoint (matched by name, as responses record it)."""
    standings = leaderboard_standings(project=project)
    by_name = {s.name: s for s in standings}
    found: dict[int, PolicyStanding] = {}
    for pk, name in Checkpoint.objects.filter(project=project, kind=CheckpointKind.POLICY).values_list("pk", "name"):
        s = by_name.get(name)
        if s is not None:
            found[pk] = PolicyStanding(s.rank, len(standings), s.rating, s.ci_low, s.ci_high, s.battles)
    return found


def generation_jobs_recent(*, project: Project, limit: int = 10) -> list[GenerationJob]:
    return list(GenerationJob.objects.filter(project=project).select_related("checkpoint", "baseline")[:limit])


def agreement_checks_recent(*, project: Project, limit: int = 50) -> list[AgreementCheck]:
    return list(AgreementCheck.objects.filter(project=project).select_related("snapshot", "checkpoint")[:limit])


def agreement_chart(*, checks: list[AgreementCheck]) -> list[dict[str, Any]]:
    """Succeeded checks, oldest snapshot first: one point per (snapshot, checkpoint)."""
    done = [c for c in checks if c.status == JobStatus.SUCCEEDED and c.pairs]
    done.sort(key=lambda c: (c.snapshot_id, c.checkpoint_id))
    return [
        {
            "snapshot": f"#{c.snapshot_id} {c.snapshot.name}"[:60],
            "checkpoint": c.checkpoint.name,
            "accuracy": round(c.agreed / c.pairs, 4),
            "pairs": c.pairs,
        }
        for c in done
    ]


def snapshots_for_agreement(*, project: Project) -> QuerySet[DatasetSnapshot]:
    return DatasetSnapshot.objects.filter(project=project, status=SnapshotStatus.SUCCEEDED).order_by("-created_at")
