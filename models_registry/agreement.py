"""Does the reward model still agree with the humans? Score a snapshot's preference pairs and count.

Agreement of a reward checkpoint on a snapshot = the share of the snapshot's (non-tied) preference pairs
where the model gives the chosen response the higher reward. The training run's held-out accuracy
answers this for the data the model was trained from; checking the active model on each NEW snapshot
shows whether the humans' newer judgments (on new policies' outputs) still agree with it: a falling
line says the reward model needs retraining. Runs in the ``ml.score_items`` child, like scoring.
"""

from __future__ import annotations

import json
import logging
import tempfile
from collections.abc import Iterator
from datetime import timedelta
from pathlib import Path
from typing import Any

from django.db import IntegrityError, transaction
from django.utils import timezone

from core.models import Project, User
from curation.models import DatasetSnapshot, SnapshotStatus
from curation.selectors import snapshot_file_path
from models_registry.aliases import alias_checkpoint
from models_registry.child import run_ml_child
from models_registry.models import AliasName, Checkpoint, CheckpointKind, JobStatus
from models_registry.models_jobs import AgreementCheck
from models_registry.services import CheckpointInvalid, checkpoint_verify

logger = logging.getLogger(__name__)

STALE_AFTER = timedelta(minutes=10)
MAX_PAIRS = 20_000  # a check of the newest 20k pairs says as much as one of a million, in minutes not hours


class AgreementRefused(ValueError):
    """The check cannot be queued; the message says why."""


def _preference_files(snapshot: DatasetSnapshot) -> list[Path]:
    """Every preference table file (whole table, or train + test), JSONL preferred over Parquet."""
    names = [str(entry["name"]) for entry in snapshot.files]
    chosen: list[str] = []
    for stem in ("preference", "preference-train", "preference-test"):
        for ext in (".jsonl", ".parquet"):
            if stem + ext in names:
                chosen.append(stem + ext)
                break
    if "preference.jsonl" in chosen or "preference.parquet" in chosen:
        chosen = [n for n in chosen if n.startswith("preference.")]
    return [snapshot_file_path(snapshot=snapshot, name=name) for name in chosen]


def _rows(path: Path) -> Iterator[dict[str, Any]]:
    if path.suffix == ".parquet":
        import pyarrow.parquet as pq

        for batch in pq.ParquetFile(path).iter_batches(batch_size=2000):
            yield from batch.to_pylist()
        return
    with path.open(encoding="utf-8") as handle:
        for line in handle:
            if line.strip():
                yield json.loads(line)


@transaction.atomic
def agreement_check_create(
    *, snapshot: DatasetSnapshot, actor: User | None, checkpoint: Checkpoint | None = None
) -> AgreementCheck:
    """Queue a check of ``checkpoint`` (default: the active reward model) on ``snapshot``. Idempotent."""
    project = snapshot.project
    checkpoint = checkpoint or alias_checkpoint(project=project, name=AliasName.ACTIVE_REWARD)
    if checkpoint is None:
        raise AgreementRefused("there is no active reward model to check; promote one first.")
    if checkpoint.kind != CheckpointKind.REWARD or checkpoint.project_id != project.pk:
        raise AgreementRefused(f"{checkpoint.name} is not a reward model of this project.")
    if snapshot.status != SnapshotStatus.SUCCEEDED:
        raise AgreementRefused("the snapshot is not built yet.")
    if not _preference_files(snapshot):
        raise AgreementRefused("the snapshot has no preference table to compare with.")
    existing = AgreementCheck.objects.filter(snapshot=snapshot, checkpoint=checkpoint).first()
    if existing is not None:
        if existing.status != JobStatus.FAILED:
            return existing
        existing.delete()  # a failed check is retried as a new row
    try:
        with transaction.atomic():
            check = AgreementCheck.objects.create(
                project=project, snapshot=snapshot, checkpoint=checkpoint, created_by=actor
            )
    except IntegrityError:  # a concurrent click created it
        return AgreementCheck.objects.get(snapshot=snapshot, checkpoint=checkpoint)
    from models_registry.tasks import check_agreement  # the tasks module imports this one

    check_agreement.delay_on_commit(check.pk)
    return check


