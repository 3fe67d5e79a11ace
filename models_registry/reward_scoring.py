"""Scoring open pairwise items with reward models in a child process: uncertainty, ensemble disagreement.

The parent (a Celery worker, or the simulation harness) never imports torch: it writes the open pairs to a
JSONL file, runs ``python -m ml.score_items`` with one member (uncertainty) or several (ensemble), and turns
the child's P(a preferred over b) per member into a priority per item and the active model's suggestion.

Why disagreement is the standard deviation of the members' probabilities, not of their reward margins:
a Bradley-Terry reward is defined only up to a shift and a scale that drifts with training length, so two
checkpoints' margins are on different scales and their spread mostly measures that drift. Probabilities
are bounded and are what each model actually claims about the pair. The population standard deviation of
values in [0, 1] is at most 0.5, so ``2 * std`` puts the priority in [0, 1], like uncertainty's.

Disagreement is epistemic uncertainty only: a pair every member calls a coin flip (an honest near-tie) gets
priority 0. That is the point of the strategy (spend labels where more data would change the model), and
also its blind spot; uncertainty scoring covers the other case.
"""

from __future__ import annotations

import json
import math
from collections.abc import Callable, Iterator, Sequence
from dataclasses import dataclass
from pathlib import Path
from typing import Any

from django.conf import settings

from annotation.models import Item
from core.models import Project
from curation.exporters.trl import prompt_auto
from models_registry.child import run_ml_child
from models_registry.models import Checkpoint, CheckpointKind
from models_registry.services import CheckpointInvalid

CHUNK = 500


def uncertainty_priority(p: float) -> float:
    """1 - |2p - 1|: 1 at p = 0.5, 0 at p = 0 or 1."""
    return 1.0 - abs(2.0 * p - 1.0)


def disagreement_priority(ps: Sequence[float]) -> float:
    """2 x the population standard deviation of the members' P(a > b): 0 when they agree, 1 at most."""
    if len(ps) < 2:
        raise ValueError("disagreement needs at least two members")
    mean = sum(ps) / len(ps)
    return min(1.0, 2.0 * math.sqrt(sum((p - mean) ** 2 for p in ps) / len(ps)))


def ensemble_members(*, project: Project, active: Checkpoint, size: int) -> list[Checkpoint]:
    """The active reward model first, then the project's newest other reward checkpoints: ``size`` in all."""
    others = Checkpoint.objects.filter(project=project, kind=CheckpointKind.REWARD).exclude(pk=active.pk)
    return [active, *others.order_by("-created_at", "-id")[: max(0, size - 1)]]


@dataclass(frozen=True)
class OpenPair:
    item_id: int
    response_ids: tuple[int, int]
    row: dict[str, Any]  # the ``ml.score_items`` input row


@dataclass(frozen=True)
class ScoredItems:
    priorities: dict[int, float]
    suggestions: dict[int, dict[str, Any]]


def open_pairs(project: Project) -> Iterator[OpenPair]:
    """Open items with exactly two responses, in id order (response order as imported)."""
    items = (
        Item.objects.filter(project=project, open_slots__gt=0)
        .select_related("prompt")
        .prefetch_related("item_responses__response")
        .order_by("pk")
    )
    for item in items.iterator(chunk_size=CHUNK):
        responses = [ir.response for ir in item.item_responses.all()]
        if len(responses) != 2:
            continue
        prompt = prompt_auto(item.prompt.messages)
        conversational = not isinstance(prompt, str)
        a, b = ([{"role": "assistant", "content": r.text}] if conversational else r.text for r in responses)
        yield OpenPair(
            item.pk,
            (responses[0].pk, responses[1].pk),
            {"id": item.pk, "prompt": prompt, "response_a": a, "response_b": b},
        )


def score_with_child(
    rows: Sequence[dict[str, Any]], members: Sequence[Checkpoint], folder: Path, progress: Callable[[int], None]
) -> dict[int, list[float]]:
    """{item id: [P(a > b) by each member, in order]}. ``progress`` gets the child's scored-line count.

    Precondition: the caller verified every member (``checkpoint_verify``); the child verifies each again as
    it loads it, so a folder changed in between is refused too. Raises CheckpointInvalid when a member is
    refused or the child fails; nothing is written to the database here.
    """
    source, output, config = folder / "pairs.jsonl", folder / "scores.jsonl", folder / "score.json"
    source.write_text("".join(json.dumps(r) + "\n" for r in rows), encoding="utf-8")
    config.write_text(
        json.dumps(
            {
                "members": [{"model_dir": str(m.path), "sha256": dict(m.sha256)} for m in members],
                "input": str(source),
                "output": str(output),
                "batch_size": int(getattr(settings, "SCORING_BATCH_SIZE", 16)),
                "device": str(getattr(settings, "SCORING_DEVICE", "auto")),
            }
        ),
        encoding="utf-8",
    )
    outcome = run_ml_child("ml.score_items", config, output=output, on_progress=progress)
    if outcome.returncode != 0:
        raise CheckpointInvalid(f"The scoring process failed: {outcome.last_error}")
    scores: dict[int, list[float]] = {int(r["id"]): [] for r in rows}
    for line in output.read_text(encoding="utf-8").splitlines():
        if line.strip():
            row = json.loads(line)
            scores[int(row["id"])].append(float(row["p"]))
    incomplete = sum(len(ps) != len(members) for ps in scores.values())
    if incomplete:
        raise CheckpointInvalid(f"The scoring process left {incomplete} of {len(rows)} pairs unscored.")
    return scores


def suggestion_of(pair: OpenPair, checkpoint_id: int, p: float) -> dict[str, Any]:
    """The active model's answer: the response it prefers and its probability of being preferred."""
    a, b = pair.response_ids
    return {"checkpoint": checkpoint_id, "preferred": a if p >= 0.5 else b, "p": max(p, 1.0 - p)}


def score_items(
    *, project: Project, members: Sequence[Checkpoint], folder: Path, progress: Callable[[int, int], None]
) -> ScoredItems:
    """Priorities (uncertainty for one member, disagreement for several) and the first member's suggestions.

    ``progress(done, total)``: scored lines so far out of pairs x members.
    """
    pairs = list(open_pairs(project))
    total = len(pairs) * len(members)
    progress(0, total)
    if not pairs:
        return ScoredItems({}, {})
    scores = score_with_child([p.row for p in pairs], members, folder, lambda done: progress(done, total))
    active = members[0].pk
    priorities, suggestions = {}, {}
    for pair in pairs:
        ps = scores[pair.item_id]
        priorities[pair.item_id] = uncertainty_priority(ps[0]) if len(ps) == 1 else disagreement_priority(ps)
        suggestions[pair.item_id] = suggestion_of(pair, active, ps[0])
    return ScoredItems(priorities, suggestions)
