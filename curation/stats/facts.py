"""The plain record of one judgment that every quality statistic reads (built by the selector)."""

from __future__ import annotations

from collections.abc import Mapping
from dataclasses import dataclass, field
from datetime import datetime
from typing import Any


@dataclass(frozen=True)
class JudgmentFact:
    id: int
    item_id: int
    annotator_id: int
    kind: str
    payload: Mapping[str, Any]  # canonical, see annotation.schemas (empty for free text: never read)
    positions: tuple[int, ...]  # the item's response ids in stored order
    display_order: tuple[int, ...]  # the same ids in the order this annotator saw them
    time_spent_ms: int
    created_at: datetime
    lengths: Mapping[int, int] = field(default_factory=dict)  # response id -> length in characters
    is_gold: bool = False
    gold_answer: Mapping[str, Any] | None = None
    rejected: bool = False  # the latest review of this judgment rejected it
