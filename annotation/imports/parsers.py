"""Stream rows out of JSONL, CSV and Parquet files, each with its 1-based line or row number.

Every parser reads a binary stream in bounded pieces, so memory stays flat whatever the file size:
JSONL one line at a time (a line longer than the record limit is skipped without being held), CSV
one record at a time, Parquet one record batch at a time. A problem with one row is reported on that
row and reading goes on, so one pass finds many errors; a problem that makes the rest unreadable
(a bad CSV header, a corrupt Parquet file) is reported as ``fatal`` and ends the stream.
"""

from __future__ import annotations

import codecs
import csv
import json
import re
from collections.abc import Iterator
from typing import IO, Any

from annotation.imports.records import FileFormat, RawRow, RowError

RESPONSE_COLUMN = re.compile(r"^response_([1-9][0-9]?)$")
# Every column a tabular file (CSV, Parquet) may have; what a row must have depends on its shape.
COLUMNS = ("prompt", "responses", "chosen", "rejected", "messages", "priority", "metadata")
_DRAIN_CHUNK = 64 * 1024
_PARQUET_BATCH_ROWS = 1_000
_EMPTY_CSV = "the file is empty: the first row must name the columns"


def _too_big(line: int, max_record_bytes: int) -> RowError:
    return RowError(line, "", f"record is larger than the limit of {max_record_bytes:,} bytes")


def _offset(stream: IO[bytes]) -> int | None:
    try:
        return stream.tell()
    except (OSError, ValueError):
        return None


# --- JSONL ------------------------------------------------------------------------------------------


def jsonl_rows(stream: IO[bytes], *, max_record_bytes: int) -> Iterator[RawRow]:
    """One row per non-blank line; ``line`` is the physical line number (blank lines count)."""
    line = 0
    while True:
        raw = stream.readline(max_record_bytes + 1)
        if not raw:
            return
        line += 1
        if line == 1:
            raw = raw.removeprefix(codecs.BOM_UTF8)
        if len(raw) > max_record_bytes and not raw.endswith(b"\n"):
            # Skip the rest of the line in bounded reads: an oversized line is never held whole.
            while raw and not raw.endswith(b"\n"):
                raw = stream.readline(_DRAIN_CHUNK)
            yield RawRow(line, None, _too_big(line, max_record_bytes), offset=_offset(stream))
            continue
        if not raw.strip():
            continue
        yield _jsonl_row(line, raw, _offset(stream))


def _jsonl_row(line: int, raw: bytes, offset: int | None) -> RawRow:
    try:
        text = raw.decode("utf-8")
    except UnicodeDecodeError as exc:
        return RawRow(line, None, RowError(line, "", f"not UTF-8 text (byte {exc.start + 1})"), offset=offset)
    try:
        data = json.loads(text)
    except json.JSONDecodeError as exc:
        return RawRow(line, None, RowError(line, "", f"not valid JSON: {exc.msg} at column {exc.colno}"), offset=offset)
    if not isinstance(data, dict):
        return RawRow(line, None, RowError(line, "", "each line must be a JSON object"), offset=offset)
    return RawRow(line, data, offset=offset)


# --- CSV --------------------------------------------------------------------------------------------


def csv_header_errors(header: list[str]) -> list[RowError]:
    """Problems with a CSV header (row 1): unknown, duplicate or non-consecutive response columns."""
    errors: list[RowError] = []
    seen: set[str] = set()
    numbers: list[int] = []
    for name in header:
        if name in seen:
            errors.append(RowError(1, name, "column appears twice"))
        seen.add(name)
        match = RESPONSE_COLUMN.match(name)
        if match:
            numbers.append(int(match.group(1)))
        elif name == "responses":
            errors.append(RowError(1, name, "in CSV, put one response per column: response_1, response_2, …"))
        elif name not in COLUMNS:
            allowed = ", ".join(c for c in COLUMNS if c != "responses")
            errors.append(RowError(1, name, f"unknown column; allowed: {allowed}, response_1 … response_N"))
    if numbers and sorted(numbers) != list(range(1, len(numbers) + 1)):
        errors.append(RowError(1, "response_1", "response columns must be numbered response_1 … response_N"))
    return errors


class _LineTooLong(Exception):
    pass


