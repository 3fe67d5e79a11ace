"""Thin builders over TRL's trainers: one function per run kind, and the shared run around them.

A run: load tokenizer and data (checked, split, length-filtered), build the TRL config for the device,
build the trainer, resume from the last complete ``checkpoint-N`` in ``output_dir`` (crash resume), train,
evaluate, save the final model as safetensors only into ``output_dir/final`` and write its manifest.
"""

from __future__ import annotations

import json
import shutil
import sys
from collections.abc import Callable
from contextlib import ExitStack
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any, Literal

from peft import LoraConfig
from transformers import AutoTokenizer, PreTrainedModel, PreTrainedTokenizerBase, Trainer
from transformers.trainer_callback import PrinterCallback
from transformers.trainer_callback import ProgressCallback as TqdmCallback

# Imported from their modules: trl's lazy top-level package exports nothing mypy can see.
from trl.trainer.dpo_config import DPOConfig
from trl.trainer.dpo_trainer import DPOTrainer
from trl.trainer.kto_config import KTOConfig
from trl.trainer.kto_trainer import KTOTrainer
from trl.trainer.reward_config import RewardConfig
from trl.trainer.reward_trainer import RewardTrainer

from ml.config import DPORunConfig, KTORunConfig, RewardRunConfig, RunConfig
from ml.data import PreparedData, prepare_data, tie_flags
from ml.device import Runtime, resolve_runtime
from ml.events import ProgressWriter
from ml.manifest import PICKLE_SUFFIXES, write_manifest
from ml.metrics import reward_eval
from ml.progress import ProgressCallback
from ml.scoring import score_texts

FINAL_DIR = "final"
# The metric the promotion gate compares, per kind (see ARCHITECTURE.md §4, the eval gate).
GATE_METRIC: dict[str, dict[str, Any]] = {
    "reward": {"name": "heldout_accuracy", "higher_is_better": True},
    "dpo": {"name": "eval_rewards/accuracies", "higher_is_better": True},
    "kto": {"name": "eval_loss", "higher_is_better": False},
}


@dataclass(frozen=True)
class RunResult:
    status: Literal["succeeded", "cancelled"]
    step: int
    model_dir: Path | None = None
    manifest_path: Path | None = None
    metrics: dict[str, Any] = field(default_factory=dict)


def find_resumable_checkpoint(output_dir: Path) -> tuple[Path, int] | None:
    """The highest complete ``checkpoint-N``. Trainer writes ``trainer_state.json`` last, so a folder
    without it is a save cut short by a crash and is skipped rather than resumed from."""
    found: list[tuple[int, Path]] = []
    for path in output_dir.glob("checkpoint-*"):
        suffix = path.name.removeprefix("checkpoint-")
        if suffix.isdigit() and (path / "trainer_state.json").is_file():
            state = json.loads((path / "trainer_state.json").read_text())
            found.append((int(state.get("global_step", suffix)), path))
    if not found:
        return None
    step, path = max(found)
    return path, step


def _common_args(config: RunConfig, runtime: Runtime, has_eval: bool) -> dict[str, Any]:
    evaluate_during = has_eval and config.eval_steps is not None
    return {
        "output_dir": config.output_dir,
        "per_device_train_batch_size": config.batch_size,
        "per_device_eval_batch_size": config.batch_size,
        "gradient_accumulation_steps": config.grad_accum,
        "learning_rate": config.learning_rate,
        "max_steps": config.max_steps if config.max_steps is not None else -1,
        "num_train_epochs": config.num_epochs,
        "seed": config.seed,
        "max_length": config.max_length,
        "logging_steps": config.logging_steps,
        "save_strategy": "steps",
        "save_steps": config.save_steps,
        "save_total_limit": config.save_total_limit,
        "eval_strategy": "steps" if evaluate_during else "no",
        "eval_steps": config.eval_steps if evaluate_during else None,
        "report_to": "none",
        "disable_tqdm": True,
        # TRL 1.x defaults bf16=True and gradient_checkpointing=True: ~27x slower on our CPU. Per device.
        "use_cpu": runtime.device == "cpu",
        "bf16": runtime.bf16,
        # transformers 5 renamed gradient_checkpointing to activation_checkpointing; the old name warns, and
        # TRL's default of True for the old name is ignored once the new name is set.
        "activation_checkpointing": runtime.gradient_checkpointing,
        # Refuse pickled base weights when TRL loads the model (and DPO's reference copy) from the path.
        "model_init_kwargs": {"use_safetensors": True},
        # No `save_safetensors`: transformers 5 always writes safetensors and the argument is a TypeError.
    }


