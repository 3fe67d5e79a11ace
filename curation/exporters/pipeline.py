"""Stream judgment records -> rows of every table the snapshot asked for, each tagged with its split.

Pure module, one pass, memory bounded by one prompt's rated responses. Precondition: records come
ordered by ``prompt_id`` (the selector orders them so), because rating pairs compare the responses of
one prompt and are emitted when that prompt's last judgment has gone by.
"""

from __future__ import annotations

from collections.abc import Iterable, Iterator
from itertools import groupby
from typing import Any, NamedTuple

from curation.exporters.options import Table
from curation.exporters.ratings import PromptRatings
from curation.exporters.raw import raw_row
from curation.exporters.records import ExportContext, JudgmentRecord
from curation.exporters.split import Split, split_of
from curation.exporters.trl import ExportError, judgment_pairs, pairwise_unpaired, preference_row


class ExportRow(NamedTuple):  # a tuple: one is made per row written, and a dataclass costs more to make
    table: Table
    split: Split | None  # None: the table is not split (raw, or a snapshot without a test fraction)
    row: dict[str, Any]

    @property
    def origin(self) -> str | None:
        return self.row.get("origin")


def _ordered(records: Iterable[JudgmentRecord]) -> Iterator[JudgmentRecord]:
    last = -1
    for record in records:
        if record.prompt_id < last:
            raise ExportError("records must be ordered by prompt (internal error in the selector)")
        last = record.prompt_id
        yield record


def export_rows(records: Iterable[JudgmentRecord], ctx: ExportContext) -> Iterator[ExportRow]:
    tables = set(ctx.options.tables)
    splitting = ctx.options.test_fraction > 0
    for _, group in groupby(_ordered(records), key=lambda r: r.prompt_id):
        ratings = PromptRatings()
        split: Split | None = None
        for record in group:
            if split is None and splitting:
                split = split_of(
                    record.prompt_hash, test_fraction=ctx.options.test_fraction, seed=ctx.options.split_seed
                )
            if "raw" in tables and record.role != "consensus":
                yield ExportRow("raw", None, raw_row(record, ctx))
            if record.role == "evidence":
                continue  # consensus-only: the item's consensus record makes its training rows
            if "preference" in tables:
                for pair in judgment_pairs(record, ctx):
                    yield ExportRow("preference", split, preference_row(record, pair, ctx))
            if "unpaired" in tables:
                for row in pairwise_unpaired(record, ctx):
                    yield ExportRow("unpaired", split, row)
            ratings.add(record, ctx)
        if "preference" in tables:
            for record, pair in ratings.pairs(ctx):
                yield ExportRow("preference", split, preference_row(record, pair, ctx))
        if "unpaired" in tables:
            for row in ratings.unpaired(ctx):
                yield ExportRow("unpaired", split, row)
