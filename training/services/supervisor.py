"""Supervising one training child: start ``python -m ml.cli``, read its JSON lines, write them to the row.

The child prints one JSON event per line on standard output (``ml.events``); its standard error goes
straight to ``child.log``, and every stdout line is appended there too, so the log tail shows both. A
reader thread turns the pipe into a queue so that the loop wakes up every ``interval`` seconds even when
the child is silent (loading a large model, a slow step): each wake-up writes the heartbeat and reads
``cancel_requested``. Progress is buffered and written at most once per interval; events that change
what the run page must show at once (started, checkpoint, error, finished) are written immediately.

This process never imports torch: the child owns the GPU, and a CUDA context in a forked Celery process
breaks every later fork (TRAINING-NOTES §5.2).
"""

from __future__ import annotations

import logging
import queue
import signal
import subprocess
import sys
import threading
import time
from dataclasses import dataclass
from pathlib import Path
from typing import IO, Any

from django.conf import settings
from django.db import DatabaseError, close_old_connections, transaction
from django.utils import timezone

import ml
from core.child_lifetime import child_env, die_with_parent
from ml.events import parse_event
from training.launch import RunPaths
from training.models import MetricSplit, RunMetric, TrainingRun
from training.services.transitions import run_touch

logger = logging.getLogger(__name__)

MAX_BUFFERED_POINTS = 500
ERROR_MAX_CHARS = 4000
# Where `python -m ml.cli` resolves the ml package the supervisor itself imports.
CODE_ROOT = Path(ml.__file__).resolve().parent.parent


def progress_interval() -> float:
    """Seconds between progress writes and heartbeats (TRAINING_PROGRESS_INTERVAL, default 2)."""
    return float(getattr(settings, "TRAINING_PROGRESS_INTERVAL", 2.0))


@dataclass(frozen=True)
class ChildResult:
    exit_code: int
    finished: dict[str, Any] | None  # the child's `finished` event
    last_error: str | None  # "Type: message" of its `error` event
    lost: bool  # the row stopped being ours (reaped, resumed elsewhere): nothing more may be written


class ProgressRecorder:
    """Turns child events into row updates and metric rows, written in short transactions."""

    def __init__(self, run: TrainingRun, *, interval: float) -> None:
        self.run_id, self.attempt, self.interval = run.pk, run.attempt, interval
        self.latest: dict[str, Any] = {"train": {}, "eval": {}, **(run.latest_metrics or {})}
        self.fields: dict[str, Any] = {}
        self.points: list[RunMetric] = []
        self.reset_after: int | None = None
        self.urgent = False
        self.last_write = time.monotonic()
        self.finished: dict[str, Any] | None = None
        self.last_error: str | None = None

    def handle(self, event: dict[str, Any]) -> None:
        kind = event["event"]
        if "step" in event and isinstance(event["step"], int):
            self.fields["step"] = event["step"]
        if isinstance(event.get("total"), int):
            self.fields["total"] = event["total"]
        if kind == "started":
            resumed = event.get("resumed_from_step")
            self.fields.update(resumed_from_step=resumed, data_report=event.get("data") or {})
            # Steps after the resumed checkpoint were logged by the lost attempt and are logged again now.
            self.reset_after = resumed or 0
            self.points = []
            self.urgent = True
        elif kind == "progress":
            self._point(event)
        elif kind == "checkpoint":
            self.fields["last_checkpoint_step"] = event["step"]
            self.urgent = True
        elif kind == "error":
            self.last_error = f"{event.get('type', 'Error')}: {event.get('message', '')}"[:ERROR_MAX_CHARS]
            self.urgent = True
        elif kind == "finished":
            self.finished = event
            self.urgent = True

    def _point(self, event: dict[str, Any]) -> None:
        step = int(event["step"])
        if event.get("eval") is not None:
            split, values = MetricSplit.EVAL, dict(event["eval"])
        else:
            split = MetricSplit.TRAIN
            values = {
                "loss": event.get("loss"),
                "learning_rate": event.get("learning_rate"),
                "samples_per_second": event.get("samples_per_second"),
                "epoch": event.get("epoch"),
                **(event.get("metrics") or {}),
            }
            if values["loss"] is not None:
                self.fields["loss"] = values["loss"]
        self.latest[split] = values
        self.fields["latest_metrics"] = self.latest
        self.points.append(RunMetric(run_id=self.run_id, step=step, split=split, values=values))

    def due(self) -> bool:
        return (
            self.urgent
            or len(self.points) >= MAX_BUFFERED_POINTS
            or time.monotonic() - self.last_write >= self.interval
        )

    def write(self) -> tuple[bool, bool]:
        """Write what is buffered plus the heartbeat. Returns (still ours, cancel requested).

        A database error keeps the buffer for the next try: a training run is not killed by a blip.
        """
        try:
            with transaction.atomic():
                ours = run_touch(run_id=self.run_id, attempt=self.attempt, heartbeat_at=timezone.now(), **self.fields)
                if not ours:
                    return False, False
                if self.reset_after is not None:
                    RunMetric.objects.filter(run_id=self.run_id, step__gt=self.reset_after).delete()
                RunMetric.objects.bulk_create(self.points)
            cancel = TrainingRun.objects.filter(pk=self.run_id).values_list("cancel_requested", flat=True).first()
        except DatabaseError:
            logger.exception("run %s: progress write failed; retrying at the next tick", self.run_id)
            close_old_connections()
            self.last_write = time.monotonic()
            return True, False
        self.fields, self.points, self.reset_after, self.urgent = {}, [], None, False
        self.last_write = time.monotonic()
        return True, bool(cancel)


