"""The embedded demo's base model: a tiny causal LM built offline, registered for every demo project.

It is clearly not a real model (about 14k parameters, random weights, a tokenizer trained on the demo
prompts): it exists so that ``make run`` can go round the loop on a laptop CPU in under a minute.
"""

from __future__ import annotations

import shutil
from pathlib import Path
from typing import Any

from annotation.demo import DEMOS, SAMPLES
from core.models import Project
from models_registry.models import Checkpoint, CheckpointKind, checkpoints_root
from models_registry.services import checkpoint_register_base

DEMO_MODEL_DIR = "base/tiny-demo"
DEMO_MODEL_NAME = "Tiny demo model (random weights, not a real LLM)"


def _text(conversation: Any) -> str:
    if isinstance(conversation, str):
        return conversation
    return " ".join(str(message.get("content", "")) for message in conversation)


def demo_corpus() -> list[str]:
    """The demo prompts and responses: the tokenizer learns the words the demo will show it."""
    corpus = []
    for conversation, responses in SAMPLES:
        corpus.append(_text(conversation))
        corpus.extend(responses)
    return corpus


def demo_base_model_ensure(*, seed: int = 0) -> list[Checkpoint]:
    """Build the tiny model once under the checkpoints root and register it for each demo project.

    Safe to re-run: an existing build is kept, and registering an unchanged folder returns its row. The
    build goes to a temporary folder renamed into place, so an interrupted build never looks complete.
    """
    folder = checkpoints_root() / DEMO_MODEL_DIR
    if not (folder / "config.json").is_file():
        from ml.tiny import build_tiny_causal_lm  # torch: only for this one-off build

        partial = folder.with_name(f".{folder.name}.partial")
        shutil.rmtree(partial, ignore_errors=True)
        build_tiny_causal_lm(partial, demo_corpus(), seed=seed)
        shutil.rmtree(folder, ignore_errors=True)
        partial.rename(folder)
    registered = []
    for project in Project.objects.filter(slug__in=[slug for slug, *_ in DEMOS]).order_by("pk"):
        registered.append(
            checkpoint_register_base(
                project=project, kind=CheckpointKind.POLICY, directory=Path(folder), name=DEMO_MODEL_NAME
            )
        )
    return registered
