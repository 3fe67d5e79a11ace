"""Preference and KTO rows from single judgments: origins, margins, ties, standard vs conversational."""

from __future__ import annotations

import pytest

from curation.exporters.options import MarginOptions
from curation.exporters.trl import (
    ExportError,
    judgment_pairs,
    needs_conversational,
    pairwise_unpaired,
    preference_row,
    strength_margin,
)
from tests.curation.exporters.records import ctx, preferred, record


@pytest.mark.parametrize(
    ("mode", "scale", "level", "levels", "expected"),
    [
        ("level_fraction", 1.0, 1, 3, 1 / 3),
        ("level_fraction", 1.0, 3, 3, 1.0),
        ("level_fraction", 3.0, 2, 3, 2.0),
        ("llama2", 1.0, 1, 4, 0.0),  # "negligibly better" adds no margin
        ("llama2", 1.0, 2, 4, 1 / 3),
        ("llama2", 3.0, 4, 4, 3.0),  # Llama-2 "margin large"
        ("llama2", 1.0, 1, 1, 0.0),
        ("none", 1.0, 3, 3, 0.0),
        ("level_fraction", 1.0, 9, 3, 1.0),  # out-of-range levels are clamped
    ],
)
def test_strength_margin_mapping(mode, scale, level, levels, expected):
    assert strength_margin(level, levels, MarginOptions(mode=mode, scale=scale)) == pytest.approx(expected)


@pytest.mark.parametrize(
    ("messages", "expected"),
    [
        ([{"role": "user", "content": "hi"}], False),
        ([{"role": "system", "content": "be brief"}, {"role": "user", "content": "hi"}], True),
        (
            [{"role": "user", "content": "a"}, {"role": "assistant", "content": "b"}, {"role": "user", "content": "c"}],
            True,
        ),
    ],
)
def test_conversational_rule(messages, expected):
    assert needs_conversational(messages) is expected


def pairs(rec, **options):
    return [(p.chosen, p.rejected, round(p.margin, 6), p.origin, p.tie) for p in judgment_pairs(rec, ctx(**options))]


@pytest.mark.parametrize(
    ("payload", "options", "expected"),
    [
        (preferred(11, 10, level=3), {}, [("B", "A", 1.0, "pairwise", False)]),
        (preferred(10, 11, level=1), {}, [("A", "B", round(1 / 3, 6), "pairwise", False)]),
        ({"outcome": "tie", "preferred": None, "rejected": None}, {}, []),
        ({"outcome": "both_bad", "preferred": None, "rejected": None}, {}, []),
        (
            {"outcome": "tie", "preferred": None, "rejected": None},
            {"include_ties": True},
            [("A", "B", 0.0, "pairwise", True)],
        ),
        ({"outcome": "tie", "preferred": None, "rejected": None}, {"include_both_bad": True}, []),
        (
            {"outcome": "both_bad", "preferred": None, "rejected": None},
            {"include_both_bad": True},
            [("A", "B", 0.0, "pairwise", True)],
        ),
    ],
)
def test_pairwise_pairs(payload, options, expected):
    assert pairs(record("pairwise", payload), **options) == expected


def test_ranking_expands_every_pair_across_tiers_with_gap_margins():
    rec = record("ranking", {"ranking": [[12], [10], [13], [11]]}, texts=("A", "B", "C", "D"))
    got = pairs(rec)
    assert len(got) == 6  # C(4, 2)
    assert ("C", "A", round(1 / 3, 6), "ranking", False) in got
    assert ("C", "B", 1.0, "ranking", False) in got  # best over worst: the largest gap
    assert all(chosen != rejected for chosen, rejected, *_ in got)


def test_ranking_ties_are_skipped_unless_asked():
    rec = record("ranking", {"ranking": [[10, 11], [12]]}, texts=("A", "B", "C"))
    assert sorted(pairs(rec)) == [("A", "C", 1.0, "ranking", False), ("B", "C", 1.0, "ranking", False)]
    with_ties = pairs(rec, include_ties=True)
    assert ("A", "B", 0.0, "ranking", True) in with_ties
    assert len(with_ties) == 3


def test_edit_is_preferred_to_the_original_with_the_strongest_margin():
    payload = {"response": 10, "critique": "too long", "edited_text": "Short.", "original_text": "A"}
    assert pairs(record("free_text", payload, texts=("A",))) == [("Short.", "A", 1.0, "edit", False)]


def test_critique_without_edit_gives_no_pair():
    payload = {"response": 10, "critique": "fine", "edited_text": None, "original_text": None}
    assert pairs(record("free_text", payload, texts=("A",))) == []


def test_standard_row_shape():
    rec = record("pairwise", preferred(10, 11, level=2))
    [pair] = judgment_pairs(rec, ctx())
    row = preference_row(rec, pair, ctx())
    assert row == {
        "prompt": "Why?",
        "chosen": "A",
        "rejected": "B",
        "margin": pytest.approx(2 / 3),
        "tie": False,
        "origin": "pairwise",
    }
    assert isinstance(row["margin"], float)


def test_conversational_row_shape():
    prompt = [{"role": "system", "content": "Be brief."}, {"role": "user", "content": "Why?"}]
    rec = record("pairwise", preferred(10, 11), prompt=prompt)
    context = ctx(prompt_format="conversational")
    [pair] = judgment_pairs(rec, context)
    row = preference_row(rec, pair, context)
    assert row["prompt"] == prompt
    assert row["chosen"] == [{"role": "assistant", "content": "A"}]
    assert row["rejected"] == [{"role": "assistant", "content": "B"}]


def test_standard_format_refuses_a_multi_turn_prompt():
    prompt = [{"role": "system", "content": "Be brief."}, {"role": "user", "content": "Why?"}]
    rec = record("pairwise", preferred(10, 11), prompt=prompt, prompt_id=42)
    [pair] = judgment_pairs(rec, ctx())
    with pytest.raises(ExportError, match="prompt 42"):
        preference_row(rec, pair, ctx())


def test_unknown_response_id_is_an_export_error():
    with pytest.raises(ExportError, match="response 99"):
        list(judgment_pairs(record("pairwise", preferred(99, 11)), ctx()))


@pytest.mark.parametrize(
    ("payload", "expected"),
    [
        (preferred(11, 10), [("B", True), ("A", False)]),
        ({"outcome": "both_bad", "preferred": None, "rejected": None}, [("A", False), ("B", False)]),
        ({"outcome": "tie", "preferred": None, "rejected": None}, []),
    ],
)
def test_pairwise_unpaired_labels(payload, expected):
    rows = list(pairwise_unpaired(record("pairwise", payload), ctx()))
    assert [(r["completion"], r["label"]) for r in rows] == expected
    assert all(r["origin"] == "pairwise" and list(r) == ["prompt", "completion", "label", "origin"] for r in rows)
