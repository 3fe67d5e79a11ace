"""Plain records the selector builds from the database and the exporters read (no ORM objects)."""

from __future__ import annotations

from collections.abc import Mapping
from dataclasses import dataclass, field
from datetime import datetime
from typing import Any, Literal

from curation.exporters.options import ExportOptions

Message = Mapping[str, str]  # {"role": ..., "content": ...}
ResolvedPromptFormat = Literal["standard", "conversational"]
# judgment: goes to every table. Consensus-only snapshots (curation.exporters.consensus) split the
# roles: the item's judgments are "evidence" (raw table only) and its "consensus" record feeds the
# training tables only.
RecordRole = Literal["judgment", "evidence", "consensus"]


@dataclass(frozen=True)
class ResponseRecord:
    id: int
    text: str
    source: str
    source_detail: Mapping[str, Any]
    position: int  # in the item, not as shown (that is the judgment's display_order)


@dataclass(frozen=True)
class JudgmentRecord:
    id: int
    project_id: int
    kind: str
    payload: Mapping[str, Any]  # canonical form, see annotation.schemas
    annotator_id: int
    display_order: tuple[int, ...]
    time_spent_ms: int
    created_at: datetime
    item_id: int
    is_gold: bool
    gold_correct: bool | None
    prompt_id: int
    prompt_hash: str  # sha256 of the prompt's canonical messages: the split key
    prompt_messages: tuple[Message, ...]
    responses: Mapping[int, ResponseRecord]  # by response id
    role: RecordRole = "judgment"
    weight: float | None = None  # consensus-only snapshots: the row's weight (see exporters.consensus)

    def responses_by_position(self) -> list[ResponseRecord]:
        return sorted(self.responses.values(), key=lambda r: r.position)


@dataclass(frozen=True)
class AspectScale:
    min: int
    max: int


@dataclass(frozen=True)
class ExportContext:
    """Everything the pure exporters need besides the records themselves.

    ``annotator_key`` keys the pseudonymous annotator ids (the service passes settings.SECRET_KEY);
    ``strength_levels`` is the number of strength labels of a pairwise project; ``aspects`` the
    rating scales of a rating project, by aspect name.
    """

    options: ExportOptions
    prompt_format: ResolvedPromptFormat
    annotator_key: bytes
    strength_levels: int = 3
    aspects: Mapping[str, AspectScale] = field(default_factory=dict)
    weighted: bool = False  # consensus-only snapshot: preference and unpaired rows get a ``weight`` column
