"""Row writers for JSONL and Parquet that hash the bytes as they write them.

Pure module. Memory stays constant: JSONL writes a line per row; Parquet buffers ``batch_rows`` rows,
writes them as one row group through a streaming ``ParquetWriter``, and drops them. Both write through
``HashingFile``, so the sha256 and size recorded in the manifest are those of the bytes that went to
disk, without reading the file back.
"""

from __future__ import annotations

import hashlib
import io
import json
from collections.abc import Callable
from contextlib import suppress
from dataclasses import dataclass
from pathlib import Path
from typing import Any, BinaryIO, Literal, Protocol

import pyarrow as pa
import pyarrow.json as pa_json
import pyarrow.parquet as pq
from typing_extensions import Buffer  # collections.abc.Buffer is Python 3.12+

FileKind = Literal["jsonl", "parquet"]


@dataclass(frozen=True)
class WrittenFile:
    name: str
    rows: int
    sha256: str
    bytes: int


class HashingFile(io.RawIOBase):
    """A write-only file that feeds every byte to sha256 on its way to ``target``."""

    def __init__(self, target: BinaryIO) -> None:
        super().__init__()
        self._target = target
        self._hash = hashlib.sha256()
        self.size = 0

    def writable(self) -> bool:
        return True

    def write(self, data: Buffer) -> int:
        view = memoryview(data).cast("B")
        self._hash.update(view)
        self._target.write(view)
        self.size += len(view)
        return len(view)

    def tell(self) -> int:
        # ParquetWriter asks for the position to record row-group offsets in the footer.
        return self.size

    def flush(self) -> None:
        self._target.flush()

    def hexdigest(self) -> str:
        return self._hash.hexdigest()


class RowWriter(Protocol):
    def write(self, row: dict[str, Any]) -> None: ...

    def write_lines(self, lines: list[bytes]) -> None: ...

    def close(self) -> WrittenFile: ...

    def abort(self) -> None: ...


class _Base:
    def __init__(self, path: Path, schema: pa.Schema) -> None:
        self.path = path
        self.schema = schema
        self.rows = 0
        self._names = schema.names  # a new list on every access of schema.names
        self._file = path.open("xb")  # never overwrite: a snapshot's files are written once
        self._sink = HashingFile(self._file)

    def _check(self, row: dict[str, Any]) -> None:
        if list(row) != self._names:
            raise ValueError(f"{self.path.name}: row has columns {list(row)}, expected {self._names}")

    def _finish(self) -> WrittenFile:
        self._sink.flush()
        self._file.close()
        return WrittenFile(self.path.name, self.rows, self._sink.hexdigest(), self._sink.size)

    def abort(self) -> None:
        self._file.close()


def json_encoder(*, sort_keys: bool = False, allow_nan: bool = True) -> Callable[[Any], str]:
    """``json.dumps(value, ensure_ascii=False, separators=(",", ":"), sort_keys=..., allow_nan=...)``, the
    same text, without building an encoder per call (``json.dumps`` with options does, a third of its time).
    """
    encoder = json.JSONEncoder(ensure_ascii=False, separators=(",", ":"), sort_keys=sort_keys, allow_nan=allow_nan)
    make = getattr(json.encoder, "c_make_encoder", None)
    if make is None:  # no C accelerator (not CPython): the encoder's own method, slower, same text
        return encoder.encode
    # The arguments JSONEncoder.iterencode passes to the C encoder (no indent); None for the markers
    # skips the circular-reference check, which only decides whether to raise, never what is written.
    iterencode = make(
        None, encoder.default, json.encoder.encode_basestring, None, ":", ",", sort_keys, False, allow_nan
    )
    join = "".join
    return lambda value: join(iterencode(value, 0))


_encode_row = json_encoder(allow_nan=False)
JSONL_BATCH = 128  # lines per write: most of the gain of batching, little memory (raw lines are ~1 kB)


class JsonlWriter(_Base):
    """One line per row; lines are encoded and hashed ``batch_rows`` at a time (same bytes, fewer calls)."""

    def __init__(self, path: Path, schema: pa.Schema, *, batch_rows: int = JSONL_BATCH) -> None:
        super().__init__(path, schema)
        self._batch_rows = batch_rows
        self._lines: list[str] = []

    def write(self, row: dict[str, Any]) -> None:
        self._check(row)
        self._lines.append(_encode_row(row))
        self.rows += 1
        if len(self._lines) >= self._batch_rows:
            self._flush()

    def _flush(self) -> None:
        if self._lines:
            self._lines.append("")  # the last line's newline
            self._sink.write("\n".join(self._lines).encode("utf-8"))
            self._lines = []

    def write_lines(self, lines: list[bytes]) -> None:
        """Rows already encoded as ``write`` would encode them (UTF-8, no newline), e.g. by Postgres."""
        if not lines:
            return
        self._flush()
        lines.append(b"")
        self._sink.write(b"\n".join(lines))
        lines.pop()
        self.rows += len(lines)

    def close(self) -> WrittenFile:
        self._flush()
        return self._finish()

    def abort(self) -> None:
        self._lines = []
        super().abort()


