"""Each trainer runs a few CPU steps on the tiny offline model: loss, weights, metrics, progress, manifest."""

from __future__ import annotations

import json
import math
from pathlib import Path

import pytest
import torch
from safetensors.torch import load_file

from ml.checkpoints import load_checkpoint, score_pairs
from ml.manifest import sha256_of
from ml.scoring import PreferencePair
from ml.train import train_dpo, train_kto, train_reward
from tests.ml.conftest import conversational, preference_rows, read_events, write_jsonl

pytestmark = pytest.mark.slow


def layer_weights(folder: Path) -> dict[str, torch.Tensor]:
    """The transformer body's tensors (shared by the causal LM and the sequence classifier)."""
    return {k: v for k, v in load_file(folder / "model.safetensors").items() if k.startswith("model.")}


def assert_weights_changed(base: Path, trained: Path, *, name_part: str = "") -> None:
    before, after = layer_weights(base), layer_weights(trained)
    common = [k for k in before if k in after and name_part in k]
    assert common, "no tensor in common with the base model"
    assert any(not torch.equal(before[k], after[k]) for k in common), "training did not change the weights"


def assert_progress_is_sane(progress_file: Path, *, total: int) -> list[dict]:
    events = read_events(progress_file)
    assert events[0]["event"] == "started"
    assert events[0]["total"] == total
    assert events[-1]["event"] == "finished"
    train_lines = [e for e in events if e["event"] == "progress" and e["eval"] is None]
    steps = [e["step"] for e in train_lines]
    assert steps == sorted(set(steps))
    assert steps[-1] == total
    assert all(math.isfinite(e["loss"]) and e["learning_rate"] is not None for e in train_lines)
    assert any(e["event"] == "progress" and e["eval"] for e in events), "no evaluation line"
    assert [e["step"] for e in events if e["event"] == "checkpoint"] == list(range(2, total + 1, 2))
    return events


def assert_manifest_matches_files(final_dir: Path, kind: str) -> dict:
    manifest = json.loads((final_dir / "manifest.json").read_text())
    assert manifest["kind"] == kind
    assert manifest["code_version"]["ml"]
    assert manifest["data_sha256"] == manifest["data"]["train_sha256"]
    assert manifest["config"]["kind"] == kind
    files = {f["path"]: f for f in manifest["files"]}
    assert files["model.safetensors"]["weights"] is True
    for path, entry in files.items():
        assert sha256_of(final_dir / path) == entry["sha256"], path
    on_disk = {p.name for p in final_dir.iterdir()}
    assert not [n for n in on_disk if n.endswith((".bin", ".pt", ".pth"))], on_disk
    assert on_disk - {"manifest.json"} == set(files)
    return manifest


def test_reward_model_trains_and_reports_heldout_accuracy_ties_and_calibration(make_config, tmp_path, tiny_model):
    evaluation = write_jsonl(tmp_path / "eval.jsonl", preference_rows(12, seed=3, ties_every=3))
    config = make_config("reward", eval_file=str(evaluation))
    result = train_reward(config)

    assert result.status == "succeeded"
    assert result.step == 4
    metrics = result.metrics
    assert math.isfinite(metrics["train_loss"])
    assert metrics["heldout_pairs"] == 12
    assert metrics["heldout_ties"] == 4
    for key in (
        "heldout_accuracy",
        "heldout_accuracy_with_ties",
        "heldout_mean_margin",
        "heldout_ece",
        "heldout_brier",
    ):
        assert isinstance(metrics[key], float), key
    assert 0 <= metrics["heldout_ece"] <= 1
    assert metrics["eval_accuracy"] == pytest.approx(metrics["heldout_accuracy"])  # TRL's view agrees with ours
    assert result.model_dir is not None
    assert_weights_changed(tiny_model, result.model_dir)
    assert_progress_is_sane(Path(config.progress_file), total=4)
    manifest = assert_manifest_matches_files(result.model_dir, "reward")
    assert manifest["gate_metric"] == {"name": "heldout_accuracy", "higher_is_better": True}
    assert manifest["metrics"]["heldout_ties"] == 4

    pairs = [PreferencePair("Q1: tell me about the sun.", " a kind and helpful answer.", " rude!")] * 2
    probabilities = score_pairs(result.model_dir, pairs)
    assert len(probabilities) == 2
    assert all(0 < p < 1 for p in probabilities)
    assert probabilities[0] == pytest.approx(probabilities[1])
    swapped = score_pairs(result.model_dir, [PreferencePair(pairs[0].prompt, pairs[0].response_b, pairs[0].response_a)])
    assert swapped[0] == pytest.approx(1 - probabilities[0], abs=1e-5)


