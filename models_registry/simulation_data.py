"""The simulation's data: known preference pairs split into a fixed held-out set and a pool, answers hidden.

Rows come from a file in any import format (TRL ``prompt``/``chosen``/``rejected``, read by the import's own
``RowChecker``, so what the harness reads is what the import accepts) or from ``ml.synthetic``. They are
split by the very function the snapshot exporter uses (``curation.exporters.split.split_of`` over the
prompt's content hash): held-out rows are exactly the prompts a snapshot with the same ``test_fraction``
and ``split_seed`` puts in its test file, and pool rows never land there. That is what keeps every
round's test file byte-identical, so the eval gate compares checkpoints on the same held-out set.

The project receives the rows in the prompt + responses shape (response order shuffled with the seed), so
nothing in the database says which answer is right: the known answers stay here, keyed by the prompt's and
the responses' content hashes, and are mapped to item and response ids after the import.
"""

from __future__ import annotations

import json
import random
from collections.abc import Iterable
from dataclasses import dataclass
from pathlib import Path

from annotation.imports.pipeline import RowChecker
from annotation.imports.records import EXTENSIONS, Record, Shape
from annotation.imports.shapes import Target
from annotation.models import Item
from core.models import Project
from curation.exporters.split import split_of
from ml.synthetic import SyntheticPair, synthetic_pairs

MAX_RECORD_BYTES = 1024 * 1024


class SimulationDataError(ValueError):
    """The data cannot drive a simulation; the message says why."""


@dataclass(frozen=True)
class KnownPair:
    """One comparison with its known answer, as content hashes (the import's own)."""

    messages: list[dict[str, str]]
    prompt_hash: str
    chosen: str
    rejected: str
    chosen_hash: str
    rejected_hash: str


@dataclass(frozen=True)
class SimulationData:
    heldout: list[KnownPair]
    pool: list[KnownPair]
    test_fraction: float
    split_seed: int
    corpus: list[str]  # texts for a tiny model's tokenizer

    def import_jsonl(self, *, seed: int) -> bytes:
        """Prompt + two responses per row, in a seeded random order; held-out rows first in the queue.

        Held-out rows carry priority 1 so that the harness's oracle, which labels them before the first
        round, is served exactly those; pool rows start at 0 (the first scoring job sets them).
        """
        rng = random.Random(f"order:{seed}")  # noqa: S311  # nosec B311 (seeded for reproducibility)
        lines = []
        for priority, pairs in ((1.0, self.heldout), (0.0, self.pool)):
            for pair in pairs:
                responses = [pair.chosen, pair.rejected]
                rng.shuffle(responses)
                lines.append(json.dumps({"prompt": pair.messages, "responses": responses, "priority": priority}))
        return ("\n".join(lines) + "\n").encode("utf-8")


def _from_record(record: Record) -> KnownPair:
    assert record.chosen is not None
    chosen, rejected = record.chosen, 1 - record.chosen
    return KnownPair(
        messages=record.messages,
        prompt_hash=record.prompt_hash,
        chosen=record.responses[chosen],
        rejected=record.responses[rejected],
        chosen_hash=record.response_hashes[chosen],
        rejected_hash=record.response_hashes[rejected],
    )


def read_preference_file(path: Path) -> list[KnownPair]:
    """Every row of a preference file (JSONL, CSV or Parquet), checked by the import's own pipeline."""
    fmt = EXTENSIONS.get(path.suffix.lower())
    if fmt is None:
        raise SimulationDataError(f"{path.name}: accepted files are {', '.join(EXTENSIONS)}.")
    checker = RowChecker(
        fmt=fmt, target=Target("pairwise", 2), shape=Shape.PREFERENCE, max_record_bytes=MAX_RECORD_BYTES
    )
    pairs: list[KnownPair] = []
    with path.open("rb") as stream:
        for row in checker.rows(stream):
            if row.record is None:
                problem = "; ".join(str(e) for e in row.errors)
                raise SimulationDataError(f"{path.name} line {row.line}: {problem}")
            pairs.append(_from_record(row.record))
    return pairs


def _synthetic_known(pair: SyntheticPair) -> KnownPair:
    from annotation.hashing import content_hash

    messages = [{"role": "user", "content": pair.prompt}]
    return KnownPair(
        messages,
        content_hash(messages),
        pair.chosen,
        pair.rejected,
        content_hash(pair.chosen),
        content_hash(pair.rejected),
    )


