"""Known answers (gold answers, adjudications): their form per task kind, checked; and answers in words.

Pure module. A known answer is stored in the form ``annotation.schemas.gold_matches`` reads:

- pairwise ``{"outcome": "preferred", "preferred": <response id>}`` or ``{"outcome": "tie" | "both_bad"}``;
- ranking ``{"ranking": [[ids of the best tier], ...]}`` naming every response once;
- rating ``{"ratings": {aspect: {"score": n}}}`` for some or all aspects, and for gold a
  ``"tolerance"`` (points either side that still count as right, default 0);
- free text has no right answer, so neither gold nor adjudication.

An adjudication uses the same forms (without tolerance). ``canonical_payload`` turns one into the
canonical judgment payload that the exporters read, so an adjudicated item exports like a judgment.
"""

from __future__ import annotations

from collections.abc import Mapping, Sequence
from typing import Any

from annotation.schemas import FREE_TEXT, PAIRWISE, RANKING, RATING, FieldError, SchemaError, config_parse

OUTCOMES = ("preferred", "tie", "both_bad")


def _int(value: Any) -> int | None:
    if isinstance(value, bool):
        return None
    if isinstance(value, int):
        return value
    if isinstance(value, str) and value.strip().lstrip("-").isdigit():
        return int(value)
    return None


def answer_check(
    kind: str, config: Mapping[str, Any], raw: Any, *, response_ids: Sequence[int], gold: bool
) -> dict[str, Any]:
    """The normalised answer, or SchemaError naming each bad field."""
    if kind == FREE_TEXT:
        raise SchemaError([FieldError("", "free-text items have no right answer")])
    if not isinstance(raw, Mapping):
        raise SchemaError([FieldError("", "the answer must be a JSON object")])
    if kind == PAIRWISE:
        return _pairwise(config, raw, response_ids)
    if kind == RANKING:
        return _ranking(config, raw, response_ids)
    if kind == RATING:
        return _rating(config, raw, gold=gold)
    raise SchemaError([FieldError("task_kind", f"unknown task kind '{kind}'")])


def _pairwise(config: Mapping[str, Any], raw: Mapping[str, Any], ids: Sequence[int]) -> dict[str, Any]:
    parsed = config_parse(PAIRWISE, config)
    outcome = raw.get("outcome")
    if outcome not in OUTCOMES:
        raise SchemaError([FieldError("outcome", "choose a response, a tie or both bad")])
    if outcome == "tie" and not parsed.allow_tie:
        raise SchemaError([FieldError("outcome", "this project does not allow ties")])
    if outcome == "both_bad" and not parsed.allow_both_bad:
        raise SchemaError([FieldError("outcome", "this project does not allow 'both bad'")])
    if outcome != "preferred":
        return {"outcome": outcome}
    preferred = _int(raw.get("preferred"))
    if preferred not in ids:
        raise SchemaError([FieldError("preferred", "choose one of the item's two responses")])
    return {"outcome": "preferred", "preferred": preferred}


def _ranking(config: Mapping[str, Any], raw: Mapping[str, Any], ids: Sequence[int]) -> dict[str, Any]:
    tiers = raw.get("ranking")
    if not isinstance(tiers, list) or not all(isinstance(t, list) and t for t in tiers):
        raise SchemaError([FieldError("ranking", "a list of non-empty tiers, best first")])
    clean = [[_int(rid) for rid in tier] for tier in tiers]
    flat = [rid for tier in clean for rid in tier]
    if sorted(rid if rid is not None else -1 for rid in flat) != sorted(ids):
        raise SchemaError([FieldError("ranking", "rank every response of the item exactly once")])
    if not config_parse(RANKING, config).allow_ties and any(len(tier) > 1 for tier in clean):
        raise SchemaError([FieldError("ranking", "this project does not allow ties")])
    return {"ranking": [[int(rid) for rid in tier if rid is not None] for tier in clean]}


