"""Fixtures for the Django-free ``ml`` package: a tiny offline model and tiny data in TRL's shapes.

Nothing here touches the database: these tests run without Django (pytest-django is loaded but idle).
"""

from __future__ import annotations

import json
import os
import random
from collections.abc import Callable, Iterable
from pathlib import Path
from typing import Any

import pytest

# Before transformers / huggingface_hub are imported by a test module: never reach the Hub.
os.environ.setdefault("HF_HUB_OFFLINE", "1")
os.environ.setdefault("HF_DATASETS_OFFLINE", "1")
os.environ.setdefault("TOKENIZERS_PARALLELISM", "false")

GOOD = [" a kind and helpful answer.", " a clear, correct reply.", " thanks, here is the fix."]
BAD = [" no.", " rude!", " wrong wrong wrong"]
TOPICS = ["sun", "moon", "river", "tree", "code", "bread", "train", "music", "snow", "stone", "bird", "salt"]


def preference_rows(n: int, *, seed: int = 0, ties_every: int = 0) -> list[dict[str, Any]]:
    """``prompt/chosen/rejected/margin`` rows (+ ``tie`` when ``ties_every``); several rows share a prompt."""
    rng = random.Random(seed)
    rows = []
    for i in range(n):
        row: dict[str, Any] = {
            "prompt": f"Q{i % (n // 2 or 1)}: tell me about the {rng.choice(TOPICS)}.",
            "chosen": rng.choice(GOOD),
            "rejected": rng.choice(BAD),
            "margin": float(rng.choice([0.0, 0.5, 1.0])),
            "origin": "pairwise",  # the exporter's provenance column: the trainers must ignore it
        }
        if ties_every:
            row["tie"] = i % ties_every == 0
        rows.append(row)
    return rows


def conversational(rows: list[dict[str, Any]]) -> list[dict[str, Any]]:
    """The same rows in TRL's conversational format, as the exporter writes them for chat snapshots."""
    out = []
    for row in rows:
        row = dict(row)
        row["prompt"] = [{"role": "system", "content": "Be brief."}, {"role": "user", "content": row["prompt"]}]
        for key in ("chosen", "rejected", "completion"):
            if key in row:
                row[key] = [{"role": "assistant", "content": row[key]}]
        out.append(row)
    return out


def unpaired_rows(n: int, *, seed: int = 0) -> list[dict[str, Any]]:
    rng = random.Random(seed)
    return [
        {
            "prompt": f"Q{i % (n // 2)}: tell me about the {rng.choice(TOPICS)}.",
            "completion": rng.choice(GOOD if i % 2 else BAD),
            "label": bool(i % 2),
            "origin": "rating",
        }
        for i in range(n)
    ]


def write_jsonl(path: Path, rows: Iterable[dict[str, Any]]) -> Path:
    path.write_text("".join(json.dumps(row) + "\n" for row in rows))
    return path


def read_events(path: Path) -> list[dict[str, Any]]:
    return [json.loads(line) for line in path.read_text().splitlines() if line.strip()]


@pytest.fixture(scope="session")
def tiny_model(tmp_path_factory: pytest.TempPathFactory) -> Path:
    """A ~14k-parameter Llama and a BPE tokenizer trained on our tiny corpus, built once per session."""
    from ml.tiny import build_tiny_causal_lm

    corpus = [row["prompt"] + row["chosen"] + row["rejected"] for row in preference_rows(40)]
    return build_tiny_causal_lm(tmp_path_factory.mktemp("tiny") / "model", corpus, seed=0)


@pytest.fixture
def make_config(tmp_path: Path, tiny_model: Path) -> Callable[..., Any]:
    """Build a run config of ``kind`` for a few CPU steps on the tiny model; keyword arguments override."""

    def build(kind: str, **overrides: Any) -> Any:
        from ml.config import CONFIG_CLASSES

        if "train_file" not in overrides:
            rows = unpaired_rows(32) if kind == "kto" else preference_rows(32)
            overrides["train_file"] = str(write_jsonl(tmp_path / f"{kind}-train.jsonl", rows))
        fields: dict[str, Any] = {
            "model_dir": str(tiny_model),
            "output_dir": str(tmp_path / f"{kind}-out"),
            "max_steps": 4,
            "batch_size": 4,
            "learning_rate": 1e-3,
            "max_length": 64,
            "logging_steps": 1,
            "save_steps": 2,
            "eval_fraction": 0.25,
            "device": "cpu",
            "progress_file": str(tmp_path / f"{kind}-progress.jsonl"),
            "cancel_file": str(tmp_path / f"{kind}.cancel"),
        }
        fields.update(overrides)
        return CONFIG_CLASSES[kind](**fields)

    return build
