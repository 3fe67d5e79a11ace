"""``python -m ml.score_items --config score.json``: score preference pairs with a reward checkpoint.

The child process of the registry's scoring job, so the Celery supervisor never imports torch. Django-free.
The config is JSON: ``model_dir``, ``sha256`` (the registry's hashes: a folder that differs is refused),
``input`` (JSONL of ``{"id", "prompt", "response_a", "response_b"}``), ``output`` (JSONL of
``{"id", "p"}``, p = P(a preferred over b), appended and flushed chunk by chunk so the parent can show
progress), ``batch_size`` and ``device``. Exit 0 on success, 3 when the checkpoint is refused, 1 on any
other error, with one line on stderr saying why.
"""

from __future__ import annotations

import argparse
import json
import sys
from collections.abc import Sequence
from pathlib import Path
from typing import Any

EXIT_OK = 0
EXIT_ERROR = 1
EXIT_REFUSED = 3
CHUNK_PAIRS = 64  # pairs scored between two flushes of the output


def _pairs(path: Path) -> list[dict[str, Any]]:
    return [json.loads(line) for line in path.read_text(encoding="utf-8").splitlines() if line.strip()]


def score_file(config: dict[str, Any]) -> int:
    """Score every pair of ``config["input"]`` into ``config["output"]``; return the number scored."""
    from ml.checkpoints import load_checkpoint
    from ml.metrics import sigmoid
    from ml.scoring import score_texts

    loaded = load_checkpoint(
        Path(config["model_dir"]), config.get("sha256"), role="reward", device=config.get("device", "cpu")
    )
    max_length = ((loaded.manifest or {}).get("config") or {}).get("max_length")
    batch_size = int(config.get("batch_size", 8))
    rows = _pairs(Path(config["input"]))
    with Path(config["output"]).open("w", encoding="utf-8") as out:
        for start in range(0, len(rows), CHUNK_PAIRS):
            chunk = rows[start : start + CHUNK_PAIRS]
            items = [(r["prompt"], r["response_a"]) for r in chunk] + [(r["prompt"], r["response_b"]) for r in chunk]
            scores = score_texts(loaded.model, loaded.tokenizer, items, batch_size=batch_size, max_length=max_length)
            n = len(chunk)
            for row, a, b in zip(chunk, scores[:n], scores[n:], strict=True):
                out.write(json.dumps({"id": row["id"], "p": sigmoid(a - b)}) + "\n")
            out.flush()
    return len(rows)


def main(argv: Sequence[str] | None = None) -> int:
    parser = argparse.ArgumentParser(prog="python -m ml.score_items", description=__doc__.splitlines()[0])
    parser.add_argument("--config", required=True, type=Path, help="JSON file: model_dir, sha256, input, output.")
    args = parser.parse_args(argv)
    from ml.checkpoints import CheckpointRefused

    try:
        score_file(json.loads(args.config.read_text(encoding="utf-8")))
    except CheckpointRefused as exc:
        print(f"checkpoint refused: {exc}", file=sys.stderr)
        return EXIT_REFUSED
    except Exception as exc:  # the parent shows this line on the job
        print(f"{type(exc).__name__}: {exc}", file=sys.stderr)
        return EXIT_ERROR
    return EXIT_OK


if __name__ == "__main__":
    sys.exit(main())
