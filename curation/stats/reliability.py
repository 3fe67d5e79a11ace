"""Annotator reliability: gold accuracy, agreement with the others, speed, position bias, and flags.

Pure module. For each annotator:

- **Gold accuracy**: share of their gold-item judgments that match the item's *current* gold answer
  (``annotation.schemas.gold_matches``), so marking an item gold later, or correcting a wrong gold
  answer, re-grades the past instead of trusting the ``gold_correct`` frozen at submission.
- **Agreement with consensus**, leave-one-out: each of their answers is compared with the majority
  of the *other* annotators on that unit (including themselves would inflate it, decisively so with
  two or three annotators per item). Rejected judgments of others do not vote. Chance agreement is
  ``Σ_c p_self(c) · p_others(c)`` over the compared units (as in Cohen's kappa). Tests, one-sided:
  pairwise, an exact binomial test of the agreement rate against chance; ranking, a sign test over
  judgments of (own pair agreement > chance), because a ranking's pairs are not independent;
  rating, Spearman's correlation of the judgment's mean normalised score with the others' mean.
- **Speed**: robust z-score of log(time spent) against the *other* annotators' judgments
  (median and MAD·1.4826; mean absolute deviation·1.2533 when the MAD is 0). Log, because times are
  right-skewed; others only, so that an annotator who wrote most of the data is not their own yardstick.
- **Position bias**: see ``curation.stats.bias``.

**Flags** (``FLAGS``), each raised only with enough evidence (``Thresholds``): ``fast`` (a large share
of judgments below the z threshold), ``position`` (significant and large first-shown preference),
``random`` (agreement with others not above chance), ``adversarial`` (significantly below chance),
``low_gold`` (gold accuracy's upper confidence bound below the bar). Flags mark annotators for review
and can keep them out of snapshots; they never delete or edit a judgment.
"""

from __future__ import annotations

import math
from collections import Counter, defaultdict
from collections.abc import Mapping, Sequence
from dataclasses import asdict, dataclass
from statistics import fmean, median

from annotation.schemas import gold_matches
from curation.stats.bias import bias_stats
from curation.stats.consensus import majority_vote
from curation.stats.facts import JudgmentFact
from curation.stats.labels import Label, Unit, categorical_labels, rating_scores
from curation.stats.proportions import Proportion, proportion

FAST, POSITION, RANDOM, ADVERSARIAL, LOW_GOLD = "fast", "position", "random", "adversarial", "low_gold"
FLAGS = (FAST, POSITION, RANDOM, ADVERSARIAL, LOW_GOLD)


@dataclass(frozen=True)
class Thresholds:
    min_judgments: int = 20  # evidence needed before a pattern flag (fast, position, random, adversarial)
    fast_z: float = -3.5  # the usual outlier cut for modified z-scores (Iglewicz and Hoaglin)
    fast_share: float = 0.3
    position_share: float = 0.75  # first shown chosen at least this often (or at most 1 - this) ...
    position_p: float = 0.001  # ... and significantly so
    random_p: float = 0.05  # not above chance at this level -> random
    adversarial_p: float = 0.01  # below chance at this level -> adversarial
    min_gold: int = 5
    gold_accuracy: float = 0.6  # the Wilson upper bound of gold accuracy must reach this


@dataclass(frozen=True)
class ConsensusFit:
    compared: int  # judgments compared with the other annotators
    agreement: float  # mean agreement with them (ratings: 1 - |own - others| / scale range)
    chance: float | None  # expected agreement without skill (categorical kinds)
    p_above: float | None  # one-sided p-value: better than chance (ratings: positive correlation)
    p_below: float | None  # one-sided p-value: worse than chance (ratings: negative correlation)


@dataclass(frozen=True)
class Speed:
    median_ms: float
    median_z: float | None
    fast_share: float | None


@dataclass(frozen=True)
class Reliability:
    annotator: int
    judgments: int
    gold: Proportion | None
    consensus: ConsensusFit | None
    speed: Speed
    position: Proportion | None
    spammer_score: float | None
    flags: tuple[str, ...]

    def as_dict(self) -> dict[str, object]:
        return asdict(self)


