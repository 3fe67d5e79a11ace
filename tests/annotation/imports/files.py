"""Builders of small import files in each format, as bytes."""

from __future__ import annotations

import csv
import io
import json
from typing import Any


def jsonl(*rows: Any) -> bytes:
    """One line per row: dicts become JSON, strings are written as they are (for malformed lines)."""
    lines = [row if isinstance(row, str) else json.dumps(row) for row in rows]
    return ("\n".join(lines) + "\n").encode("utf-8") if lines else b""


def csv_bytes(header: list[str], *rows: list[Any]) -> bytes:
    out = io.StringIO()
    writer = csv.writer(out, lineterminator="\n")
    writer.writerow(header)
    writer.writerows(rows)
    return out.getvalue().encode("utf-8")


def parquet_bytes(rows: list[dict[str, Any]] | None = None, *, table: Any = None) -> bytes:
    import pyarrow as pa
    import pyarrow.parquet as pq

    if table is None:
        table = pa.Table.from_pylist(rows or [])
    out = io.BytesIO()
    pq.write_table(table, out)
    return out.getvalue()


def chat(*turns: str) -> list[dict[str, str]]:
    """Messages alternating user / assistant, starting with the user."""
    return [{"role": "user" if n % 2 == 0 else "assistant", "content": text} for n, text in enumerate(turns)]
