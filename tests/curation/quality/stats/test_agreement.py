"""Agreement statistics against hand-computed and published values (no database)."""

from __future__ import annotations

import math

import numpy as np
import pytest

from curation.stats.agreement import (
    categorical_agreement,
    fleiss_kappa,
    item_categorical_score,
    item_rating_score,
    krippendorff_alpha,
    numeric_agreement,
    percent_agreement,
    unit_percent,
)
from curation.stats.labels import PAIR_LABELS, RANKING_LABELS, Label, categorical_labels, ranking_pair_labels

# Krippendorff (2011), "Computing Krippendorff's alpha-reliability", the example with missing data:
# 4 coders, 12 units, values 1-5. Published: nominal 0.743, ordinal 0.815, interval 0.849.
KRIPPENDORFF_2011 = np.array(
    [
        [1, 2, 3, 3, 2, 1, 4, 1, 2, np.nan, np.nan, np.nan],
        [1, 2, 3, 3, 2, 2, 4, 1, 2, 5, np.nan, 3],
        [np.nan, 3, 3, 3, 2, 3, 4, 2, 2, 5, 1, np.nan],
        [1, 2, 3, 3, 2, 4, 4, 1, 2, 5, 1, np.nan],
    ]
)
PUBLISHED_GROUPS = [[int(v) for v in KRIPPENDORFF_2011[:, u] if not np.isnan(v)] for u in range(12)]

# Wikipedia's Fleiss' kappa example: 10 subjects, 14 raters, 5 categories; kappa = 0.210.
FLEISS_TABLE = [
    [0, 0, 0, 0, 14],
    [0, 2, 6, 4, 2],
    [0, 0, 3, 5, 6],
    [0, 3, 9, 2, 0],
    [2, 2, 8, 1, 1],
    [7, 7, 0, 0, 0],
    [3, 2, 6, 3, 0],
    [2, 5, 3, 2, 2],
    [6, 5, 2, 1, 0],
    [0, 2, 2, 3, 7],
]


@pytest.mark.parametrize(
    ("values", "expected"),
    [
        (["a", "a", "b"], 1 / 3),  # 3 pairs, one agrees
        (["tie", "tie"], 1.0),  # ties counted: two ties agree
        (["a", "b", "c"], 0.0),
        (["a"], None),  # one annotator: nothing to agree with
        ([], None),
    ],
)
def test_unit_percent(values, expected):
    assert unit_percent(values) == (pytest.approx(expected) if expected is not None else None)


def test_percent_agreement_with_and_without_ties():
    labels = [
        Label((1, 10, 11), 1, "first"),
        Label((1, 10, 11), 2, "first"),
        Label((2, 20, 21), 1, "first"),
        Label((2, 20, 21), 2, "second"),
        Label((3, 30, 31), 1, "tie"),
        Label((3, 30, 31), 2, "tie"),
    ]
    result = categorical_agreement(labels, PAIR_LABELS)
    assert result.units == 3
    assert result.answers == 6
    assert result.percent == pytest.approx(2 / 3)  # (1 + 0 + 1) / 3
    assert result.percent_no_ties == pytest.approx(1 / 2)  # the tied item drops out: (1 + 0) / 2


def test_alpha_nominal_by_hand():
    # Units (a,a), (a,b), (b,b): o_ab = o_ba = 1, n_a = n_b = 3, n = 6.
    # alpha = 1 - (n - 1) * (o_ab + o_ba) / (n_a n_b + n_b n_a) = 1 - 5 * 2 / 18 = 4/9.
    assert krippendorff_alpha([["a", "a"], ["a", "b"], ["b", "b"]], ["a", "b"], "nominal") == pytest.approx(4 / 9)


@pytest.mark.parametrize(("level", "published"), [("nominal", 0.743), ("ordinal", 0.815), ("interval", 0.849)])
def test_alpha_matches_krippendorffs_published_example_with_missing_data(level, published):
    assert round(krippendorff_alpha(PUBLISHED_GROUPS, [1, 2, 3, 4, 5], level), 3) == published


