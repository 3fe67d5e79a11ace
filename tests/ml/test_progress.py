"""The JSON-lines protocol and the callback, without a trainer: fake states, real TrainerControl."""

from __future__ import annotations

import io
import json
import math
from pathlib import Path
from types import SimpleNamespace

from transformers import TrainerControl, TrainerState

from ml.events import ProgressWriter, json_safe, parse_event
from ml.progress import ProgressCallback

ARGS = SimpleNamespace(
    per_device_train_batch_size=4, gradient_accumulation_steps=2, world_size=1, output_dir="/runs/7", device="cpu"
)


def lines(stream: io.StringIO) -> list[dict]:
    return [json.loads(line) for line in stream.getvalue().splitlines()]


def test_non_finite_numbers_become_null_so_lines_stay_strict_json():
    assert json_safe({"loss": math.nan, "m": [math.inf, 1.5], "ok": 2}) == {"loss": None, "m": [None, 1.5], "ok": 2}
    stream = io.StringIO()
    ProgressWriter(stream).emit("progress", loss=math.nan)
    json.loads(stream.getvalue(), parse_constant=lambda name: (_ for _ in ()).throw(ValueError(name)))


def test_parse_event_skips_what_is_not_an_event():
    assert parse_event('{"v": 1, "event": "started", "time": 1}') == {"v": 1, "event": "started", "time": 1}
    assert parse_event("{'loss': 0.3}") is None  # a stray library print
    assert parse_event('{"v": 1, "event": "gossip"}') is None
    assert parse_event('{"v": 2, "event": "started"}') is None
    assert parse_event('{"v": 1, "eve') is None


def test_callback_reports_training_and_evaluation_lines():
    stream = io.StringIO()
    callback = ProgressCallback(ProgressWriter(stream), kind="dpo", resumed_from_step=None, data_report={"rows": 3})
    state, control = TrainerState(max_steps=10), TrainerControl()
    callback.on_train_begin(ARGS, state, control)
    state.global_step, state.epoch = 2, 0.5
    callback.on_log(ARGS, state, control, logs={"loss": 0.69, "learning_rate": 1e-6, "epoch": 0.5, "grad_norm": 1.0})
    callback.on_log(ARGS, state, control, logs={"eval_loss": 0.6, "eval_rewards/accuracies": 0.75})
    callback.on_save(ARGS, state, control)
    callback.on_log(ARGS, state, control, logs={"train_runtime": 3.0, "train_loss": 0.65})

    started, progress, evaluation, checkpoint = lines(stream)
    assert started["event"] == "started"
    assert started["total"] == 10
    assert started["resumed_from_step"] is None
    assert started["data"] == {"rows": 3}
    assert progress["step"] == 2
    assert progress["loss"] == 0.69
    assert progress["metrics"] == {"grad_norm": 1.0}
    assert progress["eval"] is None
    assert progress["samples_per_second"] > 0  # 2 steps x 4 x 2 samples since train begin
    assert evaluation["eval"] == {"loss": 0.6, "rewards/accuracies": 0.75}
    assert evaluation["loss"] is None
    assert checkpoint == {**checkpoint, "event": "checkpoint", "step": 2, "path": "/runs/7/checkpoint-2"}
    assert callback.train_summary == {"train_runtime": 3.0, "train_loss": 0.65}


def test_only_process_zero_writes():
    stream = io.StringIO()
    callback = ProgressCallback(ProgressWriter(stream), kind="reward")
    state = TrainerState(max_steps=4, is_world_process_zero=False)
    callback.on_train_begin(ARGS, state, TrainerControl())
    callback.on_log(ARGS, state, TrainerControl(), logs={"loss": 1.0})
    callback.on_save(ARGS, state, TrainerControl())
    assert stream.getvalue() == ""


def test_other_ranks_of_a_distributed_launch_write_nothing(monkeypatch):
    monkeypatch.setenv("RANK", "1")
    stream = io.StringIO()
    ProgressWriter(stream).emit("error", type="RuntimeError", message="boom")
    assert stream.getvalue() == ""


def test_cancel_file_stops_training_at_the_next_step(tmp_path: Path):
    cancel = tmp_path / "cancel"
    callback = ProgressCallback(ProgressWriter(io.StringIO()), kind="kto", cancel_file=cancel)
    control = TrainerControl()
    callback.on_step_end(ARGS, TrainerState(), control)
    assert not control.should_training_stop
    assert not callback.cancelled
    cancel.touch()
    callback.on_step_end(ARGS, TrainerState(), control)
    assert control.should_training_stop
    assert callback.cancelled
