"""Builders of plain judgment records for the table-driven exporter tests (no database)."""

from __future__ import annotations

from datetime import UTC, datetime

from curation.exporters.options import options_parse
from curation.exporters.records import AspectScale, ExportContext, JudgmentRecord, ResponseRecord

KEY = b"test-secret-key"


def ctx(prompt_format="standard", strength_levels=3, aspects=None, **options):
    return ExportContext(
        options=options_parse(options),
        prompt_format=prompt_format,
        annotator_key=KEY,
        strength_levels=strength_levels,
        aspects=aspects if aspects is not None else {"helpfulness": AspectScale(1, 7), "honesty": AspectScale(1, 7)},
    )


def record(
    kind,
    payload,
    *,
    texts=("A", "B"),
    first_id=10,
    judgment_id=1,
    prompt_id=1,
    prompt="Why?",
    annotator_id=7,
    project_id=3,
    source="imported",
):
    messages = prompt if isinstance(prompt, list) else [{"role": "user", "content": prompt}]
    responses = {
        first_id + n: ResponseRecord(
            id=first_id + n, text=text, source=source, source_detail={"checkpoint": "ck-1"}, position=n
        )
        for n, text in enumerate(texts)
    }
    return JudgmentRecord(
        id=judgment_id,
        project_id=project_id,
        kind=kind,
        payload=payload,
        annotator_id=annotator_id,
        display_order=tuple(reversed(list(responses))),
        time_spent_ms=1234,
        created_at=datetime(2026, 5, 1, 12, 0, tzinfo=UTC),
        item_id=100 + judgment_id,
        is_gold=False,
        gold_correct=None,
        prompt_id=prompt_id,
        prompt_hash=f"hash-{prompt_id}",
        prompt_messages=tuple(messages),
        responses=responses,
    )


def preferred(preferred, rejected, level=2, strength="better"):
    return {
        "outcome": "preferred",
        "preferred": preferred,
        "rejected": rejected,
        "strength": strength,
        "strength_level": level,
        "reason": "",
    }


def rating(response, **scores):
    return {"response": response, "ratings": {k: {"score": v, "comment": ""} for k, v in scores.items()}}
