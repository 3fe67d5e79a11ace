"""The write pass on Postgres: ``COPY`` into staging tables, then set-based ``INSERT … SELECT``.

Used by ``imports_write.BatchWriter`` when the database is Postgres (SQLite keeps the ORM path there),
under the same rules: the caller holds the import's one transaction and the project's row lock, the
database is the de-duplication index (nothing kept across batches but counts), one batch in memory.

Per batch:

1. prompts: ``COPY`` (hash, messages, metadata) into a ``TEMP`` staging table, then one
   ``INSERT … SELECT … ON CONFLICT (project_id, content_hash) DO NOTHING RETURNING``: what it returns
   is new, the rest was there before (their ids by one indexed ``SELECT``);
2. responses: the same, on ``(prompt_id, content_hash)``;
3. items and their responses: which (prompt, response set) pairs exist is decided by the caller (as on
   the ORM path); the new items get ids from the table's sequence and are ``COPY``'d straight into
   their tables with their links (no conflict is possible there: items have no unique key).

The per-row work is then ``json.dumps`` and psycopg's ``COPY`` row encoding, instead of building,
preparing and adapting model instances.
"""

from __future__ import annotations

import json
from collections.abc import Sequence
from datetime import datetime
from typing import Any

from django.db import connection

from annotation.imports.records import Record
from annotation.models import Item, ItemResponse, Prompt, Response, Source

_PROMPT_STAGE = "annotation_import_prompt_stage"
_RESPONSE_STAGE = "annotation_import_response_stage"
_PROMPT = Prompt._meta.db_table
_RESPONSE = Response._meta.db_table
_ITEM = Item._meta.db_table
_ITEM_RESPONSE = ItemResponse._meta.db_table


def copy_enabled() -> bool:
    """Whether the write pass takes this module's path (Postgres, psycopg 3) rather than the ORM's."""
    return connection.vendor == "postgresql"


