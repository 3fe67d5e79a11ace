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
import json
from typing import Any

from curation.exporters.records import ExportContext, JudgmentRecord


def annotator_pseudonym(*, annotator_id: int, project_id: int, key: bytes) -> str:
    digest = hmac.new(key, f"{project_id}:{annotator_id}".encode(), hashlib.sha256).hexdigest()
    return f"ann_{digest[:16]}"


def _json(value: Any) -> str:
    return json.dumps(value, sort_keys=True, ensure_ascii=False, separators=(",", ":"))


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
        "responses": [
            {
                "id": r.id,
                "position": r.position,
                "text": r.text,
                "source": r.source,
                "source_detail": _json(r.source_detail),
            }
            for r in record.responses_by_position()
        ],
        "payload": _json(record.payload),
    }
