"""Run configurations: one frozen dataclass per run kind, with help text and human validation.

Django builds these from a ``TrainingRun`` row (``training/launch.py``), calls ``validate()`` when the run
is created, and writes ``to_json()`` to the file that ``python -m ml.cli <kind> --config`` reads in the
child. This module imports nothing heavy (no torch, no transformers): the web process imports it, and a
web process must never touch CUDA. Device-dependent choices (bf16, gradient checkpointing) are left as
``None`` here and resolved in the child by ``ml.device.resolve_runtime``.
"""

from __future__ import annotations

import dataclasses
import json
import math
import types
import typing
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any, ClassVar, Literal, Self

Device = Literal["auto", "cpu", "cuda"]
DPOLoss = Literal["sigmoid", "ipo", "robust"]
RunKind = Literal["reward", "dpo", "kto"]

DATA_SUFFIXES = (".jsonl", ".json", ".parquet")
# Sensible bounds for a human-entered learning rate: below 1e-8 nothing moves, above 1e-2 AdamW diverges on
# every backbone we care about.
LR_MIN, LR_MAX = 1e-8, 1e-2


def _help(text: str) -> dict[str, str]:
    return {"help": text}


@dataclass(frozen=True, kw_only=True)
class BaseRunConfig:
    """Fields every run kind shares. Paths are strings so that the JSON file round-trips exactly."""

    kind: ClassVar[RunKind]

    model_dir: str = field(metadata=_help("Local directory of the base model (safetensors weights + tokenizer)."))
    train_file: str = field(metadata=_help("Exported training data in TRL's format (.jsonl, .json or .parquet)."))
    output_dir: str = field(
        metadata=_help(
            "Where checkpoints and the final model go. Keep it stable per run: a rerun resumes from the last "
            "checkpoint-* found here."
        )
    )
    eval_file: str | None = field(
        default=None, metadata=_help("Held-out data. When empty, a held-out split is taken from train_file by prompt.")
    )
    eval_fraction: float = field(
        default=0.1,
        metadata=_help("Fraction of prompts held out when no eval_file is given (0 disables evaluation)."),
    )
    max_steps: int | None = field(
        default=None, metadata=_help("Optimizer steps to run. When set, it overrides num_epochs.")
    )
    num_epochs: float = field(default=1.0, metadata=_help("Passes over the training data when max_steps is empty."))
    batch_size: int = field(default=8, metadata=_help("Examples per device per forward pass."))
    grad_accum: int = field(default=1, metadata=_help("Forward passes accumulated into one optimizer step."))
    learning_rate: float = field(default=1e-5, metadata=_help("Peak learning rate of AdamW."))
    max_length: int = field(
        default=1024, metadata=_help("Longest tokenized prompt + completion. See the data report for what it drops.")
    )
    seed: int = field(default=0, metadata=_help("Random seed for weights of new heads, shuffling and dropout."))
    logging_steps: int = field(default=10, metadata=_help("Write a progress line every N optimizer steps."))
    save_steps: int = field(default=500, metadata=_help("Save a resumable checkpoint every N optimizer steps."))
    save_total_limit: int = field(default=2, metadata=_help("Keep at most this many intermediate checkpoints."))
    eval_steps: int | None = field(
        default=None, metadata=_help("Evaluate every N steps during training; empty means only at the end.")
    )
    device: Device = field(
        default="auto", metadata=_help("auto (CUDA when the child sees a GPU, else CPU), cpu, or cuda.")
    )
    bf16: bool | None = field(
        default=None, metadata=_help("bfloat16 mixed precision. Empty: on only on a CUDA GPU that supports it.")
    )
    gradient_checkpointing: bool | None = field(
        default=None, metadata=_help("Recompute activations to save memory. Empty: on only on CUDA.")
    )
    progress_file: str | None = field(
        default=None, metadata=_help("File to append JSON progress lines to. Empty: standard output.")
    )
    cancel_file: str | None = field(
        default=None, metadata=_help("When this file exists, the run stops after the current step (exit code 3).")
    )

    # ---- validation -------------------------------------------------------------------------------------

    def validate(self, *, check_files: bool = True) -> list[str]:
        """Human-readable problems, empty when the config can run. ``check_files`` looks at the disk too."""
        errors: list[str] = []
        if not LR_MIN <= self.learning_rate <= LR_MAX or not math.isfinite(self.learning_rate):
            errors.append(f"learning_rate must be between {LR_MIN:g} and {LR_MAX:g} (got {self.learning_rate:g}).")
        if self.max_steps is not None and self.max_steps < 1:
            errors.append("max_steps must be at least 1, or empty to train by epochs.")
        if self.max_steps is None and not (0 < self.num_epochs <= 100):
            errors.append("num_epochs must be above 0 and at most 100.")
        for name in ("batch_size", "grad_accum", "logging_steps", "save_steps", "save_total_limit"):
            if getattr(self, name) < 1:
                errors.append(f"{name} must be at least 1.")
        if self.eval_steps is not None and self.eval_steps < 1:
            errors.append("eval_steps must be at least 1, or empty to evaluate only at the end.")
        if not 8 <= self.max_length <= 1_048_576:
            errors.append("max_length must be between 8 and 1048576 tokens.")
        if self.seed < 0:
            errors.append("seed must not be negative.")
        if not 0 <= self.eval_fraction < 0.5:
            errors.append("eval_fraction must be at least 0 and below 0.5.")
        if self.device not in ("auto", "cpu", "cuda"):
            errors.append(f"device must be auto, cpu or cuda (got {self.device!r}).")
        if self.device == "cpu" and self.bf16:
            errors.append("bf16 is for GPUs: on a CPU it is many times slower. Leave it empty or off.")
        errors.extend(self._validate_kind())
        if check_files:
            errors.extend(self._validate_files())
        return errors

    def _validate_kind(self) -> list[str]:
        return []

    def _validate_files(self) -> list[str]:
        errors: list[str] = []
        model_dir = Path(self.model_dir)
        if not (model_dir / "config.json").is_file():
            errors.append(f"model_dir {self.model_dir} is not a model directory (no config.json).")
        elif not any(model_dir.glob("*.safetensors")):
            errors.append(f"model_dir {self.model_dir} has no .safetensors weights; pickled weights are refused.")
        for name in ("train_file", "eval_file"):
            value = getattr(self, name)
            if value is None:
                continue
            path = Path(value)
            if path.suffix not in DATA_SUFFIXES:
                errors.append(f"{name} must end in {', '.join(DATA_SUFFIXES)} (got {path.name}).")
            elif not path.is_file():
                errors.append(f"{name} {value} does not exist.")
        return errors

    # ---- serialisation ----------------------------------------------------------------------------------

    def to_dict(self) -> dict[str, Any]:
        data = dataclasses.asdict(self)
        data = {key: list(value) if isinstance(value, tuple) else value for key, value in data.items()}
        return {"kind": self.kind, **data}

    def to_json(self) -> str:
        return json.dumps(self.to_dict(), indent=2, sort_keys=True)

    @classmethod
    def from_dict(cls, data: dict[str, Any]) -> Self:
        """Build from parsed JSON, refusing unknown fields and values of the wrong type with one message."""
        data = dict(data)
        kind = data.pop("kind", cls.kind)
        if kind != cls.kind:
            raise ValueError(f"this config is for a {kind!r} run, not {cls.kind!r}.")
        hints = typing.get_type_hints(cls)
        known = {f.name for f in dataclasses.fields(cls)}
        problems = [f"unknown field {name!r}" for name in sorted(set(data) - known)]
        values: dict[str, Any] = {}
        for name, value in data.items():
            if name not in known:
                continue
            ok, converted = _coerce(value, hints[name])
            if ok:
                values[name] = converted
            else:
                problems.append(f"{name} has the wrong type ({type(value).__name__}: {value!r})")
        missing = [f.name for f in dataclasses.fields(cls) if f.name not in data and _is_required(f)]
        problems.extend(f"{name} is required" for name in missing)
        if problems:
            raise ValueError(f"invalid {cls.kind} config: {'; '.join(problems)}.")
        return cls(**values)

    @classmethod
    def from_json(cls, text: str) -> Self:
        return cls.from_dict(json.loads(text))


