"""Snapshot builds on real Postgres, from judgments made through the queue services."""

from __future__ import annotations

import hashlib
import json
import os
import stat
from datetime import timedelta
from pathlib import Path

import pytest
from django.core.exceptions import PermissionDenied
from django.http import Http404
from django.utils import timezone

import ml
from annotation.models import Judgment
from annotation.schemas import SchemaError
from annotation.services.projects import item_create
from core.models import Role
from curation.exporters.options import filters_parse
from curation.models import DatasetSnapshot, ImmutableSnapshotError, SnapshotStatus
from curation.selectors import judgments_for_export, snapshot_file_path, snapshot_get
from curation.services.snapshots import snapshot_build, snapshot_create, snapshots_fail_stale
from curation.tasks import build_snapshot
from tests.curation.judging import judge_everything, judged_project, texts_by_position
from tests.factories import MembershipFactory, UserFactory, annotation_project

pytestmark = pytest.mark.django_db


def create(project, user, *, filters=None, **options):
    return snapshot_create(project=project, user=user, name="export", filters=filters or {}, options=options)


def build(project, user, *, filters=None, **options):
    snapshot = create(project, user, filters=filters, **options)
    result = snapshot_build(snapshot_id=snapshot.pk)
    assert result is not None
    return result


def folder(media, snapshot):
    return Path(media) / snapshot.folder


def read_jsonl(path):
    # Not splitlines(): it also splits on U+2028, which may stand unescaped inside a JSON string.
    return [json.loads(line) for line in path.read_text().split("\n") if line]


@pytest.mark.parametrize(
    ("kind", "preference", "unpaired"),
    [
        # 4 items x 2 annotators; every 4th pairwise judgment is a tie (2 ties): 6 pairs, 12 KTO rows.
        ("pairwise", {"pairwise": 6, "ranking": 0, "edit": 0, "rating": 0}, {"pairwise": 12, "rating": 0}),
        # K=3, strict: 3 pairs per judgment.
        ("ranking", {"pairwise": 0, "ranking": 24, "edit": 0, "rating": 0}, {"pairwise": 0, "rating": 0}),
        ("free_text", {"pairwise": 0, "ranking": 0, "edit": 8, "rating": 0}, {"pairwise": 0, "rating": 0}),
    ],
)
def test_counts_per_origin(media, kind, preference, unpaired):
    project, _, researcher = judged_project(kind)
    snapshot = build(project, researcher)
    assert snapshot.status == SnapshotStatus.SUCCEEDED, snapshot.error
    assert snapshot.counts["judgments"] == snapshot.counts["raw"] == 8
    assert snapshot.counts["preference"] == preference
    assert snapshot.counts["unpaired"] == unpaired
    assert snapshot.progress_done == snapshot.progress_total == 8
    rows = read_jsonl(folder(media, snapshot) / "preference.jsonl")
    assert len(rows) == sum(preference.values())


def test_rating_pairs_compare_responses_of_the_same_prompt(media):
    # Two items share each prompt (same prompt text), one response each: rated 7 and 1 alternately.
    project, users = annotation_project(
        kind="rating",
        items=0,
        annotators=1,
        config={"aspects": [{"name": "helpfulness", "label": "Helpfulness", "min": 1, "max": 7}]},
    )
    for n in range(3):
        item_create(project=project, prompt=f"Question {n}?", responses=[f"Good answer {n}"], priority=2.0)
        item_create(project=project, prompt=f"Question {n}?", responses=[f"Bad answer {n}"], priority=1.0)

    def score(item, n):
        [(_, text)] = texts_by_position(item)
        return {"ratings": {"helpfulness": {"score": 7 if text.startswith("Good") else 1}}}

    judge_everything(project, users, payload=score)
    researcher = MembershipFactory(project=project, role=Role.RESEARCHER).user
    snapshot = build(project, researcher)
    assert snapshot.counts["preference"]["rating"] == 3
    assert snapshot.counts["unpaired"]["rating"] == 6
    rows = read_jsonl(folder(media, snapshot) / "preference.jsonl")
    assert all(r["chosen"].startswith("Good") and r["rejected"].startswith("Bad") and r["margin"] == 1.0 for r in rows)


