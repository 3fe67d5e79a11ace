"""The baseline of ``bench.training``: a plain TRL script, no Django, no supervisor, no ``ml`` package.

Reads the hyperparameters from the ``run.json`` the app wrote for the same run (so both train the same
model on the same exported file for the same steps), trains with TRL's own trainer and saves the final
model. Usage: ``python -m bench.trl_plain run.json OUTPUT_DIR``.
"""

from __future__ import annotations

import json
import os
import sys
from typing import Any

os.environ.setdefault("HF_HUB_OFFLINE", "1")
os.environ.setdefault("HF_DATASETS_OFFLINE", "1")


def main(config_path: str, output_dir: str) -> None:
    from datasets import load_dataset
    from transformers import AutoTokenizer
    from trl import DPOConfig, DPOTrainer, RewardConfig, RewardTrainer

    with open(config_path) as handle:
        run: dict[str, Any] = json.load(handle)
    kind = run["kind"]
    common = {
        "output_dir": output_dir,
        "per_device_train_batch_size": run["batch_size"],
        "learning_rate": run["learning_rate"],
        "max_steps": run["max_steps"],
        "seed": run["seed"],
        "max_length": run["max_length"],
        "logging_steps": run["logging_steps"],
        "save_steps": run["save_steps"],
        "report_to": "none",
        "disable_tqdm": True,
        "use_cpu": True,
        "bf16": False,
        "activation_checkpointing": False,
    }
    tokenizer = AutoTokenizer.from_pretrained(run["model_dir"], local_files_only=True)  # nosec B615
    data = load_dataset("json", data_files=run["train_file"], split="train")
    if kind == "reward":
        trainer: Any = RewardTrainer(
            model=run["model_dir"], args=RewardConfig(**common), train_dataset=data, processing_class=tokenizer
        )
    else:
        args = DPOConfig(**common, beta=run["beta"], loss_type=[run["loss"]])
        trainer = DPOTrainer(model=run["model_dir"], args=args, train_dataset=data, processing_class=tokenizer)
    output = trainer.train()
    trainer.save_model(os.path.join(output_dir, "final"))
    # Trainer's own loop time, the same figure the app's `finished` event carries: bench.training
    # subtracts it on both sides, so the fixed overhead is compared without the loop's noise.
    print(json.dumps({"train_runtime": output.metrics["train_runtime"]}))


if __name__ == "__main__":
    main(sys.argv[1], sys.argv[2])