def _is_required(f: dataclasses.Field[Any]) -> bool:
    return f.default is dataclasses.MISSING and f.default_factory is dataclasses.MISSING


def _coerce(value: Any, hint: Any) -> tuple[bool, Any]:
    """Check a JSON value against a field's type hint; ints are accepted for floats, lists for tuples."""
    origin, args = typing.get_origin(hint), typing.get_args(hint)
    if origin is typing.Literal:
        return value in args, value
    if origin in (types.UnionType, typing.Union):
        for option in args:
            ok, converted = _coerce(value, option)
            if ok:
                return True, converted
        return False, value
    if hint is type(None):
        return value is None, value
    if hint is bool:
        return isinstance(value, bool), value
    if hint is int:
        return isinstance(value, int) and not isinstance(value, bool), value
    if hint is float:
        ok = isinstance(value, int | float) and not isinstance(value, bool)
        return ok, float(value) if ok else value
    if hint is str:
        return isinstance(value, str), value
    if origin is tuple:
        ok = isinstance(value, list | tuple) and all(isinstance(item, str) for item in value)
        return ok, tuple(value) if ok else value
    return False, value


@dataclass(frozen=True, kw_only=True)
class RewardRunConfig(BaseRunConfig):
    """A Bradley-Terry reward model: ``-log sigmoid(r⁺ - r⁻ - margin)`` over preference pairs."""

    kind: ClassVar[RunKind] = "reward"

    learning_rate: float = field(default=1e-5, metadata=_help("Peak learning rate of AdamW."))
    center_rewards_coefficient: float | None = field(
        default=None, metadata=_help("Penalty pulling rewards towards mean zero (0.01 recommended); empty is off.")
    )
    tie_band: float = field(
        default=0.05,
        metadata=_help(
            "Held-out evaluation with ties: the model predicts a tie when |sigmoid(r_a - r_b) - 0.5| is below this."
        ),
    )
    compare_model_dir: str | None = field(
        default=None,
        metadata=_help(
            "Another reward model (the active one) scored on this run's held-out pairs, reported as "
            "baseline_heldout_*: the promotion gate then compares both models on the same data."
        ),
    )

    def _validate_files(self) -> list[str]:
        errors = super()._validate_files()
        if self.compare_model_dir is not None and not (Path(self.compare_model_dir) / "config.json").is_file():
            errors.append(f"compare_model_dir {self.compare_model_dir} is not a model directory (no config.json).")
        return errors

    def _validate_kind(self) -> list[str]:
        errors: list[str] = []
        if self.center_rewards_coefficient is not None and not 0 <= self.center_rewards_coefficient <= 1:
            errors.append("center_rewards_coefficient must be between 0 and 1.")
        if not 0 <= self.tie_band < 0.5:
            errors.append("tie_band must be at least 0 and below 0.5.")
        return errors


