"""Parse, detect the shape, validate: the one path every row takes, in both passes of an import.

Tabular files (CSV, Parquet) have the same columns on every row, so their columns are checked once,
against the first row, and a problem there is reported once (fatal) instead of on every row. CSV
cells are text: the typed columns (``priority``, ``metadata``, ``messages``) are decoded here.
"""

from __future__ import annotations

import json
from collections.abc import Iterator
from dataclasses import dataclass
from typing import IO, Any

from annotation.imports.parsers import RESPONSE_COLUMN, raw_rows
from annotation.imports.records import FileFormat, Record, RowError, Shape
from annotation.imports.shapes import Invalid, Target, keys_errors, record_validate, shape_detect, shape_refusal

TABULAR = (FileFormat.CSV, FileFormat.PARQUET)


@dataclass(frozen=True)
class CheckedRow:
    line: int
    record: Record | None
    errors: tuple[RowError, ...] = ()
    # Nothing after this row can be checked (bad header, unreadable file, shape refused).
    fatal: bool = False
    offset: int | None = None


def _split_columns(data: dict[str, Any]) -> tuple[dict[str, Any], bool]:
    """Gather ``response_1 … response_N`` columns into one ``responses`` list (tabular files)."""
    numbers = sorted(int(m.group(1)) for key in data if (m := RESPONSE_COLUMN.match(key)))
    if not numbers:
        return data, False
    if "responses" in data:
        raise Invalid("responses", "give either a 'responses' list or response_1 … response_N columns, not both")
    rest = {key: value for key, value in data.items() if not RESPONSE_COLUMN.match(key)}
    rest["responses"] = [data[f"response_{n}"] for n in numbers]
    return rest, True


def _json_cell(data: dict[str, Any], key: str) -> None:
    value = data.get(key)
    if not isinstance(value, str):
        return
    if not value.strip():
        data[key] = None  # an empty cell is an absent value
        return
    try:
        data[key] = json.loads(value)
    except json.JSONDecodeError as exc:
        raise Invalid(key, f"not valid JSON: {exc.msg}") from exc


def _decode_cells(fmt: FileFormat, data: dict[str, Any]) -> dict[str, Any]:
    """Typed values from a tabular row: CSV's text cells, Parquet's JSON-string metadata."""
    data = dict(data)
    _json_cell(data, "metadata")
    if fmt == FileFormat.CSV:
        _json_cell(data, "messages")
        priority = data.get("priority")
        if isinstance(priority, str):
            try:
                data["priority"] = float(priority) if priority.strip() else None
            except ValueError as exc:
                raise Invalid("priority", "must be a number") from exc
    return data


def _rename(error: RowError, split: bool) -> RowError:
    """Name a response by its column (``response_2``) when the file had one column per response."""
    if split and error.field.startswith("responses["):
        index = int(error.field.removeprefix("responses[").split("]", 1)[0])
        return RowError(error.line, f"response_{index + 1}", error.message)
    return error


class RowChecker:
    """Checks the rows of one file for one project. ``shape`` is the given one, else the detected one."""

    def __init__(self, *, fmt: FileFormat, target: Target, shape: Shape | None, max_record_bytes: int) -> None:
        self.fmt = fmt
        self.target = target
        self.shape = shape
        self.max_record_bytes = max_record_bytes

    def rows(self, stream: IO[bytes]) -> Iterator[CheckedRow]:
        tabular = self.fmt in TABULAR
        first = True
        for raw in raw_rows(stream, self.fmt, max_record_bytes=self.max_record_bytes):
            if raw.data is None:
                errors = (raw.error,) if raw.error else ()
                yield CheckedRow(raw.line, None, errors, fatal=raw.fatal, offset=raw.offset)
                if raw.fatal:
                    return
                continue
            try:
                data, split = _split_columns(_decode_cells(self.fmt, raw.data) if tabular else raw.data)
            except Invalid as exc:
                yield CheckedRow(raw.line, None, (RowError(raw.line, exc.field, exc.message),), offset=raw.offset)
                continue
            if self.shape is None:
                self.shape = shape_detect(data)
                if self.shape is None:
                    message = (
                        "cannot tell the shape of this row: expected 'prompt', 'responses', "
                        f"'chosen'/'rejected' or 'messages'; found {', '.join(sorted(data)) or 'no fields'}"
                    )
                    yield CheckedRow(raw.line, None, (RowError(raw.line, "", message),), offset=raw.offset)
                    continue
            if first:
                first = False
                problems = self._file_problems(self.shape, data, raw.line, split)
                if problems:
                    yield CheckedRow(raw.line, None, tuple(problems), fatal=True, offset=raw.offset)
                    return
            result = record_validate(self.shape, data, line=raw.line, target=self.target, check_keys=not tabular)
            if isinstance(result, Record):
                yield CheckedRow(raw.line, result, offset=raw.offset)
            else:
                yield CheckedRow(raw.line, None, tuple(_rename(e, split) for e in result), offset=raw.offset)
        if first:
            yield CheckedRow(0, None, (RowError(None, "", "the file has no rows"),), fatal=True)

    def _file_problems(self, shape: Shape, data: dict[str, Any], line: int, split: bool) -> list[RowError]:
        """Problems that every row would share: the shape is refused, or (tabular) the columns are wrong.

        Reported at the first row for JSONL, at the header (row 1) for CSV, for the file for Parquet.
        """
        where = {FileFormat.JSONL: line, FileFormat.CSV: 1, FileFormat.PARQUET: None}[self.fmt]
        refusal = shape_refusal(shape, self.target)
        if refusal is not None:
            return [RowError(where, refusal.field, refusal.message)]
        if self.fmt not in TABULAR:
            return []
        problems = keys_errors(shape, data, where)
        if not problems and shape == Shape.RESPONSES and split:
            count, wanted = len(data["responses"]), self.target.responses_per_item
            if count != wanted:
                message = (
                    f"found {count} response columns; an item of this {self.target.kind} project has exactly {wanted}"
                )
                problems.append(RowError(where, f"response_{min(count, wanted) + 1}", message))
        return problems
