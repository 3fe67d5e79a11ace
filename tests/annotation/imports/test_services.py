"""Import jobs on the real database: exact counts, duplicates, all or nothing, safe to run twice."""

from __future__ import annotations

import json
from datetime import timedelta
from pathlib import Path

import pytest
from django.core.files.uploadedfile import SimpleUploadedFile
from django.utils import timezone

from annotation.hashing import content_hash
from annotation.imports.tasks import run_import
from annotation.models import Item, ItemResponse, Prompt, Response
from annotation.models_imports import ImportJob, ImportPhase, ImportStatus
from annotation.schemas import SchemaError
from annotation.services import imports as service
from annotation.services.imports import import_job_create, import_job_run
from annotation.services.imports_write import BatchWriter
from annotation.services.projects import annotation_project_create, item_create
from tests.annotation.imports.files import chat, csv_bytes, jsonl, parquet_bytes

pytestmark = pytest.mark.django_db


def make_project(admin, kind="pairwise", overlap=1, config=None):
    return annotation_project_create(
        name=f"{kind} import", created_by=admin, task_kind=kind, task_config=config, overlap=overlap
    )


def upload(project, user, name, data, shape=None):
    return import_job_create(project=project, user=user, uploaded_file=SimpleUploadedFile(name, data), shape=shape)


def run(project, user, name, data, shape=None):
    job = upload(project, user, name, data, shape)
    assert import_job_run(job_id=job.pk) is not None
    job.refresh_from_db()
    return job


def counts(project):
    return (
        Prompt.objects.filter(project=project).count(),
        Response.objects.filter(prompt__project=project).count(),
        Item.objects.filter(project=project).count(),
        ItemResponse.objects.filter(item__project=project).count(),
    )


PAIRS = [{"prompt": f"Q{n}?", "responses": [f"A{n}", f"B{n}"], "priority": n} for n in range(3)]


@pytest.mark.parametrize(
    ("name", "data"),
    [
        ("pairs.jsonl", jsonl(*PAIRS)),
        (
            "pairs.csv",
            csv_bytes(
                ["prompt", "response_1", "response_2", "priority"],
                *[[r["prompt"], *r["responses"], r["priority"]] for r in PAIRS],
            ),
        ),
        ("pairs.parquet", parquet_bytes(PAIRS)),
    ],
    ids=["jsonl", "csv", "parquet"],
)
def test_prompt_and_responses_in_each_format_make_items_with_exact_counts(admin, name, data):
    project = make_project(admin, overlap=3)
    job = run(project, admin, name, data)
    assert job.status == ImportStatus.SUCCEEDED, job.errors
    assert (job.rows_read, job.rows_written, job.total_rows) == (3, 3, 3)
    assert (job.prompts_created, job.responses_created, job.items_created) == (3, 6, 3)
    assert (job.prompts_duplicate, job.responses_duplicate, job.items_duplicate) == (0, 0, 0)
    assert counts(project) == (3, 6, 3, 6)
    item = Item.objects.get(project=project, prompt__content_hash=content_hash(chat("Q2?")))
    assert (item.required, item.open_slots, item.submitted_count, item.priority) == (3, 3, 0, 2.0)
    links = ItemResponse.objects.filter(item=item).select_related("response").order_by("position")
    assert [link.response.text for link in links] == ["A2", "B2"]
    assert Response.objects.filter(source_detail={"import_job": job.pk}).count() == 6


def test_prompts_only_creates_prompts_and_no_items(admin):
    project = make_project(admin)
    data = csv_bytes(["prompt", "metadata"], ["Write a poem.", '{"topic": "poetry"}'], ["Tell a joke.", ""])
    job = run(project, admin, "prompts.csv", data)
    assert (job.status, job.shape, job.prompts_created, job.items_created) == ("succeeded", "prompts", 2, 0)
    assert counts(project) == (2, 0, 0, 0)
    assert Prompt.objects.get(messages=chat("Write a poem.")).metadata == {"topic": "poetry"}


def test_ranking_project_takes_k_responses(admin):
    project = make_project(admin, kind="ranking", config={"k": 3})
    data = csv_bytes(["prompt", "response_1", "response_2", "response_3"], ["Q", "A", "B", "C"])
    job = run(project, admin, "rank.csv", data)
    assert job.status == ImportStatus.SUCCEEDED
    assert counts(project) == (1, 3, 1, 3)