def agreement_check_latest_snapshot(*, project: Project, checkpoint: Checkpoint) -> AgreementCheck | None:
    """After a reward promotion: check the new active model on the newest snapshot with preference pairs."""
    for snapshot in DatasetSnapshot.objects.filter(project=project, status=SnapshotStatus.SUCCEEDED)[:5]:
        if _preference_files(snapshot):
            try:
                return agreement_check_create(snapshot=snapshot, actor=None, checkpoint=checkpoint)
            except AgreementRefused as exc:
                logger.info("no agreement check on snapshot %s: %s", snapshot.pk, exc)
                return None
    return None


def _fail(check_id: int, message: str) -> None:
    AgreementCheck.objects.filter(pk=check_id, status=JobStatus.RUNNING).update(
        status=JobStatus.FAILED, error=message[:4000], finished_at=timezone.now()
    )


def _pairs(snapshot: DatasetSnapshot) -> list[dict[str, Any]]:
    pairs: list[dict[str, Any]] = []
    for path in _preference_files(snapshot):
        for row in _rows(path):
            if row.get("tie") or row.get("chosen") == row.get("rejected"):
                continue  # a tie has no side to agree with
            pairs.append(
                {"id": len(pairs), "prompt": row["prompt"], "response_a": row["chosen"], "response_b": row["rejected"]}
            )
    return pairs[-MAX_PAIRS:]


def agreement_check_execute(*, check_id: int) -> AgreementCheck | None:
    """Claim check ``check_id`` and score its snapshot's pairs. None when it was not queued (a redelivery)."""
    now = timezone.now()
    if not AgreementCheck.objects.filter(pk=check_id, status=JobStatus.QUEUED).update(
        status=JobStatus.RUNNING, heartbeat_at=now
    ):
        return None
    check = AgreementCheck.objects.select_related("snapshot", "checkpoint").get(pk=check_id)
    try:
        checkpoint_verify(checkpoint=check.checkpoint)
        pairs = _pairs(check.snapshot)
        with tempfile.TemporaryDirectory(prefix=f"agreement-{check.pk}-") as name:
            folder = Path(name)
            source, output, config = folder / "pairs.jsonl", folder / "scores.jsonl", folder / "score.json"
            source.write_text("".join(json.dumps(p) + "\n" for p in pairs), encoding="utf-8")
            config.write_text(
                json.dumps(
                    {
                        "model_dir": str(check.checkpoint.path),
                        "sha256": dict(check.checkpoint.sha256),
                        "input": str(source),
                        "output": str(output),
                        "device": "auto",
                    }
                ),
                encoding="utf-8",
            )

            def beat(_lines: int) -> None:
                AgreementCheck.objects.filter(pk=check_id).update(heartbeat_at=timezone.now())

            outcome = run_ml_child("ml.score_items", config, output=output, on_progress=beat)
            if outcome.returncode != 0:
                raise CheckpointInvalid(f"The scoring process failed: {outcome.last_error}")
            scores = [json.loads(line)["p"] for line in output.read_text(encoding="utf-8").splitlines() if line]
    except CheckpointInvalid as exc:
        _fail(check_id, f"The reward model was refused or failed. {exc}")
        return AgreementCheck.objects.get(pk=check_id)
    except Exception as exc:
        _fail(check_id, f"The check failed. {type(exc).__name__}: {exc}")
        raise
    if len(scores) != len(pairs):
        _fail(check_id, f"The scoring process scored {len(scores)} of {len(pairs)} pairs.")
        return AgreementCheck.objects.get(pk=check_id)
    AgreementCheck.objects.filter(pk=check_id, status=JobStatus.RUNNING).update(
        status=JobStatus.SUCCEEDED,
        pairs=len(scores),
        agreed=sum(1 for p in scores if p > 0.5),
        mean_p_chosen=sum(scores) / len(scores) if scores else None,
        finished_at=timezone.now(),
    )
    return AgreementCheck.objects.get(pk=check_id)


def agreement_checks_reap_stale() -> int:
    now = timezone.now()
    return AgreementCheck.objects.filter(status=JobStatus.RUNNING, heartbeat_at__lt=now - STALE_AFTER).update(
        status=JobStatus.FAILED, finished_at=now, error="The worker stopped reporting progress; check again."
    ) + AgreementCheck.objects.filter(status=JobStatus.QUEUED, created_at__lt=now - timedelta(hours=1)).update(
        status=JobStatus.FAILED, finished_at=now, error="No gpu worker picked the check up within an hour."
    )
