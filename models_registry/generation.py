"""The policy writes the next comparisons: generate candidates for chosen prompts, store them, make items.

``generation_job_create`` validates and queues a ``GenerationJob`` (one active per project) and enqueues
``gpu.models_registry.generate``; ``generation_job_execute`` claims it (queued → running by a conditional
UPDATE), runs ``python -m ml.generate`` once for the policy and once for the baseline (the previous active
policy, for new-vs-previous pairs), then writes every response and item in ONE transaction: a failed or
cancelled job adds nothing. Candidates are stripped; empty ones and repeats (within a prompt, or an
item whose responses already form an item) are dropped and counted. Each stored response keeps its
provenance in ``source_detail``: checkpoint name and id, job, sample index and the generation parameters.
"""

from __future__ import annotations

import json
import logging
import random
import tempfile
from collections import defaultdict
from collections.abc import Mapping
from datetime import timedelta
from pathlib import Path
from typing import Any

from django.db import transaction
from django.utils import timezone

from annotation.hashing import content_hash
from annotation.models import Item, ItemResponse, Prompt, Response, Source
from annotation.schemas import FieldError, SchemaError, responses_per_item
from core.models import Project, TaskKind, User
from curation.exporters.trl import prompt_auto
from curation.models_quality import ItemAgreement
from ml.generation_config import GenerationParams
from models_registry.aliases import alias_checkpoint, loop_settings_get
from models_registry.child import ChildCancelled, run_ml_child
from models_registry.models import (
    AliasEvent,
    AliasEventKind,
    AliasName,
    Checkpoint,
    CheckpointKind,
    JobStatus,
    Pairing,
    PromptSelection,
)
from models_registry.models_jobs import GenerationJob, GenerationTrigger
from models_registry.services import CheckpointInvalid, checkpoint_verify

logger = logging.getLogger(__name__)

ACTIVE = (JobStatus.QUEUED, JobStatus.RUNNING)
STALE_AFTER = timedelta(minutes=10)
NEVER_PICKED_AFTER = timedelta(hours=1)
Candidates = dict[int, list[tuple[int, str]]]  # prompt id -> [(sample index, text)]


class GenerationRefused(ValueError):
    """The job cannot be queued; the message says why."""


def generation_job_active(*, project: Project) -> GenerationJob | None:
    return GenerationJob.objects.filter(project=project, status__in=ACTIVE).first()


def _baseline(project: Project, checkpoint: Checkpoint) -> Checkpoint | None:
    """The policy active before ``checkpoint`` was promoted; if it is not active, the active policy."""
    active = alias_checkpoint(project=project, name=AliasName.ACTIVE_POLICY)
    if active is not None and active.pk != checkpoint.pk:
        return active
    promoted = (
        AliasEvent.objects.filter(
            project=project,
            alias=AliasName.ACTIVE_POLICY,
            checkpoint=checkpoint,
            kind__in=(AliasEventKind.PROMOTE, AliasEventKind.AUTO_PROMOTE),
        )
        .select_related("previous")
        .first()
    )
    return promoted.previous if promoted is not None else None


def _params(data: Mapping[str, Any]) -> GenerationParams:
    try:
        params = GenerationParams.from_mapping(data)
    except ValueError as exc:
        raise SchemaError([FieldError("params", str(exc))]) from exc
    problems = params.problems()
    if problems:
        raise SchemaError([FieldError(f"params.{name}", message) for name, message in problems])
    return params