def test_numeric_agreement_reports_ordinal_and_interval_alpha():
    result = numeric_agreement(PUBLISHED_GROUPS, low=1, high=5)
    assert round(result.alpha["ordinal"], 3) == 0.815
    assert round(result.alpha["interval"], 3) == 0.849
    assert result.units == 11  # unit 12 has one value: not pairable
    assert result.percent_no_ties is None


def test_fleiss_kappa_by_hand():
    # P_i = 1, 1/3, 1 -> P = 7/9; p_a = 5/9, p_b = 4/9 -> P_e = 41/81; kappa = (63 - 41) / (81 - 41) = 0.55.
    kappa, used = fleiss_kappa([["a", "a", "a"], ["a", "a", "b"], ["b", "b", "b"]], ["a", "b"])
    assert kappa == pytest.approx(0.55)
    assert used == 3


def test_fleiss_kappa_matches_wikipedia():
    groups = [[c for c, count in enumerate(row) for _ in range(count)] for row in FLEISS_TABLE]
    kappa, used = fleiss_kappa(groups, [0, 1, 2, 3, 4])
    assert round(kappa, 3) == 0.210
    assert used == 10


def test_fleiss_kappa_uses_the_most_common_number_of_raters():
    # Sizes 2, 2, 3: kappa on the two pairs. P = (1 + 0) / 2; p_a = 3/4 -> P_e = 10/16; kappa = -1/3.
    kappa, used = fleiss_kappa([["a", "a"], ["a", "b"], ["a", "a", "b"]], ["a", "b"])
    assert kappa == pytest.approx(-1 / 3)
    assert used == 2


def test_one_annotator_has_no_agreement():
    labels = [Label((n, 1, 2), 7, "first") for n in range(5)]
    result = categorical_agreement(labels, PAIR_LABELS)
    assert (result.units, result.percent, result.percent_no_ties, result.fleiss_kappa) == (0, None, None, None)
    assert result.alpha == {"nominal": None}


def test_all_ties_agree_perfectly_but_alpha_and_kappa_are_undefined():
    labels = [Label((n, 1, 2), a, "tie") for n in range(4) for a in (1, 2)]
    result = categorical_agreement(labels, PAIR_LABELS)
    assert result.percent == 1.0
    assert result.percent_no_ties is None  # nothing left once ties are excluded
    assert result.alpha["nominal"] is None  # 0/0: no variation
    assert result.fleiss_kappa is None
    assert not math.isnan(result.percent)


def test_ranking_is_decomposed_into_response_pairs():
    assert ranking_pair_labels({"ranking": [[12], [10, 11]]}, [10, 11, 12]) == [
        (10, 11, "tie"),
        (10, 12, "second"),
        (11, 12, "second"),
    ]
    first = categorical_labels(
        kind="ranking", item_id=5, annotator_id=1, payload={"ranking": [[10], [11], [12]]}, positions=[10, 11, 12]
    )
    second = categorical_labels(
        kind="ranking", item_id=5, annotator_id=2, payload={"ranking": [[10], [12], [11]]}, positions=[10, 11, 12]
    )
    # Pairs (10,11) and (10,12) agree, (11,12) does not: 2/3.
    assert item_categorical_score(first + second).agreement == pytest.approx(2 / 3)
    assert categorical_agreement(first + second, RANKING_LABELS).units == 3


def test_pairwise_labels_follow_the_items_order_not_the_screen():
    label = categorical_labels(
        kind="pairwise",
        item_id=1,
        annotator_id=1,
        payload={"outcome": "preferred", "preferred": 21},
        positions=[20, 21],
    )
    assert [x.value for x in label] == ["second"]


def test_item_rating_score_skips_missing_ratings():
    # helpfulness: |1 - 3| / 6 = 1/3 -> 2/3; honesty rated once -> left out.
    answers = [{"helpfulness": 1, "honesty": 7}, {"helpfulness": 3}]
    scales = {"helpfulness": (1, 7), "honesty": (1, 7)}
    assert item_rating_score(answers, scales).agreement == pytest.approx(2 / 3)
    assert item_rating_score([{"helpfulness": 4}], scales).agreement is None


def test_percent_agreement_ignores_single_answer_units():
    assert percent_agreement([["a"], ["a", "a"]]) == 1.0