def robust_z(values: Sequence[float], reference: Sequence[float]) -> list[float] | None:
    """Robust z-scores of ``values`` against ``reference``; None when the reference has no spread."""
    if not reference:
        return None
    centre = median(reference)
    scale = 1.4826 * median(abs(r - centre) for r in reference)
    if scale == 0:
        scale = 1.2533 * fmean(abs(r - centre) for r in reference)
    if scale == 0:
        return None
    return [(v - centre) / scale for v in values]


def _speed(own: Sequence[JudgmentFact], others: Sequence[JudgmentFact], t: Thresholds) -> Speed:
    def log_time(f: JudgmentFact) -> float:
        return math.log(max(f.time_spent_ms, 1))

    median_ms = float(median(f.time_spent_ms for f in own))
    z = robust_z([log_time(f) for f in own], [log_time(f) for f in others])
    if z is None:
        return Speed(median_ms, None, None)
    return Speed(median_ms, float(median(z)), sum(v <= t.fast_z for v in z) / len(z))


def _gold(own: Sequence[JudgmentFact]) -> Proportion | None:
    graded = [gold_matches(f.kind, f.payload, f.gold_answer) for f in own if f.is_gold and f.gold_answer is not None]
    marks = [g for g in graded if g is not None]
    return proportion(sum(marks), len(marks), expected=0.5)


def _categorical_fit(
    annotator: int, own: Sequence[JudgmentFact], votes: Mapping[Unit, list[Label]], kind: str
) -> ConsensusFit | None:
    per_judgment: list[list[bool]] = []
    mine: Counter[str] = Counter()
    theirs: Counter[str] = Counter()
    for fact in own:
        hits = []
        for label in categorical_labels(
            kind=fact.kind, item_id=fact.item_id, annotator_id=annotator, payload=fact.payload, positions=fact.positions
        ):
            others = [v.value for v in votes.get(label.unit, []) if v.annotator != annotator]
            consensus = majority_vote(others).label
            if consensus is None:
                continue  # nobody else answered, or the others split evenly
            hits.append(label.value == consensus)
            mine[label.value] += 1
            theirs[consensus] += 1
        if hits:
            per_judgment.append(hits)
    if not per_judgment:
        return None
    units = sum(mine.values())
    chance = sum(mine[c] * theirs[c] for c in mine) / (units * units)
    agreement = fmean(fmean(hits) for hits in per_judgment)
    from scipy.stats import binomtest  # lazily: see curation.stats.agreement

    if kind == "pairwise":
        agree = sum(sum(hits) for hits in per_judgment)
        above = binomtest(agree, units, chance, alternative="greater").pvalue
        below = binomtest(agree, units, chance, alternative="less").pvalue
    else:
        signs = [fmean(hits) - chance for hits in per_judgment if not math.isclose(fmean(hits), chance)]
        positive = sum(s > 0 for s in signs)
        above = binomtest(positive, len(signs), 0.5, alternative="greater").pvalue if signs else 1.0
        below = binomtest(positive, len(signs), 0.5, alternative="less").pvalue if signs else 1.0
    return ConsensusFit(len(per_judgment), agreement, chance, float(above), float(below))


def _rating_fit(
    annotator: int,
    own: Sequence[JudgmentFact],
    by_item: Mapping[int, list[JudgmentFact]],
    scales: Mapping[str, tuple[int, int]],
) -> ConsensusFit | None:
    def normalised(scores: Mapping[str, float], names: set[str]) -> float:
        return fmean((scores[n] - scales[n][0]) / (scales[n][1] - scales[n][0]) for n in names)

    xs: list[float] = []
    ys: list[float] = []
    for fact in own:
        mine = rating_scores(fact.payload)
        others = [rating_scores(o.payload) for o in by_item[fact.item_id] if o.annotator_id != annotator]
        names = {n for n in mine if n in scales and any(n in o for o in others)}
        if not names:
            continue
        means = {n: fmean(o[n] for o in others if n in o) for n in names}
        xs.append(normalised({n: float(mine[n]) for n in names}, names))
        ys.append(normalised(means, names))
    if not xs:
        return None
    agreement = fmean(1 - abs(x - y) for x, y in zip(xs, ys, strict=True))
    above = below = None
    if len(xs) >= 3 and len(set(xs)) > 1 and len(set(ys)) > 1:
        from scipy.stats import spearmanr  # lazily: see curation.stats.agreement

        above = float(spearmanr(xs, ys, alternative="greater").pvalue)
        below = float(spearmanr(xs, ys, alternative="less").pvalue)
    return ConsensusFit(len(xs), agreement, None, above, below)


