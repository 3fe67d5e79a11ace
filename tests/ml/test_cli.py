"""``python -m ml.cli``: exit codes, cancel through the flag file, crash resume, the error line, the boundary."""

from __future__ import annotations

import io
import json
import os
import signal
import subprocess
import sys
import threading
import time
from pathlib import Path

import pytest
import torch
import transformers

from ml.cli import EXIT_CANCELLED, EXIT_ERROR, EXIT_OK, main
from tests.conftest import ROOT, clean_env
from tests.ml.conftest import read_events

BLOCK_DJANGO = """
import importlib.abc, sys
class Block(importlib.abc.MetaPathFinder):
    def find_spec(self, name, path=None, target=None):
        if name.split('.')[0] in {'django', 'rest_framework', 'celery', 'config', 'core', 'annotation',
                                  'curation', 'training', 'models_registry'}:
            raise ImportError(f'ml imported {name}')
        return None
sys.meta_path.insert(0, Block())
"""


class CancelAtStep(io.StringIO):
    """A progress stream that creates the cancel file as soon as it receives the progress line of ``step``.

    Synchronous, so deterministic: the line for step N is written in ``on_log`` after step N, and the
    callback sees the file in ``on_step_end`` of step N + 1.
    """

    def __init__(self, cancel_file: Path, step: int) -> None:
        super().__init__()
        self.cancel_file, self.step = cancel_file, step

    def write(self, text: str) -> int:
        event = json.loads(text)
        if event["event"] == "progress" and event["step"] == self.step:
            self.cancel_file.touch()
        return super().write(text)

    def events(self) -> list[dict]:
        return [json.loads(line) for line in self.getvalue().splitlines()]


def write_config(config, path: Path) -> Path:
    path.write_text(config.to_json())
    return path


@pytest.mark.slow
def test_cancel_stops_early_with_exit_3_and_a_rerun_resumes_from_the_saved_step(make_config, tmp_path):
    config = make_config("reward", max_steps=4, save_steps=2)
    config_file = write_config(config, tmp_path / "run.json")
    cancel_file = Path(config.cancel_file)

    stream = CancelAtStep(cancel_file, step=2)
    assert main(["reward", "--config", str(config_file)], stream=stream) == EXIT_CANCELLED
    events = stream.events()
    assert events[-1] == {**events[-1], "event": "cancelled", "step": 3}
    assert [e["step"] for e in events if e["event"] == "checkpoint"] == [2]
    assert not (Path(config.output_dir) / "final").exists()

    cancel_file.unlink()
    rerun = io.StringIO()
    assert main(["reward", "--config", str(config_file)], stream=rerun) == EXIT_OK
    events = [json.loads(line) for line in rerun.getvalue().splitlines()]
    assert events[0]["event"] == "started"
    assert events[0]["resumed_from_step"] == 2
    assert events[0]["step"] == 2
    steps = [e["step"] for e in events if e["event"] == "progress" and e["eval"] is None]
    assert steps == [3, 4]
    assert events[-1]["event"] == "finished"
    manifest = json.loads((Path(config.output_dir) / "final" / "manifest.json").read_text())
    assert manifest["resumed_from_step"] == 2
    assert manifest["global_step"] == 4


@pytest.mark.slow
def test_a_run_cancelled_while_queued_loads_nothing(make_config, tmp_path):
    config = make_config("dpo")
    Path(config.cancel_file).touch()
    stream = io.StringIO()
    assert main(["dpo", "--config", str(write_config(config, tmp_path / "run.json"))], stream=stream) == EXIT_CANCELLED
    assert json.loads(stream.getvalue().splitlines()[-1])["event"] == "cancelled"


@pytest.mark.slow
def test_a_failure_ends_with_an_error_line_carrying_the_exception_text(make_config, tmp_path, monkeypatch):
    def out_of_memory(self, *args, **kwargs):
        raise torch.OutOfMemoryError("CUDA out of memory. Tried to allocate 20.00 GiB")

    monkeypatch.setattr(transformers.Trainer, "train", out_of_memory)
    stream = io.StringIO()
    config_file = write_config(make_config("kto"), tmp_path / "run.json")
    assert main(["kto", "--config", str(config_file)], stream=stream) == EXIT_ERROR
    last = json.loads(stream.getvalue().splitlines()[-1])
    assert last["event"] == "error"
    assert last["type"] == "OutOfMemoryError"
    assert "CUDA out of memory. Tried to allocate 20.00 GiB" in last["message"]


