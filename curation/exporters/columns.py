"""The Arrow schema of every table, in both prompt formats: the contract of the exported files.

Pure module. Parquet files are written with exactly these schemas, and JSONL rows are checked
against their column names, so a wrong or missing column fails the export with a clear message
instead of a bare ``KeyError: 'chosen'`` inside a training job later.
"""

from __future__ import annotations

import pyarrow as pa

from curation.exporters.options import Table
from curation.exporters.records import ResolvedPromptFormat

MESSAGE = pa.struct([("role", pa.string()), ("content", pa.string())])
MESSAGES = pa.list_(MESSAGE)
RESPONSE = pa.struct(
    [
        ("id", pa.int64()),
        ("position", pa.int64()),
        ("text", pa.string()),
        ("source", pa.string()),
        ("source_detail", pa.string()),  # JSON text, see exporters.raw
    ]
)

RAW = pa.schema(
    [
        ("judgment_id", pa.int64()),
        ("kind", pa.string()),
        ("item_id", pa.int64()),
        ("prompt_id", pa.int64()),
        ("is_gold", pa.bool_()),
        ("gold_correct", pa.bool_()),
        ("annotator", pa.string()),
        ("created_at", pa.string()),  # ISO 8601 with offset: the same text in JSONL and Parquet
        ("time_spent_ms", pa.int64()),
        ("display_order", pa.list_(pa.int64())),
        ("prompt", MESSAGES),
        ("responses", pa.list_(RESPONSE)),
        ("payload", pa.string()),  # JSON text, see exporters.raw
    ]
)


def schema_for(table: Table, prompt_format: ResolvedPromptFormat, *, weighted: bool = False) -> pa.Schema:
    """``weighted``: consensus-only snapshots add a ``weight`` column to the training tables."""
    if table == "raw":
        return RAW
    text = MESSAGES if prompt_format == "conversational" else pa.string()
    weight = [("weight", pa.float64())] if weighted else []
    if table == "preference":
        return pa.schema(
            [
                ("prompt", text),
                ("chosen", text),
                ("rejected", text),
                ("margin", pa.float64()),
                ("tie", pa.bool_()),
                ("origin", pa.string()),
                *weight,
            ]
        )
    return pa.schema([("prompt", text), ("completion", text), ("label", pa.bool_()), ("origin", pa.string()), *weight])
