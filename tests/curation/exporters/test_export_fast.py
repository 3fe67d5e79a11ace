"""The fast export path writes exactly what the plain one would: same records, same lines, same bytes.

The selector reads JSON (and, on Postgres, timestamps) as text and shares decoded values between
records; the writers encode with a prebuilt JSON encoder and batch their writes. These tests pin the
output against independent references: records built from ORM model instances, lines from
``json.dumps`` with the documented options, Parquet read back against the JSONL.
"""

from __future__ import annotations

import json
import math
from datetime import UTC, datetime
from pathlib import Path

import pyarrow.parquet as pq
import pytest
from django.conf import settings

from annotation.models import ItemResponse, Judgment
from annotation.services.projects import item_create
from core.models import Role
from curation import selectors
from curation.exporters.columns import schema_for
from curation.exporters.options import filters_parse
from curation.exporters.raw import annotator_pseudonym
from curation.exporters.records import JudgmentRecord, ResponseRecord
from curation.exporters.writers import json_encoder, open_writer
from curation.services.snapshots import snapshot_build, snapshot_create
from tests.curation.judging import judge_everything, texts_by_position
from tests.factories import MembershipFactory, annotation_project

pytestmark = pytest.mark.django_db

PROMPTS = [
    "Qué pasa? ✓",
    [{"role": "system", "content": "Be terse.\n\t“quoted” \u2028"}, {"role": "user", "content": "Hi 日本語"}],
    [
        {"role": "user", "content": "First"},
        {"role": "assistant", "content": "Reply 😀"},
        {"role": "user", "content": 'Second \\ "turn"'},
    ],
]


def _dumps(value, **options):
    return json.dumps(value, ensure_ascii=False, separators=(",", ":"), **options)


def _pairwise_project(prompts, *, annotators=2):
    """Pairwise items (one per prompt, responses with source details) judged by ``annotators``:
    preferred with each strength, a tie and a both-bad, in turn."""
    project, users = annotation_project(kind="pairwise", items=0, overlap=annotators, annotators=annotators)
    for n, prompt in enumerate(prompts):
        item_create(
            project=project,
            prompt=prompt,
            responses=[f"A{n} ü", f'B{n} "q"'],
            priority=float(len(prompts) - n),
            source="generated" if n % 2 else "imported",
            source_detail={"checkpoint": f"ck-{n}", "temperature": 0.7, "zeta": [1, None], "ä": True} if n else None,
        )

    def payload(item, count):
        (first, _), (second, _) = texts_by_position(item)
        turn = count % 5
        if turn == 3:
            return {"outcome": "tie"}
        if turn == 4:
            return {"outcome": "both_bad"}
        strength = ["slightly better", "better", "much better"][turn]
        return {"outcome": "preferred", "preferred": first if count % 2 == 0 else second, "strength": strength}

    judge_everything(project, users, payload=payload)
    researcher = MembershipFactory(project=project, role=Role.RESEARCHER).user
    return project, researcher


def _reference_records(project):
    """Records built the slow, obvious way: model instances, Django's own JSON decoding."""
    judgments = selectors.judgments_for_export(project=project, filters=filters_parse({}))
    records = []
    for j in judgments.select_related("item__prompt"):
        links = ItemResponse.objects.filter(item_id=j.item_id).select_related("response")
        records.append(
            JudgmentRecord(
                id=j.pk,
                project_id=j.project_id,
                kind=j.kind,
                payload=j.payload,
                annotator_id=j.annotator_id,
                display_order=tuple(int(r) for r in j.display_order or ()),
                time_spent_ms=j.time_spent_ms,
                created_at=j.created_at,
                item_id=j.item_id,
                is_gold=j.item.is_gold,
                gold_correct=j.gold_correct,
                prompt_id=j.item.prompt_id,
                prompt_hash=j.item.prompt.content_hash,
                prompt_messages=tuple(j.item.prompt.messages),
                responses={
                    link.response_id: ResponseRecord(
                        id=link.response_id,
                        text=link.response.text,
                        source=link.response.source,
                        source_detail=link.response.source_detail or {},
                        position=link.position,
                    )
                    for link in links
                },
            )
        )
    return records


def _records(project, **kwargs):
    judgments = selectors.judgments_for_export(project=project, filters=filters_parse({}))
    return list(selectors.judgment_records(judgments=judgments, **kwargs))