def _lora(config: DPORunConfig | KTORunConfig) -> LoraConfig | None:
    if config.lora_r is None:
        return None
    return LoraConfig(
        r=config.lora_r,
        lora_alpha=config.lora_alpha,
        lora_dropout=config.lora_dropout,
        target_modules=list(config.lora_target_modules),
        task_type="CAUSAL_LM",
    )


BuildTrainer = Callable[[RunConfig, Runtime, PreparedData, PreTrainedTokenizerBase, ProgressCallback], Trainer]


def _build_reward(
    config: RunConfig, runtime: Runtime, data: PreparedData, tokenizer: PreTrainedTokenizerBase, cb: ProgressCallback
) -> Trainer:
    assert isinstance(config, RewardRunConfig)
    eval_pairs = _without_tie_column(data.eval)  # TRL's own eval loss/accuracy: ties have no direction
    args = RewardConfig(
        **_common_args(config, runtime, eval_pairs is not None),
        center_rewards_coefficient=config.center_rewards_coefficient,
    )
    return RewardTrainer(
        model=config.model_dir,
        args=args,
        train_dataset=data.train,
        eval_dataset=eval_pairs,
        processing_class=tokenizer,
        callbacks=[cb],
    )


def _build_dpo(
    config: RunConfig, runtime: Runtime, data: PreparedData, tokenizer: PreTrainedTokenizerBase, cb: ProgressCallback
) -> Trainer:
    assert isinstance(config, DPORunConfig)
    args = DPOConfig(
        **_common_args(config, runtime, data.eval is not None),
        loss_type=[config.loss],
        # Since TRL 0.29 only `robust` (and `exo_pair`) read label_smoothing; validate() refuses it elsewhere.
        label_smoothing=config.label_smoothing,
        beta=config.beta,
        precompute_ref_log_probs=config.precompute_ref_log_probs,
        # No max_prompt_length / max_completion_length: removed in TRL 1.x (TypeError); one max_length cuts.
    )
    return DPOTrainer(
        model=config.model_dir,
        args=args,
        train_dataset=data.train,
        eval_dataset=data.eval,
        processing_class=tokenizer,
        callbacks=[cb],
        peft_config=_lora(config),
    )


def _build_kto(
    config: RunConfig, runtime: Runtime, data: PreparedData, tokenizer: PreTrainedTokenizerBase, cb: ProgressCallback
) -> Trainer:
    assert isinstance(config, KTORunConfig)
    args = KTOConfig(
        **_common_args(config, runtime, data.eval is not None),
        beta=config.beta,
        desirable_weight=config.desirable_weight,
        undesirable_weight=config.undesirable_weight,
        precompute_ref_log_probs=config.precompute_ref_log_probs,
        # train_sampling_strategy stays "sequential": the KL estimate pairs neighbours of a fixed-order batch.
    )
    return KTOTrainer(
        model=config.model_dir,
        args=args,
        train_dataset=data.train,
        eval_dataset=data.eval,
        processing_class=tokenizer,
        callbacks=[cb],
        peft_config=_lora(config),
    )


def _without_tie_column(dataset: Any) -> Any:
    if dataset is None:
        return None
    keep = [i for i, tie in enumerate(tie_flags(dataset)) if not tie]
    if not keep:
        return None
    subset = dataset.select(keep)
    return subset.remove_columns("tie") if "tie" in subset.column_names else subset


