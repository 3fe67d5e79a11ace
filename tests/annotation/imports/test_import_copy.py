"""The write pass's COPY path (Postgres) against its ORM path (SQLite's, forced here on Postgres).

Both must write the same rows with the same values and report the same counts, de-duplicate within
the file, across batches and against the project, and leave nothing behind when anything fails.
"""

from __future__ import annotations

from typing import Any

import pytest
from django.db import connection, transaction
from django.utils import timezone

from annotation.models import Item, ItemResponse, Prompt, Response
from annotation.models_imports import ImportJob, ImportStatus
from annotation.services import imports as service
from annotation.services import imports_copy
from annotation.services.imports import import_job_run
from annotation.services.projects import item_create
from tests.annotation.imports.files import chat, csv_bytes, jsonl
from tests.annotation.imports.test_services import make_project, upload

pytestmark = pytest.mark.django_db

postgres_only = pytest.mark.skipif(
    connection.vendor != "postgresql", reason="the COPY path runs on Postgres only (SQLite keeps the ORM path)"
)

COUNTS = (
    "rows_read",
    "rows_written",
    "prompts_created",
    "prompts_duplicate",
    "responses_created",
    "responses_duplicate",
    "items_created",
    "items_duplicate",
)
# Text that COPY's text format must escape, and text that must not be taken for its NULL marker.
AWKWARD = 'tab\there, line\nbreak, back\\slash, \\N, CR\r, quote " and 😀'


@pytest.fixture(params=[2, 2_000], ids=["batches of 2", "one batch"])
def batch_rows(request, monkeypatch):
    """Duplicates across batches are found in the database, duplicates inside a batch in the batch."""
    monkeypatch.setattr(service, "BATCH_ROWS", request.param)


def orm_path(monkeypatch):
    monkeypatch.setattr(imports_copy, "copy_enabled", lambda: False)


def run(project, admin, name, data):
    job = upload(project, admin, name, data)
    assert import_job_run(job_id=job.pk) is not None
    job.refresh_from_db()
    assert job.status == ImportStatus.SUCCEEDED, job.errors
    return job


def contents(project) -> dict[str, Any]:
    """Every column an import writes, in id order, ids and timestamps replaced by what they point at."""
    prompts = Prompt.objects.filter(project=project).order_by("id")
    responses = Response.objects.filter(prompt__project=project).order_by("id")
    items = Item.objects.filter(project=project).order_by("id")
    links = ItemResponse.objects.filter(item__project=project).order_by("item_id", "position")
    hashes = {r.pk: r.content_hash for r in responses}
    members: dict[int, list[tuple[int, str]]] = {}
    for link in links:
        members.setdefault(link.item_id, []).append((link.position, hashes[link.response_id]))
    for row in [*prompts, *responses, *items]:
        assert row.created_at is not None
        assert row.updated_at is not None
    return {
        "prompts": [(p.content_hash, p.messages, p.metadata, p.source) for p in prompts],
        "responses": [
            (r.prompt.content_hash, r.content_hash, r.text, r.source, sorted(r.source_detail))
            for r in responses.select_related("prompt")
        ],
        "items": [
            (
                i.prompt.content_hash,
                i.priority,
                i.required,
                i.open_slots,
                i.submitted_count,
                i.is_gold,
                i.gold_answer,
                i.suggestion,
                members.get(i.pk, []),
            )
            for i in items.select_related("prompt")
        ],
    }


RESPONSES = [
    {"prompt": "Q0?", "responses": ["A0", "B0"], "priority": 2.5, "metadata": {"topic": "x", "n": [1, {"k": None}]}},
    {"prompt": "Q1?", "responses": ["A1", AWKWARD], "priority": -1},
    {"prompt": "Q1?", "responses": [AWKWARD, "A1"]},  # the same item, other order: a duplicate
    {"prompt": "Q1?", "responses": ["A1", "C1"]},  # a new item on a prompt of this file
    {"prompt": "Existing?", "responses": ["Old", "New"]},  # a new item on a prompt of the project
    {"prompt": "Existing?", "responses": ["Old", "Older"]},  # an item the project has
    {"prompt": chat("Sys?", "Hi", AWKWARD), "responses": ["A2", "B2"], "metadata": {"tab": "\t", "u": "é"}},
    {"prompt": "Q0?", "responses": ["A0", "B0"], "metadata": {"ignored": True}},  # repeated: first one wins
]
PREFERENCES = [
    {"prompt": "P", "chosen": "Good", "rejected": "Bad"},
    {"prompt": "P", "chosen": "Bad", "rejected": "Good"},  # the same item, another preference
    {"prompt": "Existing?", "chosen": "Old", "rejected": "Older"},  # merged into a known prompt's metadata
    {"prompt": "Existing?", "chosen": "Old", "rejected": "Newer"},
    {"prompt": "P", "chosen": "Good", "rejected": "Bad"},
]
FILES = {
    "responses": ("pairwise", "rows.jsonl", jsonl(*RESPONSES)),
    "preference": ("pairwise", "pref.jsonl", jsonl(*PREFERENCES)),
    "prompts": (
        "pairwise",
        "prompts.csv",
        csv_bytes(["prompt", "metadata"], ["Existing?", '{"a": 1}'], [AWKWARD, '{"b": "\\\\N"}'], [AWKWARD, ""]),
    ),
    "messages": (
        "rating",
        "chat.jsonl",
        jsonl({"messages": chat("Q", AWKWARD)}, {"messages": chat("Q", "A")}, {"messages": chat("Q", "A")}),
    ),
}


