"""``python -m ml.generate --config gen.json``: candidate responses from a policy checkpoint, batched.

The child process of the registry's generation job, so the Celery supervisor never imports torch.
Django-free. The config is JSON (``GenerationParams`` fields plus ``model_dir``, ``sha256`` — the
registry's hashes: a folder that differs is refused —, ``input``: JSONL of ``{"prompt_id", "prompt"}``
where the prompt is a string or a list of chat messages, and ``output``: JSONL of
``{"prompt_id", "sample", "text"}``, appended and flushed batch by batch so the parent can count progress).
Exit 0 on success, 3 when the checkpoint is refused, 1 on any other error, with one line on stderr.

Prompts are fed as the policy saw them in DPO training: a plain string as its tokens (no template), a
conversation through the tokenizer's chat template with the generation prompt added.
"""

from __future__ import annotations

import json
import sys
from collections.abc import Sequence
from pathlib import Path
from typing import Any

from ml.generation_config import GenerationParams
from ml.tool import EXIT_ERROR, EXIT_OK, EXIT_REFUSED, run_tool

__all__ = ["EXIT_ERROR", "EXIT_OK", "EXIT_REFUSED", "GenerationParams", "generate_file", "main"]


def _rows(path: Path) -> list[dict[str, Any]]:
    return [json.loads(line) for line in path.read_text(encoding="utf-8").splitlines() if line.strip()]


def _prompt_ids(tokenizer: Any, prompt: str | list[dict[str, Any]], limit: int) -> list[int]:
    if isinstance(prompt, list):
        rendered = tokenizer.apply_chat_template(prompt, tokenize=True, add_generation_prompt=True, return_dict=True)
        ids = list(rendered["input_ids"])
    else:
        ids = list(tokenizer(prompt)["input_ids"])
    return ids[-limit:]


def generate_file(config: dict[str, Any]) -> int:
    """Generate ``num_samples`` candidates for every prompt of ``config["input"]``; return lines written."""
    import torch

    from ml.checkpoints import load_checkpoint

    params = GenerationParams.from_mapping({k: v for k, v in config.items() if k in GenerationParams.__annotations__})
    device: Any = params.device
    loaded = load_checkpoint(Path(config["model_dir"]), config.get("sha256"), role="policy", device=device)
    model: Any = loaded.model
    tokenizer = loaded.tokenizer
    pad_id = tokenizer.pad_token_id if tokenizer.pad_token_id is not None else tokenizer.eos_token_id
    rows = _rows(Path(config["input"]))
    torch.manual_seed(params.seed)
    written = 0
    with Path(config["output"]).open("w", encoding="utf-8") as out:
        for start in range(0, len(rows), params.batch_size):
            batch = rows[start : start + params.batch_size]
            prompts = [_prompt_ids(tokenizer, r["prompt"], params.max_prompt_tokens) for r in batch]
            # Decoder-only models continue from the last position, so pad on the LEFT: right padding would
            # make every shorter prompt continue after its pad tokens.
            width = max(len(ids) for ids in prompts)
            input_ids = torch.full((len(batch), width), pad_id, dtype=torch.long)  # (batch, seq)
            attention = torch.zeros((len(batch), width), dtype=torch.long)
            for index, ids in enumerate(prompts):
                input_ids[index, width - len(ids) :] = torch.tensor(ids, dtype=torch.long)
                attention[index, width - len(ids) :] = 1
            sampling = params.temperature > 0
            with torch.no_grad():
                output = model.generate(
                    input_ids=input_ids.to(model.device),
                    attention_mask=attention.to(model.device),
                    max_new_tokens=params.max_new_tokens,
                    do_sample=sampling,
                    temperature=params.temperature if sampling else None,
                    top_p=params.top_p if sampling else None,
                    num_return_sequences=params.num_samples,
                    pad_token_id=pad_id,
                )  # (batch * num_samples, width + new), rows grouped by prompt
            completions = output[:, width:].cpu()
            for index, row in enumerate(batch):
                for sample in range(params.num_samples):
                    tokens = completions[index * params.num_samples + sample]
                    text = tokenizer.decode(tokens, skip_special_tokens=True)
                    out.write(json.dumps({"prompt_id": row["prompt_id"], "sample": sample, "text": text}) + "\n")
                    written += 1
            out.flush()
    return written


def main(argv: Sequence[str] | None = None) -> int:
    return run_tool(
        "python -m ml.generate",
        __doc__.splitlines()[0],
        "JSON: model_dir, sha256, input, output, params.",
        generate_file,
        argv,
    )


if __name__ == "__main__":
    sys.exit(main())