@pytest.mark.parametrize(
    ("name", "data"),
    [
        ("pref.jsonl", jsonl({"prompt": "Q", "chosen": "Good", "rejected": "Bad"})),
        (
            "pref.jsonl",
            jsonl(
                {
                    "prompt": chat("Q"),
                    "chosen": [{"role": "assistant", "content": "Good"}],
                    "rejected": [{"role": "assistant", "content": "Bad"}],
                }
            ),
        ),
        ("pref.jsonl", jsonl({"chosen": chat("Q", "Good"), "rejected": chat("Q", "Bad")})),
        ("pref.csv", csv_bytes(["prompt", "chosen", "rejected"], ["Q", "Good", "Bad"])),
        ("pref.parquet", parquet_bytes([{"chosen": chat("Q", "Good"), "rejected": chat("Q", "Bad")}])),
    ],
    ids=["standard", "conversational", "implicit prompt", "csv", "parquet"],
)
def test_preference_data_becomes_a_pairwise_item_and_keeps_the_preference(admin, name, data):
    project = make_project(admin)
    job = run(project, admin, name, data)
    assert (job.status, job.shape) == ("succeeded", "preference"), job.errors
    assert counts(project) == (1, 2, 1, 2)
    prompt = Prompt.objects.get(project=project)
    assert prompt.messages == chat("Q")
    [preference] = prompt.metadata["imported_preferences"]
    assert Response.objects.get(prompt=prompt, content_hash=preference["chosen"]).text == "Good"
    assert Response.objects.get(prompt=prompt, content_hash=preference["rejected"]).text == "Bad"


def test_a_second_preference_on_a_known_prompt_is_added_to_its_metadata(admin):
    project = make_project(admin)
    run(project, admin, "a.jsonl", jsonl({"prompt": "Q", "chosen": "Good", "rejected": "Bad"}))
    job = run(
        project,
        admin,
        "b.jsonl",
        jsonl(
            {"prompt": "Q", "chosen": "Good", "rejected": "Bad"},  # same pair, same preference: nothing new
            {"prompt": "Q", "chosen": "Bad", "rejected": "Good"},  # same pair, the other way round
            {"prompt": "Q", "chosen": "Good", "rejected": "Worse"},
        ),
    )
    assert (job.items_created, job.items_duplicate, job.prompts_created, job.responses_created) == (1, 2, 0, 1)
    preferences = Prompt.objects.get(project=project).metadata["imported_preferences"]
    h = {text: content_hash(text) for text in ("Good", "Bad", "Worse")}
    assert preferences == [
        {"chosen": h["Good"], "rejected": h["Bad"]},
        {"chosen": h["Bad"], "rejected": h["Good"]},
        {"chosen": h["Good"], "rejected": h["Worse"]},
    ]


def test_preference_into_a_rating_project_fails_with_a_clear_error(admin):
    project = make_project(admin, kind="rating")
    job = run(project, admin, "pref.jsonl", jsonl({"prompt": "Q", "chosen": "A", "rejected": "B"}))
    assert job.status == ImportStatus.FAILED
    assert job.errors[0]["line"] == 1
    assert job.errors[0]["field"] == "chosen"
    assert "pairwise project" in job.errors[0]["message"]
    with pytest.raises(SchemaError, match="pairwise project"):
        upload(project, admin, "pref.jsonl", jsonl({"prompt": "Q", "chosen": "A", "rejected": "B"}), shape="preference")


def test_conversations_round_trip_identical_through_prompt_messages(admin):
    project = make_project(admin, kind="rating")
    conversation = [
        {"role": "system", "content": "Answer in French.\n  Keep it short. "},
        {"role": "user", "content": "How are you? 😀"},
        {"role": "assistant", "content": "Bien, merci."},
        {"role": "user", "content": "Et toi ?\n```py\nprint('x')\n```"},
        {"role": "assistant", "content": "Très bien !"},
    ]
    job = run(project, admin, "chat.jsonl", jsonl({"messages": conversation}))
    assert job.status == ImportStatus.SUCCEEDED, job.errors
    item = Item.objects.select_related("prompt").get(project=project)
    assert [*item.prompt.messages, {"role": "assistant", "content": item.responses.get().text}] == conversation
    assert json.dumps(item.prompt.messages) == json.dumps(conversation[:-1])


def test_duplicates_within_the_file_and_against_the_project_are_reported_not_written(admin):
    project = make_project(admin)
    item_create(project=project, prompt="Q0?", responses=["A0", "B0"])  # already in the project
    rows = [
        *PAIRS,  # Q0 is a duplicate of the item above
        PAIRS[1],  # repeated in the file
        {"prompt": "Q1?", "responses": ["B1", "A1"]},  # the same item, responses in another order
        {"prompt": "Q1?", "responses": ["A1", "C1"]},  # a new item on a known prompt
    ]
    job = run(project, admin, "dups.jsonl", jsonl(*rows))
    assert job.status == ImportStatus.SUCCEEDED
    assert (job.rows_read, job.items_created, job.items_duplicate) == (6, 3, 3)
    assert (job.prompts_created, job.prompts_duplicate) == (2, 4)
    assert (job.responses_created, job.responses_duplicate) == (5, 7)
    assert counts(project) == (3, 7, 4, 8)

    again = run(project, admin, "dups.jsonl", jsonl(*rows))
    assert (again.prompts_created, again.responses_created, again.items_created) == (0, 0, 0)
    assert (again.prompts_duplicate, again.responses_duplicate, again.items_duplicate) == (6, 12, 6)
    assert counts(project) == (3, 7, 4, 8)