def split_pairs(
    pairs: Iterable[KnownPair], *, pool: int, heldout: int, test_fraction: float, split_seed: int
) -> tuple[list[KnownPair], list[KnownPair]]:
    """(held-out, pool), each at most the size asked, by the exporter's split of each prompt.

    A pair whose side is already full is dropped, never moved to the other side: the snapshot would put
    it back where its prompt hashes. Duplicate comparisons (same prompt, same two responses) count once.
    """
    kept: tuple[list[KnownPair], list[KnownPair]] = ([], [])
    seen: set[tuple[str, frozenset[str]]] = set()
    for pair in pairs:
        key = (pair.prompt_hash, frozenset((pair.chosen_hash, pair.rejected_hash)))
        if key in seen or pair.chosen_hash == pair.rejected_hash:
            continue
        seen.add(key)
        test = split_of(pair.prompt_hash, test_fraction=test_fraction, seed=split_seed) == "test"
        side, limit = (kept[0], heldout) if test else (kept[1], pool)
        if len(side) < limit:
            side.append(pair)
        if len(kept[0]) >= heldout and len(kept[1]) >= pool:
            break
    return kept


def simulation_data(
    *,
    path: Path | None,
    synthetic: int | None,
    heldout: int,
    seed: int,
    pool: int | None = None,
    test_fraction: float = 0.25,
) -> SimulationData:
    """The held-out set and the pool: from ``path`` (at most ``pool`` pairs, all when None) or from
    ``synthetic`` generated pairs (the pool size). ``seed`` is also the split seed of every snapshot.
    """
    if (path is None) == (synthetic is None):
        raise SimulationDataError("give either a data file or a synthetic pool size, not both.")
    known: Iterable[KnownPair]
    if path is not None:
        rows = read_preference_file(path)
        pool_size = pool if pool is not None else len(rows)
        known = rows
    else:
        assert synthetic is not None
        pool_size = synthetic
        # Enough draws to fill both sides whatever the split fraction; the loop below stops when full.
        budget = int((synthetic + heldout) / min(test_fraction, 1 - test_fraction)) + 100
        known = (_synthetic_known(p) for p in synthetic_pairs(budget, seed=seed))
    held, pooled = split_pairs(known, pool=pool_size, heldout=heldout, test_fraction=test_fraction, split_seed=seed)
    if len(held) < 2 or len(pooled) < 2:
        raise SimulationDataError(
            f"the split left {len(held)} held-out and {len(pooled)} pool pairs; the simulation needs at least 2 of "
            "each."
        )
    corpus = [
        " ".join(m["content"] for m in pair.messages) + text
        for pair in held + pooled
        for text in (pair.chosen, pair.rejected)
    ]
    return SimulationData(held, pooled, test_fraction, seed, corpus)


@dataclass(frozen=True)
class Answers:
    """The hidden labels by id: the chosen response of each item, and which items are held out."""

    chosen: dict[int, int]  # item id -> response id of the known answer
    heldout: frozenset[int]  # item ids of the held-out set

    def other(self, item_id: int, response_ids: Iterable[int]) -> int:
        return next(r for r in response_ids if r != self.chosen[item_id])


def answers_map(*, project: Project, data: SimulationData) -> Answers:
    """Map the known answers onto the imported items. Raises if any item has no known answer."""
    known = {
        (p.prompt_hash, frozenset((p.chosen_hash, p.rejected_hash))): (p.chosen_hash, held)
        for held, pairs in ((True, data.heldout), (False, data.pool))
        for p in pairs
    }
    chosen: dict[int, int] = {}
    heldout: set[int] = set()
    items = Item.objects.filter(project=project).select_related("prompt").prefetch_related("item_responses__response")
    for item in items:
        responses = {ir.response.content_hash: ir.response.pk for ir in item.item_responses.all()}
        entry = known.get((item.prompt.content_hash, frozenset(responses)))
        if entry is None:
            raise SimulationDataError(f"item {item.pk} has no known answer: the import and the data disagree.")
        chosen[item.pk] = responses[entry[0]]
        if entry[1]:
            heldout.add(item.pk)
    if len(chosen) != len(data.heldout) + len(data.pool):
        raise SimulationDataError(f"the import made {len(chosen)} items of {len(data.heldout) + len(data.pool)} rows.")
    return Answers(chosen, frozenset(heldout))