def _text_lines(stream: IO[bytes], max_record_bytes: int) -> Iterator[str]:
    """Decoded physical lines, each read with a bounded ``readline``.

    Decoding line by line (rather than through a TextIOWrapper, which decodes 8 KiB ahead) puts a
    bad byte on the row that holds it.
    """
    first = True
    while True:
        raw = stream.readline(max_record_bytes + 1)
        if not raw:
            return
        if len(raw) > max_record_bytes and not raw.endswith(b"\n"):
            raise _LineTooLong
        if first:
            raw, first = raw.removeprefix(codecs.BOM_UTF8), False
        yield raw.decode("utf-8")


def csv_rows(stream: IO[bytes], *, max_record_bytes: int) -> Iterator[RawRow]:
    """One row per CSV record (UTF-8, header first); ``line`` counts the header as row 1.

    Cells stay strings here: ``pipeline`` decodes the typed columns (priority, metadata, messages).
    """
    # The csv module refuses fields above a process-wide limit (128 KiB by default); raise it to our
    # record limit so one field can use the whole record. Never lowered: other callers keep theirs.
    csv.field_size_limit(max(csv.field_size_limit(), max_record_bytes + 1))
    reader = csv.reader(_text_lines(stream, max_record_bytes), strict=True)
    line = 0
    header: list[str] | None = None
    while True:
        try:
            cells = next(reader)
        except StopIteration:
            break
        except UnicodeDecodeError:
            yield RawRow(line + 1, None, RowError(line + 1, "", "not UTF-8 text"), fatal=True)
            return
        except _LineTooLong:
            yield RawRow(line + 1, None, _too_big(line + 1, max_record_bytes), fatal=True)
            return
        except csv.Error as exc:
            # Quoting errors and over-long fields leave the reader at an unknown place: stop here.
            message = str(exc)
            error = (
                _too_big(line + 1, max_record_bytes)
                if "field larger than field limit" in message
                else RowError(line + 1, "", f"malformed CSV: {message}")
            )
            yield RawRow(line + 1, None, error, fatal=True)
            return
        line += 1
        if header is None:
            header = [cell.strip() for cell in cells]
            problems = csv_header_errors(header) if any(header) else [RowError(1, "", _EMPTY_CSV)]
            for error in problems:
                yield RawRow(1, None, error, fatal=True)
            if problems:
                return
            continue
        if not cells:
            continue  # a blank line: counted, like a spreadsheet would, but not a row of data
        offset = _offset(stream)
        if sum(len(cell.encode("utf-8")) for cell in cells) > max_record_bytes:
            yield RawRow(line, None, _too_big(line, max_record_bytes), offset=offset)
        elif len(cells) != len(header):
            message = f"expected {len(header)} cells (one per column), found {len(cells)}"
            yield RawRow(line, None, RowError(line, "", message), offset=offset)
        else:
            yield RawRow(line, dict(zip(header, cells, strict=True)), offset=offset)
    if header is None:
        yield RawRow(1, None, RowError(1, "", _EMPTY_CSV), fatal=True)


# --- Parquet ----------------------------------------------------------------------------------------


def _parquet_type_error(name: str, arrow_type: Any) -> str | None:
    """Why a Parquet column of this name cannot hold what the shape needs (None when it can)."""
    import pyarrow as pa

    types = pa.types

    def plain(t: Any) -> Any:
        return t.value_type if types.is_dictionary(t) else t

    def text(t: Any) -> bool:
        t = plain(t)
        return bool(types.is_string(t) or types.is_large_string(t) or types.is_string_view(t))

    def listed(t: Any) -> Any:
        t = plain(t)
        if types.is_list(t) or types.is_large_list(t) or types.is_list_view(t):
            return t.value_type
        return None

    def conversation(t: Any) -> bool:
        inner = listed(t)
        return (
            inner is not None
            and types.is_struct(inner)
            and {inner.field(i).name for i in range(inner.num_fields)} == {"role", "content"}
        )

    if types.is_null(arrow_type):
        return None  # a column with no values at all: each row reports the field as missing
    if name in ("prompt", "chosen", "rejected"):
        ok, want = text(arrow_type) or conversation(arrow_type), "a string or a list of {role, content} structs"
    elif name == "messages":
        ok, want = conversation(arrow_type), "a list of {role, content} structs"
    elif name == "responses":
        inner = listed(arrow_type)
        ok, want = inner is not None and text(inner), "a list of strings"
    elif name == "priority":
        ok, want = types.is_integer(arrow_type) or types.is_floating(arrow_type), "a number"
    elif name == "metadata":
        ok = text(arrow_type) or types.is_struct(arrow_type) or types.is_map(arrow_type)
        want = "a JSON string or a struct"
    elif RESPONSE_COLUMN.match(name):
        ok, want = text(arrow_type), "a string"
    else:
        return None  # unknown columns are reported by the shape check, with the allowed names
    return None if ok else f"column type is {arrow_type}; expected {want}"