@pytest.mark.slow
def test_sigterm_ends_with_an_error_line_not_a_silent_death(make_config, tmp_path, monkeypatch):
    def terminated(self, *args, **kwargs):
        os.kill(os.getpid(), signal.SIGTERM)

    monkeypatch.setattr(transformers.Trainer, "train", terminated)
    before = signal.getsignal(signal.SIGTERM)
    stream = io.StringIO()
    config_file = write_config(make_config("reward"), tmp_path / "run.json")
    assert main(["reward", "--config", str(config_file)], stream=stream) == EXIT_ERROR
    last = json.loads(stream.getvalue().splitlines()[-1])
    assert last["type"] == "Terminated"
    assert "SIGTERM" in last["message"]
    assert signal.getsignal(signal.SIGTERM) == before  # the handler is the run's, not the process's


def test_data_errors_are_reported_in_the_error_line(make_config, tmp_path):
    bad = tmp_path / "bad.jsonl"
    bad.write_text(json.dumps({"prompt": "p", "answer": "a"}) + "\n")
    stream = io.StringIO()
    config_file = write_config(make_config("dpo", train_file=str(bad)), tmp_path / "run.json")
    assert main(["dpo", "--config", str(config_file)], stream=stream) == EXIT_ERROR
    last = json.loads(stream.getvalue().splitlines()[-1])
    assert last["type"] == "DataFormatError"
    assert "lacks column(s) 'chosen', 'rejected'" in last["message"]


def run_cli(*args: str, timeout: float = 180) -> subprocess.CompletedProcess[str]:
    return subprocess.run(
        [sys.executable, "-m", "ml.cli", *args],
        cwd=ROOT,
        env=clean_env(HF_HUB_OFFLINE="1", TOKENIZERS_PARALLELISM="false"),
        capture_output=True,
        text=True,
        timeout=timeout,
        check=False,
    )


def test_an_invalid_config_exits_1_fast_with_every_problem(make_config, tmp_path):
    config = make_config("kto", batch_size=1, learning_rate=1.0)
    started = time.monotonic()
    result = run_cli("kto", "--config", str(write_config(config, tmp_path / "run.json")))
    assert result.returncode == EXIT_ERROR
    assert time.monotonic() - started < 10  # no torch import before the config is known to be good
    last = json.loads(result.stdout.splitlines()[-1])
    assert last["event"] == "error"
    assert last["type"] == "ConfigError"
    assert "KTO needs batch_size of at least 2" in last["message"]
    assert "learning_rate must be between" in last["message"]
    assert run_cli("kto").returncode == 2  # argparse: --config is required


@pytest.mark.slow
def test_the_cli_subprocess_stops_with_exit_3_when_a_watcher_creates_the_cancel_file(make_config, tmp_path):
    """The supervisor's view: a child process, a progress file it tails, a cancel file it creates.

    300 steps take seconds; the watcher reacts within milliseconds of the first progress line, so the run
    stops long before its end (crash resume from a saved step is covered deterministically above).
    """
    config = make_config("reward", max_steps=300, save_steps=1000, logging_steps=5, eval_fraction=0.0)
    config_file = write_config(config, tmp_path / "run.json")
    progress, cancel_file = Path(config.progress_file), Path(config.cancel_file)

    def cancel_on_first_progress_line() -> None:
        deadline = time.monotonic() + 120
        while time.monotonic() < deadline:
            if progress.exists() and any(e["event"] == "progress" for e in read_events(progress)):
                cancel_file.touch()
                return
            time.sleep(0.005)

    watcher = threading.Thread(target=cancel_on_first_progress_line, daemon=True)
    watcher.start()
    result = run_cli("reward", "--config", str(config_file))
    watcher.join(timeout=5)
    assert result.returncode == EXIT_CANCELLED, result.stderr[-3000:]
    events = read_events(progress)
    assert [e["event"] for e in events[:2]] == ["started", "progress"]
    assert events[-1]["event"] == "cancelled"
    assert 5 <= events[-1]["step"] < 300
    assert not (Path(config.output_dir) / "final").exists()


def test_ml_imports_without_django():
    code = BLOCK_DJANGO + "import ml.cli, ml.train, ml.config, ml.data, ml.progress, ml.checkpoints\nprint('ok')"
    result = subprocess.run(
        [sys.executable, "-c", code], cwd=ROOT, env=clean_env(), capture_output=True, text=True, check=False
    )
    assert result.returncode == 0, result.stderr
    assert result.stdout.strip() == "ok"
    blocked = subprocess.run(
        [sys.executable, "-c", BLOCK_DJANGO + "import django"],
        cwd=ROOT,
        env=clean_env(),
        capture_output=True,
        text=True,
    )
    assert "ml imported django" in blocked.stderr
