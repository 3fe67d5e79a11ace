"""Every config and payload schema, valid and invalid, table-driven and without a database."""

from __future__ import annotations

import pytest

from annotation.schemas import (
    SchemaError,
    config_validate,
    gold_matches,
    payload_validate,
    responses_per_item,
)

A, B, C, D = 11, 22, 33, 44


def errors_of(call) -> list[str]:
    with pytest.raises(SchemaError) as info:
        call()
    return [str(e) for e in info.value.errors]


# --- configs --------------------------------------------------------------------------------------


def test_defaults_are_filled_in():
    assert config_validate("pairwise", {})["strengths"] == ["slightly better", "better", "much better"]
    assert config_validate("ranking", None)["k"] == 4
    assert [a["name"] for a in config_validate("rating", {})["aspects"]] == [
        "helpfulness",
        "honesty",
        "harmlessness",
        "instruction_following",
    ]
    assert config_validate("free_text", {}) == {"critique": "optional", "edit": "optional"}


@pytest.mark.parametrize(
    ("kind", "config", "fragment"),
    [
        ("pairwise", {"strengths": []}, "strengths"),
        ("pairwise", {"strengths": ["a", "a"]}, "unique"),
        ("pairwise", {"reason": "sometimes"}, "reason"),
        ("pairwise", {"colour": "red"}, "colour"),
        ("ranking", {"k": 1}, "k"),
        ("ranking", {"k": 11}, "k"),
        ("ranking", {"k": "four"}, "k"),
        ("rating", {"aspects": []}, "aspects"),
        ("rating", {"aspects": [{"name": "Bad Name", "label": "x"}]}, "aspects.0.name"),
        ("rating", {"aspects": [{"name": "a", "label": "A", "min": 5, "max": 5}]}, "min < max"),
        ("rating", {"aspects": [{"name": "a", "label": "A"}, {"name": "a", "label": "B"}]}, "unique"),
        ("free_text", {"critique": "off", "edit": "off"}, "at least one"),
        ("nonsense", {}, "unknown task kind"),
    ],
)
def test_invalid_configs_name_the_field(kind, config, fragment):
    assert any(fragment in e for e in errors_of(lambda: config_validate(kind, config)))


def test_responses_per_item_follows_the_kind():
    assert responses_per_item("pairwise", {}) == 2
    assert responses_per_item("ranking", {"k": 3}) == 3
    assert responses_per_item("rating", {}) == 1
    assert responses_per_item("free_text", {}) == 1


# --- pairwise -------------------------------------------------------------------------------------


def pairwise(payload, config=None):
    return payload_validate("pairwise", config or {}, payload, response_ids=[A, B])


def test_pairwise_preference_is_canonical_with_rejected_and_strength_level():
    result = pairwise({"outcome": "preferred", "preferred": B, "strength": "much better", "reason": " clearer "})
    assert result == {
        "outcome": "preferred",
        "preferred": B,
        "rejected": A,
        "strength": "much better",
        "strength_level": 3,
        "reason": "clearer",
    }


@pytest.mark.parametrize("outcome", ["tie", "both_bad"])
def test_pairwise_tie_and_both_bad(outcome):
    result = pairwise({"outcome": outcome})
    assert result["outcome"] == outcome
    assert result["preferred"] is None
    assert result["rejected"] is None


@pytest.mark.parametrize(
    ("payload", "config", "fragment"),
    [
        ({"outcome": "preferred", "preferred": 999, "strength": "better"}, {}, "preferred"),
        ({"outcome": "preferred", "preferred": A}, {}, "strength"),
        ({"outcome": "preferred", "preferred": A, "strength": "hugely"}, {}, "strength"),
        ({"outcome": "tie", "preferred": A}, {}, "must be empty"),
        ({"outcome": "tie"}, {"allow_tie": False}, "does not allow ties"),
        ({"outcome": "both_bad"}, {"allow_both_bad": False}, "both bad"),
        ({"outcome": "tie"}, {"reason": "required"}, "reason is required"),
        ({"outcome": "tie", "reason": "x"}, {"reason": "off"}, "does not collect"),
        ({"outcome": "left"}, {}, "outcome"),
        ({"outcome": "tie", "extra": 1}, {}, "extra"),
        ({"outcome": "tie", "reason": "x" * 20_001}, {}, "reason"),
        ({}, {}, "outcome"),
    ],
)
def test_pairwise_invalid(payload, config, fragment):
    assert any(fragment in e for e in errors_of(lambda: pairwise(payload, config)))


def test_payload_must_be_an_object():
    assert errors_of(lambda: pairwise(["tie"])) == ["the payload must be a JSON object"]


# --- ranking --------------------------------------------------------------------------------------


def ranking(payload, config=None):
    return payload_validate("ranking", config or {"k": 4}, payload, response_ids=[A, B, C, D])


def test_ranking_stored_as_the_ranking():
    assert ranking({"ranking": [[C], [A], [D], [B]]}) == {"ranking": [[C], [A], [D], [B]]}


def test_ranking_ties_when_allowed():
    assert ranking({"ranking": [[C, A], [D], [B]]}, {"k": 4, "allow_ties": True})["ranking"][0] == [C, A]


