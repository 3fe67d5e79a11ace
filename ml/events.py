"""The protocol between a training child (``python -m ml.cli``) and its supervisor: JSON lines and exit codes.

Light on purpose (standard library only): the Django supervisor imports it to parse what the child writes.

Every line is one JSON object with ``"v": 1``, an ``"event"`` and ``"time"`` (Unix seconds):

- ``started``: ``kind``, ``step`` (0, or the resumed step), ``total`` (optimizer steps), ``resumed_from_step``
  (null on a fresh start), ``data`` (the loader's report: rows, held-out source, ties, rows dropped or
  truncated by max_length, sha256 of the files).
- ``progress``: ``step``, ``total``, ``epoch``, ``loss``, ``learning_rate``, ``samples_per_second``,
  ``metrics`` (every other training log value, e.g. ``rewards/accuracies``, ``grad_norm``) and ``eval``
  (null; or, on an evaluation line, the evaluation metrics without their ``eval_`` prefix, and then
  ``loss``, ``learning_rate`` and ``samples_per_second`` are null).
- ``checkpoint``: ``step``, ``path`` (a resumable ``checkpoint-N`` folder).
- ``finished``: ``step``, ``model_dir``, ``manifest``, ``metrics``.
- ``cancelled``: ``step``.
- ``error``: ``type``, ``message`` (the exception text, e.g. a CUDA OOM message); always the last line.

Numbers that are not finite (a diverged loss) are written as null: strict JSON has no NaN. Library
warnings may share standard output with these lines; ``parse_event`` skips anything that is not one.
"""

from __future__ import annotations

import json
import math
import os
import time
from typing import Any, TextIO

EXIT_OK, EXIT_ERROR, EXIT_USAGE, EXIT_CANCELLED = 0, 1, 2, 3
EVENTS = frozenset({"started", "progress", "checkpoint", "finished", "cancelled", "error"})
SCHEMA_VERSION = 1


def json_safe(value: Any) -> Any:
    """``value`` with non-finite floats replaced by None, recursively (strict JSON has no NaN)."""
    if isinstance(value, float) and not math.isfinite(value):
        return None
    if isinstance(value, dict):
        return {str(k): json_safe(v) for k, v in value.items()}
    if isinstance(value, list | tuple):
        return [json_safe(v) for v in value]
    return value


class ProgressWriter:
    """Writes one flushed JSON line per event to a text stream (a file opened for append, or stdout)."""

    def __init__(self, stream: TextIO, *, enabled: bool | None = None) -> None:
        self.stream = stream
        self.enabled = is_main_process() if enabled is None else enabled

    def emit(self, event: str, **fields: Any) -> dict[str, Any]:
        line = {"v": SCHEMA_VERSION, "event": event, **json_safe(fields), "time": round(time.time(), 3)}
        if self.enabled:
            self.stream.write(json.dumps(line, ensure_ascii=False) + "\n")
            self.stream.flush()
        return line


def is_main_process() -> bool:
    """Rank zero, or a single process. torchrun / accelerate launch set ``RANK`` in every worker."""
    return os.environ.get("RANK", "0") == "0"


def parse_event(line: str) -> dict[str, Any] | None:
    """The event on ``line``, or None for anything else (a stray library print, a partial line)."""
    try:
        event = json.loads(line)
    except ValueError:
        return None
    if isinstance(event, dict) and event.get("v") == SCHEMA_VERSION and event.get("event") in EVENTS:
        return event
    return None
