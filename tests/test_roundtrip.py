"""Data in, data out: import a file, annotate every item through the queue, snapshot it, and find
the same conversations and responses in the export, byte for byte."""

from __future__ import annotations

import json
import uuid
from pathlib import Path

import pytest
from django.core.files.uploadedfile import SimpleUploadedFile

from annotation.services.imports import import_job_create, import_job_run
from annotation.services.projects import annotation_project_create
from annotation.services.queue import assignment_claim_next, judgment_submit
from core.models import Role
from core.services import membership_set
from curation.models import DatasetSnapshot
from curation.services.snapshots import snapshot_build, snapshot_create
from tests.factories import UserFactory

pytestmark = pytest.mark.django_db

ROWS = [
    {
        "prompt": [
            {"role": "system", "content": "Be brief."},
            {"role": "user", "content": f"Question {n}: what is {n} + {n}? Use *markdown* and <b>tags</b>."},
        ],
        "responses": [f"It is **{2 * n}**.\n\n```python\nprint({n} + {n})\n```", f"Maybe {2 * n + 1}? ünïcødé ✓"],
    }
    for n in range(5)
]


def test_import_annotate_snapshot_returns_the_same_content(settings, tmp_path):
    settings.MEDIA_ROOT = tmp_path
    admin, annotator = UserFactory(), UserFactory()
    project = annotation_project_create(name="round trip", created_by=admin, task_kind="pairwise")
    membership_set(project=project, user=annotator, role=Role.ANNOTATOR)
    data = "\n".join(json.dumps(r, ensure_ascii=False) for r in ROWS).encode()
    job = import_job_create(project=project, user=admin, uploaded_file=SimpleUploadedFile("in.jsonl", data))
    import_job_run(job_id=job.pk)
    job.refresh_from_db()
    assert (job.status, job.items_created) == ("succeeded", 5)

    while (lease := assignment_claim_next(annotator=annotator, project=project).assignment) is not None:
        judgment_submit(annotator=annotator, project=project, assignment_id=lease.pk,
                        payload={"outcome": "preferred", "preferred": lease.display_order[0], "strength": "better"},
                        client_key=uuid.uuid4().hex, time_spent_ms=1000)  # fmt: skip

    snapshot = snapshot_create(
        project=project,
        user=admin,
        name="rt",
        filters={},
        options={"tables": ["raw", "preference"], "file_format": "jsonl"},
    )
    snapshot_build(snapshot_id=snapshot.pk)
    snapshot = DatasetSnapshot.objects.get(pk=snapshot.pk)
    assert snapshot.status == "succeeded", snapshot.error
    folder = Path(settings.MEDIA_ROOT) / snapshot.folder
    raw = [json.loads(line) for line in (folder / "raw.jsonl").read_text().splitlines()]
    exported = {json.dumps(r["prompt"], ensure_ascii=False): sorted(x["text"] for x in r["responses"]) for r in raw}
    expected = {json.dumps(r["prompt"], ensure_ascii=False): sorted(r["responses"]) for r in ROWS}
    assert exported == expected

    pairs = [json.loads(line) for line in (folder / "preference.jsonl").read_text().splitlines()]
    assert len(pairs) == 5
    for pair in pairs:
        source = next(r for r in ROWS if r["prompt"] == pair["prompt"])
        assert {pair["chosen"][0]["content"], pair["rejected"][0]["content"]} == set(source["responses"])
