"""The REST API fuzzed from its own OpenAPI schema: no request makes it answer 5xx.

Schemathesis reads ``/api/schema/`` from the WSGI app in this process and, for every operation,
generates valid requests (positive mode) and requests that break the schema (negative mode: wrong
types, missing fields, odd strings). Each operation is fuzzed twice: with generated path ids (mostly
404s, which must stay 404s), and with the ids of real objects the token user may reach (a project it
administers, its live lease, an import job, a built snapshot), so bodies and query strings reach the
services. The user authenticates with an API token, like a script would.

Bounded and repeatable: ``FUZZ_EXAMPLES`` examples per strategy (default 10), derandomised, so CI
sees the same requests every run; set ``FUZZ_SEED`` to explore other inputs locally, e.g.
``FUZZ_SEED=$RANDOM FUZZ_EXAMPLES=200 pytest tests/security/test_api_fuzz.py``.
"""

from __future__ import annotations

import os
import re
import uuid

import hypothesis
import pytest
import schemathesis
from django.core.files.uploadedfile import SimpleUploadedFile
from django.core.signals import request_finished, request_started
from django.core.wsgi import get_wsgi_application
from django.db import close_old_connections
from hypothesis import strategies as st
from rest_framework.authtoken.models import Token
from schemathesis import GenerationMode

from annotation.models import Response
from annotation.services.imports import import_job_create
from annotation.services.projects import annotation_project_create, item_create
from annotation.services.queue import assignment_claim_next, judgment_submit
from core.models import Role
from core.services import membership_set
from curation.services.snapshots import snapshot_build, snapshot_create
from models_registry.models import Alias, Checkpoint, ScoringJob
from models_registry.models_jobs import GenerationJob
from tests.factories import UserFactory
from training.models import TrainingRun

pytestmark = [pytest.mark.django_db, pytest.mark.slow]

EXAMPLES = int(os.environ.get("FUZZ_EXAMPLES", "10"))
SEED = os.environ.get("FUZZ_SEED")


@pytest.fixture
def wsgi_app():
    """Django's WSGI app inside the test transaction.

    Like django.test.Client, stop request signals from closing the connection: inside the test's
    transaction that would mark it broken instead of starting a fresh one.
    """
    request_started.disconnect(close_old_connections)
    request_finished.disconnect(close_old_connections)
    try:
        yield get_wsgi_application()
    finally:
        request_started.connect(close_old_connections)
        request_finished.connect(close_old_connections)


@pytest.fixture
def world(settings, tmp_path):
    """A project the token user administers, with items, a judgment, a live lease, an import and a snapshot."""
    settings.MEDIA_ROOT = tmp_path
    admin, annotator = UserFactory(), UserFactory()
    project = annotation_project_create(name="fuzzed", created_by=admin, task_kind="pairwise", overlap=2)
    membership_set(project=project, user=annotator, role=Role.ANNOTATOR)
    for n in range(12):
        item_create(project=project, prompt=f"question {n}", responses=[f"a{n}", f"b{n}"])
    done = assignment_claim_next(annotator=annotator, project=project).assignment
    judgment = judgment_submit(annotator=annotator, project=project, assignment_id=done.pk, payload={"outcome": "tie"},
                               client_key=uuid.uuid4().hex, time_spent_ms=5).judgment  # fmt: skip
    lease = assignment_claim_next(annotator=admin, project=project).assignment
    job = import_job_create(
        project=project, user=admin, uploaded_file=SimpleUploadedFile("x.jsonl", b'{"prompt": "p", "responses": ["a"]}')
    )
    snapshot = snapshot_create(project=project, user=admin, name="s", filters={}, options={})
    snapshot_build(snapshot_id=snapshot.pk)
    ids = {
        "project_id": project.pk,
        "item_id": done.item_id,
        "assignment_id": lease.pk,
        "judgment_id": judgment.pk,
        "job_id": job.pk,
        "snapshot_id": snapshot.pk,
        "name": "manifest.json",
        # Lineage endpoints: rows written directly, they need to exist, not to be trainable.
        "checkpoint_id": (
            base := Checkpoint.objects.create(project=project, kind="policy", name="b", location="/x")
        ).pk,
        "run_id": TrainingRun.objects.create(
            project=project, kind="reward", snapshot=snapshot, base_checkpoint=base, created_by=admin
        ).pk,
        "response_id": Response.objects.filter(prompt__project=project).first().pk,
        # Loop endpoints: an alias that was set (so a rollback reaches the service), and one job of each kind.
        "alias": Alias.objects.create(project=project, name="active-policy", checkpoint=base).name,
        "generation_job_id": GenerationJob.objects.create(
            project=project, checkpoint=base, selection="sample", prompt_limit=1, pairing="two_samples"
        ).pk,
        "scoring_job_id": ScoringJob.objects.create(project=project, strategy="fifo").pk,
    }

    def fresh_lease() -> int:
        lease = assignment_claim_next(annotator=admin, project=project).assignment
        if lease is None:  # the admin has seen every item: add one
            item_create(project=project, prompt=f"more {uuid.uuid4().hex}", responses=["a", "b"])
            lease = assignment_claim_next(annotator=admin, project=project).assignment
        return lease.pk

    return Token.objects.create(user=admin).key, ids, fresh_lease


