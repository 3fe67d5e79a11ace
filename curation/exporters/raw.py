"""Judgments -> raw rows: one per judgment, everything needed to re-derive any other table.

Pure module. The annotator appears only as a pseudonym: an HMAC-SHA256 of ``"<project>:<user id>"``
keyed by the site's secret key, truncated to 16 hex digits. It is stable across snapshots of one
project (so reliability can be studied) and unlinkable across projects or without the key; no
username or e-mail ever reaches the record (the selector does not even read them).

Free-form JSON (``payload``, ``source_detail``) is written as a JSON *string*: Arrow needs one type per
column, and payloads of different task kinds (or source details of different checkpoints) do not
share one, so ``datasets`` would fail to load, or silently widen, a column of raw objects.
"""

from __future__ import annotations

import hashlib
import hmac
from functools import lru_cache
from typing import Any

from curation.exporters.records import ExportContext, JudgmentRecord
from curation.exporters.writers import json_encoder


@lru_cache(maxsize=4096)  # a few annotators write thousands of judgments each
def annotator_pseudonym(*, annotator_id: int, project_id: int, key: bytes) -> str:
    digest = hmac.new(key, f"{project_id}:{annotator_id}".encode(), hashlib.sha256).hexdigest()
    return f"ann_{digest[:16]}"


# json.dumps(value, sort_keys=True, ensure_ascii=False, separators=(",", ":")), without an encoder per call.
canonical_json = json_encoder(sort_keys=True)

# The last responses cell made: (the record's responses mapping, cell). The selector gives the judgments
# of one item one responses mapping; replaced as one tuple, see exporters.trl._last_prompt.
_last_responses: tuple[object, list[dict[str, Any]]] = (None, [])


def _responses(record: JudgmentRecord) -> list[dict[str, Any]]:
    global _last_responses
    responses, cell = _last_responses
    if responses is record.responses:
        return cell
    cell = [
        {
            "id": r.id,
            "position": r.position,
            "text": r.text,
            "source": r.source,
            "source_detail": canonical_json(r.source_detail),
        }
        for r in record.responses_by_position()
    ]
    _last_responses = (record.responses, cell)
    return cell


def raw_row(record: JudgmentRecord, ctx: ExportContext) -> dict[str, Any]:
    return {
        "judgment_id": record.id,
        "kind": record.kind,
        "item_id": record.item_id,
        "prompt_id": record.prompt_id,
        "is_gold": record.is_gold,
        "gold_correct": record.gold_correct,
        "annotator": annotator_pseudonym(
            annotator_id=record.annotator_id, project_id=record.project_id, key=ctx.annotator_key
        ),
        "created_at": record.created_at.isoformat(),
        "time_spent_ms": record.time_spent_ms,
        "display_order": list(record.display_order),
        "prompt": [{"role": str(m["role"]), "content": str(m["content"])} for m in record.prompt_messages],
        "responses": _responses(record),
        "payload": canonical_json(record.payload),
    }
