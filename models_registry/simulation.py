"""Does the loop pay off? Simulated annotators drive the real loop, one fresh project per queue strategy.

For each strategy, on the same data and seeds: import the pool and the held-out set through the real import
(answers hidden, ``simulation_data``), let an oracle judge the held-out items through the queue (noise-free:
they are the yardstick, not training data), then for each round

1. simulated annotators claim ``labels_per_round`` items through ``assignment_claim_next`` and answer through
   ``judgment_submit`` from the hidden labels, with a noise rate and a position bias;
2. a snapshot is built (``snapshot_create`` / ``snapshot_build``, split by prompt so its test file is
   exactly the held-out set, byte-identical every round), a reward model is trained on it through
   ``run_create`` / ``run_execute`` (the real ``python -m ml.cli`` child), and the eval gate promotes or
   holds it (``reward_gate_decide``, called by the run);
3. the queue is re-scored by the strategy (``scoring_job_create`` / ``scoring_job_execute``);

and record the held-out accuracy of the model trained so far (``heldout_accuracy``, computed by the child
on the fixed test file) and of the active one.

Before a strategy has the model it needs it falls back, as a project would: uncertainty and ensemble order
the first round at random (with the random strategy's seed, so those first labels are the same items), and
the ensemble scores by uncertainty while only one reward checkpoint exists.

Every job runs here, in order, in this process (no Celery worker): ``tasks_inline`` keeps the services from
sending messages that would only make a worker race the harness for the same rows.
"""

from __future__ import annotations

import random
import time
from pathlib import Path
from typing import Any

from curation.services.snapshots import snapshot_build, snapshot_create
from models_registry.aliases import alias_checkpoint, loop_settings_get
from models_registry.models import AliasEvent, AliasEventKind, AliasName, Checkpoint, CheckpointKind, PriorityStrategy
from models_registry.scoring import scoring_job_create, scoring_job_execute
from models_registry.simulation_data import SimulationData
from models_registry.simulation_project import (
    TINY_TRAIN_PARAMS,
    RoundResult,
    SimulationConfig,
    SimulationError,
    SimulationLoop,
    StrategyResult,
    annotate,
    annotator_answer,
    loop_setup,
    tasks_inline,
)
from training.models import RunStatus
from training.services.runs import run_create, run_execute

__all__ = [
    "TINY_TRAIN_PARAMS",
    "RoundResult",
    "SimulationConfig",
    "SimulationError",
    "StrategyResult",
    "annotator_answer",
    "simulate",
    "simulate_strategy",
]


def _train(loop: SimulationLoop, round_no: int) -> Checkpoint:
    """Snapshot → reward run → registered checkpoint, through the services; the run calls the gate."""
    snapshot = snapshot_create(
        project=loop.project,
        user=loop.admin,
        name=f"simulation round {round_no}",
        filters={},
        options={
            "tables": ["preference"],
            "file_format": "jsonl",
            "test_fraction": loop.test_fraction,
            "split_seed": loop.split_seed,
            "margin": {"mode": "none"},
        },
    )
    built = snapshot_build(snapshot_id=snapshot.pk)
    if built is None or built.status != "succeeded":
        raise SimulationError(f"{loop.strategy} round {round_no}: the snapshot failed: {built and built.error}")
    test_rows = {f["name"]: f.get("rows") for f in built.files}.get("preference-test.jsonl")
    if test_rows != loop.heldout_rows:
        raise SimulationError(
            f"{loop.strategy} round {round_no}: the snapshot's test file has {test_rows} rows, not the "
            f"{loop.heldout_rows} held-out pairs; the held-out set would not be fixed."
        )
    run = run_create(
        project=loop.project,
        user=loop.admin,
        kind="reward",
        snapshot=built,
        base_checkpoint=loop.base,
        params={**loop.config.train_params, "seed": loop.config.seed},
    )
    done = run_execute(run_id=run.pk)
    if done is None or done.status != RunStatus.SUCCEEDED:
        raise SimulationError(f"{loop.strategy} round {round_no}: the reward run failed: {done and done.error}")
    return Checkpoint.objects.get(run=done)


