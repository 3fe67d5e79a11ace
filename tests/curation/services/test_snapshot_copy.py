"""The training tables built by Postgres (services.snapshot_copy) against the Python exporters.

Every case builds the same snapshot twice on real Postgres, once through the COPY path and once with
it turned off (the Python path, the reference), and compares the files: JSONL byte for byte, Parquet
row for row (its row groups differ: the COPY path closes them by size, see writers.ROW_GROUP_BYTES).
"""

from __future__ import annotations

import json
from pathlib import Path

import pyarrow as pa
import pyarrow.parquet as pq
import pytest
from django.db.models import JSONField, Value

import curation.services.snapshot_files as snapshot_files
from annotation.models import Item, Judgment, Response
from annotation.services.projects import item_create
from core.models import Role
from curation.exporters.columns import schema_for
from curation.exporters.writers import ROW_GROUP_BYTES, JsonlWriter, ParquetRowWriter, _encode_row
from curation.models import SnapshotStatus
from curation.services import snapshot_copy
from curation.services.snapshots import snapshot_build, snapshot_create
from tests.curation.judging import judge_everything, judged_project, texts_by_position
from tests.factories import MembershipFactory, annotation_project

pytestmark = pytest.mark.django_db

# Everything JSON escapes, and what it must not: quotes, backslashes (doubled by COPY's text format),
# control characters, U+2028, DEL, non-ASCII.
TRICKY = [
    'He said "no" \\ then \\\\ left.\n\tIndented\r\nline',
    "bell\x07 backspace\x08 formfeed\x0c unit\x1f nul-free é 漢字 🙂 \u2028 del\x7f",
    "plain answer",
    "",
]


def judged(kind_of_prompt="plain"):
    project, users = annotation_project(kind="pairwise", items=0, annotators=2, overlap=2)
    for n in range(12):
        prompt = (
            [{"role": "system", "content": f"Be brief {n}."}, {"role": "user", "content": TRICKY[n % 4]}]
            if kind_of_prompt == "chat" and n % 3 == 0
            else f"Question {n}: {TRICKY[(n + 1) % 4]}"
        )
        item_create(project=project, prompt=prompt, responses=[TRICKY[n % 4] + f" {n}a", TRICKY[(n + 2) % 4] + f"{n}b"])

    def payload(item, count):
        (first, _), (second, _) = texts_by_position(item)
        outcome = ["preferred", "preferred", "tie", "both_bad", "preferred"][count % 5]
        reason = {"reason": TRICKY[count % 4]} if count % 3 else {}
        if outcome != "preferred":
            return {"outcome": outcome, **reason}
        strength = ["slightly better", "better", "much better"][count % 3]
        return {"outcome": outcome, "preferred": second if count % 2 else first, "strength": strength, **reason}

    count = judge_everything(project, users, payload)
    assert count == 24
    # What the raw table carries beyond the training tables: source details (nested, floats, text),
    # gold items and their verdicts, whole-second timestamps (isoformat drops the microseconds).
    responses = Response.objects.filter(prompt__project=project).order_by("id")
    for n, response in enumerate(responses[::3]):
        detail = {
            "checkpoint": f"ck-{n} é",
            "params": {"temperature": 0.7, "top_p": 1.0, "seed": n},
            "a": [1, TRICKY[n % 4]],
        }
        Response.objects.filter(pk=response.pk).update(
            source="policy", source_detail=detail if n % 2 else Value(None, JSONField())
        )
    judgments = list(Judgment.objects.filter(project=project).order_by("id"))
    Item.objects.filter(pk__in=[j.item_id for j in judgments[:6]]).update(is_gold=True)
    for n, judgment in enumerate(judgments[:6]):
        Judgment.objects.filter(pk=judgment.pk).update(
            gold_correct=[True, False, None][n % 3], created_at=judgment.created_at.replace(microsecond=0)
        )
    return project, MembershipFactory(project=project, role=Role.RESEARCHER).user


def build_both(monkeypatch, project, user, filters=None, **options):
    """The snapshot built by the COPY path, and by the Python path; the COPY path must have run."""
    calls = []
    original = snapshot_copy.copy_rows

    def counted(**kwargs):
        calls.append(kwargs["tables"])
        return original(**kwargs)

    monkeypatch.setattr(snapshot_files, "copy_rows", counted)
    applies = snapshot_copy.copy_tables
    built = []
    for fast in (True, False):
        monkeypatch.setattr(snapshot_files, "copy_tables", applies if fast else lambda **_: [])
        snapshot = snapshot_create(project=project, user=user, name="x", filters=filters or {}, options=options)
        result = snapshot_build(snapshot_id=snapshot.pk)
        assert result is not None
        built.append(result)
    tables = options.get("tables", ["preference", "unpaired", "raw"])
    assert calls == [tables]
    return built


