"""What the import pipeline passes around: formats, shapes, row errors and normalised records."""

from __future__ import annotations

from dataclasses import dataclass, field
from enum import StrEnum
from typing import Any


class FileFormat(StrEnum):
    JSONL = "jsonl"
    CSV = "csv"
    PARQUET = "parquet"


FORMAT_LABELS = {FileFormat.JSONL: "JSONL", FileFormat.CSV: "CSV", FileFormat.PARQUET: "Parquet"}
# The extension is the declared format; the content is sniffed as well (``parsers.sniff``).
EXTENSIONS = {".jsonl": FileFormat.JSONL, ".csv": FileFormat.CSV, ".parquet": FileFormat.PARQUET}


class Shape(StrEnum):
    PROMPTS = "prompts"
    RESPONSES = "responses"
    PREFERENCE = "preference"
    MESSAGES = "messages"

    @property
    def label(self) -> str:
        return SHAPE_LABELS[self]


SHAPE_LABELS = {
    Shape.PROMPTS: "Prompts only (answered later by a policy)",
    Shape.RESPONSES: "Prompt + responses (one item per row)",
    Shape.PREFERENCE: "Preference pairs, TRL prompt/chosen/rejected (pairwise projects)",
    Shape.MESSAGES: "Conversations, TRL messages (last assistant turn is the response)",
}


@dataclass(frozen=True)
class RowError:
    """A problem with one row (``line``) and one of its fields; ``line`` is None for the whole file.

    ``line`` is the JSONL line, the CSV row counting the header as row 1, or the Parquet row (1-based).
    """

    line: int | None
    field: str
    message: str

    def __str__(self) -> str:
        where = "file" if self.line is None else f"line {self.line}"
        return f"{where}, {self.field}: {self.message}" if self.field else f"{where}: {self.message}"

    def as_dict(self) -> dict[str, Any]:
        return {"line": self.line, "field": self.field, "message": self.message}


@dataclass(frozen=True)
class RawRow:
    """One row as a parser read it: its data, or why it could not be read."""

    line: int
    data: dict[str, Any] | None
    error: RowError | None = None
    # The rest of the file cannot be read (a bad CSV header, a corrupt Parquet file): stop here.
    fatal: bool = False
    # Bytes of the file consumed so far (None where the format counts rows itself): for progress.
    offset: int | None = None


@dataclass(frozen=True)
class Record:
    """A valid row, normalised: what the writer turns into prompts, responses and one item.

    ``messages`` is the prompt as stored in ``Prompt.messages`` (a bare string prompt becomes one user
    message, exactly as ``annotation.services.projects.item_create`` stores it, so both paths hash
    alike). ``responses`` is empty for the prompts-only shape.
    """

    line: int
    messages: list[dict[str, str]]
    prompt_hash: str
    responses: tuple[str, ...] = ()
    response_hashes: tuple[str, ...] = ()
    priority: float = 0.0
    metadata: dict[str, Any] = field(default_factory=dict)
    # Preference rows: the index in ``responses`` of the chosen one (the other is rejected).
    chosen: int | None = None