def test_duplicates_across_batches_are_found_in_the_database(admin, monkeypatch):
    monkeypatch.setattr(service, "BATCH_ROWS", 2)
    project = make_project(admin)
    rows = [{"prompt": f"Q{n % 3}", "responses": ["A", "B"]} for n in range(7)]
    job = run(project, admin, "batches.jsonl", jsonl(*rows))
    assert (job.rows_written, job.items_created, job.items_duplicate, job.prompts_created) == (7, 3, 4, 3)
    assert counts(project) == (3, 6, 3, 6)


@pytest.mark.parametrize(
    ("name", "data", "line", "field"),
    [
        ("bad.jsonl", jsonl(*PAIRS[:2], '{"prompt": "Q", "responses": ["A", "B"]', *PAIRS[2:]), 3, ""),
        (
            "bad.csv",
            csv_bytes(
                ["prompt", "response_1", "response_2"],
                ["Q1", "A", "B"],
                ["Q2", "A", "B"],
                ["Q3", "A", ""],
                ["Q4", "A", "B"],
            ),
            4,
            "response_2",
        ),
        ("bad.parquet", parquet_bytes([*PAIRS[:2], {"prompt": None, "responses": ["A", "B"]}, PAIRS[2]]), 3, "prompt"),
    ],
    ids=["jsonl", "csv", "parquet"],
)
def test_one_bad_row_in_the_middle_writes_nothing_at_all(admin, name, data, line, field):
    project = make_project(admin)
    item_create(project=project, prompt="Existing", responses=["X", "Y"])
    before = counts(project)
    job = run(project, admin, name, data)
    assert job.status == ImportStatus.FAILED
    assert (job.error_count, job.rows_read, job.rows_written) == (1, 4, 0)
    assert job.errors == [{"line": line, "field": field, "message": job.errors[0]["message"]}]
    assert (job.items_created, job.prompts_created) == (0, 0)
    assert counts(project) == before


def test_errors_are_capped_but_counted(admin):
    project = make_project(admin)
    job = run(project, admin, "bad.jsonl", jsonl(*[{"prompt": n, "responses": ["A", "B"]} for n in range(80)]))
    assert (job.status, job.error_count, len(job.errors), job.rows_read) == ("failed", 80, 50, 80)
    assert [e["line"] for e in job.errors] == list(range(1, 51))


def test_a_failure_while_writing_leaves_nothing_behind(admin, monkeypatch):
    monkeypatch.setattr(service, "BATCH_ROWS", 1)
    real_write = BatchWriter.write
    calls = []

    def write_then_fail(self, records):
        calls.append(len(records))
        if len(calls) == 2:
            raise RuntimeError("disk full")
        real_write(self, records)

    monkeypatch.setattr(BatchWriter, "write", write_then_fail)
    project = make_project(admin)
    before = counts(project)
    job = upload(project, admin, "pairs.jsonl", jsonl(*PAIRS))
    with pytest.raises(RuntimeError, match="disk full"):
        import_job_run(job_id=job.pk)
    job.refresh_from_db()
    assert job.status == ImportStatus.FAILED
    assert "nothing was written" in job.errors[0]["message"]
    assert counts(project) == before


def test_running_the_task_twice_is_a_no_op(admin):
    project = make_project(admin)
    job = upload(project, admin, "pairs.jsonl", jsonl(*PAIRS))
    assert run_import(job.pk) == ImportStatus.SUCCEEDED
    assert run_import(job.pk) is None
    assert counts(project) == (3, 6, 3, 6)
    job.refresh_from_db()
    assert job.items_created == 3


def test_a_running_job_is_left_alone_unless_its_heartbeat_is_stale(admin):
    project = make_project(admin)
    job = upload(project, admin, "pairs.jsonl", jsonl(*PAIRS))
    ImportJob.objects.filter(pk=job.pk).update(status=ImportStatus.RUNNING, heartbeat_at=timezone.now())
    assert import_job_run(job_id=job.pk) is None
    assert counts(project)[2] == 0
    ImportJob.objects.filter(pk=job.pk).update(heartbeat_at=timezone.now() - timedelta(hours=1))
    assert import_job_run(job_id=job.pk).status == ImportStatus.SUCCEEDED
    assert counts(project)[2] == 3


