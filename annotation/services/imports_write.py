"""The write pass of an import: validated records into prompts, responses and items, in bulk.

Precondition: called inside the import's one transaction, with the project row locked, so no other
import of the project interleaves (which keeps the created/duplicate counts exact and avoids two big
transactions deadlocking on the same unique keys).

Strategy, per batch of records: select what already exists by content hash, ``bulk_create`` only the
missing rows (``ignore_conflicts`` as a guard against a concurrent ``item_create``), then select the
new ids back by content hash. Re-selecting works the same on Postgres and SQLite, where
``ignore_conflicts`` returns no primary keys. Nothing is kept across batches but counts: rows written
by earlier batches are visible to later ones inside the same transaction, so the database itself is
the de-duplication index and memory stays flat however long the file is.

On Postgres the same steps run as ``COPY`` into staging tables and set-based ``INSERT … SELECT``
(``imports_copy``), with the same counts and column values; the ORM path below is SQLite's.
"""

from __future__ import annotations

from collections import defaultdict
from collections.abc import Callable, Iterable, Iterator, Sequence
from dataclasses import dataclass
from typing import Any, TypeVar

from django.utils import timezone

from annotation.imports.records import Record, Shape
from annotation.imports.shapes import PREFERENCE_KEY
from annotation.models import Item, ItemResponse, Prompt, Response, Source
from annotation.services import imports_copy
from core.models import Project

T = TypeVar("T")
K = TypeVar("K")
V = TypeVar("V")
# Keeps every IN (...) list well under SQLite's bound-parameter limit.
_IN_CHUNK = 500
_INSERT_BATCH = 1_000


def _chunks(values: Sequence[T], size: int = _IN_CHUNK) -> Iterator[Sequence[T]]:
    for start in range(0, len(values), size):
        yield values[start : start + size]


def _select(keys: Iterable[K], query: Callable[[Sequence[K]], Iterable[tuple[K, V]]]) -> dict[K, V]:
    """``query`` run over ``keys`` in chunks, merged into one mapping."""
    found: dict[K, V] = {}
    for chunk in _chunks(list(keys)):
        found.update(query(chunk))
    return found


@dataclass
class WriteCounts:
    rows: int = 0
    prompts_created: int = 0
    prompts_duplicate: int = 0
    responses_created: int = 0
    responses_duplicate: int = 0
    items_created: int = 0
    items_duplicate: int = 0


def _preference_pairs(records: Sequence[Record]) -> dict[str, list[dict[str, str]]]:
    """Imported preferences per prompt hash, each once: ``{"chosen": hash, "rejected": hash}``.

    They are kept in ``Prompt.metadata["imported_preferences"]`` (response content hashes, which are
    ``Response.content_hash`` under that prompt), not as judgments: nobody in this project made them,
    so they must not count towards an item's judgments or agreement, yet they are not lost.
    """
    pairs: dict[str, list[dict[str, str]]] = defaultdict(list)
    for record in records:
        if record.chosen is None:
            continue
        pair = {
            "chosen": record.response_hashes[record.chosen],
            "rejected": record.response_hashes[1 - record.chosen],
        }
        if pair not in pairs[record.prompt_hash]:
            pairs[record.prompt_hash].append(pair)
    return pairs


