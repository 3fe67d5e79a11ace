"""Training runs: create (validated up front), cancel, resume, execute (the supervisor task), reap.

``run_execute`` is what the ``gpu.training.execute_run`` task calls. It claims the row with a
conditional UPDATE (a second delivery of the message finds it running and does nothing), writes the
child's config, supervises the child (``training.services.supervisor``) and maps its exit code:
0 registers the final model as a checkpoint and succeeds, 3 is cancelled, anything else fails with the
child's last error line. Status changes all go through ``training.services.transitions``.
"""

from __future__ import annotations

import logging
import shutil
import signal
import socket
from collections.abc import Mapping
from datetime import timedelta
from pathlib import Path
from typing import Any

from django.conf import settings
from django.core.exceptions import PermissionDenied
from django.db import transaction
from django.db.models import F, Q, Value
from django.db.models.functions import Coalesce
from django.utils import timezone

from annotation.schemas import FieldError, SchemaError
from core.audit import audit_record
from core.models import Membership, Project, Role, User
from curation.models import DatasetSnapshot
from ml.events import EXIT_CANCELLED, EXIT_OK, EXIT_USAGE
from models_registry.aliases import reward_gate_decide
from models_registry.models import Checkpoint
from models_registry.services import CheckpointInvalid, checkpoint_register_from_run, checkpoint_verify
from training.launch import run_check, run_config, run_paths
from training.models import ACTIVE_STATUSES, RunStatus, TrainingRun, TrainingSchedule
from training.presets import PRESETS
from training.services.supervisor import ChildResult, supervise
from training.services.transitions import run_transition

logger = logging.getLogger(__name__)

MANAGE_ROLES = (Role.ADMIN,)
VIEW_ROLES = (Role.RESEARCHER, Role.ADMIN)
STALE_AFTER = timedelta(minutes=10)


class RunStateError(ValueError):
    """The run is not in a state that allows this action; the message says why."""


def run_may_manage(*, user: User, project: Project) -> bool:
    """Starting, cancelling and resuming runs spends GPU time: project admins only."""
    if user.is_superuser:
        return True
    return Membership.objects.filter(user=user, project=project, role__in=[str(r) for r in MANAGE_ROLES]).exists()


def _require_manager(user: User, project: Project) -> None:
    if not run_may_manage(user=user, project=project):
        raise PermissionDenied("Only admins of this project start, cancel or resume training runs.")


def run_create(
    *,
    project: Project,
    user: User,
    kind: str,
    snapshot: DatasetSnapshot | None,
    base_checkpoint: Checkpoint | None,
    params: Mapping[str, Any],
    preset: str = "",
    schedule: TrainingSchedule | None = None,
) -> TrainingRun:
    """A queued run whose execution is enqueued on the gpu queue when the transaction commits.

    Precondition: ``user`` is an admin of ``project`` (PermissionDenied otherwise). Raises SchemaError
    naming every bad field (``kind``, ``snapshot``, ``base_checkpoint``, ``params.<name>``, ``preset``)
    before anything is written: the ml config is validated here with the real files, not on the GPU box.
    """
    _require_manager(user, project)
    if preset and preset not in PRESETS:
        raise SchemaError([FieldError("preset", f"unknown preset {preset!r}")])
    clean = run_check(project=project, kind=kind, snapshot=snapshot, base_checkpoint=base_checkpoint, params=params)
    assert snapshot is not None  # run_check refuses a missing one
    assert base_checkpoint is not None

    from training.tasks import execute_run  # the task module imports this one

    with transaction.atomic():
        run = TrainingRun.objects.create(
            project=project,
            kind=kind,
            snapshot=snapshot,
            base_checkpoint=base_checkpoint,
            schedule=schedule,
            preset=preset,
            params=clean,
            created_by=user,
        )
        run.output_dir, run.log_path = f"{run.folder}/output", f"{run.folder}/child.log"
        run.save(update_fields=["output_dir", "log_path"])
        audit_record(
            actor=user, action="training.run_start", project=project, target=run,
            details={"kind": kind, "snapshot": snapshot.pk, "base_checkpoint": base_checkpoint.pk, "preset": preset},
        )  # fmt: skip
        execute_run.delay_on_commit(run.pk)
    return run


