"""Re-prioritising a project's open items: by reward-model uncertainty, ensemble disagreement, at random, or FIFO.

``scoring_job_create`` records a queued ``ScoringJob`` and enqueues ``gpu.models_registry.score_queue``;
``scoring_job_execute`` claims it (queued → running by a conditional UPDATE, so a redelivered message does
nothing), and for the reward-model strategies runs ``python -m ml.score_items`` in a child process
(``models_registry.reward_scoring``): torch is never imported here. Priorities are written only after every
pair was scored, so a failed job (a tampered checkpoint, a crashed child) leaves the queue exactly as it was.

For a pairwise item, p = P(a preferred over b). Uncertainty: priority = 1 - |2p - 1| with the active reward
model, 1 for a coin flip (the comparison a human can teach the model most with), 0 for a foregone
conclusion. Ensemble: priority = 2 x the standard deviation of p over the active model and the newest other
reward checkpoints (``LoopSettings.ensemble_size`` in all): the more they disagree, the sooner a human judges
it. Both strategies also store the active model's answer on the item (``Item.suggestion``).
"""

from __future__ import annotations

import logging
import random
import tempfile
from datetime import timedelta
from pathlib import Path

from django.db import transaction
from django.db.models import F
from django.utils import timezone

from annotation.models import Item
from core.models import Project, TaskKind, User
from models_registry.aliases import alias_checkpoint, loop_settings_get
from models_registry.models import AliasName, Checkpoint, JobStatus, PriorityStrategy, ScoringJob
from models_registry.reward_scoring import ScoredItems, ensemble_members, score_items, uncertainty_priority
from models_registry.services import CheckpointInvalid, checkpoint_verify

__all__ = ["ScoringRefused", "scoring_job_create", "scoring_job_execute", "uncertainty_priority"]

logger = logging.getLogger(__name__)

WRITE_BATCH = 500
STALE_AFTER = timedelta(minutes=10)  # a running job writes progress every 0.5 s
NEVER_PICKED_AFTER = timedelta(hours=1)
ACTIVE = (JobStatus.QUEUED, JobStatus.RUNNING)
MODEL_STRATEGIES = (PriorityStrategy.UNCERTAINTY, PriorityStrategy.ENSEMBLE)


class ScoringRefused(ValueError):
    """The job cannot start; the message says why."""


def scoring_job_active(*, project: Project) -> ScoringJob | None:
    return ScoringJob.objects.filter(project=project, status__in=ACTIVE).first()


def _model_checkpoint(project: Project, strategy: str) -> Checkpoint:
    """The active reward model a model strategy scores with; ScoringRefused says what is missing."""
    if project.task_kind != TaskKind.PAIRWISE:
        raise ScoringRefused(f"{strategy} scoring needs pairwise items; choose random or FIFO.")
    checkpoint = alias_checkpoint(project=project, name=AliasName.ACTIVE_REWARD)
    if checkpoint is None:
        raise ScoringRefused("there is no active reward model to score with; promote one first.")
    return checkpoint


def _members(project: Project, active: Checkpoint) -> list[Checkpoint]:
    """Ensemble members; ScoringRefused when there are fewer than two (no disagreement to measure)."""
    size = loop_settings_get(project=project).ensemble_size
    if size < 2:
        raise ScoringRefused(f"the ensemble size is {size}; set it to at least 2 or choose uncertainty.")
    members = ensemble_members(project=project, active=active, size=size)
    if len(members) < 2:
        raise ScoringRefused(
            "ensemble scoring needs at least 2 reward checkpoints and this project has 1; train another reward "
            "model or choose uncertainty."
        )
    return members


@transaction.atomic
def scoring_job_create(*, project: Project, actor: User | None) -> ScoringJob:
    """Queue a re-scoring with the project's strategy. One active job per project.

    Refused (ScoringRefused) when a job is already active, when a model strategy has no active reward model
    or the project is not pairwise, and for the ensemble when fewer than two reward checkpoints exist.
    """
    Project.objects.select_for_update().filter(pk=project.pk).first()  # serialise two clicks
    if scoring_job_active(project=project) is not None:
        raise ScoringRefused("a scoring job is already queued or running for this project.")
    strategy = loop_settings_get(project=project).priority_strategy
    checkpoint = None
    if strategy in MODEL_STRATEGIES:
        checkpoint = _model_checkpoint(project, strategy)
        if strategy == PriorityStrategy.ENSEMBLE:
            _members(project, checkpoint)
    job = ScoringJob.objects.create(project=project, strategy=strategy, checkpoint=checkpoint, created_by=actor)
    from models_registry.tasks import score_queue  # the tasks module imports this one

    score_queue.delay_on_commit(job.pk)
    return job


def _fail(job: ScoringJob, message: str) -> None:
    ScoringJob.objects.filter(pk=job.pk, status=JobStatus.RUNNING).update(
        status=JobStatus.FAILED, error=message[:4000], finished_at=timezone.now()
    )


