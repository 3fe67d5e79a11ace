"""A share with its Wilson interval and an exact binomial test: the shape every rate here is reported in."""

from __future__ import annotations

from dataclasses import asdict, dataclass

CONFIDENCE = 0.95


@dataclass(frozen=True)
class Proportion:
    k: int
    n: int
    rate: float
    low: float  # Wilson 95% interval: sensible at small n and at rates near 0 or 1, unlike the normal one
    high: float
    expected: float  # the rate under "no effect"
    p_value: float  # two-sided exact binomial test against ``expected``

    def as_dict(self) -> dict[str, float | int]:
        return asdict(self)


def proportion(k: int, n: int, *, expected: float = 0.5) -> Proportion | None:
    """``k`` successes out of ``n``; None when ``n`` is 0 (no rate at all, rather than 0 %)."""
    if n <= 0:
        return None
    from scipy.stats import binomtest  # lazily: see curation.stats.agreement
    from statsmodels.stats.proportion import proportion_confint

    low, high = proportion_confint(k, n, alpha=1 - CONFIDENCE, method="wilson")
    p_value = float(binomtest(k, n, min(max(expected, 0.0), 1.0)).pvalue)
    return Proportion(k=k, n=n, rate=k / n, low=float(low), high=float(high), expected=expected, p_value=p_value)
