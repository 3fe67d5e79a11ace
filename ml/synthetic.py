"""A synthetic preference data set with known answers, for the loop simulation, tests and demos.

Each response is a short phrase of words. A hidden rule scores it: every quality word carries a weight
(drawn once from the seed: some help, some hurt, fillers do nothing), and mentioning the prompt's topic
earns a bonus. For a pair, the recorded answer follows the Bradley-Terry model of that rule,
P(a chosen) = sigmoid((score_a - score_b) / temperature), so close pairs are genuinely ambiguous (label
noise that no amount of data removes) while clear pairs are nearly always right.

Why this shape: a reward model can learn it (a sum of word effects plus one prompt-response interaction),
yet it is not trivial (the topic bonus needs the prompt, and noise bounds accuracy below 1). Every prompt is
distinct, so a split by prompt never hides a whole word or topic from training.

Pure Python and Django-free; the same seed always gives the same rows.
"""

from __future__ import annotations

import math
import random
from collections.abc import Iterator, Sequence
from dataclasses import dataclass

TOPICS = ("apple", "river", "engine", "garden", "planet", "violin", "bridge", "coffee")
QUALITY = ("clear", "kind", "correct", "precise", "useful", "safe", "rude", "wrong", "vague", "lazy", "unsafe", "false")
FILLERS = ("the", "then", "also", "maybe", "so")
WORDS_PER_RESPONSE = (2, 4)  # quality words per response, inclusive


@dataclass(frozen=True)
class SyntheticRule:
    """The hidden scoring rule: word weights and the topic bonus."""

    weights: dict[str, float]
    topic_bonus: float
    temperature: float

    def score(self, topic: str, response: str) -> float:
        words = response.rstrip(".").split()
        return sum(self.weights.get(w, 0.0) for w in words) + (self.topic_bonus if topic in words else 0.0)

    def p_first(self, topic: str, a: str, b: str) -> float:
        """P(a preferred over b) under the rule."""
        gap = (self.score(topic, a) - self.score(topic, b)) / self.temperature
        return 1.0 / (1.0 + math.exp(-gap))


def synthetic_rule(*, seed: int, temperature: float = 0.5) -> SyntheticRule:
    """The first half of QUALITY is good (+0.5 to +2), the second half bad (-2 to -0.5), per seed."""
    if temperature <= 0:
        raise ValueError("temperature must be above 0")
    rng = random.Random(f"rule:{seed}")  # noqa: S311  # nosec B311 (simulation, seeded for reproducibility)
    half = len(QUALITY) // 2
    weights = {w: round(rng.uniform(0.5, 2.0), 2) for w in QUALITY[:half]}
    weights.update({w: round(-rng.uniform(0.5, 2.0), 2) for w in QUALITY[half:]})
    return SyntheticRule(weights=weights, topic_bonus=1.5, temperature=temperature)


@dataclass(frozen=True)
class SyntheticPair:
    prompt: str
    chosen: str
    rejected: str
    p_chosen: float  # the rule's probability that the recorded answer is right

    def row(self) -> dict[str, str]:
        """TRL's preference shape, as the import accepts it."""
        return {"prompt": self.prompt, "chosen": self.chosen, "rejected": self.rejected}


def _response(rng: random.Random, topic: str) -> str:
    words = rng.sample(QUALITY, rng.randint(*WORDS_PER_RESPONSE))
    if rng.random() < 0.5:
        words.append(topic)
    words += rng.sample(FILLERS, rng.randint(0, 2))
    rng.shuffle(words)
    return " ".join(words) + "."


def synthetic_pairs(n: int, *, seed: int, rule: SyntheticRule | None = None) -> Iterator[SyntheticPair]:
    """``n`` pairs with distinct prompts and distinct responses; the answer sampled from the rule.

    A generator, so a caller that splits by prompt can draw until each side has what it needs.
    """
    rule = rule or synthetic_rule(seed=seed)
    rng = random.Random(f"pairs:{seed}")  # noqa: S311  # nosec B311 (simulation, seeded for reproducibility)
    for index in range(n):
        topic = rng.choice(TOPICS)
        prompt = f"Question {seed}-{index}: tell me about the {topic}."
        a = _response(rng, topic)
        b = _response(rng, topic)
        while b == a or rule.score(topic, a) == rule.score(topic, b):  # an exact tie has no right answer
            b = _response(rng, topic)
        p = rule.p_first(topic, a, b)
        first = rng.random() < p
        chosen, rejected = (a, b) if first else (b, a)
        yield SyntheticPair(prompt, chosen, rejected, p if first else 1.0 - p)


def synthetic_corpus(pairs: Sequence[SyntheticPair]) -> list[str]:
    """Texts to train the tiny model's tokenizer on: every prompt and response, as the model will see them."""
    return [text for pair in pairs for text in (pair.prompt + pair.chosen, pair.prompt + pair.rejected)]


def rule_accuracy(pairs: Sequence[SyntheticPair]) -> float:
    """Share of recorded answers that agree with the rule's side: the ceiling of any model's accuracy."""
    return sum(p.p_chosen > 0.5 for p in pairs) / len(pairs) if pairs else 0.0
