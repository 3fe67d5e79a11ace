"""The generation job: the active policy writes candidates for chosen prompts, which become new items."""

from __future__ import annotations

import shutil

import pytest

from annotation.models import Item, Response, Source
from annotation.schemas import SchemaError
from annotation.services.queue import assignment_claim_next
from core.models import AuditEvent
from curation.models_quality import ItemAgreement
from models_registry.aliases import alias_promote, loop_settings_get
from models_registry.generation import (
    GenerationRefused,
    _store,
    generation_job_cancel,
    generation_job_create,
    generation_job_execute,
)
from models_registry.models import Checkpoint, JobStatus, Pairing, PromptSelection
from models_registry.models_jobs import GenerationJob, GenerationTrigger
from models_registry.services import checkpoint_register_base
from tests.factories import annotation_project
from tests.training.conftest import CORPUS

pytestmark = pytest.mark.django_db
FAST = {"num_samples": 2, "max_new_tokens": 6, "temperature": 1.0, "device": "cpu", "seed": 3}


@pytest.fixture(scope="module")
def second_policy_dir(tmp_path_factory):
    """Another tiny policy (different weights) to stand for the previous active one."""
    from ml.tiny import build_tiny_causal_lm

    return build_tiny_causal_lm(tmp_path_factory.mktemp("tiny2") / "base", CORPUS, seed=1)


def policy(project, folder, name):
    return checkpoint_register_base(project=project, kind="policy", directory=folder, name=name)


def new_items(project, before):
    return list(
        Item.objects.filter(project=project).exclude(pk__in=before).prefetch_related("item_responses__response")
    )


def test_new_policy_against_the_previous_one_makes_mixed_pairs_with_provenance(
    tiny_base_dir, second_policy_dir, enqueued
):
    project, (annotator,) = annotation_project(items=3, overlap=1)
    before = set(Item.objects.filter(project=project).values_list("pk", flat=True))
    old = policy(project, second_policy_dir, "policy v1")
    new = policy(project, tiny_base_dir, "policy v2")
    alias_promote(actor=None, checkpoint=old)
    alias_promote(actor=None, checkpoint=new)

    job = generation_job_create(project=project, actor=None, params=FAST, pairing=Pairing.VS_PREVIOUS)
    assert enqueued["generate"] == []  # sent on commit only
    assert job.baseline == old
    assert job.checkpoint == new
    done = generation_job_execute(job_id=job.pk)

    assert done.status == JobStatus.SUCCEEDED, done.error
    assert done.prompts == 3
    assert done.done == done.total == 3 * 2 * 2  # prompts x samples x two policies
    items = new_items(project, before)
    assert len(items) == done.items_created > 0
    for item in items:
        responses = [link.response for link in item.item_responses.all()]
        assert len(responses) == 2
        assert responses[0].pk != responses[1].pk
        assert item.open_slots == item.required == project.overlap
        sources = {r.source_detail["checkpoint_id"] for r in responses}
        assert sources == {old.pk, new.pk}, "each pair is new policy vs previous policy"
        for response in responses:
            assert response.source == Source.GENERATED
            assert response.text == response.text.strip()
            assert response.text
            assert response.source_detail["generation_job"] == job.pk
            assert response.source_detail["params"]["max_new_tokens"] == 6
    assert generation_job_execute(job_id=job.pk) is None  # a redelivered message does nothing
    claimed = {assignment_claim_next(annotator=annotator, project=project).assignment.item_id for _ in range(1)}
    assert claimed <= {i.pk for i in Item.objects.filter(project=project)}


def test_a_first_policy_pairs_its_own_samples(tiny_base_dir):
    project, _ = annotation_project(items=2)
    first = policy(project, tiny_base_dir, "policy v1")
    alias_promote(actor=None, checkpoint=first)
    before = set(Item.objects.values_list("pk", flat=True))

    job = generation_job_create(project=project, actor=None, params=FAST)  # default pairing: vs previous

    assert job.pairing == Pairing.TWO_SAMPLES
    assert job.baseline is None
    done = generation_job_execute(job_id=job.pk)
    assert done.status == JobStatus.SUCCEEDED, done.error
    for item in new_items(project, before):
        details = [link.response.source_detail for link in item.item_responses.all()]
        assert {(d["checkpoint_id"], d["checkpoint"]) for d in details} == {(first.pk, "policy v1")}