def _prunable(kind: pa.DataType) -> bool:
    return bool(pa.types.is_integer(kind) or pa.types.is_floating(kind) or pa.types.is_boolean(kind)) or bool(
        pa.types.is_timestamp(kind) or pa.types.is_date(kind)
    )


# Row groups of rows given as JSON lines close at this many bytes of lines. Each row group's metadata
# (about 1 kB per column chunk) stays in memory until the footer and is serialised again there:
# 1000-row groups cost 16 MB per 1000 raw row groups, and a 3M-row export of the three tables peaked
# at 242 MB against 168 MB with 2 MB groups (4 and 8 MB groups hold more lines than they save).
ROW_GROUP_BYTES = 2 << 20


class ParquetRowWriter(_Base):
    def __init__(
        self, path: Path, schema: pa.Schema, *, batch_rows: int = 1000, row_group_bytes: int = ROW_GROUP_BYTES
    ) -> None:
        super().__init__(path, schema)
        self._batch_rows = batch_rows
        self._row_group_bytes = row_group_bytes
        self._buffer: list[dict[str, Any]] = []
        self._lines: list[bytes] = []  # write_lines
        self._line_bytes = 0
        # Min/max statistics only where they can prune a read (numbers, booleans, times). On text
        # columns each row group kept a copy of its longest strings in memory until the footer: +8 MB
        # of peak RSS per 1000 row groups, which took a 1M-judgment export past 300 MB (bench/exports).
        prunable = [f.name for f in schema if _prunable(f.type)]
        self._writer = pq.ParquetWriter(self._sink, schema, write_statistics=prunable)

    def write(self, row: dict[str, Any]) -> None:
        self._check(row)
        self._buffer.append(row)
        self.rows += 1
        if len(self._buffer) >= self._batch_rows:
            self._flush()

    def _flush(self) -> None:
        if self._buffer:
            self._writer.write_table(pa.Table.from_pylist(self._buffer, schema=self.schema))
            self._buffer = []

    def write_lines(self, lines: list[bytes]) -> None:
        """Rows as JSON lines encoded as ``JsonlWriter.write`` encodes them: parsed by Arrow's JSON reader
        with the schema (an unknown or mistyped column fails), a row group each time the lines given
        reach ``row_group_bytes`` (see ROW_GROUP_BYTES). Not mixed with ``write`` in one file."""
        self._lines.extend(lines)
        self.rows += len(lines)
        self._line_bytes += sum(map(len, lines))
        if self._line_bytes >= self._row_group_bytes:
            self._parse(self._lines)
            self._lines = []
            self._line_bytes = 0

    def _parse(self, lines: list[bytes]) -> None:
        lines.append(b"")
        data = b"\n".join(lines)
        lines.pop()
        table = pa_json.read_json(
            io.BytesIO(data),
            # One block holds the whole batch (a block must hold whole lines); no threads: the other
            # core is Postgres's, which writes the lines.
            read_options=pa_json.ReadOptions(use_threads=False, block_size=len(data) + 1),
            parse_options=pa_json.ParseOptions(explicit_schema=self.schema, unexpected_field_behavior="error"),
        )
        self._writer.write_table(table.select(self._names))

    def close(self) -> WrittenFile:
        self._flush()
        if self._lines:
            self._parse(self._lines)
            self._lines = []
        self._writer.close()  # writes the footer: the file is valid only after this
        return self._finish()

    def abort(self) -> None:
        self._buffer = []
        self._lines = []
        self._line_bytes = 0
        # Close the Parquet writer before its file: left open, its __del__ wrote a footer to the closed
        # file later ("write to closed file", an unraisable error). The partial file is deleted anyway.
        with suppress(Exception):
            self._writer.close()
        super().abort()


def open_writer(path: Path, kind: FileKind, schema: pa.Schema, *, batch_rows: int = 1000) -> RowWriter:
    if kind == "jsonl":
        return JsonlWriter(path, schema)
    return ParquetRowWriter(path, schema, batch_rows=batch_rows)