def assert_same_files(media, fast, slow):
    assert fast.status == slow.status == SnapshotStatus.SUCCEEDED, (fast.error, slow.error)
    assert fast.counts == slow.counts
    assert fast.progress_done == slow.progress_done == fast.counts["judgments"]
    assert [(f["name"], f["rows"]) for f in fast.files] == [(f["name"], f["rows"]) for f in slow.files]
    for entry, other in zip(fast.files, slow.files, strict=True):
        mine, theirs = Path(media) / entry["path"], Path(media) / other["path"]
        if entry["format"] == "jsonl":
            assert mine.read_bytes() == theirs.read_bytes(), entry["name"]
            assert entry["sha256"] == other["sha256"]
        else:
            assert pq.read_table(mine).equals(pq.read_table(theirs)), entry["name"]


@pytest.mark.parametrize(
    "options",
    [
        {"tables": ["preference"]},
        {"tables": ["preference"], "include_ties": True, "include_both_bad": True, "margin": {"mode": "llama2"}},
        {"tables": ["preference"], "include_ties": True, "test_fraction": 0.5, "split_seed": 3},
        {"tables": ["preference", "unpaired", "raw"], "include_both_bad": True, "margin": {"mode": "none"}},
        {"tables": ["unpaired"], "test_fraction": 0.5, "split_seed": 11},
        {"tables": ["unpaired", "preference"], "include_ties": True, "prompt_format": "conversational"},
        {},  # the defaults: every table
        {"filters": {"include_gold": True}, "tables": ["raw", "preference"], "prompt_format": "conversational"},
        {"filters": {"include_gold": True}, "test_fraction": 0.3},
        {
            "tables": ["preference"],
            "prompt_format": "conversational",
            "margin": {"mode": "level_fraction", "scale": 2.5},
        },
    ],
)
def test_copy_path_writes_the_python_paths_files(media, monkeypatch, options):
    project, researcher = judged()
    fast, slow = build_both(monkeypatch, project, researcher, file_format="both", **options)
    if "filters" in options:
        assert fast.counts["judgments"] == 24
        raw_file = next(Path(media) / f["path"] for f in fast.files if f["table"] == "raw" and f["format"] == "jsonl")
        raw = [json.loads(line) for line in raw_file.read_text().split("\n")[:-1]]  # not splitlines: U+2028
        assert {r["gold_correct"] for r in raw} == {True, False, None}
        assert any("." not in r["created_at"] for r in raw)
        assert any("." in r["created_at"] for r in raw)
        details = [json.loads(c["source_detail"]) for r in raw for c in r["responses"]]
        assert {"checkpoint", "params", "a"} in [set(d) for d in details]
        assert {} in details
    assert_same_files(media, fast, slow)
    for table in ("preference", "unpaired"):
        if table in fast.counts:
            assert sum(fast.counts[table].values()) > 0


def test_copy_path_writes_conversations_as_the_python_path(media, monkeypatch):
    project, researcher = judged("chat")
    fast, slow = build_both(
        monkeypatch, project, researcher, file_format="both", tables=["preference", "unpaired"], include_ties=True
    )
    assert fast.manifest["prompt_format"] == "conversational"
    assert_same_files(media, fast, slow)
    first = json.loads((Path(media) / fast.files[0]["path"]).read_text().split("\n")[0])
    assert first["chosen"][0]["role"] == "assistant"


@pytest.mark.parametrize("tables", [["preference"], ["unpaired"]])
def test_copy_path_refuses_what_the_python_path_refuses(media, monkeypatch, tables):
    project, researcher = judged("chat")
    fast, slow = build_both(monkeypatch, project, researcher, tables=tables, prompt_format="standard")
    assert fast.status == slow.status == SnapshotStatus.FAILED
    assert fast.error == slow.error
    assert "standard format holds one user turn only" in fast.error

    # A judgment naming a response of another item.
    judgment = Judgment.objects.filter(project=project, payload__outcome="preferred", item__is_gold=False).first()
    stranger = texts_by_position(Judgment.objects.exclude(item=judgment.item).first().item)[0][0]
    Judgment.objects.filter(pk=judgment.pk).update(payload={**judgment.payload, "preferred": stranger})
    fast, slow = build_both(monkeypatch, project, researcher, tables=tables)
    assert fast.status == slow.status == SnapshotStatus.FAILED
    assert fast.error == slow.error
    assert f"judgment {judgment.pk} names response {stranger}, which is not in its item" in fast.error
    assert not list((Path(media) / "snapshots" / str(project.pk)).glob(f"{fast.pk}*"))


