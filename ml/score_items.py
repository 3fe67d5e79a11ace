"""``python -m ml.score_items --config score.json``: score preference pairs with one or more reward checkpoints.

The child process of the registry's scoring job, so the Celery supervisor never imports torch. Django-free.
The config is JSON:

- ``members``: a list of ``{"model_dir", "sha256"}`` (the registry's hashes: a folder that differs is
  refused). One member for uncertainty scoring, several for an ensemble; the first is the active model.
  The older single-model form, ``model_dir`` + ``sha256`` at the top level, is read as one member.
- ``input``: JSONL of ``{"id", "prompt", "response_a", "response_b"}``.
- ``output``: JSONL of ``{"id", "member", "p"}``, p = P(a preferred over b) by member number ``member``,
  member after member, appended and flushed chunk by chunk so the parent can show progress (its line
  count over pairs x members).
- ``batch_size`` and ``device``.

Members are loaded one at a time and dropped before the next: an ensemble of large reward models must not
need several of them in memory at once. Exit 0 on success, 3 when a checkpoint is refused, 1 on any other
error, with one line on stderr saying why.
"""

from __future__ import annotations

import gc
import json
import sys
from collections.abc import Sequence
from pathlib import Path
from typing import Any

from ml.tool import run_tool

CHUNK_PAIRS = 64  # pairs scored between two flushes of the output


def _pairs(path: Path) -> list[dict[str, Any]]:
    return [json.loads(line) for line in path.read_text(encoding="utf-8").splitlines() if line.strip()]


def config_members(config: dict[str, Any]) -> list[dict[str, Any]]:
    """The checkpoints to score with, in order; the single-model form is one member."""
    members = config.get("members")
    if members is None:
        members = [{"model_dir": config["model_dir"], "sha256": config.get("sha256")}]
    if not isinstance(members, list) or not members:
        raise ValueError("members must be a non-empty list of {model_dir, sha256}.")
    return members


def score_file(config: dict[str, Any]) -> int:
    """Score every pair of ``config["input"]`` with every member into ``config["output"]``; return pairs."""
    from ml.checkpoints import load_checkpoint
    from ml.metrics import sigmoid
    from ml.scoring import score_texts

    members = config_members(config)
    batch_size = int(config.get("batch_size", 8))
    rows = _pairs(Path(config["input"]))
    with Path(config["output"]).open("w", encoding="utf-8") as out:
        for number, member in enumerate(members):
            loaded = load_checkpoint(
                Path(member["model_dir"]), member.get("sha256"), role="reward", device=config.get("device", "cpu")
            )
            max_length = ((loaded.manifest or {}).get("config") or {}).get("max_length")
            for start in range(0, len(rows), CHUNK_PAIRS):
                chunk = rows[start : start + CHUNK_PAIRS]
                items = [(r["prompt"], r["response_a"]) for r in chunk] + [
                    (r["prompt"], r["response_b"]) for r in chunk
                ]
                scores = score_texts(
                    loaded.model, loaded.tokenizer, items, batch_size=batch_size, max_length=max_length
                )
                n = len(chunk)
                for row, a, b in zip(chunk, scores[:n], scores[n:], strict=True):
                    out.write(json.dumps({"id": row["id"], "member": number, "p": sigmoid(a - b)}) + "\n")
                out.flush()
            del loaded
            gc.collect()
    return len(rows)


def main(argv: Sequence[str] | None = None) -> int:
    return run_tool(
        "python -m ml.score_items", __doc__.splitlines()[0], "JSON file: members, input, output.", score_file, argv
    )


if __name__ == "__main__":
    sys.exit(main())
