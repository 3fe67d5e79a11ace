from __future__ import annotations

from celery import shared_task

from curation.services.snapshots import snapshot_build, snapshots_fail_stale
from curation.tasks_quality import recompute_quality, recompute_stale_quality  # noqa: F401  (registers them)


@shared_task(name="curation.build_snapshot", ignore_result=True)
def build_snapshot(snapshot_id: int) -> None:
    """Build one snapshot. No retries: the service records any failure on the row, and a second
    delivery (visibility timeout, worker lost) finds the row already claimed and does nothing."""
    snapshot_build(snapshot_id=snapshot_id)


@shared_task(name="curation.fail_stale_snapshots", ignore_result=True)
def fail_stale_snapshots() -> int:
    """Beat: fail builds whose worker disappeared, so they do not show "running" for ever."""
    return snapshots_fail_stale()