@transaction.atomic
def generation_job_create(
    *,
    project: Project,
    actor: User | None,
    checkpoint: Checkpoint | None = None,
    selection: str | None = None,
    prompt_limit: int | None = None,
    pairing: str | None = None,
    params: Mapping[str, Any] | None = None,
    trigger: GenerationTrigger = GenerationTrigger.MANUAL,
) -> GenerationJob:
    """Queue generation with ``checkpoint`` (default: the active policy); unset options come from LoopSettings.

    Raises GenerationRefused (no policy, another job active) or SchemaError naming each bad field.
    """
    Project.objects.select_for_update().filter(pk=project.pk).first()  # serialise two clicks
    if generation_job_active(project=project) is not None:
        raise GenerationRefused("a generation job is already queued or running for this project.")
    checkpoint = checkpoint or alias_checkpoint(project=project, name=AliasName.ACTIVE_POLICY)
    if checkpoint is None:
        raise GenerationRefused("there is no active policy to generate with; promote one first.")
    if checkpoint.project_id != project.pk or checkpoint.kind != CheckpointKind.POLICY:
        raise GenerationRefused(f"{checkpoint.name} is not a policy of this project.")
    loop = loop_settings_get(project=project)
    selection = selection or loop.generation_selection
    pairing = pairing or loop.generation_pairing
    limit = prompt_limit if prompt_limit is not None else loop.generation_prompt_limit
    errors = []
    if selection not in PromptSelection.values:
        errors.append(FieldError("selection", f"choose one of {', '.join(PromptSelection.values)}"))
    if pairing not in Pairing.values:
        errors.append(FieldError("pairing", f"choose one of {', '.join(Pairing.values)}"))
    if not 1 <= limit <= 100_000:
        errors.append(FieldError("prompt_limit", "must be between 1 and 100000"))
    if errors:
        raise SchemaError(errors)
    clean = _params(params if params is not None else loop.generation_params)
    baseline = _baseline(project, checkpoint) if pairing == Pairing.VS_PREVIOUS else None
    per_item = responses_per_item(project.task_kind, project.task_config)
    models = 2 if baseline is not None else 1
    if per_item > 1 and clean.num_samples * models < per_item:
        raise SchemaError(
            [FieldError("params.num_samples", f"an item needs {per_item} different responses; ask for more samples")]
        )
    job = GenerationJob.objects.create(
        project=project,
        checkpoint=checkpoint,
        baseline=baseline,
        selection=selection,
        prompt_limit=limit,
        pairing=Pairing.VS_PREVIOUS if baseline is not None else Pairing.TWO_SAMPLES,
        params=clean.as_dict(),
        trigger=trigger,
        created_by=actor,
    )
    from models_registry.tasks import generate  # the tasks module imports this one

    generate.delay_on_commit(job.pk)
    return job


def generation_job_cancel(*, job: GenerationJob) -> None:
    """A queued job ends at once; a running one stops its child at the next poll and writes nothing."""
    now = timezone.now()
    if not GenerationJob.objects.filter(pk=job.pk, status=JobStatus.QUEUED).update(
        status=JobStatus.CANCELLED, cancel_requested=True, finished_at=now
    ):
        GenerationJob.objects.filter(pk=job.pk, status=JobStatus.RUNNING).update(cancel_requested=True)


def _select_prompts(job: GenerationJob) -> list[Prompt]:
    prompts = Prompt.objects.filter(project=job.project)
    if job.selection == PromptSelection.NEW:
        # New to this policy: it has not answered them yet. Newest prompts first.
        answered = Response.objects.filter(
            prompt__project=job.project, source=Source.GENERATED, source_detail__checkpoint_id=job.checkpoint_id
        ).values("prompt_id")
        return list(prompts.exclude(pk__in=answered).order_by("-pk")[: job.prompt_limit])
    if job.selection == PromptSelection.LOW_AGREEMENT:
        rows = (
            ItemAgreement.objects.filter(project=job.project, agreement__isnull=False)
            .order_by("agreement", "item__prompt_id")
            .values_list("item__prompt_id", flat=True)
        )
        chosen: list[int] = []
        for prompt_id in rows.iterator(chunk_size=2000):
            if prompt_id not in chosen:
                chosen.append(prompt_id)
            if len(chosen) >= job.prompt_limit:
                break
        by_id = prompts.in_bulk(chosen)
        return [by_id[pk] for pk in chosen if pk in by_id]
    ids = sorted(prompts.values_list("pk", flat=True))
    # A reproducible sample (seeded by the job), not a secret: random.Random is the right tool.
    rng = random.Random(f"{job.pk}:{job.params.get('seed', 0)}")  # noqa: S311  # nosec B311
    picked = rng.sample(ids, min(job.prompt_limit, len(ids)))
    by_id = prompts.in_bulk(picked)
    return [by_id[pk] for pk in sorted(picked)]


def _seed(job: GenerationJob, checkpoint: Checkpoint) -> int:
    """Reproducible per job and model, but never the same stream twice: a policy fine-tuned from another
    samples nearly the same text from the same random stream, and a second job with the same seed would
    repeat the first one's candidates; both would be dropped as duplicates.
    """
    baseline = 1 if checkpoint.pk != job.checkpoint_id else 0
    return (int(job.params.get("seed", 0)) * 1_000_003 + job.pk * 2 + baseline) % 2**31