@pytest.mark.parametrize(
    "options",
    [
        {"loss": "sigmoid"},
        {"loss": "ipo"},
        {"loss": "robust", "label_smoothing": 0.1},
        {"loss": "sigmoid", "lora_r": 4, "lora_alpha": 8, "learning_rate": 1e-2},
        {"loss": "sigmoid", "precompute_ref_log_probs": True},
    ],
    ids=["sigmoid", "ipo", "robust", "lora", "precomputed-ref"],
)
def test_dpo_variants_train_and_report_implicit_reward_accuracy(make_config, tiny_model, options):
    config = make_config("dpo", **options)
    assert config.validate() == []
    result = train_dpo(config)

    assert result.status == "succeeded"
    metrics = result.metrics
    assert math.isfinite(metrics["train_loss"])
    assert 0 <= metrics["eval_rewards/accuracies"] <= 1
    assert math.isfinite(metrics["eval_rewards/margins"])
    assert result.model_dir is not None
    # LoRA is merged into the saved weights: the adapted projections differ from the base.
    assert_weights_changed(tiny_model, result.model_dir, name_part="q_proj" if "lora_r" in options else "")
    assert not (result.model_dir / "adapter_model.safetensors").exists()
    assert_progress_is_sane(Path(config.progress_file), total=4)
    manifest = assert_manifest_matches_files(result.model_dir, "dpo")
    assert manifest["config"]["loss"] == options["loss"]
    assert manifest["runtime"] == {"device": "cpu", "bf16": False, "gradient_checkpointing": False}


def test_kto_trains_from_unpaired_thumbs(make_config, tiny_model):
    config = make_config("kto")
    result = train_kto(config)

    assert result.status == "succeeded"
    metrics = result.metrics
    assert math.isfinite(metrics["train_loss"])
    assert math.isfinite(metrics["eval_loss"])
    assert "eval_kl" in metrics
    assert "eval_rewards/margins" in metrics
    assert result.model_dir is not None
    assert_weights_changed(tiny_model, result.model_dir)
    assert_progress_is_sane(Path(config.progress_file), total=4)
    assert_manifest_matches_files(result.model_dir, "kto")


@pytest.mark.parametrize("kind", ["reward", "dpo"])
def test_conversational_rows_train_with_the_chat_template(make_config, tmp_path, kind):
    rows = conversational(preference_rows(32, ties_every=5))
    config = make_config(kind, train_file=str(write_jsonl(tmp_path / "chat.jsonl", rows)), max_length=96)
    result = train_reward(config) if kind == "reward" else train_dpo(config)
    assert result.status == "succeeded"
    assert math.isfinite(result.metrics["train_loss"])
    key = "heldout_accuracy" if kind == "reward" else "eval_rewards/accuracies"
    assert result.metrics[key] is not None


def test_loaded_checkpoint_is_the_trained_policy(make_config):
    result = train_dpo(make_config("dpo", max_steps=2))
    assert result.model_dir is not None
    loaded = load_checkpoint(result.model_dir)
    assert loaded.role == "policy"
    assert loaded.manifest is not None
    assert loaded.manifest["global_step"] == 2
    assert type(loaded.model).__name__ == "LlamaForCausalLM"
