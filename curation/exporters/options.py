"""The filter spec and export options of a snapshot: an allowlist, validated before anything is queued.

Pure module (no ORM). A client never supplies lookup paths: every filter is a named field here, and
``curation.selectors.judgments_for_export`` maps each one to exactly one queryset clause.
"""

from __future__ import annotations

from collections.abc import Mapping
from datetime import date
from typing import Any, Literal, get_args

from pydantic import BaseModel, ConfigDict, Field, ValidationError, field_validator, model_validator

from annotation.schemas import TASK_KINDS, FieldError, SchemaError

Table = Literal["preference", "unpaired", "raw"]
FileFormat = Literal["jsonl", "parquet", "both"]
PromptFormat = Literal["auto", "standard", "conversational"]
MarginMode = Literal["level_fraction", "llama2", "none"]
TaskKind = Literal["pairwise", "ranking", "rating", "free_text"]
ResponseSource = Literal["imported", "manual", "generated", "demo"]

# Kept as a Literal for the schema; must name exactly the kinds annotation.schemas knows.
assert set(get_args(TaskKind)) == set(TASK_KINDS)


class _Strict(BaseModel):
    model_config = ConfigDict(extra="forbid", str_strip_whitespace=True, frozen=True)


def _unique(values: list[Any], what: str) -> list[Any]:
    if len(set(values)) != len(values):
        raise ValueError(f"{what} must not repeat")
    return values


class SnapshotFilters(_Strict):
    """Which judgments of the project go into the snapshot. Empty lists mean "no restriction"."""

    task_kinds: list[TaskKind] = Field(default_factory=list, max_length=4)
    created_from: date | None = Field(default=None, description="First day included (UTC).")
    created_to: date | None = Field(default=None, description="Last day included (UTC).")
    annotator_ids: list[int] = Field(default_factory=list, max_length=1000, description="Project members only.")
    include_gold: bool = Field(default=False, description="Gold items are quality checks, not data, by default.")
    response_sources: list[ResponseSource] = Field(
        default_factory=list, max_length=4, description="Keep judgments whose item has a response from one of these."
    )
    checkpoints: list[str] = Field(
        default_factory=list,
        max_length=100,
        description="Keep judgments whose item has a response with source_detail.checkpoint in this list.",
    )
    # Quality filters (curation.stats; the values are recomputed before the snapshot is built).
    min_agreement: float | None = Field(
        default=None,
        ge=0,
        le=1,
        description="Keep items whose agreement (ties counted) is at least this; an item judged once has none "
        "and is left out.",
    )
    exclude_flagged_annotators: bool = Field(
        default=False, description="Leave out judgments of annotators flagged by the reliability checks."
    )
    include_rejected: bool = Field(
        default=False, description="Rejected judgments stay in the raw record but are left out by default."
    )
    consensus_only: bool = Field(
        default=False,
        description="One training row per item from the consensus of its kept judgments (or its adjudication), "
        "with a weight column; the raw table still lists the judgments.",
    )

    @field_validator("task_kinds", "annotator_ids", "response_sources", "checkpoints")
    @classmethod
    def _no_repeats(cls, value: list[Any]) -> list[Any]:
        return _unique(value, "values")

    @field_validator("checkpoints")
    @classmethod
    def _checkpoint_names(cls, value: list[str]) -> list[str]:
        if any(not name or len(name) > 200 for name in value):
            raise ValueError("each checkpoint is 1 to 200 characters")
        return value

    @model_validator(mode="after")
    def _range(self) -> SnapshotFilters:
        if self.created_from and self.created_to and self.created_from > self.created_to:
            raise ValueError("the date range ends before it starts")
        return self


class MarginOptions(_Strict):
    """How a preference's strength becomes the reward-model ``margin`` (see exporters.preference)."""

    mode: MarginMode = "level_fraction"
    scale: float = Field(default=1.0, gt=0, le=10, description="Multiplies every margin (Llama-2 'large' used 3).")


def _all_tables() -> list[Table]:
    return ["preference", "unpaired", "raw"]


class ExportOptions(_Strict):
    tables: list[Table] = Field(default_factory=_all_tables, min_length=1, max_length=3)
    file_format: FileFormat = "both"
    prompt_format: PromptFormat = Field(
        default="auto", description="auto: conversational when any prompt is multi-turn or has a system message."
    )
    include_ties: bool = Field(default=False, description="Emit tied pairs (margin 0) in the preference table.")
    include_both_bad: bool = Field(default=False, description="Emit both-bad pairs (margin 0) in the preference table.")
    test_fraction: float = Field(default=0.0, ge=0, le=0.5, description="0 = one file per table, no split.")
    split_seed: int = Field(default=0, ge=0, le=2**31 - 1)
    margin: MarginOptions = Field(default_factory=MarginOptions)
    rating_pair_min_gap: float = Field(
        default=0.25, gt=0, le=1, description="Least difference of normalised mean ratings that makes a pair."
    )
    rating_label_threshold: float = Field(
        default=0.5, ge=0, le=1, description="Normalised mean rating at or above which a KTO label is True."
    )

    @field_validator("tables")
    @classmethod
    def _no_repeats(cls, value: list[Any]) -> list[Any]:
        return _unique(value, "tables")

    @property
    def formats(self) -> tuple[Literal["jsonl", "parquet"], ...]:
        return ("jsonl", "parquet") if self.file_format == "both" else (self.file_format,)


def _from_pydantic(exc: ValidationError, prefix: str) -> SchemaError:
    errors = []
    for err in exc.errors():
        field = ".".join([prefix, *(str(part) for part in err["loc"])])
        errors.append(FieldError(field, err["msg"].removeprefix("Value error, ")))
    return SchemaError(errors)


def filters_parse(raw: Mapping[str, Any] | None) -> SnapshotFilters:
    """Typed filters from a JSON object, or SchemaError naming each bad field (``filters.<field>``)."""
    if raw is not None and not isinstance(raw, Mapping):
        raise SchemaError([FieldError("filters", "must be a JSON object")])
    try:
        return SnapshotFilters.model_validate(dict(raw or {}))
    except ValidationError as exc:
        raise _from_pydantic(exc, "filters") from exc


def options_parse(raw: Mapping[str, Any] | None) -> ExportOptions:
    """Typed options from a JSON object, or SchemaError naming each bad field (``options.<field>``)."""
    if raw is not None and not isinstance(raw, Mapping):
        raise SchemaError([FieldError("options", "must be a JSON object")])
    try:
        return ExportOptions.model_validate(dict(raw or {}))
    except ValidationError as exc:
        raise _from_pydantic(exc, "options") from exc