def _reward_heldout(trainer: Trainer, config: RewardRunConfig, data: PreparedData) -> dict[str, Any]:
    """Score every held-out pair (ties included) and summarise: accuracy with/without ties, calibration."""
    if data.eval is None:
        return {}
    rows = list(data.eval)
    prompts = [row.get("prompt") for row in rows]
    tokenizer = trainer.processing_class
    model = trainer.model
    assert isinstance(tokenizer, PreTrainedTokenizerBase)
    assert isinstance(model, PreTrainedModel)
    size = config.batch_size
    chosen = score_texts(
        model, tokenizer, [(p, r["chosen"]) for p, r in zip(prompts, rows, strict=True)], batch_size=size
    )
    rejected = score_texts(
        model, tokenizer, [(p, r["rejected"]) for p, r in zip(prompts, rows, strict=True)], batch_size=size
    )
    result = reward_eval(chosen, rejected, tie_flags(data.eval), tie_band=config.tie_band)
    return {f"heldout_{key}": value for key, value in result.to_dict().items()}


def _baseline_heldout(config: RewardRunConfig, data: PreparedData, device: str) -> dict[str, Any]:
    """The comparison model's held-out metrics on exactly this run's held-out pairs (``baseline_heldout_*``).

    The gate cannot compare two runs' own held-out accuracies when their held-out sets differ (every new
    snapshot has new pairs); scoring the active model here, on the same pairs, makes the comparison fair.
    """
    if config.compare_model_dir is None or data.eval is None:
        return {}
    from ml.checkpoints import load_checkpoint  # verifies the folder against its manifest's hashes

    loaded = load_checkpoint(Path(config.compare_model_dir), role="reward", device=device)  # type: ignore[arg-type]
    max_length = ((loaded.manifest or {}).get("config") or {}).get("max_length")
    rows = list(data.eval)
    prompts = [row.get("prompt") for row in rows]
    size = config.batch_size
    chosen = score_texts(
        loaded.model, loaded.tokenizer, [(p, r["chosen"]) for p, r in zip(prompts, rows, strict=True)],
        batch_size=size, max_length=max_length,
    )  # fmt: skip
    rejected = score_texts(
        loaded.model, loaded.tokenizer, [(p, r["rejected"]) for p, r in zip(prompts, rows, strict=True)],
        batch_size=size, max_length=max_length,
    )  # fmt: skip
    result = reward_eval(chosen, rejected, tie_flags(data.eval), tie_band=config.tie_band)
    return {f"baseline_heldout_{key}": value for key, value in result.to_dict().items()}


def _save_final(trainer: Trainer, tokenizer: PreTrainedTokenizerBase, folder: Path) -> None:
    """Save weights (merged, for LoRA: the loop loads plain models), tokenizer and config; no pickles."""
    if trainer.is_world_process_zero() and folder.exists():
        shutil.rmtree(folder)  # a rerun after a crash mid-save must not leave stale files in the manifest
    model: Any = trainer.model
    if hasattr(model, "merge_and_unload"):  # a PeftModel: fold the adapter into the base weights
        merged = model.merge_and_unload()
        if trainer.is_world_process_zero():
            merged.save_pretrained(folder)
            tokenizer.save_pretrained(folder)
    else:
        trainer.save_model(str(folder))  # handles unwrapping under accelerate / DeepSpeed
    if trainer.is_world_process_zero():
        # Trainer.save_model also pickles the TrainingArguments (training_args.bin): not in a final model.
        for path in folder.rglob("*"):
            if path.suffix.lower() in PICKLE_SUFFIXES:
                path.unlink()


BUILDERS: dict[str, BuildTrainer] = {"reward": _build_reward, "dpo": _build_dpo, "kto": _build_kto}