class BatchWriter:
    def __init__(self, *, project: Project, job_id: int, shape: Shape) -> None:
        self.project = project
        self.job_id = job_id
        self.shape = shape
        self.counts = WriteCounts()
        self._copy = (
            imports_copy.CopyWriter(project_id=project.pk, job_id=job_id, overlap=project.overlap)
            if imports_copy.copy_enabled()
            else None
        )

    def write(self, records: Sequence[Record]) -> None:
        if self._copy is not None:
            self._write_copy(self._copy, records)
            return
        pairs = _preference_pairs(records)
        prompt_ids, existed = self._prompts(records, pairs)
        self.counts.rows += len(records)
        if self.shape == Shape.PROMPTS:
            return
        response_ids = self._responses(records, prompt_ids, existed)
        self._items(records, prompt_ids, response_ids, existed)
        self._merge_preferences({prompt_ids[h]: p for h, p in pairs.items() if h in existed})

    def _write_copy(self, copy: imports_copy.CopyWriter, records: Sequence[Record]) -> None:
        """``write`` on Postgres: the same decisions as the ORM path, the rows moved by COPY."""
        now = timezone.now()  # Django's auto_now(_add), which the database does not fill in
        pairs = _preference_pairs(records)
        first: dict[str, Record] = {}
        for record in records:
            first.setdefault(record.prompt_hash, record)
        # A new prompt carries its preferences from the start; one already there gets them merged below.
        metadata = {h: {**first[h].metadata, PREFERENCE_KEY: p} for h, p in pairs.items()}
        prompt_ids, existed = copy.prompts(first, metadata, now)
        created = len(first) - len(existed)
        self.counts.rows += len(records)
        self.counts.prompts_created += created
        self.counts.prompts_duplicate += len(records) - created
        if self.shape == Shape.PROMPTS:
            return
        wanted: dict[tuple[int, str], str] = {}
        for record in records:
            prompt_id = prompt_ids[record.prompt_hash]
            for text, h in zip(record.responses, record.response_hashes, strict=True):
                wanted.setdefault((prompt_id, h), text)
        response_ids, created = copy.responses(wanted, now)
        self.counts.responses_created += created
        self.counts.responses_duplicate += sum(len(r.responses) for r in records) - created
        seen = copy.item_keys([prompt_ids[h] for h in existed])
        items = self._new_items(records, prompt_ids, response_ids, seen)
        copy.items(items, now)
        self.counts.items_created += len(items)
        self._merge_preferences({prompt_ids[h]: p for h, p in pairs.items() if h in existed})

    def _prompts(
        self, records: Sequence[Record], pairs: dict[str, list[dict[str, str]]]
    ) -> tuple[dict[str, int], set[str]]:
        """Prompt ids by hash for every record, and the hashes that were there before this batch."""
        first: dict[str, Record] = {}
        for record in records:
            first.setdefault(record.prompt_hash, record)

        def query(chunk: Sequence[str]) -> Iterable[tuple[str, int]]:
            return Prompt.objects.filter(project=self.project, content_hash__in=chunk).values_list("content_hash", "id")

        ids = _select(first, query)
        existed = set(ids)
        new = [
            Prompt(
                project=self.project,
                messages=record.messages,
                # A prompt that is already there keeps its metadata: the first import wins.
                metadata={**record.metadata, PREFERENCE_KEY: pairs[h]} if h in pairs else record.metadata,
                source=Source.IMPORTED,
                content_hash=h,
            )
            for h, record in first.items()
            if h not in existed
        ]
        Prompt.objects.bulk_create(new, batch_size=_INSERT_BATCH, ignore_conflicts=True)
        ids.update(_select([p.content_hash for p in new], query))
        self.counts.prompts_created += len(new)
        self.counts.prompts_duplicate += len(records) - len(new)
        return ids, existed

    def _responses(
        self, records: Sequence[Record], prompt_ids: dict[str, int], existed: set[str]
    ) -> dict[tuple[int, str], int]:
        """Response ids by (prompt id, text hash) for every response of every record."""
        wanted: dict[tuple[int, str], str] = {}
        for record in records:
            for text, h in zip(record.responses, record.response_hashes, strict=True):
                wanted.setdefault((prompt_ids[record.prompt_hash], h), text)
        # Only prompts that were there before this batch can have responses already.
        old_prompts = {prompt_ids[h] for h in existed}
        ids = self._response_ids({key for key in wanted if key[0] in old_prompts})
        source_detail = {"import_job": self.job_id}
        new = [
            Response(
                prompt_id=key[0], text=text, source=Source.IMPORTED, source_detail=source_detail, content_hash=key[1]
            )
            for key, text in wanted.items()
            if key not in ids
        ]
        Response.objects.bulk_create(new, batch_size=_INSERT_BATCH, ignore_conflicts=True)
        ids.update(self._response_ids({(r.prompt_id, r.content_hash) for r in new}))
        self.counts.responses_created += len(new)
        self.counts.responses_duplicate += sum(len(r.responses) for r in records) - len(new)
        return ids

    @staticmethod
    def _response_ids(keys: set[tuple[int, str]]) -> dict[tuple[int, str], int]:
        """Ids of the responses named by (prompt id, content hash) that exist."""
        by_prompt: dict[int, set[str]] = defaultdict(set)
        for prompt_id, h in keys:
            by_prompt[prompt_id].add(h)
        found: dict[tuple[int, str], int] = {}
        # Selected by prompt, then filtered here: one short IN list per query, whatever K is.
        for chunk in _chunks(sorted(by_prompt)):
            rows = Response.objects.filter(prompt_id__in=chunk).values_list("id", "prompt_id", "content_hash")
            for id_, prompt_id, h in rows:
                if h in by_prompt[prompt_id]:
                    found[(prompt_id, h)] = id_
        return found

    def _items(
        self,
        records: Sequence[Record],
        prompt_ids: dict[str, int],
        response_ids: dict[tuple[int, str], int],
        existed: set[str],
    ) -> None:
        """One item per record unless the same prompt already has an item with the same responses.

        The response order does not make an item different: it is a display matter (shuffled per
        annotator when the project asks for it).
        """
        new = self._new_items(records, prompt_ids, response_ids, self._item_keys([prompt_ids[h] for h in existed]))
        overlap = self.project.overlap
        items = [
            Item(project=self.project, prompt_id=prompt_id, priority=priority, required=overlap, open_slots=overlap)
            for prompt_id, priority, _ in new
        ]
        members = [ids for _, _, ids in new]
        created = Item.objects.bulk_create(items, batch_size=_INSERT_BATCH)
        links = []
        for item, ids in zip(created, members, strict=True):
            assert item.pk is not None, "bulk_create returns primary keys on Postgres and SQLite >= 3.35"
            links += [ItemResponse(item_id=item.pk, response_id=rid, position=n) for n, rid in enumerate(ids)]
        ItemResponse.objects.bulk_create(links, batch_size=_INSERT_BATCH)
        self.counts.items_created += len(created)

    def _new_items(
        self,
        records: Sequence[Record],
        prompt_ids: dict[str, int],
        response_ids: dict[tuple[int, str], int],
        seen: set[tuple[int, frozenset[int]]],
    ) -> list[tuple[int, float, list[int]]]:
        """(prompt id, priority, response ids) of each record whose item does not exist yet; counts the rest."""
        items: list[tuple[int, float, list[int]]] = []
        for record in records:
            prompt_id = prompt_ids[record.prompt_hash]
            ids = [response_ids[(prompt_id, h)] for h in record.response_hashes]
            key = (prompt_id, frozenset(ids))
            if key in seen:
                self.counts.items_duplicate += 1
                continue
            seen.add(key)
            items.append((prompt_id, record.priority, ids))
        return items

    def _item_keys(self, prompt_ids: Sequence[int]) -> set[tuple[int, frozenset[int]]]:
        """(prompt id, response ids) of the items these prompts already have in the project."""
        members: dict[int, tuple[int, set[int]]] = {}
        for chunk in _chunks(prompt_ids):
            rows = ItemResponse.objects.filter(item__project=self.project, item__prompt_id__in=chunk)
            for item_id, prompt_id, response_id in rows.values_list("item_id", "item__prompt_id", "response_id"):
                members.setdefault(item_id, (prompt_id, set()))[1].add(response_id)
        return {(prompt_id, frozenset(ids)) for prompt_id, ids in members.values()}

    def _merge_preferences(self, pairs: dict[int, list[dict[str, str]]]) -> None:
        """Add this batch's preferences to prompts that were already there (new ones got them at creation)."""
        changed: list[Prompt] = []
        for chunk in _chunks(sorted(pairs)):
            for prompt in Prompt.objects.filter(pk__in=chunk).only("id", "metadata"):
                metadata: dict[str, Any] = dict(prompt.metadata or {})
                known = list(metadata.get(PREFERENCE_KEY, []))
                added = [pair for pair in pairs[prompt.pk] if pair not in known]
                if added:
                    prompt.metadata = {**metadata, PREFERENCE_KEY: known + added}
                    changed.append(prompt)
        Prompt.objects.bulk_update(changed, ["metadata"], batch_size=_INSERT_BATCH)