class CopyWriter:
    """Batches of records into prompts, responses and items by COPY; the caller keeps the counts."""

    def __init__(self, *, project_id: int, job_id: int, overlap: int) -> None:
        self.project_id = project_id
        self.source_detail = json.dumps({"import_job": job_id})
        self.overlap = overlap
        self._staged = False

    def _stage(self) -> None:
        """The staging tables, made once per import (they go with its transaction)."""
        if not self._staged:
            # Trap: ON COMMIT DROP in autocommit would drop the tables as soon as they are made.
            if not connection.in_atomic_block:
                raise RuntimeError("the import's write pass must run inside its transaction")
            with connection.cursor() as cursor:
                # IF NOT EXISTS: inside an outer transaction (a test's) a previous import's tables are
                # still there; each batch empties them first.
                cursor.execute(
                    f"CREATE TEMP TABLE IF NOT EXISTS {_PROMPT_STAGE} "
                    "(content_hash text NOT NULL, messages jsonb NOT NULL, metadata jsonb NOT NULL) ON COMMIT DROP"
                )
                cursor.execute(
                    f"CREATE TEMP TABLE IF NOT EXISTS {_RESPONSE_STAGE} "
                    "(prompt_id bigint NOT NULL, content_hash text NOT NULL, text text NOT NULL) ON COMMIT DROP"
                )
            self._staged = True

    def prompts(
        self, first: dict[str, Record], metadata: dict[str, dict[str, Any]], now: datetime
    ) -> tuple[dict[str, int], set[str]]:
        """Prompt ids by hash for ``first`` (one record per hash), and the hashes that were already there.

        A new prompt gets ``metadata[hash]`` if given, else its record's metadata; one that is there
        keeps its own (the first import wins).
        """
        self._stage()
        with connection.cursor() as wrapper:
            return self._prompts(wrapper.cursor, first, metadata, now)

    def _prompts(
        self, cursor: Any, first: dict[str, Record], metadata: dict[str, dict[str, Any]], now: datetime
    ) -> tuple[dict[str, int], set[str]]:
        cursor.execute(f"TRUNCATE {_PROMPT_STAGE}")
        dumps = json.dumps
        with cursor.copy(f"COPY {_PROMPT_STAGE} (content_hash, messages, metadata) FROM STDIN") as copy:
            write = copy.write_row
            for h, record in first.items():
                write((h, dumps(record.messages), dumps(metadata.get(h, record.metadata))))
        cursor.execute(
            f"INSERT INTO {_PROMPT} (created_at, updated_at, project_id, messages, metadata, source, content_hash) "  # noqa: S608  # nosec
            f"SELECT %s, %s, %s, s.messages, s.metadata, %s, s.content_hash FROM {_PROMPT_STAGE} s "
            "ON CONFLICT (project_id, content_hash) DO NOTHING RETURNING content_hash, id",
            [now, now, self.project_id, Source.IMPORTED.value],
        )
        ids: dict[str, int] = dict(cursor.fetchall())
        existed = {h for h in first if h not in ids}
        if existed:
            cursor.execute(
                f"SELECT content_hash, id FROM {_PROMPT} WHERE project_id = %s AND content_hash = ANY(%s)",  # noqa: S608  # nosec
                [self.project_id, list(existed)],
            )
            ids.update(cursor.fetchall())
        return ids, existed

    def responses(self, wanted: dict[tuple[int, str], str], now: datetime) -> tuple[dict[tuple[int, str], int], int]:
        """Response ids by (prompt id, hash) for ``wanted`` (its text by the same key), and how many are new."""
        self._stage()
        with connection.cursor() as wrapper:
            return self._responses(wrapper.cursor, wanted, now)

    def _responses(
        self, cursor: Any, wanted: dict[tuple[int, str], str], now: datetime
    ) -> tuple[dict[tuple[int, str], int], int]:
        cursor.execute(f"TRUNCATE {_RESPONSE_STAGE}")
        with cursor.copy(f"COPY {_RESPONSE_STAGE} (prompt_id, content_hash, text) FROM STDIN") as copy:
            write = copy.write_row
            for (prompt_id, h), text in wanted.items():
                write((prompt_id, h, text))
        cursor.execute(
            f"INSERT INTO {_RESPONSE} (created_at, updated_at, prompt_id, text, source, source_detail, content_hash) "  # noqa: S608  # nosec
            f"SELECT %s, %s, s.prompt_id, s.text, %s, %s::jsonb, s.content_hash FROM {_RESPONSE_STAGE} s "
            "ON CONFLICT (prompt_id, content_hash) DO NOTHING RETURNING prompt_id, content_hash, id",
            [now, now, Source.IMPORTED.value, self.source_detail],
        )
        ids = {(prompt_id, h): id_ for prompt_id, h, id_ in cursor.fetchall()}
        created = len(ids)
        missing: dict[int, set[str]] = {}
        for key in wanted:
            if key not in ids:
                missing.setdefault(key[0], set()).add(key[1])
        if missing:
            # By prompt, then filtered here: one index scan with one array (two arrays on the unique
            # index would be probed as their cross product before Postgres 17).
            cursor.execute(
                f"SELECT prompt_id, content_hash, id FROM {_RESPONSE} WHERE prompt_id = ANY(%s)",  # noqa: S608  # nosec
                [sorted(missing)],
            )
            for prompt_id, h, id_ in cursor.fetchall():
                if h in missing[prompt_id]:
                    ids[(prompt_id, h)] = id_
        return ids, created

    def item_keys(self, prompt_ids: Sequence[int]) -> set[tuple[int, frozenset[int]]]:
        """(prompt id, response ids) of the items these prompts already have in the project."""
        if not prompt_ids:
            return set()
        members: dict[int, tuple[int, set[int]]] = {}
        with connection.cursor() as cursor:
            # Only prompt_id in the WHERE clause, so the plan is an index lookup per prompt whatever the
            # (possibly stale) statistics say of the project; the project is checked here instead.
            cursor.execute(
                f"SELECT i.id, i.prompt_id, i.project_id, ir.response_id FROM {_ITEM} i "  # noqa: S608  # nosec
                f"JOIN {_ITEM_RESPONSE} ir ON ir.item_id = i.id WHERE i.prompt_id = ANY(%s)",
                [list(prompt_ids)],
            )
            for item_id, prompt_id, project_id, response_id in cursor.fetchall():
                if project_id == self.project_id:
                    members.setdefault(item_id, (prompt_id, set()))[1].add(response_id)
        return {(prompt_id, frozenset(ids)) for prompt_id, ids in members.values()}

    def items(self, items: Sequence[tuple[int, float, Sequence[int]]], now: datetime) -> None:
        """New items, each (prompt id, priority, response ids in display order), with their links."""
        if not items:
            return
        with connection.cursor() as wrapper:
            self._items(wrapper.cursor, items, now)

    def _items(self, cursor: Any, items: Sequence[tuple[int, float, Sequence[int]]], now: datetime) -> None:
        cursor.execute(
            "SELECT nextval(pg_get_serial_sequence(%s, 'id')) FROM generate_series(1, %s)", [_ITEM, len(items)]
        )
        ids = sorted(id_ for (id_,) in cursor.fetchall())
        overlap = self.overlap
        project_id = self.project_id
        columns = "id, created_at, updated_at, project_id, prompt_id, priority, required, open_slots, submitted_count, is_gold"
        # Every column the ORM sets, defaults included: a COPY gets no Django defaults.
        with cursor.copy(f"COPY {_ITEM} ({columns}) FROM STDIN") as copy:
            write = copy.write_row
            for id_, (prompt_id, priority, _) in zip(ids, items, strict=True):
                write((id_, now, now, project_id, prompt_id, priority, overlap, overlap, 0, False))
        with cursor.copy(f"COPY {_ITEM_RESPONSE} (item_id, response_id, position) FROM STDIN") as copy:
            write = copy.write_row
            for id_, (_, _, response_ids) in zip(ids, items, strict=True):
                for position, response_id in enumerate(response_ids):
                    write((id_, response_id, position))