def run_cancel(*, run: TrainingRun, user: User) -> TrainingRun:
    """Cancel ``run``: at once when still queued, else ask its supervisor, which forwards it to the child
    through the cancel file (the child stops after its current step). Finished runs are left as they are.
    """
    _require_manager(user, run.project)
    now = timezone.now()
    if not run_transition(
        run_id=run.pk, to=RunStatus.CANCELLED, expect=[RunStatus.QUEUED], cancel_requested=True, finished_at=now
    ):
        TrainingRun.objects.filter(pk=run.pk, status=RunStatus.RUNNING).update(cancel_requested=True)
    audit_record(actor=user, action="training.run_cancel", project=run.project, target=run)
    run.refresh_from_db()
    return run


def run_resume(*, run: TrainingRun, user: User) -> TrainingRun:
    """Queue a failed or cancelled run again. Its output folder is kept, so the child continues from the
    last complete checkpoint (``resumed_from_step``). Refused while another run of its schedule is active.
    """
    _require_manager(user, run.project)
    from training.tasks import execute_run

    with transaction.atomic():
        if run.schedule_id is not None:
            TrainingSchedule.objects.select_for_update(of=("self",)).filter(pk=run.schedule_id).first()
            busy = TrainingRun.objects.filter(schedule_id=run.schedule_id, status__in=ACTIVE_STATUSES)
            if busy.exclude(pk=run.pk).exists():
                raise RunStateError("Another run of this schedule is active; resume this one after it ends.")
        if not run_transition(
            run_id=run.pk,
            to=RunStatus.QUEUED,
            expect=[RunStatus.FAILED, RunStatus.CANCELLED],
            cancel_requested=False,
            error="",
            finished_at=None,
        ):
            raise RunStateError("Only failed or cancelled runs can be resumed.")
        run_paths(run).cancel.unlink(missing_ok=True)
        execute_run.delay_on_commit(run.pk)
    run.refresh_from_db()
    return run


def runs_reap_stale(*, older_than: timedelta | None = None) -> int:
    """Fail running runs whose supervisor stopped writing heartbeats (worker killed, machine lost).

    Failed, not re-queued: an automatic retry would loop on a run that kills its machine (host OOM), and
    could start a second child on an output folder a half-alive one still writes. An admin reads the
    reason and presses Resume, which continues from the last checkpoint. Beat task.
    """
    limit = (
        older_than
        if older_than is not None
        else timedelta(seconds=float(getattr(settings, "TRAINING_STALE_AFTER", STALE_AFTER.total_seconds())))
    )
    now = timezone.now()
    cutoff = now - limit
    stale = TrainingRun.objects.filter(status=RunStatus.RUNNING, heartbeat_at__lt=cutoff)
    reaped = 0
    for pk, worker, heartbeat, checkpoint in stale.values_list("pk", "worker", "heartbeat_at", "last_checkpoint_step"):
        then = f"resume to continue from step {checkpoint}" if checkpoint else "resume to start again"
        reason = (
            f"No heartbeat from the supervisor on {worker or 'its worker'} since {heartbeat:%Y-%m-%d %H:%M:%S} UTC "
            f"(worker lost or stopped); {then}."
        )
        # The heartbeat condition again in the UPDATE: a supervisor that just revived keeps its run.
        reaped += run_transition(
            run_id=pk,
            to=RunStatus.FAILED,
            expect=[RunStatus.RUNNING],
            where=Q(heartbeat_at__lt=cutoff),
            error=reason,
            finished_at=now,
        )
    return reaped


# --- Execution (the Celery task's body) ----------------------------------------------------------------


