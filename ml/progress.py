"""A TrainerCallback that reports progress as JSON lines (``ml.events``) and honours a cancel file.

Only the world's process zero writes. Every process checks the cancel file, and under several processes
they agree through an all-reduce, since one rank stopping alone would hang the others in a collective.
"""

from __future__ import annotations

import time
from pathlib import Path
from typing import Any

import torch
from transformers import TrainerCallback, TrainerControl, TrainerState, TrainingArguments

from ml.config import RunKind
from ml.events import ProgressWriter


class ProgressCallback(TrainerCallback):
    """Reports training to a ``ProgressWriter`` and stops training when ``cancel_file`` appears."""

    def __init__(
        self,
        writer: ProgressWriter,
        *,
        kind: RunKind,
        cancel_file: Path | None = None,
        resumed_from_step: int | None = None,
        data_report: dict[str, Any] | None = None,
    ) -> None:
        self.writer = writer
        self.kind = kind
        self.cancel_file = cancel_file
        self.resumed_from_step = resumed_from_step
        self.data_report = data_report
        self.cancelled = False
        self.train_summary: dict[str, float] = {}
        self._last_step = 0
        self._last_time = time.monotonic()

    def cancel_requested(self) -> bool:
        return self.cancel_file is not None and self.cancel_file.exists()

    def on_train_begin(
        self, args: TrainingArguments, state: TrainerState, control: TrainerControl, **kwargs: Any
    ) -> None:
        self._last_step = state.global_step
        self._last_time = time.monotonic()
        if state.is_world_process_zero:
            self.writer.emit(
                "started",
                kind=self.kind,
                step=self.resumed_from_step or 0,
                total=state.max_steps,
                resumed_from_step=self.resumed_from_step,
                data=self.data_report,
            )

    def on_step_end(self, args: TrainingArguments, state: TrainerState, control: TrainerControl, **kwargs: Any) -> None:
        requested = self.cancel_requested()
        if torch.distributed.is_available() and torch.distributed.is_initialized():
            flag = torch.tensor([int(requested)], device=args.device)
            torch.distributed.all_reduce(flag, op=torch.distributed.ReduceOp.MAX)
            requested = bool(flag.item())
        if requested:
            self.cancelled = True
            control.should_training_stop = True  # ends cleanly after this step; no checkpoint is forced

    def on_log(
        self,
        args: TrainingArguments,
        state: TrainerState,
        control: TrainerControl,
        logs: dict[str, float] | None = None,
        **kwargs: Any,
    ) -> None:
        if not state.is_world_process_zero or not logs:
            return
        if "train_runtime" in logs:  # the end-of-training summary, reported with `finished`
            self.train_summary = dict(logs)
            return
        common = {"step": state.global_step, "total": state.max_steps, "epoch": logs.get("epoch", state.epoch)}
        if any(key.startswith("eval_") for key in logs):
            evaluation = {key.removeprefix("eval_"): value for key, value in logs.items() if key.startswith("eval_")}
            self.writer.emit(
                "progress",
                **common,
                loss=None,
                learning_rate=None,
                samples_per_second=None,
                metrics={},
                eval=evaluation,
            )
            return
        now = time.monotonic()
        samples = (
            (state.global_step - self._last_step)
            * args.per_device_train_batch_size
            * args.gradient_accumulation_steps
            * args.world_size
        )
        elapsed = now - self._last_time
        self._last_step, self._last_time = state.global_step, now
        extra = {k: v for k, v in logs.items() if k not in ("loss", "learning_rate", "epoch")}
        self.writer.emit(
            "progress",
            **common,
            loss=logs.get("loss"),
            learning_rate=logs.get("learning_rate"),
            samples_per_second=round(samples / elapsed, 3) if elapsed > 0 else None,
            metrics=extra,
            eval=None,
        )

    def on_save(self, args: TrainingArguments, state: TrainerState, control: TrainerControl, **kwargs: Any) -> None:
        if state.is_world_process_zero:
            path = Path(str(args.output_dir)) / f"checkpoint-{state.global_step}"
            self.writer.emit("checkpoint", step=state.global_step, path=str(path))
