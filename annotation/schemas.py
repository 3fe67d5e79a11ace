"""Task kinds: the schema of each project config and of each judgment payload.

Pure module (no ORM): everything here is checked with table-driven tests and no database. Payloads
name responses by id, never by screen position, so a judgment means the same thing whatever order
the annotator saw; the order shown is stored beside it.
"""

from __future__ import annotations

from collections.abc import Mapping, Sequence
from dataclasses import dataclass
from typing import Annotated, Any, Literal

from pydantic import BaseModel, ConfigDict, Field, ValidationError, field_validator, model_validator

# The task kinds, as stored in ``core.models.TaskKind`` (kept as plain strings: no ORM import here).
PAIRWISE, RANKING, RATING, FREE_TEXT = "pairwise", "ranking", "rating", "free_text"
TASK_KINDS = (PAIRWISE, RANKING, RATING, FREE_TEXT)
MAX_TEXT = 20_000
Mode = Literal["off", "optional", "required"]
Slug = Annotated[str, Field(pattern=r"^[a-z][a-z0-9_]{0,39}$")]


@dataclass(frozen=True)
class FieldError:
    field: str
    message: str

    def __str__(self) -> str:
        return f"{self.field}: {self.message}" if self.field else self.message


class SchemaError(ValueError):
    """Input that does not fit a schema; ``errors`` name each field and what is wrong with it."""

    def __init__(self, errors: Sequence[FieldError]) -> None:
        self.errors = list(errors)
        super().__init__("; ".join(str(e) for e in self.errors))


def _from_pydantic(exc: ValidationError) -> SchemaError:
    errors = []
    for err in exc.errors():
        field = ".".join(str(part) for part in err["loc"])
        message = err["msg"].removeprefix("Value error, ")
        errors.append(FieldError(field, message))
    return SchemaError(errors)


class _Strict(BaseModel):
    model_config = ConfigDict(extra="forbid", str_strip_whitespace=True)


# --- Project configs ------------------------------------------------------------------------------


class PairwiseConfig(_Strict):
    strengths: list[Annotated[str, Field(min_length=1, max_length=40)]] = Field(
        default_factory=lambda: ["slightly better", "better", "much better"],
        min_length=1,
        max_length=5,
        description="How much better the chosen response is, weakest first.",
    )
    allow_tie: bool = True
    allow_both_bad: bool = True
    reason: Mode = "optional"

    @field_validator("strengths")
    @classmethod
    def _unique(cls, value: list[str]) -> list[str]:
        if len(set(value)) != len(value):
            raise ValueError("strength labels must be unique")
        return value


class RankingConfig(_Strict):
    k: int = Field(default=4, ge=2, le=10, description="Responses per item.")
    allow_ties: bool = False


class Aspect(_Strict):
    name: Slug
    label: str = Field(min_length=1, max_length=60)
    min: int = 1
    max: int = 5
    required: bool = True
    help: str = Field(default="", max_length=500)

    @model_validator(mode="after")
    def _scale(self) -> Aspect:
        if not self.min < self.max <= self.min + 20:
            raise ValueError(f"scale of '{self.name}' must have min < max and at most 21 points")
        return self


def _default_aspects() -> list[Aspect]:
    return [
        Aspect(name="helpfulness", label="Helpfulness", min=1, max=7),
        Aspect(name="honesty", label="Honesty", min=1, max=7),
        Aspect(name="harmlessness", label="Harmlessness", min=1, max=7),
        Aspect(name="instruction_following", label="Instruction following", min=1, max=7),
    ]


class RatingConfig(_Strict):
    aspects: list[Aspect] = Field(default_factory=_default_aspects, min_length=1, max_length=12)
    comments: bool = True

    @field_validator("aspects")
    @classmethod
    def _unique(cls, value: list[Aspect]) -> list[Aspect]:
        names = [a.name for a in value]
        if len(set(names)) != len(names):
            raise ValueError("aspect names must be unique")
        return value


class FreeTextConfig(_Strict):
    critique: Mode = "optional"
    edit: Mode = "optional"

    @model_validator(mode="after")
    def _something(self) -> FreeTextConfig:
        if self.critique == "off" and self.edit == "off":
            raise ValueError("at least one of critique and edit must be on")
        return self


_CONFIGS: dict[str, type[_Strict]] = {
    PAIRWISE: PairwiseConfig,
    RANKING: RankingConfig,
    RATING: RatingConfig,
    FREE_TEXT: FreeTextConfig,
}


