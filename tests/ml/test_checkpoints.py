"""Loading refuses pickles and files whose sha256 differs from the manifest or the registry."""

from __future__ import annotations

import shutil
from pathlib import Path

import pytest

from ml.checkpoints import CheckpointRefused, load_checkpoint, verify_checkpoint
from ml.manifest import manifest_hashes, read_manifest
from ml.train import train_reward

pytestmark = pytest.mark.slow


@pytest.fixture(scope="module")
def reward_checkpoint(tmp_path_factory, tiny_model) -> Path:
    from ml.config import RewardRunConfig
    from tests.ml.conftest import preference_rows, write_jsonl

    root = tmp_path_factory.mktemp("reward-ckpt")
    config = RewardRunConfig(
        model_dir=str(tiny_model),
        train_file=str(write_jsonl(root / "train.jsonl", preference_rows(16))),
        output_dir=str(root / "out"),
        max_steps=2,
        batch_size=4,
        max_length=64,
        eval_fraction=0.0,
        device="cpu",
        progress_file=str(root / "progress.jsonl"),
    )
    result = train_reward(config)
    assert result.model_dir is not None
    return result.model_dir


@pytest.fixture
def copy_of(reward_checkpoint: Path, tmp_path: Path) -> Path:
    return Path(shutil.copytree(reward_checkpoint, tmp_path / "copy"))


def test_an_untouched_checkpoint_loads_as_a_reward_model(copy_of: Path):
    loaded = load_checkpoint(copy_of)
    assert loaded.role == "reward"
    assert loaded.model.config.num_labels == 1
    assert loaded.manifest is not None


def test_expected_hashes_from_the_registry_are_checked(copy_of: Path):
    manifest = read_manifest(copy_of)
    assert manifest is not None
    expected = manifest_hashes(manifest)
    assert load_checkpoint(copy_of, expected).manifest is not None
    wrong = {**expected, "model.safetensors": "0" * 64}
    with pytest.raises(CheckpointRefused, match="does not match its recorded sha256"):
        load_checkpoint(copy_of, wrong)


def test_a_tampered_weight_file_is_refused(copy_of: Path):
    weights = copy_of / "model.safetensors"
    data = bytearray(weights.read_bytes())
    data[-1] ^= 0xFF
    weights.write_bytes(bytes(data))
    with pytest.raises(CheckpointRefused, match=r"model\.safetensors does not match"):
        load_checkpoint(copy_of)


@pytest.mark.parametrize("name", ["pytorch_model.bin", "optimizer.pt", "rng_state.pth", "extra.pkl"])
def test_any_pickle_in_the_folder_is_refused(copy_of: Path, name: str):
    (copy_of / name).write_bytes(b"\x80\x04K\x01.")  # a valid pickle of the int 1
    with pytest.raises(CheckpointRefused, match="pickled files"):
        load_checkpoint(copy_of)


def test_a_bin_only_model_is_refused(tmp_path: Path):
    (tmp_path / "config.json").write_text("{}")
    (tmp_path / "pytorch_model.bin").write_bytes(b"\x80\x04K\x01.")
    with pytest.raises(CheckpointRefused, match="pickled files"):
        verify_checkpoint(tmp_path)
    (tmp_path / "pytorch_model.bin").unlink()
    with pytest.raises(CheckpointRefused, match=r"no \.safetensors weights"):
        verify_checkpoint(tmp_path)


def test_an_extra_weight_file_not_in_the_manifest_is_refused(copy_of: Path):
    shutil.copy(copy_of / "model.safetensors", copy_of / "model-00002-of-00002.safetensors")
    with pytest.raises(CheckpointRefused, match="not in the recorded hashes"):
        load_checkpoint(copy_of)


def test_a_missing_recorded_file_is_refused(copy_of: Path):
    (copy_of / "tokenizer.json").unlink()
    with pytest.raises(CheckpointRefused, match="recorded but missing"):
        load_checkpoint(copy_of)
