"""Writers hash exactly the bytes on disk and stream Parquet in row groups; the spec is an allowlist."""

from __future__ import annotations

import hashlib
import json

import pyarrow.parquet as pq
import pytest

from annotation.schemas import SchemaError
from curation.exporters.columns import schema_for
from curation.exporters.options import filters_parse, options_parse
from curation.exporters.writers import open_writer

ROWS = [
    {"prompt": f"Q{n} — ünïcode", "chosen": "a", "rejected": "b", "margin": n / 10, "tie": False, "origin": "pairwise"}
    for n in range(25)
]


@pytest.mark.parametrize("kind", ["jsonl", "parquet"])
def test_writer_hash_and_size_match_the_file(tmp_path, kind):
    path = tmp_path / f"preference.{kind}"
    writer = open_writer(path, kind, schema_for("preference", "standard"), batch_rows=10)
    for row in ROWS:
        writer.write(row)
    written = writer.close()
    data = path.read_bytes()
    assert written.sha256 == hashlib.sha256(data).hexdigest()
    assert written.bytes == len(data)
    assert written.rows == 25
    if kind == "jsonl":
        assert [json.loads(line) for line in data.decode().splitlines()] == ROWS
    else:
        table = pq.read_table(path)
        assert table.to_pylist() == ROWS
        assert pq.ParquetFile(path).num_row_groups == 3  # streamed in batches of 10


def test_parquet_keeps_statistics_on_numbers_only(tmp_path):
    # Min/max of free text prunes no read and cost memory per row group until the footer was written.
    path = tmp_path / "preference.parquet"
    writer = open_writer(path, "parquet", schema_for("preference", "standard"), batch_rows=10)
    for row in ROWS:
        writer.write(row)
    writer.close()
    group = pq.ParquetFile(path).metadata.row_group(0)
    columns = {group.column(i).path_in_schema: group.column(i) for i in range(group.num_columns)}
    assert columns["margin"].is_stats_set
    assert (columns["margin"].statistics.min, columns["margin"].statistics.max) == (0.0, 0.9)
    assert not any(columns[name].is_stats_set for name in ("prompt", "chosen", "rejected", "origin"))


def test_writer_refuses_wrong_columns(tmp_path):
    writer = open_writer(tmp_path / "p.jsonl", "jsonl", schema_for("preference", "standard"))
    with pytest.raises(ValueError, match="expected"):
        writer.write({"prompt": "x", "chosen": "a"})


def test_writer_never_overwrites(tmp_path):
    (tmp_path / "p.jsonl").write_text("old")
    with pytest.raises(FileExistsError):
        open_writer(tmp_path / "p.jsonl", "jsonl", schema_for("preference", "standard"))


def test_conversational_parquet_schema_holds_message_lists(tmp_path):
    row = {
        "prompt": [{"role": "system", "content": "s"}, {"role": "user", "content": "u"}],
        "completion": [{"role": "assistant", "content": "c"}],
        "label": True,
        "origin": "rating",
    }
    writer = open_writer(tmp_path / "u.parquet", "parquet", schema_for("unpaired", "conversational"))
    writer.write(row)
    writer.close()
    assert pq.read_table(tmp_path / "u.parquet").to_pylist() == [row]


def test_defaults_are_filled_in():
    options = options_parse({})
    assert options.tables == ["preference", "unpaired", "raw"]
    assert options.include_ties is False
    assert options.include_both_bad is False
    assert options.formats == ("jsonl", "parquet")
    assert filters_parse(None).include_gold is False


@pytest.mark.parametrize(
    ("raw", "field"),
    [
        ({"item__prompt__project_id": 3}, "filters.item__prompt__project_id"),  # no lookup paths
        ({"task_kinds": ["essay"]}, "filters.task_kinds.0"),
        ({"created_from": "2026-05-02", "created_to": "2026-05-01"}, "filters"),
        ({"annotator_ids": [1, 1]}, "filters.annotator_ids"),
        ({"response_sources": ["web"]}, "filters.response_sources.0"),
    ],
)
def test_bad_filters_name_the_field(raw, field):
    with pytest.raises(SchemaError) as exc:
        filters_parse(raw)
    assert field in [e.field for e in exc.value.errors]


@pytest.mark.parametrize(
    ("raw", "field"),
    [
        ({"file_format": "csv"}, "options.file_format"),
        ({"test_fraction": 0.9}, "options.test_fraction"),
        ({"tables": []}, "options.tables"),
        ({"margin": {"mode": "huge"}}, "options.margin.mode"),
        ({"rating_pair_min_gap": 0}, "options.rating_pair_min_gap"),
        ({"surprise": True}, "options.surprise"),
    ],
)
def test_bad_options_name_the_field(raw, field):
    with pytest.raises(SchemaError) as exc:
        options_parse(raw)
    assert field in [e.field for e in exc.value.errors]
