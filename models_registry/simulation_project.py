"""One strategy's project in the loop simulation: its configuration, people, and simulated judging.

``loop_setup`` creates a fresh pairwise project (ties and "both bad" off, one strength, overlap 1, response
order shuffled per annotator), imports the data through the real import with the answers hidden, registers
the base model, and lets a noise-free oracle judge the held-out items through the queue. ``annotate`` then
has the simulated annotators take turns claiming and answering through the queue services.

Everything random is drawn from streams seeded by the simulation seed and a purpose (queue order, each
annotator), so two runs with the same seed claim the same items in the same order.
"""

from __future__ import annotations

import importlib
import random
import uuid
from collections.abc import Iterator, Mapping
from contextlib import contextmanager
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

from django.core.files.uploadedfile import SimpleUploadedFile

from annotation.models import Item
from annotation.services.imports import import_job_create, import_job_run
from annotation.services.projects import annotation_project_create
from annotation.services.queue import assignment_claim_next, judgment_submit
from core.models import Membership, Project, Role, User
from models_registry.aliases import loop_settings_get
from models_registry.models import Checkpoint, PriorityStrategy
from models_registry.services import checkpoint_register_base
from models_registry.simulation_data import Answers, SimulationData, answers_map

STRENGTH = "better"
PAIRWISE_CONFIG = {"strengths": [STRENGTH], "allow_tie": False, "allow_both_bad": False, "reason": "off"}
# Tiny model on a CPU: a few epochs at a high learning rate. Real data on a GPU: pass --preset / --train-params.
TINY_TRAIN_PARAMS: dict[str, Any] = {
    "device": "cpu",
    "num_epochs": 4.0,
    "batch_size": 8,
    "learning_rate": 3e-3,
    "max_length": 128,
    "logging_steps": 5,
    "save_steps": 10_000,
}


class SimulationError(RuntimeError):
    """A step of the real loop failed; the message names the strategy, the round and the step."""


@dataclass(frozen=True)
class SimulationConfig:
    strategies: tuple[str, ...]
    annotators: int = 3
    noise: float = 0.1  # chance an annotator picks the wrong response (after position bias)
    position_bias: float = 0.0  # chance an annotator picks whichever response is shown first
    labels_per_round: int = 20
    rounds: int = 5
    seed: int = 0
    ensemble_size: int = 3
    train_params: Mapping[str, Any] = field(default_factory=lambda: dict(TINY_TRAIN_PARAMS))

    def problems(self) -> list[str]:
        errors = [f"unknown strategy {s!r}" for s in self.strategies if s not in PriorityStrategy.values]
        if not self.strategies:
            errors.append("name at least one strategy")
        if self.annotators < 1 or self.labels_per_round < 1 or self.rounds < 1:
            errors.append("annotators, labels per round and rounds must each be at least 1")
        if not (0 <= self.noise <= 1 and 0 <= self.position_bias <= 1):
            errors.append("noise and position bias are probabilities, between 0 and 1")
        if self.ensemble_size < 2:
            errors.append("the ensemble needs at least 2 members")
        return errors


@dataclass
class RoundResult:
    strategy: str
    round: int
    labels: int  # pool judgments so far (the held-out oracle's are not counted)
    checkpoint: int | None
    heldout_accuracy: float | None  # the reward model trained on every label so far
    gate: str  # auto_promote or gate_hold (AliasEventKind)
    gate_reason: str
    active_checkpoint: int | None
    active_accuracy: float | None
    scored_with: str  # the strategy the queue was re-scored with after this round
    scoring_status: str
    seconds: float


@dataclass
class StrategyResult:
    strategy: str
    project_id: int
    rounds: list[RoundResult] = field(default_factory=list)
    claimed: list[str] = field(default_factory=list)  # prompt hashes (12 hex) in the order labelled
    stopped: str = ""  # why it ended before the last round, if it did


# The tasks the services enqueue on the way through the loop. Named, not discovered: a task added later
# (say, a check after each promotion) is simply left queued until it is listed here.
INLINE_TASKS = (
    ("annotation.imports.tasks", "run_import"),
    ("curation.tasks", "build_snapshot"),
    ("training.tasks", "execute_run"),
    ("models_registry.tasks", "score_queue"),
    ("models_registry.tasks", "check_agreement"),
    ("models_registry.tasks", "generate"),
)


@contextmanager
def tasks_inline() -> Iterator[None]:
    """Make the services' ``delay_on_commit`` a no-op: the harness runs each job it needs itself, in order.

    A message would only make a running worker race the harness for the same rows (or, with no broker,
    hang on the connection). Jobs the measurement does not need (the agreement check after a reward
    promotion) stay queued, and the beat's reapers fail them later as never picked up.
    """
    tasks: list[Any] = []
    for module, name in INLINE_TASKS:
        task = getattr(importlib.import_module(module), name, None)
        if task is not None:
            tasks.append(task)
    saved = [task.delay_on_commit for task in tasks]
    try:
        for task in tasks:
            task.delay_on_commit = lambda *args, **kwargs: None
        yield
    finally:
        for task, method in zip(tasks, saved, strict=True):
            task.delay_on_commit = method