def test_no_operation_answers_5xx(wsgi_app, world):
    token, ids, fresh_lease = world
    schema = schemathesis.openapi.from_wsgi("/api/schema/?format=json", wsgi_app)
    headers = {"Authorization": f"Token {token}"}
    failures: list[str] = []
    reached: set[str] = set()
    calls = 0
    operations = [result.ok() for result in schema.get_all_operations()]
    assert len(operations) >= 15, [f"{op.method} {op.path}" for op in operations]

    for operation in operations:
        names = re.findall(r"{(\w+)}", operation.path)
        missing = [n for n in names if n not in ids]
        assert not missing, f"{operation.path}: teach this test a real {missing}"
        real = {n: ids[n] for n in names}
        label = f"{operation.method} {operation.path}"
        strategies = [operation.as_strategy(mode) for mode in (GenerationMode.POSITIVE, GenerationMode.NEGATIVE)]
        if real:
            strategies += [
                operation.as_strategy(mode, path_parameters=real)
                for mode in (GenerationMode.POSITIVE, GenerationMode.NEGATIVE)
            ]

        @hypothesis.settings(
            max_examples=EXAMPLES * len(strategies),
            deadline=None,
            database=None,
            derandomize=SEED is None,
            phases=[hypothesis.Phase.explicit, hypothesis.Phase.generate],
            suppress_health_check=list(hypothesis.HealthCheck),
        )
        @hypothesis.given(case=st.one_of(strategies))
        def fuzz(case: schemathesis.Case) -> None:
            nonlocal calls
            if case.path_parameters and case.path_parameters.get("assignment_id") == ids["assignment_id"]:
                # Skip and flag end the lease: give each real-id case a live one so it reaches the service.
                case.path_parameters["assignment_id"] = fresh_lease()
            response = case.call(headers=headers)
            calls += 1
            if response.status_code not in (401, 403, 404, 405):
                reached.add(label)  # noqa: B023 (fuzz() runs within this iteration)
            if response.status_code >= 500:
                failures.append(
                    f"{response.status_code} {case.method} {case.formatted_path} "
                    f"query={case.query!r} body={case.body!r}\n{case.as_curl_command(headers=headers)}"
                )

        if SEED is not None:
            fuzz = hypothesis.seed(int(SEED))(fuzz)
        fuzz()

    assert calls > 20 * len(operations)
    # Every operation got past authentication and the object lookup at least once: the fuzzing
    # reached the code behind it instead of bouncing off 404s.
    assert reached == {f"{op.method} {op.path}" for op in operations}
    assert failures == [], "\n\n".join(failures[:10])
