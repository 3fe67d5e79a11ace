"""Re-prioritising a project's open items: by the active reward model's uncertainty, at random, or FIFO.

``scoring_job_create`` records a queued ``ScoringJob`` and enqueues ``gpu.models_registry.score_queue``;
``scoring_job_execute`` claims it (queued → running by a conditional UPDATE, so a redelivered message does
nothing), and for the uncertainty strategy runs ``python -m ml.score_items`` in a child process: torch is
never imported here. Priorities are written only after every pair was scored, so a failed job (a tampered
checkpoint, a crashed child) leaves the queue exactly as it was.

For a pairwise item, p = P(a preferred over b) from the reward model and priority = 1 - |2p - 1|: 1 for a
coin flip (the comparison a human can teach the model most with), 0 for a foregone conclusion.
"""

from __future__ import annotations

import json
import logging
import os
import random
import subprocess  # nosec B404: a fixed argv of our own interpreter, no shell
import sys
import tempfile
import time
from collections.abc import Iterator
from datetime import timedelta
from pathlib import Path
from typing import Any

from django.conf import settings
from django.db import transaction
from django.db.models import F
from django.utils import timezone

import ml
from annotation.models import Item
from core.models import Project, TaskKind, User
from models_registry.aliases import alias_checkpoint, loop_settings_get
from models_registry.models import AliasName, JobStatus, PriorityStrategy, ScoringJob
from models_registry.services import CheckpointInvalid, checkpoint_verify

logger = logging.getLogger(__name__)

CODE_ROOT = Path(ml.__file__).resolve().parent.parent
WITHHELD_ENV_PREFIXES = ("DJANGO_", "DATABASE_", "CELERY_", "REDIS_", "LOOP_")
WRITE_BATCH = 500
STALE_AFTER = timedelta(minutes=10)  # a running job writes progress every 0.5 s
NEVER_PICKED_AFTER = timedelta(hours=1)
ACTIVE = (JobStatus.QUEUED, JobStatus.RUNNING)


class ScoringRefused(ValueError):
    """The job cannot start; the message says why."""


def uncertainty_priority(p: float) -> float:
    """1 - |2p - 1|: 1 at p = 0.5, 0 at p = 0 or 1."""
    return 1.0 - abs(2.0 * p - 1.0)


def scoring_job_active(*, project: Project) -> ScoringJob | None:
    return ScoringJob.objects.filter(project=project, status__in=ACTIVE).first()


@transaction.atomic
def scoring_job_create(*, project: Project, actor: User | None) -> ScoringJob:
    """Queue a re-scoring with the project's strategy. One active job per project."""
    Project.objects.select_for_update().filter(pk=project.pk).first()  # serialise two clicks
    if scoring_job_active(project=project) is not None:
        raise ScoringRefused("a scoring job is already queued or running for this project.")
    strategy = loop_settings_get(project=project).priority_strategy
    checkpoint = None
    if strategy == PriorityStrategy.UNCERTAINTY:
        if project.task_kind != TaskKind.PAIRWISE:
            raise ScoringRefused("uncertainty scoring needs pairwise items; choose random or FIFO.")
        checkpoint = alias_checkpoint(project=project, name=AliasName.ACTIVE_REWARD)
        if checkpoint is None:
            raise ScoringRefused("there is no active reward model to score with; promote one first.")
    job = ScoringJob.objects.create(project=project, strategy=strategy, checkpoint=checkpoint, created_by=actor)
    from models_registry.tasks import score_queue  # the tasks module imports this one

    score_queue.delay_on_commit(job.pk)
    return job


def _fail(job: ScoringJob, message: str) -> None:
    ScoringJob.objects.filter(pk=job.pk, status=JobStatus.RUNNING).update(
        status=JobStatus.FAILED, error=message[:4000], finished_at=timezone.now()
    )


def _write(priorities: dict[int, float], job: ScoringJob) -> None:
    """Set priorities in batches, each batch one transaction; counts progress as it goes."""
    ids = sorted(priorities)
    for start in range(0, len(ids), WRITE_BATCH):
        chunk = ids[start : start + WRITE_BATCH]
        with transaction.atomic():
            items = list(Item.objects.filter(pk__in=chunk).only("pk", "priority"))
            for item in items:
                item.priority = priorities[item.pk]
            Item.objects.bulk_update(items, ["priority"])
        ScoringJob.objects.filter(pk=job.pk).update(done=F("done") + len(chunk), heartbeat_at=timezone.now())


def _prompt(messages: Any) -> Any:
    """The exporter's ``auto`` format: a lone user turn as its text, anything else as a conversation."""
    if isinstance(messages, list) and len(messages) == 1 and messages[0].get("role") == "user":
        return messages[0].get("content", "")
    return messages