def _generate(
    job: GenerationJob, checkpoint: Checkpoint, prompts: list[Prompt], folder: Path, offset: int
) -> Candidates:
    checkpoint_verify(checkpoint=checkpoint)  # fast and torch-free; the child checks the hashes again
    source, output, config = folder / "prompts.jsonl", folder / f"out-{checkpoint.pk}.jsonl", folder / "gen.json"
    source.write_text(
        "".join(json.dumps({"prompt_id": p.pk, "prompt": prompt_auto(p.messages)}) + "\n" for p in prompts),
        encoding="utf-8",
    )
    config.write_text(
        json.dumps(
            {**job.params, "model_dir": str(checkpoint.path), "sha256": dict(checkpoint.sha256)}
            | {"seed": _seed(job, checkpoint)}
            | {"input": str(source), "output": str(output)}
        ),
        encoding="utf-8",
    )

    def progress(lines: int) -> None:
        GenerationJob.objects.filter(pk=job.pk).update(done=offset + lines, heartbeat_at=timezone.now())

    def stop() -> bool:
        return GenerationJob.objects.filter(pk=job.pk, cancel_requested=True).exists()

    outcome = run_ml_child("ml.generate", config, output=output, on_progress=progress, should_stop=stop)
    if outcome.returncode != 0:
        raise CheckpointInvalid(f"The generation process for {checkpoint.name} failed: {outcome.last_error}")
    candidates: Candidates = defaultdict(list)
    for line in output.read_text(encoding="utf-8").splitlines():
        row = json.loads(line)
        candidates[int(row["prompt_id"])].append((int(row["sample"]), str(row["text"])))
    return candidates


def _response(prompt: Prompt, text: str, checkpoint: Checkpoint, job: GenerationJob, sample: int) -> Response:
    # "checkpoint" is the NAME: snapshot filters and the leaderboard read it as the model's label.
    detail = {
        "checkpoint": checkpoint.name,
        "checkpoint_id": checkpoint.pk,
        "generation_job": job.pk,
        "sample": sample,
        "params": job.params,
    }
    response, _ = Response.objects.get_or_create(
        prompt=prompt,
        content_hash=content_hash(text),
        defaults={"text": text, "source": Source.GENERATED, "source_detail": detail},
    )
    return response


def _groups(new: list[Response], base: list[Response], size: int) -> list[list[Response]]:
    """Responses per item: new vs baseline side by side, or the new policy's own samples, ``size`` at a time."""
    if size == 1:
        return [[r] for r in new]
    pool: list[Response] = []
    if base:
        for pair in zip(new, base, strict=False):  # alternate so every item mixes both policies
            pool.extend(pair)
    else:
        pool = list(new)
    groups, current = [], []
    for response in pool:
        if response not in current:
            current.append(response)
        if len(current) == size:
            groups.append(current)
            current = []
    return groups


def _store(job: GenerationJob, prompts: list[Prompt], new: Candidates, base: Candidates) -> None:
    project = job.project
    size = responses_per_item(project.task_kind, project.task_config)
    seen_items = {frozenset(ids) for ids in _item_response_sets(project, [p.pk for p in prompts])}
    created_responses = duplicates = items = 0
    for prompt in prompts:
        per_model: list[list[Response]] = []
        for checkpoint, candidates in ((job.checkpoint, new), (job.baseline, base)):
            kept: list[Response] = []
            if checkpoint is None:
                per_model.append(kept)
                continue
            for sample, raw in sorted(candidates.get(prompt.pk, [])):
                # A model can emit NUL (a byte-level tokenizer decodes any byte): Postgres text refuses it.
                text = raw.replace("\x00", "").strip()
                if not text:
                    duplicates += 1
                    continue
                before = Response.objects.filter(prompt=prompt, content_hash=content_hash(text)).exists()
                response = _response(prompt, text, checkpoint, job, sample)
                if response in kept:
                    duplicates += 1
                    continue
                created_responses += 0 if before else 1
                kept.append(response)
            per_model.append(kept)
        for group in _groups(per_model[0], per_model[1], size):
            key = frozenset(r.pk for r in group)
            if key in seen_items:
                duplicates += 1
                continue
            seen_items.add(key)
            item = Item.objects.create(
                project=project, prompt=prompt, required=project.overlap, open_slots=project.overlap
            )
            ItemResponse.objects.bulk_create(
                ItemResponse(item=item, response=r, position=n) for n, r in enumerate(group)
            )
            items += 1
    GenerationJob.objects.filter(pk=job.pk).update(
        responses_created=created_responses, duplicates=duplicates, items_created=items
    )