def _write(scored: ScoredItems, job: ScoringJob) -> None:
    """Set priorities (and suggestions) in batches, each batch one transaction; counts progress as it goes."""
    ids = sorted(scored.priorities)
    fields = ["priority", "suggestion"] if scored.suggestions else ["priority"]
    for start in range(0, len(ids), WRITE_BATCH):
        chunk = ids[start : start + WRITE_BATCH]
        with transaction.atomic():
            items = list(Item.objects.filter(pk__in=chunk).only("pk", *fields))
            for item in items:
                item.priority = scored.priorities[item.pk]
                if scored.suggestions:
                    item.suggestion = scored.suggestions[item.pk]
            Item.objects.bulk_update(items, fields)
        ScoringJob.objects.filter(pk=job.pk).update(done=F("done") + len(chunk), heartbeat_at=timezone.now())


def _with_model(job: ScoringJob) -> ScoredItems:
    assert job.checkpoint is not None
    members = [job.checkpoint]
    if job.strategy == PriorityStrategy.ENSEMBLE:
        try:
            members = _members(job.project, job.checkpoint)  # re-read: checkpoints may have come or gone
        except ScoringRefused as exc:
            raise CheckpointInvalid(str(exc)) from exc
    for member in members:
        checkpoint_verify(checkpoint=member)  # fast and torch-free; the child checks again as it loads

    def progress(done: int, total: int) -> None:
        # Scoring lines, then one write per item: total = pairs x members + pairs.
        pairs = total // len(members)
        ScoringJob.objects.filter(pk=job.pk).update(total=total + pairs, done=done, heartbeat_at=timezone.now())

    with tempfile.TemporaryDirectory(prefix=f"scoring-{job.pk}-") as folder:
        return score_items(project=job.project, members=members, folder=Path(folder), progress=progress)


def _priorities(job: ScoringJob, rng: random.Random | None) -> ScoredItems:
    if job.strategy in MODEL_STRATEGIES:
        return _with_model(job)
    ids = list(Item.objects.filter(project=job.project, open_slots__gt=0).order_by("pk").values_list("pk", flat=True))
    ScoringJob.objects.filter(pk=job.pk).update(total=len(ids))
    if job.strategy == PriorityStrategy.RANDOM:
        draw = rng or random.SystemRandom()
        return ScoredItems({pk: draw.random() for pk in ids}, {})
    return ScoredItems(dict.fromkeys(ids, 0.0), {})  # FIFO: equal priorities, the claim then serves by id


def scoring_job_execute(*, job_id: int, rng: random.Random | None = None) -> ScoringJob | None:
    """Claim job ``job_id`` and run it to the end. None when it was not queued (a redelivery).

    ``rng`` draws the random strategy's priorities (a system RNG when None); the simulation harness passes
    a seeded one so that two runs with the same seed serve items in the same order.
    """
    now = timezone.now()
    claimed = ScoringJob.objects.filter(pk=job_id, status=JobStatus.QUEUED).update(
        status=JobStatus.RUNNING, started_at=now, heartbeat_at=now
    )
    if not claimed:
        logger.info("scoring job %s is not queued; nothing to do", job_id)
        return None
    job = ScoringJob.objects.select_related("project", "checkpoint").get(pk=job_id)
    try:
        scored = _priorities(job, rng)
    except CheckpointInvalid as exc:
        _fail(job, f"The reward model was refused or failed; priorities are unchanged. {exc}")
        return ScoringJob.objects.get(pk=job_id)
    except Exception as exc:
        _fail(job, f"Scoring failed; priorities are unchanged. {type(exc).__name__}: {exc}")
        raise
    _write(scored, job)
    ScoringJob.objects.filter(pk=job.pk, status=JobStatus.RUNNING).update(
        status=JobStatus.SUCCEEDED, finished_at=timezone.now()
    )
    return ScoringJob.objects.get(pk=job_id)


def scoring_jobs_reap_stale() -> int:
    """Fail jobs whose worker died (no progress for STALE_AFTER) or that no worker picked up.

    Without this a lost job would block the project's re-score button for ever (one active job per
    project). Beat task; the conditional UPDATE never touches a job that finished meanwhile.
    """
    now = timezone.now()
    lost = ScoringJob.objects.filter(status=JobStatus.RUNNING, heartbeat_at__lt=now - STALE_AFTER).update(
        status=JobStatus.FAILED,
        finished_at=now,
        error="The worker stopped reporting progress (it died or lost the database); priorities may be "
        "partly updated. Re-score the queue.",
    )
    unpicked = ScoringJob.objects.filter(status=JobStatus.QUEUED, created_at__lt=now - NEVER_PICKED_AFTER).update(
        status=JobStatus.FAILED,
        finished_at=now,
        error="No gpu worker picked the job up within an hour; priorities are unchanged. Re-score the queue.",
    )
    return lost + unpicked
