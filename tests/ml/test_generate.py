"""``ml.generate``: batched sampling from a policy folder, in a child process as the registry runs it."""

from __future__ import annotations

import json
import shutil
import subprocess
import sys
from pathlib import Path
from typing import Any

import pytest

from ml.generate import EXIT_OK, EXIT_REFUSED
from ml.generation_config import GenerationParams
from tests.ml.conftest import write_jsonl

ROOT = Path(__file__).resolve().parents[2]


def run_child(config: dict[str, Any], tmp_path: Path) -> subprocess.CompletedProcess[str]:
    path = tmp_path / "gen.json"
    path.write_text(json.dumps(config), encoding="utf-8")
    return subprocess.run(
        [sys.executable, "-m", "ml.generate", "--config", str(path)],
        cwd=ROOT, capture_output=True, text=True, timeout=300, check=False,
    )  # fmt: skip


def test_every_prompt_gets_its_samples_including_conversations_of_different_lengths(tiny_model, tmp_path):
    prompts = [
        {"prompt_id": 1, "prompt": "Tell me about the sun."},
        {"prompt_id": 2, "prompt": "Why?"},
        {"prompt_id": 3, "prompt": [{"role": "user", "content": "A long question about rivers and trees?"}]},
    ]
    config = {
        "model_dir": str(tiny_model), "input": str(write_jsonl(tmp_path / "in.jsonl", prompts)),
        "output": str(tmp_path / "out.jsonl"), "num_samples": 3, "max_new_tokens": 6, "batch_size": 2,
        "device": "cpu", "seed": 7,
    }  # fmt: skip
    done = run_child(config, tmp_path)
    assert done.returncode == EXIT_OK, done.stderr
    rows = [json.loads(line) for line in (tmp_path / "out.jsonl").read_text().splitlines()]
    assert [(r["prompt_id"], r["sample"]) for r in rows] == [(p, s) for p in (1, 2, 3) for s in range(3)]
    assert all(isinstance(r["text"], str) for r in rows)
    # A random tiny model samples differently each time: three identical samples for every prompt would
    # mean the samples were not drawn independently.
    assert any(len({r["text"] for r in rows if r["prompt_id"] == p}) > 1 for p in (1, 2, 3))

    again = run_child(config, tmp_path)  # same seed, same text
    assert again.returncode == EXIT_OK
    assert [json.loads(line) for line in (tmp_path / "out.jsonl").read_text().splitlines()] == rows


def test_a_folder_with_a_pickle_is_refused_before_anything_is_generated(tiny_model, tmp_path):
    folder = tmp_path / "policy"
    shutil.copytree(tiny_model, folder)
    (folder / "pytorch_model.bin").write_bytes(b"not really a pickle")
    config = {"model_dir": str(folder), "input": str(write_jsonl(tmp_path / "in.jsonl", [{"prompt_id": 1, "prompt": "x"}])),
              "output": str(tmp_path / "out.jsonl"), "device": "cpu"}  # fmt: skip
    done = run_child(config, tmp_path)
    assert done.returncode == EXIT_REFUSED
    assert "pickled" in done.stderr
    assert not (tmp_path / "out.jsonl").exists()


@pytest.mark.parametrize(
    ("data", "field"),
    [
        ({"num_samples": 0}, "num_samples"),
        ({"temperature": 0.0, "num_samples": 2}, "num_samples"),
        ({"top_p": 0}, "top_p"),
        ({"max_new_tokens": 10_000}, "max_new_tokens"),
        ({"device": "tpu"}, "device"),
    ],
)
def test_params_name_the_bad_field(data, field):
    assert field in [name for name, _ in GenerationParams.from_mapping(data).problems()]


def test_params_refuse_unknown_keys_and_wrong_types():
    with pytest.raises(ValueError, match="unknown generation parameter"):
        GenerationParams.from_mapping({"beams": 4})
    with pytest.raises(ValueError, match="num_samples"):
        GenerationParams.from_mapping({"num_samples": "many"})
    with pytest.raises(ValueError, match="num_samples"):
        GenerationParams.from_mapping({"num_samples": 2.5})
    assert GenerationParams.from_mapping({"num_samples": "3", "temperature": 1}).problems() == []
