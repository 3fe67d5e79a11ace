"""Load a trained model safely: safetensors only, and only when every file matches its recorded sha256.

Pickled weights (``.bin``, ``.pt``, ...) run code when loaded, and the loop loads whatever the registry
points at; so a folder holding any pickle is refused outright, ``from_pretrained`` is told
``use_safetensors=True``, and the hashes come from the registry (``expected_sha256``) or the folder's
manifest. Intermediate ``checkpoint-N`` folders (optimizer state in ``.pt``) are for resuming a run,
never for loading here.
"""

from __future__ import annotations

from collections.abc import Mapping, Sequence
from dataclasses import dataclass
from pathlib import Path
from typing import Any, Literal

from transformers import (
    AutoConfig,
    AutoModelForCausalLM,
    AutoModelForSequenceClassification,
    AutoTokenizer,
    PreTrainedModel,
    PreTrainedTokenizerBase,
)

from ml.config import Device
from ml.device import resolve_device
from ml.metrics import sigmoid
from ml.scoring import PreferencePair, score_texts
from ml.verify import CheckpointRefused, verify_checkpoint

__all__ = ["CheckpointRefused", "LoadedCheckpoint", "load_checkpoint", "score_pairs", "verify_checkpoint"]

ModelRole = Literal["reward", "policy"]


@dataclass(frozen=True)
class LoadedCheckpoint:
    model: PreTrainedModel
    tokenizer: PreTrainedTokenizerBase
    role: ModelRole
    manifest: dict[str, Any] | None


def _role_of(folder: Path, manifest: dict[str, Any] | None) -> ModelRole:
    if manifest is not None and manifest.get("kind") in ("reward", "dpo", "kto"):
        return "reward" if manifest["kind"] == "reward" else "policy"
    # local_files_only: a verified folder on disk, never a Hub download (bandit B615 is about the Hub).
    architectures = AutoConfig.from_pretrained(folder, local_files_only=True).architectures or []  # nosec B615
    return "reward" if any(a.endswith("ForSequenceClassification") for a in architectures) else "policy"


def load_checkpoint(
    folder: Path,
    expected_sha256: Mapping[str, str] | None = None,
    *,
    role: ModelRole | None = None,
    device: Device = "cpu",
) -> LoadedCheckpoint:
    """Verify, then load model and tokenizer in eval mode. ``role`` defaults to the manifest's run kind."""
    folder = Path(folder)
    manifest = verify_checkpoint(folder, expected_sha256)
    role = role or _role_of(folder, manifest)
    auto = AutoModelForSequenceClassification if role == "reward" else AutoModelForCausalLM
    model: Any = auto.from_pretrained(folder, use_safetensors=True, local_files_only=True)
    model.to(resolve_device(device))
    model.eval()
    tokenizer = AutoTokenizer.from_pretrained(folder, local_files_only=True)  # nosec B615
    return LoadedCheckpoint(model=model, tokenizer=tokenizer, role=role, manifest=manifest)


def score_pairs(
    model_dir: Path,
    pairs: Sequence[PreferencePair],
    *,
    expected_sha256: Mapping[str, str] | None = None,
    batch_size: int = 8,
    device: Device = "cpu",
) -> list[float]:
    """P(response_a preferred over response_b) = sigmoid(r_a - r_b) for each pair, from a reward checkpoint.

    The loop turns this into queue priority: 0.5 is the most uncertain comparison, worth a human's time.
    """
    loaded = load_checkpoint(Path(model_dir), expected_sha256, role="reward", device=device)
    max_length = None
    if loaded.manifest is not None:
        max_length = loaded.manifest.get("config", {}).get("max_length")
    items_a = [(p.prompt, p.response_a) for p in pairs]
    items_b = [(p.prompt, p.response_b) for p in pairs]
    scores = score_texts(
        loaded.model, loaded.tokenizer, items_a + items_b, batch_size=batch_size, max_length=max_length
    )
    n = len(pairs)
    return [sigmoid(a - b) for a, b in zip(scores[:n], scores[n:], strict=True)]
