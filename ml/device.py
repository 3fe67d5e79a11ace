"""Device-dependent training choices, resolved in the training child, never in the web or Celery process.

TRL 1.x turns ``bf16`` and ``gradient_checkpointing`` on by default. On a CPU without bf16 units that is
the slowest possible setting: a MiniLM reward model took ~130 s per step with the defaults and 4.8 s with
both off (27x, measured on our 2-core CPU). So both follow the device unless the config pins them.
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import Literal

import torch

from ml.config import BaseRunConfig, Device


@dataclass(frozen=True)
class Runtime:
    device: Literal["cpu", "cuda"]
    bf16: bool
    gradient_checkpointing: bool


def resolve_device(device: Device) -> Literal["cpu", "cuda"]:
    """``auto`` means CUDA when this process sees a GPU. Asking for ``cuda`` without one is an error."""
    if device == "cpu":
        return "cpu"
    available = torch.cuda.is_available()
    if device == "cuda" and not available:
        raise RuntimeError("device is 'cuda' but this machine has no usable CUDA GPU.")
    return "cuda" if available else "cpu"


def resolve_runtime(config: BaseRunConfig) -> Runtime:
    device = resolve_device(config.device)
    on_gpu = device == "cuda"
    bf16_default = on_gpu and torch.cuda.is_bf16_supported()  # T4/V100 have no bf16: fp32 there
    bf16 = bf16_default if config.bf16 is None else config.bf16
    checkpointing = on_gpu if config.gradient_checkpointing is None else config.gradient_checkpointing
    return Runtime(device=device, bf16=bf16, gradient_checkpointing=checkpointing)