def test_storing_drops_empty_and_repeated_candidates_and_items_that_exist(tiny_base_dir):
    project, _ = annotation_project(items=1)
    prompt = Item.objects.get(project=project).prompt
    existing = [link.response for link in Item.objects.get(project=project).item_responses.all()]
    first = policy(project, tiny_base_dir, "p")
    job = GenerationJob.objects.create(
        project=project, checkpoint=first, selection="sample", prompt_limit=5, pairing="two_samples", params=FAST
    )
    candidates = {
        prompt.pk: [
            (0, existing[0].text), (1, existing[1].text),  # together they form the existing item
            (2, " fresh one "), (3, "fresh one"),  # the same text once stripped
            (4, "   "),  # empty
            (5, "fresh two"),
        ]
    }  # fmt: skip

    _store(job, [prompt], candidates, {})

    job.refresh_from_db()
    assert job.responses_created == 2  # "fresh one", "fresh two"; the existing texts are reused
    assert job.duplicates == 3  # the repeat, the empty one, the existing item
    assert job.items_created == 1
    item = Item.objects.filter(project=project).order_by("-pk").first()
    assert sorted(link.response.text for link in item.item_responses.all()) == ["fresh one", "fresh two"]
    assert Response.objects.filter(prompt=prompt, text="fresh one").count() == 1


def test_a_tampered_policy_fails_the_job_and_adds_nothing(tiny_base_dir, tmp_path):
    project, _ = annotation_project(items=2)
    folder = shutil.copytree(tiny_base_dir, tmp_path / "policy")
    checkpoint = policy(project, folder, "p")
    alias_promote(actor=None, checkpoint=checkpoint)
    weights = folder / "model.safetensors"
    data = bytearray(weights.read_bytes())
    data[-1] ^= 0xFF
    weights.write_bytes(bytes(data))
    counts = (Item.objects.count(), Response.objects.count())

    done = generation_job_execute(job_id=generation_job_create(project=project, actor=None, params=FAST).pk)

    assert done.status == JobStatus.FAILED
    assert "does not match its recorded sha256" in done.error
    assert "nothing was added" in done.error
    assert (Item.objects.count(), Response.objects.count()) == counts


def test_cancel_ends_a_queued_job_at_once_and_stops_a_running_one_without_writing(tiny_base_dir):
    project, _ = annotation_project(items=2)
    alias_promote(actor=None, checkpoint=policy(project, tiny_base_dir, "p"))
    queued = generation_job_create(project=project, actor=None, params=FAST)
    generation_job_cancel(job=queued)
    queued.refresh_from_db()
    assert queued.status == JobStatus.CANCELLED
    assert generation_job_execute(job_id=queued.pk) is None

    running = generation_job_create(project=project, actor=None, params=FAST)
    counts = (Item.objects.count(), Response.objects.count())
    # The click lands just after a worker claimed the job: the flag is read while the child runs.
    GenerationJob.objects.filter(pk=running.pk).update(cancel_requested=True)
    done = generation_job_execute(job_id=running.pk)
    assert done.status == JobStatus.CANCELLED
    assert (Item.objects.count(), Response.objects.count()) == counts


