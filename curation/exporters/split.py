"""Deterministic train/test split by prompt.

Pure module. The split key is the prompt's content hash, so every row derived from one prompt
(whatever its origin, annotator or item) lands in the same split: a model is never tested on a prompt
it was trained on. The same prompt, seed and fraction give the same split in every snapshot.
"""

from __future__ import annotations

import hashlib
from typing import Literal

Split = Literal["train", "test"]


def split_of(prompt_hash: str, *, test_fraction: float, seed: int) -> Split:
    """``test`` for about ``test_fraction`` of prompts, chosen by a seeded hash; ``train`` otherwise."""
    if test_fraction <= 0:
        return "train"
    digest = hashlib.sha256(f"{seed}:{prompt_hash}".encode()).digest()
    # The first 8 bytes as a uniform number in [0, 1).
    return "test" if int.from_bytes(digest[:8], "big") / 2**64 < test_fraction else "train"