@dataclass(frozen=True, kw_only=True)
class _PolicyFields(BaseRunConfig):
    """Fields shared by the policy trainers (DPO, KTO): reference model, β and LoRA."""

    learning_rate: float = field(
        default=1e-6, metadata=_help("Peak learning rate of AdamW (about 1e-5 with LoRA, 1e-6 for full weights).")
    )
    beta: float = field(default=0.1, metadata=_help("Strength of the pull towards the reference model."))
    precompute_ref_log_probs: bool = field(
        default=False,
        metadata=_help("Score the data with the reference model once up front, so no reference stays in memory."),
    )
    lora_r: int | None = field(default=None, metadata=_help("LoRA rank; empty trains all weights."))
    lora_alpha: int = field(default=16, metadata=_help("LoRA scaling numerator (scale = alpha / r)."))
    lora_dropout: float = field(default=0.05, metadata=_help("Dropout on the LoRA path."))
    lora_target_modules: tuple[str, ...] = field(
        default=("q_proj", "v_proj"), metadata=_help("Module names that receive LoRA adapters.")
    )

    def _validate_policy(self) -> list[str]:
        errors: list[str] = []
        if not 0 < self.beta <= 10:
            errors.append("beta must be above 0 and at most 10.")
        if self.lora_r is not None:
            if self.lora_r < 1:
                errors.append("lora_r must be at least 1, or empty for full fine-tuning.")
            if self.lora_alpha < 1:
                errors.append("lora_alpha must be at least 1.")
            if not 0 <= self.lora_dropout < 1:
                errors.append("lora_dropout must be at least 0 and below 1.")
            if not self.lora_target_modules:
                errors.append("lora_target_modules must name at least one module.")
            if "lm_head" in self.lora_target_modules:
                # TRL computes log-probs from lm_head.weight directly: an adapter there would never train.
                errors.append("lora_target_modules must not include lm_head.")
        return errors