def parquet_rows(stream: IO[bytes], *, max_record_bytes: int) -> Iterator[RawRow]:
    """One row per Parquet row, read one record batch at a time; ``line`` is the 1-based row index.

    Column types are checked against the schema first, so a wrong type is one clear error naming
    the column rather than the same complaint on every row.
    """
    import pyarrow as pa
    import pyarrow.parquet as pq

    try:
        parquet = pq.ParquetFile(stream)
    except (pa.ArrowException, OSError) as exc:
        yield RawRow(1, None, RowError(None, "", f"not a readable Parquet file: {exc}"), fatal=True)
        return
    schema = parquet.schema_arrow
    type_errors = [
        RowError(None, name, message)
        for name, arrow_type in zip(schema.names, schema.types, strict=True)
        if (message := _parquet_type_error(name, arrow_type)) is not None
    ]
    if type_errors:
        for error in type_errors:
            yield RawRow(1, None, error, fatal=True)
        return
    line = 0
    try:
        for batch in parquet.iter_batches(batch_size=_PARQUET_BATCH_ROWS):
            for data in batch.to_pylist():
                line += 1
                size = len(json.dumps(data, ensure_ascii=False, default=str).encode("utf-8"))
                if size > max_record_bytes:
                    yield RawRow(line, None, _too_big(line, max_record_bytes))
                else:
                    yield RawRow(line, data)
    except (pa.ArrowException, OSError) as exc:
        yield RawRow(line + 1, None, RowError(line + 1, "", f"unreadable Parquet data: {exc}"), fatal=True)


def parquet_row_count(stream: IO[bytes]) -> int | None:
    """The exact row count from the Parquet footer (None when it cannot be read)."""
    import pyarrow as pa
    import pyarrow.parquet as pq

    try:
        return int(pq.ParquetFile(stream).metadata.num_rows)
    except (pa.ArrowException, OSError):
        return None


def raw_rows(stream: IO[bytes], fmt: FileFormat, *, max_record_bytes: int) -> Iterator[RawRow]:
    if fmt == FileFormat.JSONL:
        return jsonl_rows(stream, max_record_bytes=max_record_bytes)
    if fmt == FileFormat.CSV:
        return csv_rows(stream, max_record_bytes=max_record_bytes)
    return parquet_rows(stream, max_record_bytes=max_record_bytes)


# --- Upload checks ----------------------------------------------------------------------------------

PARQUET_MAGIC = b"PAR1"


def sniff(fmt: FileFormat, head: bytes, tail: bytes) -> str | None:
    """Why the first and last bytes of a file do not look like ``fmt`` (None when they do).

    A cheap check at upload time, so a mislabelled file (a spreadsheet saved as .csv, a zip renamed
    to .jsonl) is refused at once instead of failing in the background job.
    """
    if not head:
        return "the file is empty"
    if fmt == FileFormat.PARQUET:
        if not (head.startswith(PARQUET_MAGIC) and tail.endswith(PARQUET_MAGIC)):
            return "this is not a Parquet file (no PAR1 signature)"
        return None
    if b"\x00" in head:
        return f"this is a binary file, not {fmt.upper()} text"
    try:
        # Incremental: the head may end in the middle of a multi-byte character.
        text = codecs.getincrementaldecoder("utf-8")().decode(head, final=False)
    except UnicodeDecodeError:
        return f"this is not UTF-8 text; save the {fmt.upper()} file as UTF-8"
    text = text.removeprefix("\ufeff").lstrip()
    if fmt == FileFormat.JSONL and text and not text.startswith("{"):
        return "a JSONL file has one JSON object per line, starting with '{'"
    return None