def test_records_equal_those_built_from_model_instances():
    project, _ = _pairwise_project(PROMPTS * 2, annotators=3)
    # A whole second: Postgres writes it without a fraction, which the text path must still parse.
    first = Judgment.objects.filter(project=project).order_by("pk").first()
    Judgment.objects.filter(pk=first.pk).update(created_at=datetime(2026, 5, 1, 12, 0, 0, tzinfo=UTC))
    expected = _reference_records(project)
    assert len(expected) == 18
    for chunk_size in (1, 4, 500):  # fetches that split a judgment's rows, and one that holds everything
        records = _records(project, chunk_size=chunk_size)
        assert records == expected
    assert {r.created_at.isoformat() for r in records if r.id == first.pk} == {"2026-05-01T12:00:00+00:00"}
    # Shared, not copied: one messages tuple per prompt, one responses mapping per item.
    by_prompt = {}
    for record in records:
        assert (
            by_prompt.setdefault((record.prompt_id, record.item_id), record).prompt_messages is record.prompt_messages
        )
        assert by_prompt[(record.prompt_id, record.item_id)].responses is record.responses


def test_records_without_the_text_timestamps_are_the_same(monkeypatch):
    """The portable path (SQLite, or Postgres with another DateStyle) reads ``created_at`` as a datetime."""
    project, _ = _pairwise_project(PROMPTS)
    fast = _records(project)
    monkeypatch.setattr(selectors, "_timestamps_as_text", lambda alias: False)
    assert _records(project) == fast == _reference_records(project)


@pytest.mark.parametrize("postgres", [True, False])
def test_conversational_check_in_sql_and_in_python(monkeypatch, postgres):
    monkeypatch.setattr(selectors, "_postgres", lambda alias: postgres)
    single, _ = _pairwise_project(["One", "Two"])
    assert not selectors.prompts_need_conversational(judgments=Judgment.objects.filter(project=single))
    for prompt in PROMPTS[1:]:
        project, _ = _pairwise_project(["Plain", prompt])
        judgments = Judgment.objects.filter(project=project)
        assert selectors.prompts_need_conversational(judgments=judgments)
        # Only the prompts of the judgments asked about count.
        plain = judgments.filter(item__prompt__messages=[{"role": "user", "content": "Plain"}])
        assert plain.exists()
        assert not selectors.prompts_need_conversational(judgments=plain)


def test_timestamps_are_read_as_text_on_postgres_in_utc():
    assert selectors._timestamps_as_text("default") is True


def _lines(path):
    # Not splitlines(): it also splits at U+2028, which json.dumps(ensure_ascii=False) leaves as is.
    return [json.loads(line) for line in path.read_text(encoding="utf-8").split("\n")[:-1]]


def _build(project, user, **options):
    snapshot = snapshot_create(project=project, user=user, name="fast", filters={}, options=options)
    built = snapshot_build(snapshot_id=snapshot.pk)
    assert built is not None
    assert built.status == "succeeded", built.error
    return Path(settings.MEDIA_ROOT) / built.folder, built