@dataclass(frozen=True, kw_only=True)
class DPORunConfig(_PolicyFields):
    """Direct preference optimisation over ``prompt/chosen/rejected`` pairs."""

    kind: ClassVar[RunKind] = "dpo"

    loss: DPOLoss = field(
        default="sigmoid",
        metadata=_help("sigmoid (DPO), ipo (IPO), or robust (robust DPO for noisy labels, with label_smoothing)."),
    )
    label_smoothing: float = field(
        default=0.0,
        metadata=_help("Robust DPO only: the probability that a human label is flipped, in [0, 0.5); 0.1 is typical."),
    )

    def _validate_kind(self) -> list[str]:
        errors = self._validate_policy()
        if self.loss not in ("sigmoid", "ipo", "robust"):
            errors.append(f"loss must be sigmoid, ipo or robust (got {self.loss!r}).")
        if self.loss != "robust" and self.label_smoothing != 0:
            # Since TRL 0.29 the sigmoid loss silently ignores label_smoothing (it used to mean cDPO).
            errors.append("label_smoothing is only used by the robust loss; set loss to robust or leave it at 0.")
        if not 0 <= self.label_smoothing < 0.5:
            errors.append("label_smoothing must be at least 0 and below 0.5.")
        return errors


@dataclass(frozen=True, kw_only=True)
class KTORunConfig(_PolicyFields):
    """Kahneman-Tversky optimisation over unpaired ``prompt/completion/label`` thumbs."""

    kind: ClassVar[RunKind] = "kto"

    desirable_weight: float = field(
        default=1.0, metadata=_help("Loss weight of thumbs-up rows; balance so up:down weighted counts are 1:1 to 4:3.")
    )
    undesirable_weight: float = field(default=1.0, metadata=_help("Loss weight of thumbs-down rows."))

    def _validate_kind(self) -> list[str]:
        errors = self._validate_policy()
        if self.batch_size < 2:
            # KTO estimates its KL reference point from the other completions of the same batch.
            errors.append("KTO needs batch_size of at least 2: its KL term is estimated within each batch.")
        for name in ("desirable_weight", "undesirable_weight"):
            if not 0 < getattr(self, name) <= 100:
                errors.append(f"{name} must be above 0 and at most 100.")
        return errors


RunConfig = RewardRunConfig | DPORunConfig | KTORunConfig
CONFIG_CLASSES: dict[str, type[RewardRunConfig] | type[DPORunConfig] | type[KTORunConfig]] = {
    "reward": RewardRunConfig,
    "dpo": DPORunConfig,
    "kto": KTORunConfig,
}


def config_from_json(text: str, *, kind: str | None = None) -> RunConfig:
    """Parse a config file written by ``to_json``. ``kind`` (from the command line) must match the file's."""
    data = json.loads(text)
    if not isinstance(data, dict):
        raise ValueError("a run config must be a JSON object.")
    file_kind = data.get("kind", kind)
    if kind is not None and file_kind != kind:
        raise ValueError(f"the config file is for a {file_kind!r} run but the command asked for {kind!r}.")
    if file_kind not in CONFIG_CLASSES:
        raise ValueError(f"unknown run kind {file_kind!r}: expected one of {', '.join(CONFIG_CLASSES)}.")
    return CONFIG_CLASSES[file_kind].from_dict(data)