def _pairs(project: Project) -> Iterator[dict[str, Any]]:
    """Open items with exactly two responses, in id order, as ``ml.score_items`` input rows."""
    items = (
        Item.objects.filter(project=project, open_slots__gt=0)
        .select_related("prompt")
        .prefetch_related("item_responses__response")
        .order_by("pk")
    )
    for item in items.iterator(chunk_size=WRITE_BATCH):
        responses = [ir.response.text for ir in item.item_responses.all()]
        if len(responses) != 2:
            continue
        messages = item.prompt.messages
        conversational = not isinstance(_prompt(messages), str)
        a, b = ([{"role": "assistant", "content": t}] if conversational else t for t in responses)
        yield {"id": item.pk, "prompt": _prompt(messages), "response_a": a, "response_b": b}


def _child_env() -> dict[str, str]:
    env = {k: v for k, v in os.environ.items() if not k.startswith(WITHHELD_ENV_PREFIXES)}
    env.update(PYTHONUNBUFFERED="1", TOKENIZERS_PARALLELISM="false", HF_HUB_OFFLINE="1")
    return env


def _count_lines(path: Path) -> int:
    try:
        with path.open("rb") as handle:
            return sum(1 for _ in handle)
    except FileNotFoundError:
        return 0


def _score_in_child(job: ScoringJob, folder: Path) -> dict[int, float]:
    """Run ``ml.score_items`` on every open pair; progress is the child's output line count."""
    assert job.checkpoint is not None
    pairs = list(_pairs(job.project))
    ScoringJob.objects.filter(pk=job.pk).update(total=2 * len(pairs))  # scoring, then writing
    if not pairs:
        return {}
    source, output, config = folder / "pairs.jsonl", folder / "scores.jsonl", folder / "score.json"
    source.write_text("".join(json.dumps(p) + "\n" for p in pairs), encoding="utf-8")
    config.write_text(
        json.dumps(
            {
                "model_dir": str(job.checkpoint.path),
                "sha256": dict(job.checkpoint.sha256),
                "input": str(source),
                "output": str(output),
                "batch_size": int(getattr(settings, "SCORING_BATCH_SIZE", 16)),
                "device": str(getattr(settings, "SCORING_DEVICE", "auto")),
            }
        ),
        encoding="utf-8",
    )
    command = [sys.executable, "-m", "ml.score_items", "--config", str(config)]
    with subprocess.Popen(  # nosec B603
        command, cwd=CODE_ROOT, env=_child_env(), stdout=subprocess.DEVNULL, stderr=subprocess.PIPE, text=True
    ) as proc:
        while proc.poll() is None:
            time.sleep(0.5)
            ScoringJob.objects.filter(pk=job.pk).update(done=_count_lines(output), heartbeat_at=timezone.now())
        stderr = proc.stderr.read() if proc.stderr is not None else ""
    if proc.returncode != 0:
        last = stderr.strip().splitlines()[-1] if stderr.strip() else f"exit code {proc.returncode}"
        raise CheckpointInvalid(f"The scoring process failed: {last}")
    scores = [json.loads(line) for line in output.read_text(encoding="utf-8").splitlines() if line.strip()]
    if len(scores) != len(pairs):
        raise CheckpointInvalid(f"The scoring process scored {len(scores)} of {len(pairs)} pairs.")
    ScoringJob.objects.filter(pk=job.pk).update(done=len(pairs))
    return {int(row["id"]): uncertainty_priority(float(row["p"])) for row in scores}


def _priorities(job: ScoringJob) -> dict[int, float]:
    if job.strategy == PriorityStrategy.UNCERTAINTY:
        assert job.checkpoint is not None
        checkpoint_verify(checkpoint=job.checkpoint)  # fast and torch-free; the child checks again
        with tempfile.TemporaryDirectory(prefix=f"scoring-{job.pk}-") as folder:
            return _score_in_child(job, Path(folder))
    ids = list(Item.objects.filter(project=job.project, open_slots__gt=0).order_by("pk").values_list("pk", flat=True))
    ScoringJob.objects.filter(pk=job.pk).update(total=len(ids))
    if job.strategy == PriorityStrategy.RANDOM:
        rng = random.SystemRandom()
        return {pk: rng.random() for pk in ids}
    return dict.fromkeys(ids, 0.0)  # FIFO: equal priorities, the claim then serves by id


def scoring_job_execute(*, job_id: int) -> ScoringJob | None:
    """Claim job ``job_id`` and run it to the end. None when it was not queued (a redelivery)."""
    now = timezone.now()
    claimed = ScoringJob.objects.filter(pk=job_id, status=JobStatus.QUEUED).update(
        status=JobStatus.RUNNING, started_at=now, heartbeat_at=now
    )
    if not claimed:
        logger.info("scoring job %s is not queued; nothing to do", job_id)
        return None
    job = ScoringJob.objects.select_related("project", "checkpoint").get(pk=job_id)
    try:
        priorities = _priorities(job)
    except CheckpointInvalid as exc:
        _fail(job, f"The reward model was refused or failed; priorities are unchanged. {exc}")
        return ScoringJob.objects.get(pk=job_id)
    except Exception as exc:
        _fail(job, f"Scoring failed; priorities are unchanged. {type(exc).__name__}: {exc}")
        raise
    _write(priorities, job)
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