def test_other_kinds_and_consensus_stay_on_the_python_path(media):
    from curation.exporters.options import filters_parse, options_parse
    from curation.selectors import judgments_for_export
    from curation.services.snapshot_files import _context

    project, _, _ = judged_project("ranking", items=1, annotators=1)
    judgments = judgments_for_export(project=project, filters=filters_parse({}))
    ctx = _context(project, options_parse({"tables": ["preference"]}), "standard")
    assert snapshot_copy.copy_tables(judgments=judgments, ctx=ctx) == []
    pairwise, _ = judged()
    judgments = judgments_for_export(project=pairwise, filters=filters_parse({}))
    ctx = _context(pairwise, options_parse({"tables": ["preference"]}), "standard")
    assert snapshot_copy.copy_tables(judgments=judgments, ctx=ctx) == ["preference"]
    weighted = _context(pairwise, options_parse({"tables": ["preference"]}), "standard", weighted=True)
    assert snapshot_copy.copy_tables(judgments=judgments, ctx=weighted) == []
    every = _context(pairwise, options_parse({"tables": ["raw", "unpaired", "preference"]}), "standard")
    assert snapshot_copy.copy_tables(judgments=judgments, ctx=every) == ["raw", "unpaired", "preference"]


def test_writers_take_encoded_lines_as_they_take_rows(tmp_path):
    schema = schema_for("preference", "standard")
    rows = [
        {
            "prompt": f"p{n} {TRICKY[n % 4]}",
            "chosen": "c",
            "rejected": "r",
            "margin": n / 3,
            "tie": n % 2 == 0,
            "origin": "pairwise",
        }
        for n in range(10)
    ]
    lines = [_encode_row(row).encode() for row in rows]
    written = {}
    for how in ("rows", "lines"):
        jsonl = JsonlWriter(tmp_path / f"{how}.jsonl", schema)
        # Lines: a row group whenever the lines given reach 1 byte, i.e. one per write_lines call.
        parquet = ParquetRowWriter(tmp_path / f"{how}.parquet", schema, batch_rows=4, row_group_bytes=1)
        if how == "rows":
            for row in rows:
                jsonl.write(row)
                parquet.write(row)
        else:
            for start in range(0, 10, 3):
                jsonl.write_lines(lines[start : start + 3])
                parquet.write_lines(lines[start : start + 3])
        written[how] = (jsonl.close(), parquet.close())
    assert (tmp_path / "rows.jsonl").read_bytes() == (tmp_path / "lines.jsonl").read_bytes()
    assert written["rows"][0].sha256 == written["lines"][0].sha256
    assert written["rows"][1].rows == written["lines"][1].rows == 10
    table = pq.read_table(tmp_path / "lines.parquet")
    assert table.equals(pa.Table.from_pylist(rows, schema=schema))
    assert pq.ParquetFile(tmp_path / "rows.parquet").metadata.num_row_groups == 3  # 4 + 4 + 2
    meta = pq.ParquetFile(tmp_path / "lines.parquet").metadata
    assert [meta.row_group(n).num_rows for n in range(meta.num_row_groups)] == [3, 3, 3, 1]

    # The default closes a row group at ROW_GROUP_BYTES of lines, whatever their number.
    big = ParquetRowWriter(tmp_path / "big.parquet", schema, batch_rows=4)
    line = lines[2]
    per_group = -(-ROW_GROUP_BYTES // len(line))  # lines of this size that reach the limit
    calls = -(-per_group // 100)  # calls of 100 lines that reach it: the call that crosses closes the group
    for _ in range(3 * calls):
        big.write_lines([line] * 100)
    big.close()
    meta = pq.ParquetFile(tmp_path / "big.parquet").metadata
    sizes = [meta.row_group(n).num_rows for n in range(meta.num_row_groups)]
    assert sizes == [calls * 100] * 3

    bad = ParquetRowWriter(tmp_path / "bad.parquet", schema)
    bad.write_lines([b'{"prompt":"p","chosen":"c","rejected":"r","margin":1.0,"tie":false,"origin":"x","extra":1}'])
    with pytest.raises(pa.ArrowInvalid):
        bad.close()
