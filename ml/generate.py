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

import argparse
import json
import sys
from collections.abc import Mapping, Sequence
from dataclasses import asdict, dataclass, fields
from pathlib import Path
from typing import Any

EXIT_OK = 0
EXIT_ERROR = 1
EXIT_REFUSED = 3


@dataclass(frozen=True)
class GenerationParams:
    """How candidates are sampled. Validated in the web process (``problems``) before a job is queued."""

    num_samples: int = 2  # candidates per prompt per model
    max_new_tokens: int = 64
    temperature: float = 0.8  # 0 means greedy decoding (then every sample is the same: use 1 sample)
    top_p: float = 0.95
    max_prompt_tokens: int = 512  # longer prompts keep their end: the model answers the last turn
    batch_size: int = 8  # prompts per generate call
    seed: int = 0
    device: str = "auto"

    def problems(self) -> list[tuple[str, str]]:
        found: list[tuple[str, str]] = []
        if not 1 <= self.num_samples <= 16:
            found.append(("num_samples", "must be between 1 and 16"))
        if not 1 <= self.max_new_tokens <= 4096:
            found.append(("max_new_tokens", "must be between 1 and 4096"))
        if not 0.0 <= self.temperature <= 5.0:
            found.append(("temperature", "must be between 0 and 5"))
        if not 0.0 < self.top_p <= 1.0:
            found.append(("top_p", "must be in (0, 1]"))
        if not 1 <= self.max_prompt_tokens <= 32768:
            found.append(("max_prompt_tokens", "must be between 1 and 32768"))
        if not 1 <= self.batch_size <= 256:
            found.append(("batch_size", "must be between 1 and 256"))
        if self.device not in ("auto", "cpu", "cuda"):
            found.append(("device", "must be auto, cpu or cuda"))
        if self.temperature == 0.0 and self.num_samples > 1:
            found.append(("num_samples", "greedy decoding (temperature 0) gives one distinct sample; ask for 1"))
        return found

    @classmethod
    def from_mapping(cls, data: Mapping[str, Any]) -> GenerationParams:
        """Known keys only; a wrong type raises ValueError naming the field."""
        known = {f.name: f for f in fields(cls)}
        unknown = sorted(set(data) - set(known))
        if unknown:
            raise ValueError(f"unknown generation parameter(s): {', '.join(unknown)}")
        values: dict[str, Any] = {}
        for name, value in data.items():
            kind = known[name].type
            try:
                if kind in ("int", int):
                    if isinstance(value, bool) or (isinstance(value, float) and not value.is_integer()):
                        raise TypeError
                    values[name] = int(value)
                elif kind in ("float", float):
                    if isinstance(value, bool):
                        raise TypeError
                    values[name] = float(value)
                else:
                    values[name] = str(value)
            except (TypeError, ValueError) as exc:
                raise ValueError(f"{name}: expected a {kind}, got {value!r}") from exc
        return cls(**values)

    def as_dict(self) -> dict[str, Any]:
        return asdict(self)


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
    parser = argparse.ArgumentParser(prog="python -m ml.generate", description=__doc__.splitlines()[0])
    parser.add_argument("--config", required=True, type=Path, help="JSON: model_dir, sha256, input, output, params.")
    args = parser.parse_args(argv)
    from ml.checkpoints import CheckpointRefused

    try:
        generate_file(json.loads(args.config.read_text(encoding="utf-8")))
    except CheckpointRefused as exc:
        print(f"checkpoint refused: {exc}", file=sys.stderr)
        return EXIT_REFUSED
    except Exception as exc:  # the parent shows this line on the job
        print(f"{type(exc).__name__}: {exc}", file=sys.stderr)
        return EXIT_ERROR
    return EXIT_OK


if __name__ == "__main__":
    sys.exit(main())