def test_refusals_say_why(tiny_base_dir):
    project, _ = annotation_project(items=1)
    with pytest.raises(GenerationRefused, match="no active policy"):
        generation_job_create(project=project, actor=None)
    checkpoint = policy(project, tiny_base_dir, "p")
    reward = Checkpoint.objects.create(project=project, kind="reward", name="rm", location=str(tiny_base_dir))
    with pytest.raises(GenerationRefused, match="not a policy"):
        generation_job_create(project=project, actor=None, checkpoint=reward)
    with pytest.raises(SchemaError) as bad:
        generation_job_create(project=project, actor=None, checkpoint=checkpoint, params={"top_p": 0, "seed": 1})
    assert [e.field for e in bad.value.errors] == ["params.top_p"]
    with pytest.raises(SchemaError, match=r"params\.num_samples"):  # a pair needs two different samples
        generation_job_create(project=project, actor=None, checkpoint=checkpoint, params={"num_samples": 1})
    generation_job_create(project=project, actor=None, checkpoint=checkpoint, params=FAST)
    with pytest.raises(GenerationRefused, match="already queued"):
        generation_job_create(project=project, actor=None, checkpoint=checkpoint, params=FAST)


def test_prompt_selections(tiny_base_dir):
    from models_registry.generation import _select_prompts

    project, _ = annotation_project(items=4)
    checkpoint = policy(project, tiny_base_dir, "p")
    items = list(Item.objects.filter(project=project).order_by("pk"))
    job = GenerationJob.objects.create(
        project=project, checkpoint=checkpoint, selection=PromptSelection.NEW, prompt_limit=10, pairing="two_samples"
    )
    Response.objects.create(
        prompt=items[0].prompt, text="mine", source=Source.GENERATED,
        source_detail={"checkpoint": "p", "checkpoint_id": checkpoint.pk}, content_hash="x",
    )  # fmt: skip
    assert [p.pk for p in _select_prompts(job)] == [i.prompt_id for i in reversed(items[1:])]  # newest first

    now = items[0].created_at
    for item, value in zip(items, [0.9, 0.2, None, 0.5], strict=True):
        ItemAgreement.objects.create(
            item=item, project=project, kind="pairwise", judgments=2, agreement=value,
            last_judgment_at=now, computed_at=now,
        )  # fmt: skip
    job.selection, job.prompt_limit = PromptSelection.LOW_AGREEMENT, 2
    assert [p.pk for p in _select_prompts(job)] == [items[1].prompt_id, items[3].prompt_id]

    job.selection = PromptSelection.SAMPLE
    first = [p.pk for p in _select_prompts(job)]
    assert len(first) == 2
    assert first == [p.pk for p in _select_prompts(job)]


def test_promoting_a_policy_starts_generation_when_the_project_asks_for_it(tiny_base_dir, second_policy_dir, enqueued):
    project, _ = annotation_project(items=1)
    loop = loop_settings_get(project=project)
    loop.generate_on_promotion = True
    loop.generation_params = FAST
    loop.save()
    alias_promote(actor=None, checkpoint=policy(project, tiny_base_dir, "p1"))
    job = GenerationJob.objects.get(project=project)
    assert job.trigger == GenerationTrigger.PROMOTION
    assert job.params["max_new_tokens"] == 6

    # A second promotion while that job is still queued does not fail: the refusal is recorded.
    alias_promote(actor=None, checkpoint=policy(project, second_policy_dir, "p2"))
    assert GenerationJob.objects.filter(project=project).count() == 1
    event = AuditEvent.objects.get(action="models_registry.generation_not_started")
    assert "already queued" in event.details["reason"]


def test_nul_characters_from_a_model_are_removed_before_storing(tiny_base_dir):
    """A byte-level tokenizer can decode a NUL byte; Postgres text columns refuse it."""
    project, _ = annotation_project(items=1)
    prompt = Item.objects.get(project=project).prompt
    job = GenerationJob.objects.create(
        project=project, checkpoint=policy(project, tiny_base_dir, "p"), selection="sample", prompt_limit=5,
        pairing="two_samples", params=FAST,
    )  # fmt: skip

    _store(job, [prompt], {prompt.pk: [(0, "a\x00b"), (1, "\x00\x00 "), (2, "c")]}, {})

    job.refresh_from_db()
    assert job.duplicates == 1  # the one that was nothing but NULs
    assert job.items_created == 1
    assert Response.objects.filter(prompt=prompt, text="ab").exists()