def _rating(config: Mapping[str, Any], raw: Mapping[str, Any], *, gold: bool) -> dict[str, Any]:
    aspects = {a.name: a for a in config_parse(RATING, config).aspects}
    ratings = raw.get("ratings")
    if not isinstance(ratings, Mapping) or not ratings:
        raise SchemaError([FieldError("ratings", "score at least one aspect")])
    errors, clean = [], {}
    for name, entry in ratings.items():
        aspect = aspects.get(name)
        score = _int(entry.get("score") if isinstance(entry, Mapping) else entry)
        if aspect is None:
            errors.append(FieldError(f"ratings.{name}", "not an aspect of this project"))
        elif score is None or not aspect.min <= score <= aspect.max:
            errors.append(FieldError(f"ratings.{name}", f"score must be {aspect.min} to {aspect.max}"))
        else:
            clean[name] = {"score": score}
    answer: dict[str, Any] = {"ratings": clean}
    if gold:
        tolerance = _int(raw.get("tolerance", 0))
        if tolerance is None or not 0 <= tolerance <= 20:
            errors.append(FieldError("tolerance", "a whole number of points from 0 to 20"))
        else:
            answer["tolerance"] = tolerance
    if errors:
        raise SchemaError(errors)
    return answer


def canonical_payload(kind: str, answer: Mapping[str, Any], *, response_ids: Sequence[int]) -> dict[str, Any]:
    """A known answer as the canonical judgment payload (``annotation.schemas.payload_validate``'s form)."""
    if kind == PAIRWISE:
        preferred = answer.get("preferred")
        rejected = next((r for r in response_ids if r != preferred), None) if preferred is not None else None
        return {
            "outcome": answer["outcome"],
            "preferred": preferred,
            "rejected": rejected,
            "strength": None,
            "strength_level": answer.get("strength_level"),
            "reason": "",
        }
    if kind == RANKING:
        return {"ranking": [list(t) for t in answer["ranking"]]}
    return {
        "response": response_ids[0] if response_ids else None,
        "ratings": {n: {"score": e["score"], "comment": ""} for n, e in answer.get("ratings", {}).items()},
    }


def consensus_payload(kind: str, consensus: Mapping[str, Any] | None) -> dict[str, Any] | None:
    """A stored consensus (``ItemAgreement.consensus``) in payload form, for ``answer_words``."""
    if not consensus:
        return None
    if kind == PAIRWISE:
        return (
            {"outcome": consensus.get("outcome"), "preferred": consensus.get("preferred")}
            if consensus.get("outcome")
            else None
        )
    if kind == RANKING:
        return {"ranking": consensus.get("ranking", [])}
    if kind == RATING:
        ratings = consensus.get("ratings", {})
        return {"ratings": {n: {"score": round(float(a["mean"]), 1)} for n, a in ratings.items()}}
    return None


def answer_words(kind: str, payload: Mapping[str, Any], shown: Sequence[int]) -> str:
    """An answer in words, naming responses by the letter they had on screen (``shown`` = display order)."""
    letters = {rid: chr(ord("A") + n) for n, rid in enumerate(shown)}
    if kind == PAIRWISE:
        outcome = payload.get("outcome")
        if outcome == "preferred":
            strength = f" ({payload['strength']})" if payload.get("strength") else ""
            preferred = _int(payload.get("preferred"))
            return f"{letters.get(preferred, '?') if preferred is not None else '?'} is better{strength}"
        return "Tie" if outcome == "tie" else "Both bad"
    if kind == RANKING:
        tiers = payload.get("ranking", [])
        return " > ".join(" = ".join(letters.get(rid, "?") for rid in tier) for tier in tiers)
    if kind == RATING:
        ratings = payload.get("ratings", {})
        return ", ".join(f"{name} {entry.get('score')}" for name, entry in ratings.items()) or "No scores"
    edited = " and an edit" if payload.get("edited_text") else ""
    return f"Critique{edited}" if payload.get("critique") else "An edit" if edited else "—"
