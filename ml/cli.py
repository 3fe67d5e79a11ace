"""``python -m ml.cli reward|dpo|kto --config run.json``: one training run in its own process.

The supervisor (a Celery task on the ``gpu`` queue) starts this as a child, reads its JSON progress lines
(see ``ml.progress``) and maps the exit code:

- 0: succeeded; the last line is ``finished`` with the final model folder and its manifest.
- 3: cancelled through the cancel file; the last line is ``cancelled``.
- 1: failed; the last line is ``error`` with the exception's type and text (a CUDA OOM message, a data
  format problem, an invalid config, ``Terminated`` after SIGTERM). The traceback goes to standard error.
  The output folder keeps its checkpoints: rerunning the same config resumes.
- 2: bad command line (argparse).

Heavy imports (torch, TRL) happen after the config is parsed and validated, so a bad config fails in
well under a second.
"""

from __future__ import annotations

import argparse
import atexit
import contextlib
import logging
import os
import signal
import sys
import traceback
from collections.abc import Sequence
from contextlib import ExitStack
from pathlib import Path
from types import FrameType
from typing import TextIO

from ml.config import CONFIG_CLASSES, RunConfig, config_from_json
from ml.events import EXIT_CANCELLED, EXIT_ERROR, EXIT_OK, EXIT_USAGE, ProgressWriter

__all__ = ["EXIT_CANCELLED", "EXIT_ERROR", "EXIT_OK", "EXIT_USAGE", "main"]


class ConfigError(ValueError):
    """The run config cannot run; the message lists every problem."""


class Terminated(Exception):
    """SIGTERM arrived (a Celery soft time limit, a worker shutdown): the run is resumable."""


def _raise_terminated(signum: int, frame: FrameType | None) -> None:
    raise Terminated(f"stopped by {signal.Signals(signum).name}; rerun to resume from the last checkpoint")


def _parser() -> argparse.ArgumentParser:
    parser = argparse.ArgumentParser(prog="python -m ml.cli", description="Train a reward model or a policy.")
    parser.add_argument("kind", choices=sorted(CONFIG_CLASSES), help="what to train")
    parser.add_argument("--config", required=True, type=Path, help="run config JSON written by the supervisor")
    return parser


def _load_config(path: Path, kind: str) -> RunConfig:
    try:
        config = config_from_json(path.read_text(encoding="utf-8"), kind=kind)
    except (OSError, ValueError) as exc:
        raise ConfigError(f"cannot read config {path}: {exc}") from exc
    problems = config.validate()
    if problems:
        raise ConfigError("invalid config: " + " ".join(problems))
    return config


def _quiet_libraries() -> None:
    """Progress bars of datasets/transformers would flood the log tail the run page shows."""
    import datasets
    import transformers

    datasets.disable_progress_bars()
    transformers.utils.logging.disable_progress_bar()  # type: ignore[no-untyped-call]


def main(argv: Sequence[str] | None = None, *, stream: TextIO | None = None) -> int:
    """Run one training job; return the exit code. ``stream`` overrides where progress lines go."""
    args = _parser().parse_args(argv)
    # Runs train on local folders only. Offline mode keeps a firewalled GPU box from hanging on Hub calls;
    # it must be set before huggingface_hub is imported, hence the late imports below.
    os.environ.setdefault("HF_HUB_OFFLINE", "1")
    with ExitStack() as stack:
        writer = ProgressWriter(stream or sys.stdout)
        # Without a handler SIGTERM kills the child with no last line; with it, the error line says why.
        previous = signal.signal(signal.SIGTERM, _raise_terminated)
        stack.callback(signal.signal, signal.SIGTERM, previous)
        try:
            config = _load_config(args.config, args.kind)
            from ml.train import open_progress, run_training

            if stream is None:
                writer = open_progress(config, stack)
            _quiet_libraries()
            result = run_training(config, progress=writer)
        except Exception as exc:
            traceback.print_exc(file=sys.stderr)
            writer.emit("error", type=type(exc).__name__, message=str(exc) or repr(exc))
            return EXIT_ERROR
        return EXIT_OK if result.status == "succeeded" else EXIT_CANCELLED


def exit_fast(code: int) -> None:
    """End the process with ``code`` without the interpreter's teardown (1-2 s after a training run).

    Everything that matters is done by then: the final model and manifest are written and closed, the
    last line is flushed. The atexit handlers still run (multiprocessing reaps its children, filelock
    releases locks, logging flushes); only the module-by-module garbage collection of torch, transformers
    and their C++ statics is skipped, which the supervisor otherwise waits for before it sees the exit
    code. Under torch.distributed the normal exit is kept: ranks tear down their process group together.
    """
    torch = sys.modules.get("torch")
    if torch is not None and torch.distributed.is_available() and torch.distributed.is_initialized():
        sys.exit(code)
    atexit._run_exitfuncs()
    logging.shutdown()
    for stream in (sys.stdout, sys.stderr):
        with contextlib.suppress(OSError, ValueError):  # a closed pipe: nothing more can be said on it
            stream.flush()
    # Trap: os._exit skips Python-level buffers: anything written after this point, or left unflushed in a
    # file object that is still open, is lost. Every file of the run is closed before main() returns.
    os._exit(code)


if __name__ == "__main__":
    exit_fast(main())
