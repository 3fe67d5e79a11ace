"""Run configs: validation tables, JSON round trip, and no heavy import on the web side."""

from __future__ import annotations

import dataclasses
import json
import re
import subprocess
import sys
from pathlib import Path

import pytest

from ml.config import (
    CONFIG_CLASSES,
    DPORunConfig,
    KTORunConfig,
    RewardRunConfig,
    config_from_json,
)
from tests.conftest import ROOT

BASE = {"model_dir": "m", "train_file": "train.jsonl", "output_dir": "out"}


def problems(cls, **fields) -> list[str]:
    return cls(**{**BASE, **fields}).validate(check_files=False)


@pytest.mark.parametrize("cls", [RewardRunConfig, DPORunConfig, KTORunConfig])
def test_defaults_are_valid(cls):
    assert problems(cls) == []


@pytest.mark.parametrize(
    ("cls", "fields", "fragment"),
    [
        (RewardRunConfig, {"learning_rate": 0.5}, "learning_rate must be between"),
        (RewardRunConfig, {"learning_rate": 0.0}, "learning_rate must be between"),
        (RewardRunConfig, {"learning_rate": float("nan")}, "learning_rate must be between"),
        (RewardRunConfig, {"max_steps": 0}, "max_steps must be at least 1"),
        (RewardRunConfig, {"num_epochs": 0.0}, "num_epochs must be above 0"),
        (RewardRunConfig, {"batch_size": 0}, "batch_size must be at least 1"),
        (RewardRunConfig, {"grad_accum": 0}, "grad_accum must be at least 1"),
        (RewardRunConfig, {"save_steps": 0}, "save_steps must be at least 1"),
        (RewardRunConfig, {"eval_steps": 0}, "eval_steps must be at least 1"),
        (RewardRunConfig, {"max_length": 4}, "max_length must be between"),
        (RewardRunConfig, {"eval_fraction": 0.5}, "eval_fraction must be at least 0 and below 0.5"),
        (RewardRunConfig, {"seed": -1}, "seed must not be negative"),
        (RewardRunConfig, {"device": "tpu"}, "device must be auto, cpu or cuda"),
        (RewardRunConfig, {"device": "cpu", "bf16": True}, "bf16 is for GPUs"),
        (RewardRunConfig, {"tie_band": 0.5}, "tie_band"),
        (RewardRunConfig, {"center_rewards_coefficient": -1.0}, "center_rewards_coefficient"),
        (DPORunConfig, {"loss": "hinge"}, "loss must be sigmoid, ipo or robust"),
        (DPORunConfig, {"label_smoothing": 0.1}, "label_smoothing is only used by the robust loss"),
        (DPORunConfig, {"loss": "ipo", "label_smoothing": 0.1}, "label_smoothing is only used by the robust loss"),
        (DPORunConfig, {"loss": "robust", "label_smoothing": 0.5}, "label_smoothing must be at least 0 and below 0.5"),
        (DPORunConfig, {"loss": "robust", "label_smoothing": -0.1}, "label_smoothing must be at least 0"),
        (DPORunConfig, {"beta": 0.0}, "beta must be above 0"),
        (DPORunConfig, {"lora_r": 0}, "lora_r must be at least 1"),
        (DPORunConfig, {"lora_r": 4, "lora_dropout": 1.0}, "lora_dropout"),
        (DPORunConfig, {"lora_r": 4, "lora_target_modules": ()}, "lora_target_modules must name"),
        (DPORunConfig, {"lora_r": 4, "lora_target_modules": ("q_proj", "lm_head")}, "must not include lm_head"),
        (KTORunConfig, {"batch_size": 1}, "KTO needs batch_size of at least 2"),
        (KTORunConfig, {"desirable_weight": 0.0}, "desirable_weight must be above 0"),
    ],
)
def test_validation_names_the_problem(cls, fields, fragment):
    found = problems(cls, **fields)
    assert any(fragment in p for p in found), found


def test_robust_dpo_with_label_smoothing_is_valid():
    assert problems(DPORunConfig, loss="robust", label_smoothing=0.1) == []


def test_file_checks(tmp_path: Path, tiny_model: Path):
    config = RewardRunConfig(model_dir=str(tmp_path), train_file=str(tmp_path / "x.csv"), output_dir="o")
    found = config.validate()
    assert any("not a model directory" in p for p in found)
    assert any("must end in .jsonl" in p for p in found)

    config = RewardRunConfig(
        model_dir=str(tiny_model),
        train_file=str(tmp_path / "missing.jsonl"),
        eval_file=str(tmp_path / "e.jsonl"),
        output_dir="o",
    )
    found = config.validate()
    assert any("train_file" in p and "does not exist" in p for p in found)
    assert any("eval_file" in p and "does not exist" in p for p in found)

    pickled = tmp_path / "pickled"
    pickled.mkdir()
    (pickled / "config.json").write_text("{}")
    (pickled / "pytorch_model.bin").write_bytes(b"x")
    found = RewardRunConfig(model_dir=str(pickled), train_file="t.jsonl", output_dir="o").validate()
    assert any("no .safetensors weights" in p for p in found)


@pytest.mark.parametrize("cls", [RewardRunConfig, DPORunConfig, KTORunConfig])
def test_json_round_trip(cls):
    config = cls(**BASE, max_steps=7, eval_file="e.jsonl", bf16=False)
    if cls is DPORunConfig:
        config = dataclasses.replace(
            config, loss="robust", label_smoothing=0.1, lora_r=8, lora_target_modules=("q_proj",)
        )
    text = config.to_json()
    assert json.loads(text)["kind"] == cls.kind
    assert config_from_json(text) == config
    assert cls.from_json(text) == config


def test_every_field_has_help():
    for cls in CONFIG_CLASSES.values():
        for field in dataclasses.fields(cls):
            assert field.metadata.get("help"), f"{cls.__name__}.{field.name} has no help text"


@pytest.mark.parametrize(
    ("text", "kind", "fragment"),
    [
        (json.dumps({**BASE, "kind": "dpo"}), "reward", "is for a 'dpo' run but the command asked for 'reward'"),
        (json.dumps({**BASE, "kind": "sft"}), None, "unknown run kind 'sft'"),
        (json.dumps({**BASE, "kind": "dpo", "max_prompt_length": 16}), None, "unknown field 'max_prompt_length'"),
        (json.dumps({**BASE, "kind": "dpo", "batch_size": "8"}), None, "batch_size has the wrong type"),
        (json.dumps({**BASE, "kind": "dpo", "loss": "hinge"}), None, "loss has the wrong type"),
        (json.dumps({"kind": "kto"}), None, "model_dir is required"),
        ("[]", None, "must be a JSON object"),
    ],
)
def test_from_json_refuses_bad_files(text, kind, fragment):
    with pytest.raises(ValueError, match=re.escape(fragment)):
        config_from_json(text, kind=kind)


def test_ints_are_accepted_for_float_fields():
    config = config_from_json(json.dumps({**BASE, "kind": "reward", "learning_rate": 1, "num_epochs": 2}))
    assert config.num_epochs == 2.0
    assert isinstance(config.num_epochs, float)


def test_config_module_imports_no_torch():
    """The web process imports ml.config to validate runs: it must not pull in torch (nor touch CUDA)."""
    code = "import sys, ml.config; print(sorted(m for m in ('torch', 'transformers', 'trl') if m in sys.modules))"
    result = subprocess.run([sys.executable, "-c", code], cwd=ROOT, capture_output=True, text=True, check=True)
    assert result.stdout.strip() == "[]"
