"""Raw rows (pseudonymous annotators, provenance) and the deterministic split by prompt."""

from __future__ import annotations

import json

from curation.exporters.raw import annotator_pseudonym, raw_row
from curation.exporters.split import split_of
from tests.curation.exporters.records import KEY, ctx, preferred, record


def test_pseudonym_is_stable_per_project_and_unlinkable_across_projects_and_keys():
    a = annotator_pseudonym(annotator_id=7, project_id=3, key=KEY)
    assert a == annotator_pseudonym(annotator_id=7, project_id=3, key=KEY)
    assert a != annotator_pseudonym(annotator_id=7, project_id=4, key=KEY)
    assert a != annotator_pseudonym(annotator_id=7, project_id=3, key=b"other")
    assert a != annotator_pseudonym(annotator_id=8, project_id=3, key=KEY)
    assert a.startswith("ann_")
    assert len(a) == 20


def test_raw_row_keeps_payload_order_timing_and_provenance_but_no_identity():
    rec = record("pairwise", preferred(11, 10), annotator_id=7)
    row = raw_row(rec, ctx())
    assert row["judgment_id"] == 1
    assert row["item_id"] == 101
    assert row["prompt_id"] == 1
    assert row["display_order"] == [11, 10]
    assert row["time_spent_ms"] == 1234
    assert row["created_at"] == "2026-05-01T12:00:00+00:00"
    assert json.loads(row["payload"]) == preferred(11, 10)
    assert row["prompt"] == [{"role": "user", "content": "Why?"}]
    assert [r["text"] for r in row["responses"]] == ["A", "B"]
    assert json.loads(row["responses"][0]["source_detail"]) == {"checkpoint": "ck-1"}
    assert row["responses"][0]["source"] == "imported"
    assert row["annotator"] == annotator_pseudonym(annotator_id=7, project_id=3, key=KEY)
    assert "annotator_id" not in row
    assert 7 not in row.values()


def test_split_is_deterministic_and_follows_the_fraction():
    hashes = [f"prompt-{n}" for n in range(2000)]
    first = [split_of(h, test_fraction=0.2, seed=1) for h in hashes]
    assert first == [split_of(h, test_fraction=0.2, seed=1) for h in hashes]
    share = first.count("test") / len(first)
    assert 0.17 < share < 0.23
    assert first != [split_of(h, test_fraction=0.2, seed=2) for h in hashes]  # the seed reshuffles
    assert {split_of(h, test_fraction=0.0, seed=1) for h in hashes} == {"train"}