def annotator_answer(
    rng: random.Random, *, correct: int, wrong: int, shown_first: int, noise: float, position_bias: float
) -> int:
    """A simulated annotator: sometimes takes the first response shown, else right except at the noise rate."""
    if rng.random() < position_bias:
        return shown_first
    return wrong if rng.random() < noise else correct


@dataclass
class SimulationLoop:
    """One strategy's project and its people, with the seeded random streams the runs must share."""

    strategy: str
    config: SimulationConfig
    project: Project
    admin: User
    annotators: list[User]
    answers: Answers
    base: Checkpoint
    heldout_rows: int
    test_fraction: float
    split_seed: int
    queue_rng: random.Random
    annotator_rngs: list[random.Random]
    result: StrategyResult

    def judge(self, annotator: User, rng: random.Random, *, noise: float, position_bias: float) -> Item | None:
        assignment = assignment_claim_next(annotator=annotator, project=self.project, rng=self.queue_rng).assignment
        if assignment is None:
            return None
        item = assignment.item
        correct = self.answers.chosen[item.pk]
        shown = [int(r) for r in assignment.display_order]
        pick = annotator_answer(
            rng,
            correct=correct,
            wrong=self.answers.other(item.pk, shown),
            shown_first=shown[0],
            noise=noise,
            position_bias=position_bias,
        )
        judgment_submit(
            annotator=annotator,
            project=self.project,
            assignment_id=assignment.pk,
            payload={"outcome": "preferred", "preferred": pick, "strength": STRENGTH},
            client_key=f"sim-{assignment.pk}",
            time_spent_ms=1000,
        )
        return item


def _user(tag: str, role: str, project: Project | None = None) -> User:
    user = User.objects.create_user(username=f"sim-{tag}-{role}")  # no password: it cannot sign in
    if project is not None:
        Membership.objects.create(user=user, project=project, role=role)
    return user


def loop_setup(strategy: str, data: SimulationData, base_dir: Path, config: SimulationConfig) -> SimulationLoop:
    tag = uuid.uuid4().hex[:8]
    admin = _user(tag, "admin")
    project = annotation_project_create(
        name=f"Simulation · {strategy} · seed {config.seed}",
        created_by=admin,  # made a project admin by project_create
        task_kind="pairwise",
        task_config=PAIRWISE_CONFIG,
        overlap=1,
        randomise_order=True,
    )
    settings = loop_settings_get(project=project)
    settings.ensemble_size, settings.gate_margin = config.ensemble_size, 0.0
    settings.save(update_fields=["ensemble_size", "gate_margin"])
    job = import_job_create(
        project=project,
        user=admin,
        uploaded_file=SimpleUploadedFile("simulation.jsonl", data.import_jsonl(seed=config.seed)),
        shape="responses",
    )
    job = import_job_run(job_id=job.pk) or job
    if job.status != "succeeded":
        raise SimulationError(f"{strategy}: the import failed: {job.errors}")
    loop = SimulationLoop(
        strategy=strategy,
        config=config,
        project=project,
        admin=admin,
        annotators=[_user(f"{tag}-{n}", Role.ANNOTATOR, project) for n in range(config.annotators)],
        answers=answers_map(project=project, data=data),
        base=checkpoint_register_base(project=project, kind="policy", directory=base_dir, name="simulation base"),
        heldout_rows=len(data.heldout),
        test_fraction=data.test_fraction,
        split_seed=data.split_seed,
        queue_rng=random.Random(f"{config.seed}:queue"),  # noqa: S311  # nosec B311 (seeded simulation)
        annotator_rngs=[random.Random(f"{config.seed}:annotator:{n}") for n in range(config.annotators)],  # noqa: S311  # nosec B311
        result=StrategyResult(strategy=strategy, project_id=project.pk),
    )
    _label_heldout(loop, _user(tag, Role.ANNOTATOR, project))
    return loop


def _label_heldout(loop: SimulationLoop, oracle: User) -> None:
    """The yardstick: every held-out item judged once, right, before any pool item (their priority is 1)."""
    rng = random.Random(0)  # noqa: S311  # nosec B311 (unused: no noise, no bias)
    for _ in range(len(loop.answers.heldout)):
        item = loop.judge(oracle, rng, noise=0.0, position_bias=0.0)
        if item is None or item.pk not in loop.answers.heldout:
            raise SimulationError(f"{loop.strategy}: the queue served a pool item before the held-out set was done.")


def annotate(loop: SimulationLoop, budget: int) -> int:
    """Up to ``budget`` judgments, annotators taking turns; fewer when the pool runs dry."""
    done, dry = 0, set[int]()
    while done < budget and len(dry) < len(loop.annotators):
        for n, annotator in enumerate(loop.annotators):
            if done >= budget:
                break
            item = loop.judge(
                annotator, loop.annotator_rngs[n], noise=loop.config.noise, position_bias=loop.config.position_bias
            )
            if item is None:
                dry.add(n)
                continue
            loop.result.claimed.append(item.prompt.content_hash[:12])
            done += 1
    return done
