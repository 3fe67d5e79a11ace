"""Hyper-parameter presets for the start-a-run form. Pure data: no ORM, no torch.

A preset fills the editable fields; the admin can change any of them before starting, and whatever is
submitted is validated by the ml config (``training.launch``). Values not named here keep the ml
dataclass defaults, which are already right for both CPU and GPU.
"""

from __future__ import annotations

from dataclasses import dataclass, field
from types import MappingProxyType
from typing import Any

DEFAULT_PRESET = "cpu-smoke"


@dataclass(frozen=True)
class Preset:
    name: str
    label: str
    description: str
    kinds: tuple[str, ...]
    params: MappingProxyType[str, Any] = field(default_factory=lambda: MappingProxyType({}))
    # Per-kind overrides on top of ``params`` (learning rates differ by an order of magnitude per kind).
    per_kind: MappingProxyType[str, MappingProxyType[str, Any]] = field(default_factory=lambda: MappingProxyType({}))

    def params_for(self, kind: str) -> dict[str, Any]:
        return {**self.params, **self.per_kind.get(kind, {})}


def _frozen(**values: Any) -> MappingProxyType[str, Any]:
    return MappingProxyType(values)


PRESETS: dict[str, Preset] = {
    preset.name: preset
    for preset in (
        Preset(
            name="cpu-smoke",
            label="CPU smoke test",
            description=(
                "A few dozen steps on the CPU to prove the pipeline end to end (the demo's tiny model trains in "
                "seconds). The learning rate is high on purpose: it is for tiny models, not real ones."
            ),
            kinds=("reward", "dpo", "kto"),
            params=_frozen(
                device="cpu",
                max_steps=20,
                batch_size=4,
                learning_rate=1e-3,
                max_length=512,
                logging_steps=1,
                save_steps=10,
                eval_fraction=0.25,
            ),
        ),
        Preset(
            name="gpu-default",
            label="GPU default",
            description="One epoch of full fine-tuning on a CUDA GPU, bf16 where the GPU supports it.",
            kinds=("reward", "dpo", "kto"),
            params=_frozen(
                device="auto",
                num_epochs=1.0,
                batch_size=8,
                grad_accum=4,
                max_length=1024,
                logging_steps=10,
                save_steps=200,
                eval_fraction=0.1,
            ),
            per_kind=MappingProxyType(
                {
                    "reward": _frozen(learning_rate=1e-5, center_rewards_coefficient=0.01),
                    "dpo": _frozen(learning_rate=5e-7, beta=0.1),
                    "kto": _frozen(learning_rate=5e-7, beta=0.1),
                }
            ),
        ),
        Preset(
            name="lora",
            label="LoRA (GPU)",
            description="Train rank-16 adapters instead of all weights: a fraction of the memory, a higher LR.",
            kinds=("dpo", "kto"),
            params=_frozen(
                device="auto",
                num_epochs=1.0,
                batch_size=8,
                grad_accum=2,
                max_length=1024,
                learning_rate=1e-5,
                lora_r=16,
                lora_alpha=32,
                lora_dropout=0.05,
                logging_steps=10,
                save_steps=200,
                eval_fraction=0.1,
            ),
        ),
        Preset(
            name="robust-dpo",
            label="Robust DPO for noisy labels (GPU)",
            description="Robust DPO assumes 10% of human labels are flipped; a good default for crowd feedback.",
            kinds=("dpo",),
            params=_frozen(
                device="auto",
                num_epochs=1.0,
                batch_size=8,
                grad_accum=4,
                max_length=1024,
                learning_rate=5e-7,
                loss="robust",
                label_smoothing=0.1,
                logging_steps=10,
                save_steps=200,
            ),
        ),
    )
}


def presets_for(kind: str) -> list[Preset]:
    return [preset for preset in PRESETS.values() if kind in preset.kinds]
