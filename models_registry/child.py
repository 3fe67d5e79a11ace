"""Running one ``python -m ml.<tool>`` child for a loop job: env without our secrets, progress, cancel.

The job's worker never imports torch; the child does the model work and writes JSONL, one line per unit,
so the number of lines written so far is the job's progress. The child dies with the worker
(``die_with_parent``) so a SIGKILLed worker leaves no orphan generating on the GPU.
"""

from __future__ import annotations

import subprocess  # nosec B404: a fixed argv of our own interpreter, no shell
import sys
import time
from collections.abc import Callable
from dataclasses import dataclass
from pathlib import Path

import ml
from core.child_lifetime import child_env, die_with_parent

CODE_ROOT = Path(ml.__file__).resolve().parent.parent
POLL_SECONDS = 0.5
TERMINATE_GRACE_SECONDS = 10


class ChildCancelled(Exception):
    """``should_stop`` asked the child to stop; it was terminated and its output is incomplete."""


@dataclass(frozen=True)
class ChildOutcome:
    returncode: int
    last_error: str  # the last stderr line, or "exit code N"


def count_lines(path: Path) -> int:
    try:
        with path.open("rb") as handle:
            return sum(1 for _ in handle)
    except FileNotFoundError:
        return 0


def run_ml_child(
    module: str,
    config: Path,
    *,
    output: Path,
    on_progress: Callable[[int], None],
    should_stop: Callable[[], bool] = lambda: False,
) -> ChildOutcome:
    """Run ``python -m <module> --config <config>``; report ``output``'s line count every poll.

    Raises ChildCancelled when ``should_stop()`` turned true (the child got SIGTERM, then SIGKILL).
    """
    command = [sys.executable, "-m", module, "--config", str(config)]
    # Standard error goes to a file, not a pipe: a pipe nobody reads until the end fills at 64 KiB of
    # library warnings and the child blocks for ever.
    log = config.with_suffix(".stderr")
    with (
        log.open("w", encoding="utf-8") as errors,
        subprocess.Popen(  # nosec B603
            command,
            cwd=CODE_ROOT,
            env=child_env(),
            stdout=subprocess.DEVNULL,
            stderr=errors,
            text=True,
            preexec_fn=die_with_parent(),
        ) as proc,
    ):
        while proc.poll() is None:
            time.sleep(POLL_SECONDS)
            on_progress(count_lines(output))
            if should_stop():
                proc.terminate()
                try:
                    proc.wait(TERMINATE_GRACE_SECONDS)
                except subprocess.TimeoutExpired:
                    proc.kill()
                    proc.wait()
                raise ChildCancelled(f"{module} was stopped on request")
    stderr = log.read_text(encoding="utf-8", errors="replace")
    on_progress(count_lines(output))
    lines = stderr.strip().splitlines()
    return ChildOutcome(proc.returncode, lines[-1] if lines else f"exit code {proc.returncode}")
