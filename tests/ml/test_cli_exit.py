"""``python -m ml.cli`` ends without the interpreter's teardown, and still says everything it has to say."""

from __future__ import annotations

import json
import subprocess
import sys
from pathlib import Path

import pytest

from ml.cli import EXIT_ERROR, EXIT_OK
from ml.manifest import read_manifest
from tests.conftest import ROOT, clean_env
from tests.ml.conftest import read_events


def _run(kind: str, config_file: Path, module: str = "ml.cli") -> subprocess.CompletedProcess[str]:
    return subprocess.run(
        [sys.executable, "-m", module, kind, "--config", str(config_file)],
        cwd=ROOT,
        env=clean_env(HF_HUB_OFFLINE="1", TOKENIZERS_PARALLELISM="false"),
        capture_output=True,
        text=True,
        timeout=180,
        check=False,
    )


def test_a_finished_run_exits_0_with_its_model_manifest_and_every_line(make_config, tmp_path):
    config = make_config("reward", max_steps=4, save_steps=4, logging_steps=1, eval_fraction=0.0)
    config_file = tmp_path / "run.json"
    config_file.write_text(config.to_json())
    result = _run("reward", config_file)
    assert result.returncode == EXIT_OK, result.stderr[-3000:]
    events = read_events(Path(config.progress_file))  # a file: closed before the fast exit
    assert [e["event"] for e in events].count("progress") == 4
    assert events[-1]["event"] == "finished"
    final = Path(events[-1]["model_dir"])
    manifest = read_manifest(final)
    assert manifest is not None
    assert manifest["global_step"] == 4
    assert any(f["path"].endswith(".safetensors") for f in manifest["files"])


@pytest.mark.parametrize("module", ["ml.cli", "ml"])
def test_stdout_progress_is_flushed_before_the_fast_exit(make_config, tmp_path, module):
    """The supervisor's case: progress on standard output (a pipe), the last line read after the exit."""
    config = make_config("reward", max_steps=2, save_steps=2, logging_steps=1, eval_fraction=0.0)
    data = json.loads(config.to_json())
    data["progress_file"] = None
    config_file = tmp_path / "run.json"
    config_file.write_text(json.dumps(data))
    result = _run("reward", config_file, module)
    assert result.returncode == EXIT_OK, result.stderr[-3000:]
    last = json.loads(result.stdout.strip().splitlines()[-1])
    assert last["event"] == "finished"
    assert last["step"] == 2


def test_an_error_keeps_its_exit_code_and_its_traceback_on_stderr(make_config, tmp_path):
    config = make_config("reward", max_steps=2, eval_fraction=0.0)
    data = json.loads(config.to_json())
    data["train_file"] = str(tmp_path / "missing.jsonl")
    config_file = tmp_path / "run.json"
    config_file.write_text(json.dumps(data))
    result = _run("reward", config_file)
    assert result.returncode == EXIT_ERROR
    last = json.loads(result.stdout.strip().splitlines()[-1])  # refused before the progress file opens
    assert last["event"] == "error"
    assert last["type"] == "ConfigError"
    assert "missing.jsonl" in last["message"]
    assert "Traceback" in result.stderr