def run_execute(*, run_id: int) -> TrainingRun | None:
    """Execute a queued run to its end. None when the run was not queued (already claimed, or gone).

    Safe to deliver twice: only the call whose UPDATE moves the row out of ``queued`` starts a child.
    """
    now = timezone.now()
    claimed = run_transition(
        run_id=run_id,
        to=RunStatus.RUNNING,
        expect=[RunStatus.QUEUED],
        attempt=F("attempt") + 1,
        started_at=Coalesce(F("started_at"), Value(now)),
        heartbeat_at=now,
        worker=socket.gethostname()[:255],
        child_pid=None,
    )
    if not claimed:
        logger.info("run %s is not queued; nothing to do", run_id)
        return None
    run = TrainingRun.objects.select_related("project", "snapshot", "base_checkpoint").get(pk=run_id)
    paths = run_paths(run)
    try:
        checkpoint_verify(checkpoint=run.base_checkpoint)
        config = run_config(run)
        paths.folder.mkdir(parents=True, exist_ok=True)
        paths.config.write_text(config.to_json(), encoding="utf-8")
    except (CheckpointInvalid, ValueError, OSError) as exc:
        _fail(run, f"Could not start: {exc}")
        return TrainingRun.objects.get(pk=run_id)
    try:
        result = supervise(run=run, paths=paths)
    except Exception as exc:  # the child is stopped already; record why before the task gives up
        _fail(run, f"The supervisor failed: {type(exc).__name__}: {exc}")
        raise
    _conclude(run, paths.output, result)
    return TrainingRun.objects.get(pk=run_id)


def _fail(run: TrainingRun, message: str) -> bool:
    return run_transition(
        run_id=run.pk,
        to=RunStatus.FAILED,
        expect=[RunStatus.RUNNING],
        on_attempt=run.attempt,
        error=message[:4000],
        finished_at=timezone.now(),
    )


def exit_message(code: int, last_error: str | None) -> str:
    """Why a child failed, for the run page: its own last words when it wrote any."""
    if last_error:
        return last_error
    if code < 0:
        name = signal.Signals(-code).name if -code in signal.valid_signals() else str(-code)
        hint = " (often the kernel's out-of-memory killer)" if -code == signal.SIGKILL else ""
        return (
            f"The training process was killed by {name}{hint}. See the log; resume continues from the last checkpoint."
        )
    if code == EXIT_USAGE:
        return "The training process refused its command line (exit 2). See the log."
    if code == EXIT_OK:
        return "The training process exited without reporting a trained model. See the log."
    return f"The training process exited with code {code} without an error line. See the log."


def _conclude(run: TrainingRun, output: Path, result: ChildResult) -> None:
    if result.lost:
        return  # the row belongs to someone else now (reaped, then resumed): its word stands
    now = timezone.now()
    if result.exit_code == EXIT_CANCELLED:
        run_transition(
            run_id=run.pk, to=RunStatus.CANCELLED, expect=[RunStatus.RUNNING], on_attempt=run.attempt, finished_at=now
        )
        return
    if result.exit_code != EXIT_OK or result.finished is None:
        _fail(run, exit_message(result.exit_code, result.last_error))
        return
    try:
        checkpoint = checkpoint_register_from_run(run=run, model_dir=Path(str(result.finished["model_dir"])))
    except (CheckpointInvalid, OSError, KeyError) as exc:
        _fail(run, f"The model trained but could not be registered: {exc}")
        return
    # Registered before the status flips: a succeeded run always has its checkpoint. If the reaper failed
    # the run in between, the checkpoint stays registered (it is real and verified) and the row says why.
    done = run_transition(
        run_id=run.pk,
        to=RunStatus.SUCCEEDED,
        expect=[RunStatus.RUNNING],
        on_attempt=run.attempt,
        metrics=result.finished.get("metrics") or {},
        cancel_requested=False,
        error="",
        finished_at=now,
    )
    if done:
        # Resumable checkpoints hold optimizer state (about 3x the model); a succeeded run never resumes.
        shutil.rmtree(output, ignore_errors=True)
        # The eval gate: a reward model no worse than the active one on the same held-out set becomes
        # active at once; anything else waits for an admin (policies always do).
        reward_gate_decide(checkpoint=checkpoint)