def _flags(r: Reliability, t: Thresholds) -> tuple[str, ...]:
    flags = []
    if r.judgments >= t.min_judgments and r.speed.fast_share is not None and r.speed.fast_share >= t.fast_share:
        flags.append(FAST)
    p = r.position
    lopsided = p is not None and (p.rate >= t.position_share or p.rate <= 1 - t.position_share)
    if p and lopsided and p.n >= t.min_judgments and p.p_value < t.position_p:
        flags.append(POSITION)
    c = r.consensus
    if c and c.compared >= t.min_judgments:
        if c.p_below is not None and c.p_below < t.adversarial_p:
            flags.append(ADVERSARIAL)
        elif c.p_above is None or c.p_above >= t.random_p:
            flags.append(RANDOM)
    if r.gold and r.gold.n >= t.min_gold and r.gold.high < t.gold_accuracy:
        flags.append(LOW_GOLD)
    return tuple(flags)


def annotator_reliability(
    facts: Sequence[JudgmentFact],
    *,
    scales: Mapping[str, tuple[int, int]] | None = None,
    spammer_scores: Mapping[int, float | None] | None = None,
    thresholds: Thresholds | None = None,
) -> list[Reliability]:
    """One ``Reliability`` per annotator in ``facts`` (one project, one task kind), by annotator id."""
    t = thresholds or Thresholds()
    scales = scales or {}
    by_annotator: dict[int, list[JudgmentFact]] = defaultdict(list)
    by_item: dict[int, list[JudgmentFact]] = defaultdict(list)
    votes: dict[Unit, list[Label]] = defaultdict(list)
    for fact in facts:
        by_annotator[fact.annotator_id].append(fact)
        if not fact.rejected:
            by_item[fact.item_id].append(fact)
            for label in categorical_labels(
                kind=fact.kind,
                item_id=fact.item_id,
                annotator_id=fact.annotator_id,
                payload=fact.payload,
                positions=fact.positions,
            ):
                votes[label.unit].append(label)
    results = []
    for annotator, own in sorted(by_annotator.items()):
        kind = own[0].kind
        others = [f for f in facts if f.annotator_id != annotator]
        data = [f for f in own if not f.is_gold]
        fit = (
            _rating_fit(annotator, data, by_item, scales)
            if kind == "rating"
            else _categorical_fit(annotator, data, votes, kind)
            if kind in ("pairwise", "ranking")
            else None
        )
        draft = Reliability(
            annotator=annotator,
            judgments=len(own),
            gold=_gold(own),
            consensus=fit,
            speed=_speed(own, others, t),
            position=bias_stats(data).position if kind in ("pairwise", "ranking") else None,
            spammer_score=(spammer_scores or {}).get(annotator),
            flags=(),
        )
        results.append(Reliability(**{**draft.__dict__, "flags": _flags(draft, t)}))
    return results


def gold_accuracy_by_week(facts: Sequence[JudgmentFact]) -> dict[int, list[tuple[str, int, int]]]:
    """Annotator -> [(ISO date of the week's Monday, correct, graded)] in time order: accuracy over time."""
    weeks: dict[int, Counter[str]] = defaultdict(Counter)
    totals: dict[int, Counter[str]] = defaultdict(Counter)
    for f in facts:
        if not f.is_gold or f.gold_answer is None:
            continue
        correct = gold_matches(f.kind, f.payload, f.gold_answer)
        if correct is None:
            continue
        day = f.created_at.date()
        monday = day.fromordinal(day.toordinal() - day.weekday()).isoformat()
        totals[f.annotator_id][monday] += 1
        weeks[f.annotator_id][monday] += int(correct)
    return {a: [(w, weeks[a][w], totals[a][w]) for w in sorted(totals[a])] for a in sorted(totals)}