def open_progress(config: RunConfig, stack: ExitStack) -> ProgressWriter:
    """The run's progress writer: append to ``progress_file``, or standard output when it is empty."""
    if config.progress_file is None:
        return ProgressWriter(sys.stdout)
    path = Path(config.progress_file)
    path.parent.mkdir(parents=True, exist_ok=True)
    return ProgressWriter(stack.enter_context(path.open("a", encoding="utf-8")))


def run_training(config: RunConfig, *, progress: ProgressWriter | None = None) -> RunResult:
    """Train ``config`` to completion or cancel. Raises on errors (the CLI turns them into an error line)."""
    with ExitStack() as stack:
        return _run(config, progress or open_progress(config, stack))


def _run(config: RunConfig, writer: ProgressWriter) -> RunResult:
    output_dir = Path(config.output_dir)
    cancel_file = Path(config.cancel_file) if config.cancel_file else None
    if cancel_file is not None and cancel_file.exists():  # cancelled while queued: load nothing
        writer.emit("cancelled", step=0)
        return RunResult(status="cancelled", step=0)

    runtime = resolve_runtime(config)
    output_dir.mkdir(parents=True, exist_ok=True)
    # model_dir is a validated local folder (RunConfig.validate); never resolve it as a Hub repo id.
    tokenizer = AutoTokenizer.from_pretrained(config.model_dir, local_files_only=True)  # nosec B615
    data = prepare_data(config, tokenizer, cache_dir=output_dir / ".datasets-cache")
    resume = find_resumable_checkpoint(output_dir)
    callback = ProgressCallback(
        writer,
        kind=config.kind,
        cancel_file=cancel_file,
        resumed_from_step=resume[1] if resume else None,
        data_report=data.report.to_dict(),
    )
    trainer = BUILDERS[config.kind](config, runtime, data, tokenizer, callback)
    writer.enabled = trainer.is_world_process_zero()
    # disable_tqdm swaps the tqdm bar for PrinterCallback, which prints raw dicts into our JSON stdout.
    trainer.remove_callback(PrinterCallback)
    trainer.remove_callback(TqdmCallback)

    trainer.train(resume_from_checkpoint=str(resume[0]) if resume else None)
    step = trainer.state.global_step
    if callback.cancelled:
        writer.emit("cancelled", step=step)
        return RunResult(status="cancelled", step=step)

    metrics: dict[str, Any] = dict(callback.train_summary)
    if trainer.eval_dataset is not None:
        metrics.update(trainer.evaluate())
    if isinstance(config, RewardRunConfig):
        metrics.update(_reward_heldout(trainer, config, data))
        metrics.update(_baseline_heldout(config, data, runtime.device))

    final_dir = output_dir / FINAL_DIR
    _save_final(trainer, tokenizer, final_dir)
    manifest_path = None
    if trainer.is_world_process_zero():
        manifest_path = write_manifest(
            final_dir,
            kind=config.kind,
            config=config.to_dict(),
            runtime={
                "device": runtime.device,
                "bf16": runtime.bf16,
                "gradient_checkpointing": runtime.gradient_checkpointing,
            },
            base_model=config.model_dir,
            data=data.report.to_dict(),
            data_sha256=data.report.train_sha256,
            resumed_from_step=resume[1] if resume else None,
            global_step=step,
            metrics=metrics,
            gate_metric=GATE_METRIC[config.kind],
        )
    writer.emit("finished", step=step, model_dir=str(final_dir), manifest=str(manifest_path), metrics=metrics)
    return RunResult("succeeded", step, final_dir, manifest_path, metrics)


def train_reward(config: RewardRunConfig, *, progress: ProgressWriter | None = None) -> RunResult:
    return run_training(config, progress=progress)


def train_dpo(config: DPORunConfig, *, progress: ProgressWriter | None = None) -> RunResult:
    return run_training(config, progress=progress)


def train_kto(config: KTORunConfig, *, progress: ProgressWriter | None = None) -> RunResult:
    return run_training(config, progress=progress)