def test_upload_is_stored_under_media_imports_and_queued_on_commit(admin, media, django_capture_on_commit_callbacks):
    project = make_project(admin)
    with django_capture_on_commit_callbacks() as callbacks:
        job = upload(project, admin, "Pairs.JSONL", jsonl(*PAIRS))
    assert len(callbacks) == 1  # the task is sent only once the job row is committed
    path = Path(media) / job.file_path
    assert job.file_path.startswith("imports/")
    assert path.suffix == ".jsonl"
    assert path.read_bytes() == jsonl(*PAIRS)
    assert (job.format, job.shape, job.status, job.file_size, job.original_filename) == (
        "jsonl",
        "",
        "queued",
        len(jsonl(*PAIRS)),
        "Pairs.JSONL",
    )
    import_job_run(job_id=job.pk)
    assert not path.exists(), "the upload is removed once the job has finished"


@pytest.mark.parametrize(
    ("name", "data", "shape", "field", "message"),
    [
        ("pairs.txt", jsonl(*PAIRS), None, "file", "accepted files: .jsonl, .csv, .parquet"),
        ("pairs.xlsx", b"PK\x03\x04", None, "file", "accepted files"),
        ("pairs.parquet", jsonl(*PAIRS), None, "file", "not a Parquet file"),
        ("pairs.jsonl", parquet_bytes(PAIRS), None, "file", "binary file"),
        ("pairs.csv", b"\xff\xfeprompt", None, "file", "not UTF-8"),
        ("empty.jsonl", b"", None, "file", "empty"),
        ("pairs.jsonl", jsonl(*PAIRS), "sideways", "shape", "unknown shape"),
        ("chat.jsonl", jsonl({"messages": chat("Q", "A")}), "messages", "shape", "needs 2"),
    ],
    ids=[
        "txt",
        "xlsx",
        "jsonl as parquet",
        "parquet as jsonl",
        "utf-16 csv",
        "empty",
        "unknown shape",
        "shape refused",
    ],
)
def test_refused_uploads_store_nothing(admin, media, name, data, shape, field, message):
    project = make_project(admin)
    with pytest.raises(SchemaError) as caught:
        upload(project, admin, name, data, shape)
    [error] = caught.value.errors
    assert error.field == field
    assert message in error.message
    assert not ImportJob.objects.exists()
    assert not any(Path(media).rglob("*.*"))


def test_size_limits_come_from_settings(admin, settings, media):
    project = make_project(admin)
    settings.IMPORT_MAX_FILE_BYTES = 100
    with pytest.raises(SchemaError, match="the limit is 100"):
        upload(project, admin, "pairs.jsonl", jsonl(*PAIRS))
    settings.IMPORT_MAX_FILE_BYTES = 10_000
    settings.IMPORT_MAX_RECORD_BYTES = 60
    job = run(project, admin, "pairs.jsonl", jsonl(PAIRS[0], {**PAIRS[1], "prompt": "x" * 60}))
    assert job.status == ImportStatus.FAILED
    assert job.errors == [{"line": 2, "field": "", "message": "record is larger than the limit of 60 bytes"}]


def test_a_missing_file_fails_the_job(admin, media):
    project = make_project(admin)
    job = upload(project, admin, "pairs.jsonl", jsonl(*PAIRS))
    (Path(media) / job.file_path).unlink()
    assert import_job_run(job_id=job.pk).status == ImportStatus.FAILED


def test_shape_is_recorded_once_detected(admin):
    project = make_project(admin, kind="rating")
    job = run(project, admin, "chat.jsonl", jsonl({"messages": chat("Q", "A")}))
    assert (job.shape, job.phase, job.finished_at is not None) == ("messages", ImportPhase.WAITING, True)


@pytest.mark.django_db(transaction=True)
def test_write_progress_is_visible_outside_the_write_transaction(admin, media):
    """The write pass is one transaction; its progress goes through a second connection."""
    project = make_project(admin)
    # Made directly: an upload would send its task to the broker when this test's transaction commits.
    job = ImportJob.objects.create(
        project=project, original_filename="a.jsonl", file_path="x", file_size=1, format="jsonl"
    )
    progress = service._WriteProgress(job.pk)
    try:
        from django.db import transaction

        with transaction.atomic():
            Prompt.objects.create(project=project, messages=chat("x"), content_hash="x")
            progress.report(1234)
            # Seen from outside: the progress is there, the uncommitted prompt is not.
            row = progress.connection.cursor()
            row.execute(f"SELECT rows_written FROM {ImportJob._meta.db_table} WHERE id = %s", [job.pk])  # noqa: S608
            assert row.fetchone() == (1234,)
            row.execute(f"SELECT count(*) FROM {Prompt._meta.db_table} WHERE project_id = %s", [project.pk])  # noqa: S608
            assert row.fetchone() == (0,)
    finally:
        progress.close()