def _item_response_sets(project: Project, prompt_ids: list[int]) -> list[set[int]]:
    sets: dict[int, set[int]] = defaultdict(set)
    links = ItemResponse.objects.filter(item__project=project, item__prompt_id__in=prompt_ids)
    for item_id, response_id in links.values_list("item_id", "response_id"):
        sets[item_id].add(response_id)
    return list(sets.values())


def _finish(job_id: int, status: JobStatus, error: str = "") -> None:
    GenerationJob.objects.filter(pk=job_id, status=JobStatus.RUNNING).update(
        status=status, error=error[:4000], finished_at=timezone.now()
    )


def generation_job_execute(*, job_id: int) -> GenerationJob | None:
    """Claim job ``job_id`` and run it to the end. None when it was not queued (a redelivery)."""
    now = timezone.now()
    if not GenerationJob.objects.filter(pk=job_id, status=JobStatus.QUEUED).update(
        status=JobStatus.RUNNING, started_at=now, heartbeat_at=now
    ):
        logger.info("generation job %s is not queued; nothing to do", job_id)
        return None
    job = GenerationJob.objects.select_related("project", "checkpoint", "baseline").get(pk=job_id)
    try:
        prompts = _select_prompts(job)
        samples = int(job.params.get("num_samples", 1))
        total = len(prompts) * samples * (2 if job.baseline_id else 1)
        GenerationJob.objects.filter(pk=job.pk).update(total=total, prompts=len(prompts))
        if prompts:
            with tempfile.TemporaryDirectory(prefix=f"generation-{job.pk}-") as folder:
                new = _generate(job, job.checkpoint, prompts, Path(folder), 0)
                base: Candidates = {}
                if job.baseline is not None:
                    base = _generate(job, job.baseline, prompts, Path(folder), len(prompts) * samples)
            with transaction.atomic():
                _store(job, prompts, new, base)
    except ChildCancelled:
        _finish(job.pk, JobStatus.CANCELLED, "Cancelled; no responses or items were added.")
        return GenerationJob.objects.get(pk=job_id)
    except CheckpointInvalid as exc:
        _finish(job.pk, JobStatus.FAILED, f"The policy was refused or failed; nothing was added. {exc}")
        return GenerationJob.objects.get(pk=job_id)
    except Exception as exc:
        _finish(job.pk, JobStatus.FAILED, f"Generation failed; nothing was added. {type(exc).__name__}: {exc}")
        raise
    _finish(job.pk, JobStatus.SUCCEEDED)
    _rescore_after(job)
    return GenerationJob.objects.get(pk=job_id)


def _rescore_after(job: GenerationJob) -> None:
    """New items start at priority 0; with an active reward model, queue a re-scoring so they are ranked."""
    from models_registry.scoring import ScoringRefused, scoring_job_create

    job.refresh_from_db(fields=["items_created"])
    if job.items_created == 0 or job.project.task_kind != TaskKind.PAIRWISE:
        return
    if alias_checkpoint(project=job.project, name=AliasName.ACTIVE_REWARD) is None:
        return
    try:
        scoring_job_create(project=job.project, actor=None)
    except ScoringRefused as exc:  # another scoring job is on its way, or the strategy needs more models
        logger.info("no re-scoring after generation job %s: %s", job.pk, exc)


def generation_jobs_reap_stale() -> int:
    """Fail jobs whose worker died (no heartbeat for STALE_AFTER) or that no worker picked up in an hour."""
    now = timezone.now()
    lost = GenerationJob.objects.filter(status=JobStatus.RUNNING, heartbeat_at__lt=now - STALE_AFTER).update(
        status=JobStatus.FAILED,
        finished_at=now,
        error="The worker stopped reporting progress (it died or lost the database); nothing was added. "
        "Start the generation again.",
    )
    unpicked = GenerationJob.objects.filter(status=JobStatus.QUEUED, created_at__lt=now - NEVER_PICKED_AFTER).update(
        status=JobStatus.FAILED, finished_at=now, error="No gpu worker picked the job up within an hour."
    )
    return lost + unpicked