def config_parse(kind: str, raw: Mapping[str, Any] | None) -> Any:
    """The typed config of ``kind`` (defaults filled in), or SchemaError."""
    if kind not in _CONFIGS:
        raise SchemaError([FieldError("task_kind", f"unknown task kind '{kind}'")])
    try:
        return _CONFIGS[kind].model_validate(dict(raw or {}))
    except ValidationError as exc:
        raise _from_pydantic(exc) from exc


def config_validate(kind: str, raw: Mapping[str, Any] | None) -> dict[str, Any]:
    """The normalised config as stored on the project."""
    result: dict[str, Any] = config_parse(kind, raw).model_dump()
    return result


def responses_per_item(kind: str, config: Mapping[str, Any]) -> int:
    if kind == PAIRWISE:
        return 2
    if kind == RANKING:
        return int(config_parse(kind, config).k)
    return 1


# --- Payloads -------------------------------------------------------------------------------------


class PairwisePayload(_Strict):
    outcome: Literal["preferred", "tie", "both_bad"]
    preferred: int | None = None
    strength: str | None = None
    reason: str = Field(default="", max_length=MAX_TEXT)


class RankingPayload(_Strict):
    ranking: list[list[int]] = Field(description="Tiers, best first; a tier of several ids is a tie.")


class AspectScore(_Strict):
    score: int
    comment: str = Field(default="", max_length=MAX_TEXT)


class RatingPayload(_Strict):
    ratings: dict[str, AspectScore]


class FreeTextPayload(_Strict):
    critique: str = Field(default="", max_length=MAX_TEXT)
    edited_text: str | None = Field(default=None, max_length=200_000)


def _pairwise(config: PairwiseConfig, p: PairwisePayload, ids: Sequence[int]) -> dict[str, Any]:
    errors: list[FieldError] = []
    if p.outcome == "preferred":
        if p.preferred not in ids:
            errors.append(FieldError("preferred", "choose one of the two responses"))
        if p.strength not in config.strengths:
            errors.append(FieldError("strength", f"choose one of: {', '.join(config.strengths)}"))
    else:
        if p.outcome == "tie" and not config.allow_tie:
            errors.append(FieldError("outcome", "this project does not allow ties"))
        if p.outcome == "both_bad" and not config.allow_both_bad:
            errors.append(FieldError("outcome", "this project does not allow 'both bad'"))
        if p.preferred is not None or p.strength is not None:
            errors.append(FieldError("preferred", f"must be empty when the outcome is '{p.outcome}'"))
    if config.reason == "required" and not p.reason:
        errors.append(FieldError("reason", "a reason is required"))
    if config.reason == "off" and p.reason:
        errors.append(FieldError("reason", "this project does not collect reasons"))
    if errors:
        raise SchemaError(errors)
    rejected = next(i for i in ids if i != p.preferred) if p.outcome == "preferred" else None
    return {
        "outcome": p.outcome,
        "preferred": p.preferred,
        "rejected": rejected,
        "strength": p.strength,
        # 1 = weakest strength; used later to derive reward-model margins.
        "strength_level": config.strengths.index(p.strength) + 1 if p.strength else None,
        "reason": p.reason,
    }


def _ranking(config: RankingConfig, p: RankingPayload, ids: Sequence[int]) -> dict[str, Any]:
    flat = [i for tier in p.ranking for i in tier]
    if any(not tier for tier in p.ranking):
        raise SchemaError([FieldError("ranking", "a tier cannot be empty")])
    if sorted(flat) != sorted(ids):
        raise SchemaError([FieldError("ranking", "rank every response of the item exactly once")])
    if not config.allow_ties and any(len(tier) > 1 for tier in p.ranking):
        raise SchemaError([FieldError("ranking", "this project does not allow ties")])
    return {"ranking": [list(tier) for tier in p.ranking]}