@pytest.mark.parametrize(
    ("payload", "config", "fragment"),
    [
        ({"ranking": [[A], [B], [C]]}, {"k": 4}, "exactly once"),
        ({"ranking": [[A], [B], [C], [C]]}, {"k": 4}, "exactly once"),
        ({"ranking": [[A], [B], [C], [999]]}, {"k": 4}, "exactly once"),
        ({"ranking": [[A, B], [C], [D]]}, {"k": 4}, "does not allow ties"),
        ({"ranking": [[A], [], [B], [C], [D]]}, {"k": 4, "allow_ties": True}, "empty"),
        ({"ranking": "A>B"}, {"k": 4}, "ranking"),
    ],
)
def test_ranking_invalid(payload, config, fragment):
    assert any(fragment in e for e in errors_of(lambda: ranking(payload, config)))


# --- rating ---------------------------------------------------------------------------------------

RATING_CONFIG = {
    "aspects": [
        {"name": "helpfulness", "label": "Helpfulness", "min": 1, "max": 7},
        {"name": "honesty", "label": "Honesty", "min": 1, "max": 5, "required": False},
    ]
}


def rating(payload, config=None):
    return payload_validate("rating", config or RATING_CONFIG, payload, response_ids=[A])


def test_rating_with_comment_and_optional_aspect_missing():
    result = rating({"ratings": {"helpfulness": {"score": 6, "comment": "good"}}})
    assert result == {"response": A, "ratings": {"helpfulness": {"score": 6, "comment": "good"}}}


@pytest.mark.parametrize(
    ("payload", "config", "fragment"),
    [
        ({"ratings": {}}, None, "rate Helpfulness"),
        ({"ratings": {"helpfulness": {"score": 8}}}, None, "1 to 7"),
        ({"ratings": {"helpfulness": {"score": 3}, "honesty": {"score": 0}}}, None, "1 to 5"),
        ({"ratings": {"helpfulness": {"score": 3}, "wit": {"score": 3}}}, None, "not an aspect"),
        ({"ratings": {"helpfulness": {"score": "high"}}}, None, "score"),
        (
            {"ratings": {"helpfulness": {"score": 3, "comment": "x"}}},
            {**RATING_CONFIG, "comments": False},
            "does not collect comments",
        ),
    ],
)
def test_rating_invalid(payload, config, fragment):
    assert any(fragment in e for e in errors_of(lambda: rating(payload, config)))


# --- free text ------------------------------------------------------------------------------------


def free_text(payload, config=None):
    return payload_validate("free_text", config or {}, payload, response_ids=[A], original_texts=["The original."])


def test_edit_is_stored_with_the_original():
    result = free_text({"critique": "too terse", "edited_text": "The better original."})
    assert result == {
        "response": A,
        "critique": "too terse",
        "edited_text": "The better original.",
        "original_text": "The original.",
    }


def test_unchanged_edit_counts_as_no_edit():
    result = free_text({"critique": "fine", "edited_text": "The original."})
    assert result["edited_text"] is None
    assert result["original_text"] is None


@pytest.mark.parametrize(
    ("payload", "config", "fragment"),
    [
        ({}, None, "write a critique or edit"),
        ({"edited_text": "The original."}, None, "write a critique or edit"),
        ({"edited_text": "changed"}, {"critique": "required"}, "critique is required"),
        ({"critique": "x"}, {"edit": "required"}, "edit the response"),
        ({"critique": "x"}, {"critique": "off"}, "does not collect critiques"),
        ({"critique": "x", "edited_text": "new"}, {"edit": "off"}, "does not collect edits"),
        ({"edited_text": "   "}, None, "cannot be empty"),
    ],
)
def test_free_text_invalid(payload, config, fragment):
    assert any(fragment in e for e in errors_of(lambda: free_text(payload, config)))


# --- gold -----------------------------------------------------------------------------------------


@pytest.mark.parametrize(
    ("kind", "payload", "gold", "expected"),
    [
        ("pairwise", {"outcome": "preferred", "preferred": A}, {"outcome": "preferred", "preferred": A}, True),
        ("pairwise", {"outcome": "preferred", "preferred": B}, {"outcome": "preferred", "preferred": A}, False),
        ("pairwise", {"outcome": "tie", "preferred": None}, {"outcome": "tie"}, True),
        ("ranking", {"ranking": [[A, B], [C]]}, {"ranking": [[B, A], [C]]}, True),
        ("ranking", {"ranking": [[A], [B], [C]]}, {"ranking": [[B], [A], [C]]}, False),
        ("rating", {"ratings": {"h": {"score": 4}}}, {"ratings": {"h": {"score": 5}}, "tolerance": 1}, True),
        ("rating", {"ratings": {"h": {"score": 3}}}, {"ratings": {"h": {"score": 5}}, "tolerance": 1}, False),
        ("rating", {"ratings": {}}, {"ratings": {"h": {"score": 5}}}, False),
        ("free_text", {"critique": "x"}, {"critique": "x"}, None),
        ("pairwise", {"outcome": "tie"}, None, None),
    ],
)
def test_gold_matches(kind, payload, gold, expected):
    assert gold_matches(kind, payload, gold) is expected


def test_schema_kinds_match_the_stored_choices():
    from annotation.schemas import TASK_KINDS
    from core.models import TaskKind

    assert set(TASK_KINDS) == set(TaskKind.values)
