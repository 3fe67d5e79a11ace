"""The streaming pipeline: every table, split disjointness by prompt, ordering precondition."""

from __future__ import annotations

from collections import Counter

import pytest

from curation.exporters.pipeline import export_rows
from curation.exporters.trl import ExportError
from tests.curation.exporters.records import ctx, preferred, rating, record


def mixed_records():
    out = []
    jid = 0
    for prompt_id in range(1, 41):
        jid += 1
        out.append(record("pairwise", preferred(11, 10), judgment_id=jid, prompt_id=prompt_id, prompt=f"Q{prompt_id}"))
        jid += 1
        out.append(
            record(
                "ranking",
                {"ranking": [[12], [11], [10]]},
                texts=("A", "B", "C"),
                judgment_id=jid,
                prompt_id=prompt_id,
                prompt=f"Q{prompt_id}",
            )
        )
        for n, score in enumerate((7, 1)):
            jid += 1
            out.append(
                record(
                    "rating",
                    rating(20 + n, helpfulness=score, honesty=score),
                    texts=(f"R{n}",),
                    first_id=20 + n,
                    judgment_id=jid,
                    prompt_id=prompt_id,
                    prompt=f"Q{prompt_id}",
                )
            )
    return out


def test_every_table_and_origin_is_counted():
    rows = list(export_rows(mixed_records(), ctx()))
    counts = Counter((r.table, r.origin) for r in rows)
    assert counts[("raw", None)] == 160
    assert counts[("preference", "pairwise")] == 40
    assert counts[("preference", "ranking")] == 120
    assert counts[("preference", "rating")] == 40
    assert counts[("unpaired", "pairwise")] == 80
    assert counts[("unpaired", "rating")] == 80
    assert {r.split for r in rows} == {None}


def test_split_keeps_each_prompt_on_one_side():
    rows = list(export_rows(mixed_records(), ctx(test_fraction=0.3, split_seed=5)))
    sides: dict[str, set[str]] = {}
    for r in rows:
        if r.table != "raw":
            sides.setdefault(r.row["prompt"], set()).add(r.split)
    assert all(len(s) == 1 for s in sides.values())
    assert {"train", "test"} == set().union(*sides.values())
    assert all(r.split is None for r in rows if r.table == "raw")
    again = list(export_rows(mixed_records(), ctx(test_fraction=0.3, split_seed=5)))
    assert [(r.table, r.split, r.row) for r in rows] == [(r.table, r.split, r.row) for r in again]


def test_only_requested_tables_are_produced():
    rows = list(export_rows(mixed_records(), ctx(tables=["unpaired"])))
    assert {r.table for r in rows} == {"unpaired"}


def test_records_out_of_prompt_order_are_refused():
    records = [record("pairwise", preferred(11, 10), prompt_id=2), record("pairwise", preferred(11, 10), prompt_id=1)]
    with pytest.raises(ExportError, match="ordered by prompt"):
        list(export_rows(records, ctx()))