def _rating(config: RatingConfig, p: RatingPayload, ids: Sequence[int]) -> dict[str, Any]:
    errors: list[FieldError] = []
    aspects = {a.name: a for a in config.aspects}
    for name in p.ratings:
        if name not in aspects:
            errors.append(FieldError(f"ratings.{name}", "not an aspect of this project"))
    for aspect in config.aspects:
        score = p.ratings.get(aspect.name)
        if score is None:
            if aspect.required:
                errors.append(FieldError(f"ratings.{aspect.name}", f"rate {aspect.label}"))
            continue
        if not aspect.min <= score.score <= aspect.max:
            errors.append(FieldError(f"ratings.{aspect.name}", f"score must be {aspect.min} to {aspect.max}"))
        if score.comment and not config.comments:
            errors.append(FieldError(f"ratings.{aspect.name}.comment", "this project does not collect comments"))
    if errors:
        raise SchemaError(errors)
    return {
        "response": ids[0],
        "ratings": {name: {"score": s.score, "comment": s.comment} for name, s in p.ratings.items()},
    }


def _free_text(config: FreeTextConfig, p: FreeTextPayload, ids: Sequence[int], original: str) -> dict[str, Any]:
    errors: list[FieldError] = []
    # Inputs are whitespace-stripped by the schema, so compare stripped texts: a response ending in a
    # newline that the annotator did not touch is not an edit.
    edited = p.edited_text if p.edited_text is not None and p.edited_text != original.strip() else None
    if config.critique == "required" and not p.critique:
        errors.append(FieldError("critique", "a critique is required"))
    if config.critique == "off" and p.critique:
        errors.append(FieldError("critique", "this project does not collect critiques"))
    if config.edit == "required" and edited is None:
        errors.append(FieldError("edited_text", "edit the response before submitting"))
    if config.edit == "off" and edited is not None:
        errors.append(FieldError("edited_text", "this project does not collect edits"))
    if edited is not None and not edited.strip():
        errors.append(FieldError("edited_text", "the edited response cannot be empty"))
    if not errors and not p.critique and edited is None:
        errors.append(FieldError("", "write a critique or edit the response"))
    if errors:
        raise SchemaError(errors)
    # The original is stored beside the edit so (edited > original) can be exported as a pair even
    # if the response row changes meaning later.
    return {
        "response": ids[0],
        "critique": p.critique,
        "edited_text": edited,
        "original_text": original if edited else None,
    }


def payload_validate(
    kind: str,
    config: Mapping[str, Any],
    raw: Any,
    *,
    response_ids: Sequence[int],
    original_texts: Sequence[str] = (),
) -> dict[str, Any]:
    """Check a submitted payload against the project's schema; return it in canonical form.

    ``response_ids`` are the item's responses (any order); ``original_texts`` their texts, in the
    same order (used by free-text edits).
    """
    if not isinstance(raw, Mapping):
        raise SchemaError([FieldError("", "the payload must be a JSON object")])
    parsed_config = config_parse(kind, config)
    models: dict[str, type[_Strict]] = {
        PAIRWISE: PairwisePayload,
        RANKING: RankingPayload,
        RATING: RatingPayload,
        FREE_TEXT: FreeTextPayload,
    }
    try:
        payload = models[kind].model_validate(dict(raw))
    except ValidationError as exc:
        raise _from_pydantic(exc) from exc
    if kind == PAIRWISE:
        return _pairwise(parsed_config, payload, response_ids)  # type: ignore[arg-type]
    if kind == RANKING:
        return _ranking(parsed_config, payload, response_ids)  # type: ignore[arg-type]
    if kind == RATING:
        return _rating(parsed_config, payload, response_ids)  # type: ignore[arg-type]
    original = original_texts[0] if original_texts else ""
    return _free_text(parsed_config, payload, response_ids, original)  # type: ignore[arg-type]


def gold_matches(kind: str, payload: Mapping[str, Any], gold: Mapping[str, Any] | None) -> bool | None:
    """Whether a canonical payload agrees with a gold answer; None when the kind has no right answer.

    Pairwise: same outcome and same preferred response (strength is a matter of degree). Ranking:
    the same tiers. Rating: every aspect in the gold answer within its ``tolerance`` (default 0).
    """
    if gold is None or kind == FREE_TEXT:
        return None
    if kind == PAIRWISE:
        return bool(payload["outcome"] == gold.get("outcome") and payload.get("preferred") == gold.get("preferred"))
    if kind == RANKING:
        return [sorted(t) for t in payload["ranking"]] == [sorted(t) for t in gold.get("ranking", [])]
    tolerance = int(gold.get("tolerance", 0))
    given = payload["ratings"]
    return all(
        name in given and abs(int(given[name]["score"]) - int(expected["score"])) <= tolerance
        for name, expected in gold.get("ratings", {}).items()
    )
