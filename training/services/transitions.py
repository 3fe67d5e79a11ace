"""The run status machine: every status change is one conditional UPDATE, through ``run_transition``.

``UPDATE ... SET status = 'running' WHERE id = %s AND status = 'queued'`` succeeds for exactly one of
two concurrent callers, on Postgres and on SQLite alike, without a lock held across the decision. The
supervisor also pins the attempt it claimed, so a supervisor that lost its run (reaped as stale, then
resumed elsewhere) can no longer write over the new attempt.
"""

from __future__ import annotations

from collections.abc import Iterable
from typing import Any

from django.db.models import Q

from training.models import RunStatus, TrainingRun

ALLOWED: dict[RunStatus, frozenset[RunStatus]] = {
    RunStatus.QUEUED: frozenset({RunStatus.RUNNING, RunStatus.CANCELLED}),
    RunStatus.RUNNING: frozenset({RunStatus.SUCCEEDED, RunStatus.FAILED, RunStatus.CANCELLED}),
    # Resume: the same output folder, so the child continues from its last checkpoint.
    RunStatus.FAILED: frozenset({RunStatus.QUEUED}),
    RunStatus.CANCELLED: frozenset({RunStatus.QUEUED}),
    RunStatus.SUCCEEDED: frozenset(),
}


class IllegalTransition(ValueError):
    pass


def sources_of(target: RunStatus) -> list[RunStatus]:
    return [source for source, targets in ALLOWED.items() if target in targets]


def run_transition(
    *,
    run_id: int,
    to: RunStatus,
    expect: Iterable[RunStatus] | None = None,
    on_attempt: int | None = None,
    where: Q | None = None,
    **fields: Any,
) -> bool:
    """Move run ``run_id`` to ``to`` if it is in one of ``expect`` (default: every allowed source), still
    on ``on_attempt`` and matching ``where`` when given; also set ``fields``. True if this call made the
    change.

    Raises IllegalTransition for a move the machine forbids, whatever the row's state: that is a bug in
    the caller, not a race.
    """
    sources = list(expect) if expect is not None else sources_of(to)
    illegal = [source for source in sources if to not in ALLOWED[source]]
    if illegal or not sources:
        raise IllegalTransition(f"a run cannot go from {', '.join(illegal) or 'nowhere'} to {to}")
    runs = TrainingRun.objects.filter(pk=run_id, status__in=sources)
    if on_attempt is not None:
        runs = runs.filter(attempt=on_attempt)
    if where is not None:
        runs = runs.filter(where)
    return runs.update(status=to, **fields) == 1


def run_touch(*, run_id: int, attempt: int, **fields: Any) -> bool:
    """Write progress ``fields`` on a running run of ``attempt``. False: the supervisor lost its claim."""
    return TrainingRun.objects.filter(pk=run_id, status=RunStatus.RUNNING, attempt=attempt).update(**fields) == 1