def import_twice(admin, kind, name, data):
    """A project with one item already, the file imported into it twice: both jobs and the rows."""
    project = make_project(admin, kind=kind, overlap=2)
    responses = ["Old", "Older"] if kind == "pairwise" else ["Old"]
    item_create(project=project, prompt="Existing?", responses=responses)
    first = run(project, admin, name, data)
    after_first = contents(project)
    again = run(project, admin, name, data)
    assert contents(project) == after_first, "a second import of the same file writes nothing"
    return first, again, after_first


@postgres_only
@pytest.mark.parametrize("shape", FILES)
def test_copy_path_writes_what_the_orm_path_writes(admin, monkeypatch, batch_rows, shape):
    kind, name, data = FILES[shape]
    spied = []
    real = imports_copy.CopyWriter.prompts
    monkeypatch.setattr(imports_copy.CopyWriter, "prompts", lambda self, *a: spied.append(1) or real(self, *a))
    copy_first, copy_again, copy_rows = import_twice(admin, kind, name, data)
    assert spied, "the COPY path was taken"

    orm_path(monkeypatch)
    spied.clear()
    orm_first, orm_again, orm_rows = import_twice(admin, kind, name, data)
    assert not spied, "the ORM path was taken"

    assert copy_first.shape == orm_first.shape == shape
    assert copy_rows == orm_rows
    for field in COUNTS:
        assert getattr(copy_first, field) == getattr(orm_first, field), field
        assert getattr(copy_again, field) == getattr(orm_again, field), field
    assert copy_again.prompts_created == copy_again.responses_created == copy_again.items_created == 0


@postgres_only
def test_copy_path_counts_and_values(admin, batch_rows):
    project = make_project(admin, overlap=3)
    item_create(project=project, prompt="Existing?", responses=["Old", "Older"])
    before = timezone.now()
    job = run(project, admin, "rows.jsonl", jsonl(*RESPONSES))
    assert (job.rows_read, job.rows_written) == (8, 8)
    assert (job.prompts_created, job.prompts_duplicate) == (3, 5)
    assert (job.responses_created, job.responses_duplicate) == (8, 8)
    assert (job.items_created, job.items_duplicate) == (5, 3)
    q0 = Prompt.objects.get(project=project, messages=chat("Q0?"))
    assert (q0.metadata, q0.source) == ({"topic": "x", "n": [1, {"k": None}]}, "imported")
    assert before <= q0.created_at <= timezone.now()
    assert before <= q0.updated_at <= timezone.now()
    awkward = Response.objects.get(prompt__project=project, text=AWKWARD)
    assert (awkward.source, awkward.source_detail) == ("imported", {"import_job": job.pk})
    items = list(Item.objects.filter(project=project, created_at__gte=before).order_by("id"))
    assert [i.priority for i in items] == [2.5, -1.0, 0.0, 0.0, 0.0]  # file order
    assert {(i.required, i.open_slots, i.submitted_count, i.is_gold, i.gold_answer) for i in items} == {
        (3, 3, 0, False, None)
    }
    links = ItemResponse.objects.filter(item=items[1]).order_by("position")
    assert [(link.position, link.response.text) for link in links] == [(0, "A1"), (1, AWKWARD)]


@postgres_only
@pytest.mark.parametrize(
    "bad",
    [
        {"prompt": "Q9?", "responses": ["A9", "nul \x00 in a text column"]},
        {"prompt": "Q9?", "responses": ["A9", "B9"], "metadata": {"x": "nul \x00 in a jsonb value"}},
    ],
    ids=["text", "jsonb"],
)
def test_a_row_the_database_refuses_aborts_the_whole_import(admin, monkeypatch, bad):
    """The check pass lets a NUL character through; Postgres refuses it in the last batch: nothing stays."""
    monkeypatch.setattr(service, "BATCH_ROWS", 1)
    project = make_project(admin)
    item_create(project=project, prompt="Existing?", responses=["Old", "Older"])
    before = contents(project)
    job = upload(project, admin, "bad.jsonl", jsonl(*RESPONSES[:4], bad))
    with pytest.raises(Exception):  # noqa: B017, PT011  # the database's own error
        import_job_run(job_id=job.pk)
    job.refresh_from_db()
    assert (job.status, job.rows_written, job.items_created) == (ImportStatus.FAILED, 0, 0)
    assert "nothing was written" in job.errors[0]["message"]
    assert contents(project) == before


@postgres_only
@pytest.mark.django_db(transaction=True)
def test_the_copy_path_needs_the_import_transaction(admin):
    """Its staging tables are dropped on commit: in autocommit they would be gone at once."""
    project = make_project(admin)
    writer = imports_copy.CopyWriter(project_id=project.pk, job_id=0, overlap=1)
    with pytest.raises(RuntimeError, match="inside its transaction"):
        writer.prompts({}, {}, timezone.now())
    with transaction.atomic():
        assert writer.prompts({}, {}, timezone.now()) == ({}, set())
    assert not ImportJob.objects.exists()


def test_the_path_follows_the_database(admin):
    assert imports_copy.copy_enabled() == (connection.vendor == "postgresql")
    project = make_project(admin)
    job = run(project, admin, "rows.jsonl", jsonl(*RESPONSES[:2]))
    assert (job.prompts_created, job.items_created) == (2, 2)