def _pump(stream: IO[str], lines: queue.Queue[str | None]) -> None:
    try:
        for line in stream:
            lines.put(line)
    finally:
        lines.put(None)  # end of output: the child exited or closed stdout


def _stop(proc: subprocess.Popen[str], grace: float) -> None:
    """SIGTERM first (the child writes an error line and exits resumable), SIGKILL after ``grace``."""
    if proc.poll() is not None:
        return
    proc.send_signal(signal.SIGTERM)
    try:
        proc.wait(timeout=grace)
    except subprocess.TimeoutExpired:
        proc.kill()


def supervise(*, run: TrainingRun, paths: RunPaths) -> ChildResult:
    """Run the child of ``run`` (claimed, config written) to its end; return how it ended.

    Any exception here (worker shutdown, soft time limit) stops the child before propagating: a child
    must not outlive the supervisor that would record its result.
    """
    interval = progress_interval()
    grace = float(getattr(settings, "TRAINING_TERMINATE_GRACE", 30.0))
    command = [sys.executable, "-m", "ml.cli", run.kind, "--config", str(paths.config)]
    recorder = ProgressRecorder(run, interval=interval)
    lost = cancel_sent = False
    with paths.log.open("a", encoding="utf-8") as log:
        log.write(f"--- attempt {run.attempt}: {' '.join(command)}\n")
        log.flush()
        proc = subprocess.Popen(
            command,
            stdout=subprocess.PIPE,
            stderr=log,
            stdin=subprocess.DEVNULL,
            cwd=CODE_ROOT,
            env=child_env(),
            text=True,
            encoding="utf-8",
            errors="replace",
            bufsize=1,
            # Its own session: a Ctrl-C or a signal to the worker's process group does not reach it; the
            # supervisor decides how the child stops.
            start_new_session=True,
            # ...except when the supervisor is SIGKILLed and can decide nothing: then the kernel sends the
            # child SIGTERM (it exits resumable) instead of leaving it training unsupervised until its next
            # write. Popen runs in this thread, which waits for the child below, as PDEATHSIG requires.
            preexec_fn=die_with_parent(),  # only prctl and getppid run between fork and exec
        )
        try:
            recorder.fields["child_pid"] = proc.pid
            recorder.urgent = True
            lines: queue.Queue[str | None] = queue.Queue()
            assert proc.stdout is not None
            reader = threading.Thread(target=_pump, args=(proc.stdout, lines), daemon=True)
            reader.start()
            while True:
                try:
                    line = lines.get(timeout=interval)
                except queue.Empty:
                    line = ""
                if line is None:
                    break
                if line:
                    log.write(line)
                    event = parse_event(line)
                    if event is not None:
                        recorder.handle(event)
                if lost or not recorder.due():
                    continue
                log.flush()
                ours, cancel = recorder.write()
                if not ours:
                    logger.warning("run %s attempt %s is no longer ours; stopping its child", run.pk, run.attempt)
                    lost = True
                    _stop(proc, grace)
                elif cancel and not cancel_sent:
                    paths.cancel.touch()  # the child's callback sees it after its current step
                    cancel_sent = True
            exit_code = proc.wait()
            reader.join(timeout=5)
        except BaseException:
            _stop(proc, grace)
            raise
        if not lost:
            ours, _ = recorder.write()
            lost = not ours
    return ChildResult(exit_code=exit_code, finished=recorder.finished, last_error=recorder.last_error, lost=lost)