def test_exact_lines_of_a_small_project(media):
    project, users = annotation_project(kind="pairwise", items=0, annotators=1)
    item_create(project=project, prompt="Qué? ✓", responses=["Sí 😀", 'No "way"\n'], priority=2.0)
    item_create(project=project, prompt="Second", responses=["x", "y"], priority=1.0)
    answers = iter(
        [
            lambda first, second: {"outcome": "preferred", "preferred": second, "strength": "better"},
            lambda first, second: {"outcome": "tie"},
        ]
    )

    def payload(item, count):
        (first, _), (second, _) = texts_by_position(item)
        return next(answers)(first, second)

    judge_everything(project, users, payload=payload)
    researcher = MembershipFactory(project=project, role=Role.RESEARCHER).user
    folder, snapshot = _build(project, researcher, include_ties=True)
    assert (folder / "preference.jsonl").read_text(encoding="utf-8") == (
        '{"prompt":"Qué? ✓","chosen":"No \\"way\\"\\n","rejected":"Sí 😀","margin":0.6666666666666666,'
        '"tie":false,"origin":"pairwise"}\n'
        '{"prompt":"Second","chosen":"x","rejected":"y","margin":0.0,"tie":true,"origin":"pairwise"}\n'
    )
    assert (folder / "unpaired.jsonl").read_text(encoding="utf-8") == (
        '{"prompt":"Qué? ✓","completion":"No \\"way\\"\\n","label":true,"origin":"pairwise"}\n'
        '{"prompt":"Qué? ✓","completion":"Sí 😀","label":false,"origin":"pairwise"}\n'
    )
    # Raw lines from the model instances, encoded as documented (exporters.raw, exporters.writers).
    expected = []
    for j in Judgment.objects.filter(project=project).select_related("item__prompt").order_by("item__prompt_id"):
        links = ItemResponse.objects.filter(item=j.item).select_related("response").order_by("position")
        row = {
            "judgment_id": j.pk,
            "kind": "pairwise",
            "item_id": j.item_id,
            "prompt_id": j.item.prompt_id,
            "is_gold": False,
            "gold_correct": None,
            "annotator": annotator_pseudonym(
                annotator_id=j.annotator_id, project_id=project.pk, key=settings.SECRET_KEY.encode()
            ),
            "created_at": j.created_at.isoformat(),
            "time_spent_ms": j.time_spent_ms,
            "display_order": j.display_order,
            "prompt": j.item.prompt.messages,
            "responses": [
                {
                    "id": link.response_id,
                    "position": link.position,
                    "text": link.response.text,
                    "source": "imported",
                    "source_detail": "{}",
                }
                for link in links
            ],
            "payload": _dumps(j.payload, sort_keys=True),
        }
        expected.append(_dumps(row, allow_nan=False) + "\n")
    assert (folder / "raw.jsonl").read_text(encoding="utf-8") == "".join(expected)
    assert snapshot.counts["preference"]["pairwise"] == 2


def test_parquet_holds_the_jsonl_rows_in_order(media):
    project, researcher = _pairwise_project(PROMPTS * 3)
    folder, snapshot = _build(project, researcher, include_ties=True, include_both_bad=True)
    assert snapshot.manifest["prompt_format"] == "conversational"
    for table in ("preference", "unpaired", "raw"):
        lines = _lines(folder / f"{table}.jsonl")
        assert lines, table
        assert pq.read_table(folder / f"{table}.parquet").to_pylist() == lines
    raw = _lines(folder / "raw.jsonl")
    assert [r["prompt_id"] for r in raw] == sorted(r["prompt_id"] for r in raw)
    details = {json.loads(resp["source_detail"]).get("checkpoint") for r in raw for resp in r["responses"]}
    assert details == {None} | {f"ck-{n}" for n in range(1, 9)}  # items share prompts (same text)


TRICKY = [
    {"b": 1, "a": [0.1 + 0.2, 1e-7, 1e16, -0.0, 2**70, -3], "é": '\u2028\x00\x1f"\\/ 😀', "t": True, "n": None},
    [[], {}, "", 1.5, False, {"z": {"y": [1, {"x": "ü"}]}}],
    "plain",
    12,
]


@pytest.mark.parametrize("value", TRICKY)
@pytest.mark.parametrize("sort_keys", [False, True])
def test_json_encoder_writes_what_json_dumps_writes(value, sort_keys):
    assert json_encoder(sort_keys=sort_keys)(value) == _dumps(value, sort_keys=sort_keys)
    assert json_encoder(sort_keys=sort_keys, allow_nan=False)(value) == _dumps(value, sort_keys=sort_keys)


def test_json_encoder_refuses_nan_when_asked():
    with pytest.raises(ValueError, match="JSON compliant"):
        json_encoder(allow_nan=False)({"margin": math.nan})
    assert json_encoder()({"margin": math.inf}) == _dumps({"margin": math.inf})


@pytest.mark.parametrize("count", [0, 1, 127, 128, 129, 300])
def test_jsonl_batches_do_not_change_the_bytes(tmp_path, count):
    rows = [
        {
            "prompt": f"Q{n} — ü",
            "chosen": "a\n",
            "rejected": "b",
            "margin": n / 7,
            "tie": n % 2 == 0,
            "origin": "pairwise",
        }
        for n in range(count)
    ]
    writer = open_writer(tmp_path / "p.jsonl", "jsonl", schema_for("preference", "standard"))
    for row in rows:
        writer.write(row)
    written = writer.close()
    expected = "".join(_dumps(row, allow_nan=False) + "\n" for row in rows).encode()
    assert (tmp_path / "p.jsonl").read_bytes() == expected
    assert (written.rows, written.bytes) == (count, len(expected))
