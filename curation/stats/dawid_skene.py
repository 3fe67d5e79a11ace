"""Reliability-weighted consensus: Dawid and Skene's (1979) EM over annotators' confusion matrices.

Pure module. Each annotator ``j`` has a confusion matrix ``π_j[k, l]`` = P(j answers ``l`` | the true
label is ``k``); each unit's true label has prior ``p_k``. EM alternates:

- E-step: posterior over the true label of unit ``u``,
  ``T[u, k] ∝ p_k · Π_{answers (j, l) on u} π_j[k, l]``, computed in log space.
- M-step: ``p`` and every ``π_j`` from the posteriors (expected counts).

Details that keep it well behaved on the small, sparse data that annotation projects have:

- **Initialisation** from each unit's vote shares (the original paper's choice). Starting from the
  majority, not at random, also fixes the labelling: EM cannot converge to the mirror solution in
  which every class is swapped.
- **Pooled prior.** ``π_j`` is smoothed towards the pooled confusion of all annotators with
  ``prior_strength`` pseudo-answers per row (empirical Bayes). An annotator with three answers then
  behaves like the crowd, not like a perfect or a useless annotator, and no probability is ever 0
  (no ``log 0``). The pooled matrix and the class priors get add-one smoothing themselves.
- **Convergence limits.** Stops when no posterior moves by more than ``tol`` or after ``max_iter``
  rounds; ``converged`` and ``iterations`` are reported.
- **Enough overlap.** Confusion matrices are only identifiable from units that several annotators
  answered. ``has_enough_overlap`` gates the model: below it, callers use the majority vote.
"""

from __future__ import annotations

from collections import Counter, defaultdict
from collections.abc import Sequence
from dataclasses import dataclass
from itertools import combinations

from curation.stats.labels import Label, Unit

MIN_SHARED_UNITS = 10  # units with two or more answers
MIN_ANNOTATOR_OVERLAP = 5  # answers on shared units, for at least two annotators


@dataclass(frozen=True)
class DawidSkene:
    classes: tuple[str, ...]
    posteriors: dict[Unit, dict[str, float]]
    confusion: dict[int, list[list[float]]]  # annotator -> rows: true class, columns: the answer given
    priors: dict[str, float]
    iterations: int
    converged: bool

    def best(self, unit: Unit) -> tuple[str, float]:
        """The most probable true label of ``unit`` and its posterior probability."""
        posterior = self.posteriors[unit]
        label = max(self.classes, key=lambda c: (posterior[c], -self.classes.index(c)))
        return label, posterior[label]

    def spammer_score(self, annotator: int) -> float | None:
        """Raykar and Yu's (2012) score: 0 when the answer does not depend on the true label (every row
        of the confusion matrix alike: a spammer, whatever they click), 1 for a perfect annotator.
        Only classes that occur as a true label (expected count >= 1) are compared."""
        mass = {c: sum(p[c] for p in self.posteriors.values()) for c in self.classes}
        rows = [n for n, c in enumerate(self.classes) if mass[c] >= 1]
        if len(rows) < 2 or annotator not in self.confusion:
            return None
        import numpy as np  # lazily: see curation.stats.agreement

        matrix = np.asarray(self.confusion[annotator])
        k = len(rows)
        total = sum(float(((matrix[a] - matrix[b]) ** 2).sum()) for a, b in combinations(rows, 2))
        return total / (k * (k - 1))


def has_enough_overlap(labels: Sequence[Label]) -> bool:
    answers: dict[Unit, list[int]] = defaultdict(list)
    for label in labels:
        answers[label.unit].append(label.annotator)
    shared = {unit: who for unit, who in answers.items() if len(who) >= 2}
    if len(shared) < MIN_SHARED_UNITS:
        return False
    per_annotator = Counter(annotator for who in shared.values() for annotator in who)
    return sum(1 for n in per_annotator.values() if n >= MIN_ANNOTATOR_OVERLAP) >= 2


def dawid_skene(
    labels: Sequence[Label],
    classes: Sequence[str],
    *,
    max_iter: int = 200,
    tol: float = 1e-6,
    prior_strength: float = 2.0,
) -> DawidSkene:
    import numpy as np  # lazily: see curation.stats.agreement
    from scipy.special import logsumexp

    units = sorted({label.unit for label in labels})
    annotators = sorted({label.annotator for label in labels})
    unit_index = {u: n for n, u in enumerate(units)}
    annotator_index = {a: n for n, a in enumerate(annotators)}
    class_index = {c: n for n, c in enumerate(classes)}
    n_units, n_annotators, n_classes = len(units), len(annotators), len(classes)
    kept = [label for label in labels if label.value in class_index]
    u_idx = np.array([unit_index[label.unit] for label in kept], dtype=np.int64)  # (answers,)
    a_idx = np.array([annotator_index[label.annotator] for label in kept], dtype=np.int64)
    l_idx = np.array([class_index[label.value] for label in kept], dtype=np.int64)

    posterior = np.zeros((n_units, n_classes))  # (units, classes)
    np.add.at(posterior, (u_idx, l_idx), 1.0)
    posterior /= np.maximum(posterior.sum(axis=1, keepdims=True), 1.0)
    empty = posterior.sum(axis=1) == 0
    posterior[empty] = 1.0 / n_classes

    confusion = np.full((n_annotators, n_classes, n_classes), 1.0 / n_classes)
    priors = np.full(n_classes, 1.0 / n_classes)
    iterations, converged = 0, False
    while iterations < max_iter:
        iterations += 1
        # M-step. counts[j, k, l] = expected answers l by annotator j on units whose truth is k.
        counts = np.zeros((n_annotators, n_classes, n_classes))
        for k in range(n_classes):
            np.add.at(counts[:, k, :], (a_idx, l_idx), posterior[u_idx, k])
        pooled = counts.sum(axis=0)  # (classes, classes)
        pooled = (pooled + 1.0) / (pooled.sum(axis=1, keepdims=True) + n_classes)
        confusion = (counts + prior_strength * pooled) / (counts.sum(axis=2, keepdims=True) + prior_strength)
        priors = (posterior.sum(axis=0) + 1.0) / (n_units + n_classes)
        # E-step, in log space: (units, classes) += log π_j[:, l] for every answer.
        log_post = np.tile(np.log(priors), (n_units, 1))
        np.add.at(log_post, u_idx, np.log(confusion[a_idx, :, l_idx]))
        updated = np.exp(log_post - logsumexp(log_post, axis=1, keepdims=True))
        moved = float(np.abs(updated - posterior).max()) if n_units else 0.0
        posterior = updated
        if moved < tol:
            converged = True
            break

    return DawidSkene(
        classes=tuple(classes),
        posteriors={unit: {c: float(posterior[n, class_index[c]]) for c in classes} for unit, n in unit_index.items()},
        confusion={a: confusion[n].tolist() for a, n in annotator_index.items()},
        priors={c: float(priors[n]) for c, n in class_index.items()},
        iterations=iterations,
        converged=converged,
    )