def test_manifest_hashes_are_the_bytes_on_disk(media, settings):
    settings.GIT_COMMIT = "0123456789abcdef0123456789abcdef01234567"
    project, _, researcher = judged_project("pairwise")
    snapshot = build(project, researcher)
    where = folder(media, snapshot)
    manifest_bytes = (where / "manifest.json").read_bytes()
    assert hashlib.sha256(manifest_bytes).hexdigest() == snapshot.sha256
    manifest = json.loads(manifest_bytes)
    assert manifest == snapshot.manifest
    assert manifest["schema_version"] == 1
    assert manifest["snapshot_id"] == snapshot.pk
    assert manifest["filters"]["include_gold"] is False
    assert manifest["options"]["file_format"] == "both"
    assert manifest["last_judgment_id"] == Judgment.objects.filter(project=project).latest("id").pk
    assert manifest["code_version"] == {"ml": ml.__version__, "git_commit": settings.GIT_COMMIT}
    assert {f["name"] for f in manifest["files"]} == {
        f"{t}.{k}" for t in ("preference", "unpaired", "raw") for k in ("jsonl", "parquet")
    }
    for entry in manifest["files"]:
        data = (where / entry["name"]).read_bytes()
        assert hashlib.sha256(data).hexdigest() == entry["sha256"]
        assert len(data) == entry["bytes"]
    assert sorted(os.listdir(Path(media) / "snapshots" / str(project.pk))) == [str(snapshot.pk)]  # no partial left


def test_second_build_is_a_no_op(media):
    project, _, researcher = judged_project("pairwise")
    snapshot = build(project, researcher)
    before = {p.name: p.read_bytes() for p in folder(media, snapshot).iterdir()}
    assert snapshot_build(snapshot_id=snapshot.pk) is None
    build_snapshot(snapshot.pk)  # the task, as a redelivered message would run it
    again = DatasetSnapshot.objects.get(pk=snapshot.pk)
    assert (again.status, again.sha256, again.finished_at) == (
        SnapshotStatus.SUCCEEDED,
        snapshot.sha256,
        snapshot.finished_at,
    )
    assert {p.name: p.read_bytes() for p in folder(media, snapshot).iterdir()} == before


def test_a_succeeded_snapshot_cannot_change(media):
    project, _, researcher = judged_project("pairwise", items=1, annotators=1)
    snapshot = build(project, researcher)
    snapshot.name = "renamed"
    with pytest.raises(ImmutableSnapshotError):
        snapshot.save()
    stale_copy = DatasetSnapshot.objects.get(pk=snapshot.pk)
    stale_copy.status = SnapshotStatus.QUEUED
    with pytest.raises(ImmutableSnapshotError):
        stale_copy.save()
    # Read-only on disk too (checked by mode: tests may run as root, who may write anyway).
    assert {stat.S_IMODE(p.stat().st_mode) for p in folder(media, snapshot).iterdir()} == {0o444}


def test_raw_rows_use_pseudonyms_and_keep_provenance(media):
    project, annotators, researcher = judged_project("pairwise")
    snapshot = build(project, researcher, tables=["raw"], file_format="jsonl")
    text = (folder(media, snapshot) / "raw.jsonl").read_text()
    for user in annotators:
        assert user.username not in text
        assert user.email not in text
    rows = read_jsonl(folder(media, snapshot) / "raw.jsonl")
    assert len({r["annotator"] for r in rows}) == 2
    assert all(r["annotator"].startswith("ann_") for r in rows)
    row = rows[0]
    assert row["time_spent_ms"] >= 1500
    assert len(row["display_order"]) == 2
    assert {r["source"] for r in row["responses"]} == {"imported"}
    assert json.loads(row["payload"])["outcome"] in ("preferred", "tie")


def test_split_never_puts_a_prompt_in_both_files(media):
    project, _, researcher = judged_project("ranking", items=30, annotators=1)
    snapshot = build(project, researcher, test_fraction=0.3, split_seed=7, file_format="jsonl", tables=["preference"])
    where = folder(media, snapshot)
    train = {r["prompt"] for r in read_jsonl(where / "preference-train.jsonl")}
    test = {r["prompt"] for r in read_jsonl(where / "preference-test.jsonl")}
    assert train
    assert test
    assert not train & test
    assert snapshot.counts["splits"]["preference"] == {"train": len(train) * 3, "test": len(test) * 3}