def _scoring_strategy(loop: SimulationLoop) -> str:
    """The strategy itself, or its fallback while the models it needs do not exist yet."""
    if loop.strategy not in (PriorityStrategy.UNCERTAINTY, PriorityStrategy.ENSEMBLE):
        return loop.strategy
    if alias_checkpoint(project=loop.project, name=AliasName.ACTIVE_REWARD) is None:
        return PriorityStrategy.RANDOM
    rewards = Checkpoint.objects.filter(project=loop.project, kind=CheckpointKind.REWARD).count()
    if loop.strategy == PriorityStrategy.ENSEMBLE and rewards < 2:
        return PriorityStrategy.UNCERTAINTY
    return loop.strategy


def _rescore(loop: SimulationLoop, round_no: int) -> tuple[str, str]:
    """Re-score the queue through a scoring job; (strategy used, job status)."""
    used = _scoring_strategy(loop)
    settings = loop_settings_get(project=loop.project)
    settings.priority_strategy = used
    settings.save(update_fields=["priority_strategy"])
    job = scoring_job_create(project=loop.project, actor=loop.admin)
    # The random strategy's draws come from the seed and the round only: two runs, or two strategies that
    # fall back to random, order the same items the same way.
    rng = random.Random(f"{loop.config.seed}:score:{round_no}")  # noqa: S311  # nosec B311 (seeded simulation)
    done = scoring_job_execute(job_id=job.pk, rng=rng)
    if done is None or done.status != "succeeded":
        raise SimulationError(f"{loop.strategy} round {round_no}: re-scoring failed: {done and done.error}")
    return used, str(done.status)


def _accuracy(checkpoint: Checkpoint | None) -> float | None:
    value = checkpoint.metrics.get("heldout_accuracy") if checkpoint is not None else None
    return float(value) if isinstance(value, int | float) else None


def _round(loop: SimulationLoop, round_no: int, labels: int) -> RoundResult:
    started = time.monotonic()
    checkpoint = _train(loop, round_no)
    event = (
        AliasEvent.objects.filter(
            checkpoint=checkpoint, kind__in=[AliasEventKind.AUTO_PROMOTE, AliasEventKind.GATE_HOLD]
        )
        .order_by("-created_at", "-id")
        .first()
    )
    active = alias_checkpoint(project=loop.project, name=AliasName.ACTIVE_REWARD)
    used, status = _rescore(loop, round_no)
    return RoundResult(
        strategy=loop.strategy,
        round=round_no,
        labels=labels,
        checkpoint=checkpoint.pk,
        heldout_accuracy=_accuracy(checkpoint),
        gate=str(event.kind) if event else "none",
        gate_reason=event.reason if event else "the run did not reach the gate",
        active_checkpoint=active.pk if active else None,
        active_accuracy=_accuracy(active),
        scored_with=used,
        scoring_status=status,
        seconds=round(time.monotonic() - started, 1),
    )


def simulate_strategy(
    *, strategy: str, data: SimulationData, base_dir: Path, config: SimulationConfig
) -> StrategyResult:
    """Run the loop for one strategy on a fresh project; raises SimulationError when a real step fails."""
    with tasks_inline():
        loop = loop_setup(strategy, data, base_dir, config)
        _rescore(loop, 0)
        labels = 0
        for round_no in range(1, config.rounds + 1):
            added = annotate(loop, config.labels_per_round)
            if added == 0:
                loop.result.stopped = f"the pool ran out after {labels} labels"
                break
            labels += added
            loop.result.rounds.append(_round(loop, round_no, labels))
    return loop.result


def simulate(
    *, data: SimulationData, base_dir: Path, config: SimulationConfig, log: Any = None
) -> list[StrategyResult]:
    """Every strategy of ``config`` on the same data and seeds, one after the other."""
    problems = config.problems()
    if problems:
        raise SimulationError("; ".join(problems))
    results = []
    for strategy in config.strategies:
        result = simulate_strategy(strategy=strategy, data=data, base_dir=base_dir, config=config)
        if log is not None:
            log(strategy, result)
        results.append(result)
    return results
