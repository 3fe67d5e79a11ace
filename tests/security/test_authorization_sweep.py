"""Every URL with an id, requested across projects (SECURITY-CASES #3, #12, #13, #19).

The URL list is read from the resolver, so a new page or endpoint is swept the day it is added; a
new kind of id in a URL fails here until this file knows how to make one of another project.
Signed in as the admin of project A, every GET and POST that names project B (or A's id with B's
object ids) must answer 403/404/405 and show none of B's content; anonymous requests never get
data; and B is left exactly as it was.
"""

from __future__ import annotations

import uuid

import pytest
from django.core.files.uploadedfile import SimpleUploadedFile
from django.test import Client
from django.urls import URLPattern, URLResolver, get_resolver, reverse

from annotation.models import Assignment, Item, Judgment, Response
from annotation.services.imports import import_job_create
from annotation.services.projects import annotation_project_create, item_create
from annotation.services.queue import assignment_claim_next, judgment_submit
from core.models import Membership, Project, Role
from core.services import membership_set
from curation.services.snapshots import snapshot_build, snapshot_create
from models_registry.models import Checkpoint, ScoringJob
from models_registry.models_jobs import GenerationJob
from tests.factories import UserFactory
from training.models import TrainingRun, TrainingSchedule

pytestmark = pytest.mark.django_db

SECRET = "SECRET-OF-PROJECT-B"
PUBLIC_ROUTES = {"healthz", "login", "logout", "api-schema", "api-docs"}


def walk(patterns, prefix="", outer_keys=()):
    for p in patterns:
        keys = [*outer_keys, *p.pattern.converters]
        if isinstance(p, URLResolver):
            namespace = f"{p.namespace}:" if p.namespace else ""
            for route, name, inner_keys in walk(p.url_patterns, prefix + str(p.pattern), keys):
                yield route, (namespace + name) if name else name, inner_keys
        elif isinstance(p, URLPattern):
            yield prefix + str(p.pattern), p.name, keys


ROUTES = [r for r in walk(get_resolver().url_patterns) if not r[0].startswith("admin/")]


def project_with_everything(owner, annotator, media):
    project = annotation_project_create(
        name=f"p-{uuid.uuid4().hex[:6]}", created_by=owner, task_kind="pairwise", overlap=2
    )
    membership_set(project=project, user=annotator, role=Role.ANNOTATOR)
    for n in range(3):
        item_create(project=project, prompt=f"{SECRET} question {n}", responses=[f"{SECRET} a{n}", f"{SECRET} b{n}"])
    done = assignment_claim_next(annotator=annotator, project=project).assignment
    judgment = judgment_submit(annotator=annotator, project=project, assignment_id=done.pk, payload={"outcome": "tie"},
                    client_key=uuid.uuid4().hex, time_spent_ms=5).judgment  # fmt: skip
    live = assignment_claim_next(annotator=annotator, project=project).assignment
    job = import_job_create(project=project, user=owner,
                            uploaded_file=SimpleUploadedFile("x.jsonl", b'{"prompt": "SECRET-OF-PROJECT-B"}'))  # fmt: skip
    snapshot = snapshot_create(project=project, user=owner, name="s", filters={}, options={})
    snapshot_build(snapshot_id=snapshot.pk)
    # Rows written directly: the sweep needs them to exist, not to be trainable.
    base = Checkpoint.objects.create(project=project, kind="policy", name=f"{SECRET} base", location="/nowhere")
    run = TrainingRun.objects.create(project=project, kind="reward", snapshot=snapshot, base_checkpoint=base,
                                     error=SECRET, created_by=owner)  # fmt: skip
    schedule = TrainingSchedule.objects.create(
        project=project, name=SECRET, trigger="judgments", every_n_judgments=5, base_checkpoint=base, created_by=owner
    )
    return {
        "project_id": project.pk,
        "item_id": Item.objects.filter(project=project).first().pk,
        "assignment_id": live.pk,
        "judgment_id": judgment.pk,
        "membership_id": Membership.objects.get(project=project, user=annotator).pk,
        "job_id": job.pk,
        "snapshot_id": snapshot.pk,
        "name": "manifest.json",
        "run_id": run.pk,
        "schedule_id": schedule.pk,
        "checkpoint_id": base.pk,
        "scoring_job_id": ScoringJob.objects.create(project=project, strategy="fifo").pk,
        "generation_job_id": GenerationJob.objects.create(
            project=project, checkpoint=base, selection="sample", prompt_limit=1, pairing="two_samples"
        ).pk,
        "response_id": Response.objects.filter(prompt__project=project).first().pk,
        "alias": "active-reward",  # a name, not a row: rolling back another project's alias must 404
    }


@pytest.fixture
def world(settings, tmp_path):
    settings.MEDIA_ROOT = tmp_path
    a_admin, b_admin, b_annotator = UserFactory(), UserFactory(), UserFactory()
    a_ids = project_with_everything(a_admin, UserFactory(), tmp_path)
    b_ids = project_with_everything(b_admin, b_annotator, tmp_path)
    return a_admin, a_ids, b_ids


def fill(keys, ids, route):
    missing = [k for k in keys if k not in ids]
    assert not missing, f"{route}: teach this sweep how to make a {missing} of another project"
    return {k: ids[k] for k in keys}


def state_of(project_id):
    return (
        Judgment.objects.filter(project_id=project_id).count(),
        list(Assignment.objects.filter(project_id=project_id).order_by("pk").values_list("status", flat=True)),
        list(Membership.objects.filter(project_id=project_id).order_by("pk").values_list("role", flat=True)),
        Project.objects.filter(pk=project_id).values_list("name", "task_config").get(),
    )


def test_every_url_refuses_another_projects_objects(world):
    a_admin, a_ids, b_ids = world
    before = state_of(b_ids["project_id"])
    client = Client()
    client.force_login(a_admin)
    swept = 0
    for route, name, keys in ROUTES:
        if "project_id" not in keys:
            continue
        variants = [fill(keys, b_ids, route)]
        if len(keys) > 1:  # my project's id with the other project's object ids
            variants.append({**fill(keys, b_ids, route), "project_id": a_ids["project_id"]})
        for kwargs in variants:
            url = reverse(name, kwargs=kwargs)
            for method in ("get", "post"):
                response = getattr(client, method)(url, HTTP_HX_REQUEST="true")
                assert response.status_code in (403, 404, 405), f"{method.upper()} {url} -> {response.status_code}"
                body = b"".join(response.streaming_content) if response.streaming else response.content
                assert SECRET.encode() not in body, f"{method.upper()} {url} leaked project B content"
                swept += 1
    assert swept > 60
    assert state_of(b_ids["project_id"]) == before


def test_anonymous_requests_get_no_data(world):
    _, _, b_ids = world
    client = Client()
    for route, name, keys in ROUTES:
        if name in PUBLIC_ROUTES:
            continue
        url = reverse(name, kwargs=fill(keys, b_ids, route))
        for method in ("get", "post"):
            response = getattr(client, method)(url)
            assert response.status_code in (302, 401, 403, 405), f"{method.upper()} {url} -> {response.status_code}"
            if response.status_code == 302:
                assert response["Location"].startswith(reverse("login")) or "/admin/login/" in response["Location"]
            body = b"".join(response.streaming_content) if response.streaming else response.content
            assert SECRET.encode() not in body