def test_system_prompt_makes_the_export_conversational(media):
    project, users = annotation_project(kind="pairwise", items=0, annotators=1)
    chat = [{"role": "system", "content": "Be brief."}, {"role": "user", "content": "Hi?"}]
    item_create(project=project, prompt=chat, responses=["Hello.", "Greetings, friend."])
    judge_everything(project, users)
    researcher = MembershipFactory(project=project, role=Role.RESEARCHER).user
    snapshot = build(project, researcher, file_format="jsonl", tables=["preference"])
    [row] = read_jsonl(folder(media, snapshot) / "preference.jsonl")
    assert snapshot.manifest["prompt_format"] == "conversational"
    assert row["prompt"] == chat
    assert row["chosen"][0]["role"] == "assistant"

    forced = build(project, researcher, file_format="jsonl", tables=["preference"], prompt_format="standard")
    assert forced.status == SnapshotStatus.FAILED
    assert "standard format holds one user turn only" in forced.error
    assert not folder(media, forced).exists()
    assert not any(p.name.startswith(".") for p in folder(media, forced).parent.iterdir())


def test_filters_select_judgments(media):
    project, annotators, _researcher = judged_project("pairwise")
    gold_project, [gold_annotator] = annotation_project(kind="pairwise", items=0, annotators=1)
    item_create(
        project=gold_project, prompt="Gold?", responses=["a", "b"], is_gold=True, gold_answer={"outcome": "tie"}
    )
    judge_everything(gold_project, [gold_annotator])

    def count(project, **raw):
        return judgments_for_export(project=project, filters=filters_parse(raw)).count()

    assert count(project) == 8
    assert count(project, annotator_ids=[annotators[0].pk]) == 4
    assert count(project, task_kinds=["ranking"]) == 0
    today = timezone.now().date()
    assert count(project, created_from=today.isoformat(), created_to=today.isoformat()) == 8
    assert count(project, created_to=(today - timedelta(days=1)).isoformat()) == 0
    assert count(project, response_sources=["generated"]) == 0
    assert count(project, response_sources=["imported"]) == 8
    assert count(project, checkpoints=["ck-1"]) == 0
    assert count(gold_project) == 0
    assert count(gold_project, include_gold=True) == 1


def test_checkpoint_filter_matches_source_detail(media):
    from annotation.models import Source

    project, users = annotation_project(kind="pairwise", items=0, annotators=1)
    item_create(
        project=project,
        prompt="P?",
        responses=["x", "y"],
        source=Source.GENERATED,
        source_detail={"checkpoint": "ck-7"},
    )
    item_create(project=project, prompt="Q?", responses=["z", "w"])
    judge_everything(project, users)
    assert judgments_for_export(project=project, filters=filters_parse({"checkpoints": ["ck-7"]})).count() == 1


def test_create_validates_and_enqueues_on_commit(media, django_capture_on_commit_callbacks):
    project, annotators, researcher = judged_project("pairwise", items=1, annotators=1)
    outsider = UserFactory()
    with pytest.raises(SchemaError) as exc:
        create(project, researcher, filters={"annotator_ids": [outsider.pk]}, test_fraction=2)
    fields = {e.field for e in exc.value.errors}
    assert {"filters.annotator_ids", "options.test_fraction"} <= fields
    with pytest.raises(PermissionDenied):
        create(project, annotators[0])
    assert not DatasetSnapshot.objects.exists()

    with django_capture_on_commit_callbacks(execute=False) as callbacks:
        snapshot = create(project, researcher, filters={"annotator_ids": [annotators[0].pk]})
    assert len(callbacks) == 1  # the build is sent only once the row is committed
    assert snapshot.status == SnapshotStatus.QUEUED
    assert snapshot.options["margin"] == {"mode": "level_fraction", "scale": 1.0}


def test_another_projects_snapshot_is_not_found(media):
    project, _, researcher = judged_project("pairwise", items=1, annotators=1)
    other, _, _ = judged_project("pairwise", items=1, annotators=1)
    snapshot = build(project, researcher)
    with pytest.raises(Http404):
        snapshot_get(project=other, snapshot_id=snapshot.pk)
    with pytest.raises(Http404):
        snapshot_file_path(snapshot=snapshot, name="../../../../etc/passwd")
    with pytest.raises(Http404):
        snapshot_file_path(snapshot=snapshot, name="secret.txt")


def test_a_stale_running_build_is_failed(media):
    project, _, researcher = judged_project("pairwise", items=1, annotators=1)
    snapshot = create(project, researcher)
    long_ago = timezone.now() - timedelta(hours=1)
    DatasetSnapshot.objects.filter(pk=snapshot.pk).update(status=SnapshotStatus.RUNNING, heartbeat_at=long_ago)
    assert snapshots_fail_stale() == 1
    snapshot.refresh_from_db()
    assert snapshot.status == SnapshotStatus.FAILED
    assert "worker was lost" in snapshot.error
    assert snapshot_build(snapshot_id=snapshot.pk) is None
