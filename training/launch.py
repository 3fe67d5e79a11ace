"""The one place where rows become ``ml`` run configs (ARCHITECTURE.md §1).

``run_check`` validates a run before its row exists, against the very dataclass the child will read, so
a bad learning rate or a snapshot without preference pairs is refused on the form, not an hour later on
a GPU box. ``run_config`` rebuilds the same config from a row when the supervisor starts the child.
Only ``ml.config`` is imported from ``ml``: it is torch-free by design, and this module runs in web and
Celery processes that must never touch CUDA.
"""

from __future__ import annotations

import dataclasses
import os
import re
import typing
from collections.abc import Mapping
from dataclasses import dataclass
from pathlib import Path
from typing import Any

from django.conf import settings

from annotation.schemas import FieldError, SchemaError
from core.models import Project
from curation.models import DatasetSnapshot, SnapshotStatus
from ml.config import CONFIG_CLASSES, RewardRunConfig, RunConfig
from models_registry.models import Checkpoint, CheckpointKind, UnsafeLocationError
from training.models import RunKind, TrainingRun

PATH_FIELDS = frozenset(
    {"model_dir", "train_file", "output_dir", "eval_file", "progress_file", "cancel_file", "compare_model_dir"}
)
# Which exported table trains which kind (curation.exporters: "preference" and "unpaired").
TABLE_FOR_KIND = {RunKind.REWARD: "preference", RunKind.DPO: "preference", RunKind.KTO: "unpaired"}
DATA_EXTENSIONS = (".jsonl", ".parquet")  # both are written by default; JSONL first, as the ml tests use
# The metric the runs list shows first, per kind (the one the promotion gate compares).
KEY_METRIC = {"reward": "heldout_accuracy", "dpo": "eval_rewards/accuracies", "kto": "eval_loss"}
_PLACEHOLDER_PATHS = {"model_dir": "", "train_file": "", "output_dir": ""}


@dataclass(frozen=True)
class ParamField:
    """One editable hyper-parameter, described for a form: name, type, default and the ml help text."""

    name: str
    type: str  # "int", "float", "bool", "str", "choice", "list"
    optional: bool
    default: Any
    help: str
    choices: tuple[str, ...] = ()


@dataclass(frozen=True)
class DataFiles:
    train: Path
    eval: Path | None
    table: str


@dataclass(frozen=True)
class RunPaths:
    folder: Path
    config: Path
    log: Path
    cancel: Path
    output: Path


def config_class(kind: str) -> type[RunConfig]:
    return CONFIG_CLASSES[kind]


def _describe(hint: Any) -> tuple[str, bool, tuple[str, ...]]:
    """Form type, optional?, choices for a dataclass field's type hint."""
    args = typing.get_args(hint)
    optional = type(None) in args
    if optional:
        hint = next(arg for arg in args if arg is not type(None))
    if typing.get_origin(hint) is typing.Literal:
        return "choice", optional, tuple(str(a) for a in typing.get_args(hint))
    if typing.get_origin(hint) is tuple:
        return "list", optional, ()
    return {bool: "bool", int: "int", float: "float"}.get(hint, "str"), optional, ()


def param_fields(kind: str) -> list[ParamField]:
    """The editable fields of ``kind``'s ml config, in declaration order (paths are the supervisor's)."""
    cls = config_class(kind)
    hints = typing.get_type_hints(cls)
    fields = []
    for f in dataclasses.fields(cls):
        if f.name in PATH_FIELDS:
            continue
        form_type, optional, choices = _describe(hints[f.name])
        fields.append(
            ParamField(
                name=f.name,
                type=form_type,
                optional=optional,
                default=f.default,
                help=str(f.metadata.get("help", "")),
                choices=choices,
            )
        )
    return fields


def _field_of(message: str, names: list[str]) -> str | None:
    """The field an ml validation message is about: the earliest field name it mentions."""
    found = [(m.start(), name) for name in names if (m := re.search(rf"\b{re.escape(name)}\b", message))]
    return min(found)[1] if found else None


def params_clean(kind: str, params: Mapping[str, Any]) -> tuple[dict[str, Any], list[FieldError]]:
    """Type-check ``params`` field by field against the ml config; errors are named ``params.<field>``."""
    cls = config_class(kind)
    editable = {f.name for f in param_fields(kind)}
    errors: list[FieldError] = []
    clean: dict[str, Any] = {}
    for name, value in params.items():
        if name not in editable:
            errors.append(FieldError(f"params.{name}", f"not a hyper-parameter of a {kind} run"))
            continue
        try:
            parsed = cls.from_dict({**_PLACEHOLDER_PATHS, name: value})
        except ValueError as exc:
            errors.append(FieldError(f"params.{name}", str(exc).removeprefix(f"invalid {kind} config: ")))
            continue
        clean[name] = dataclasses.asdict(parsed)[name]
        if isinstance(clean[name], tuple):
            clean[name] = list(clean[name])  # stored as JSON
    return clean, errors


def _snapshot_file(snapshot: DatasetSnapshot, name: str) -> Path:
    root = os.path.realpath(settings.MEDIA_ROOT)
    path = os.path.realpath(os.path.join(root, snapshot.folder, name))
    if os.path.commonpath([root, path]) != root:
        raise ValueError(f"snapshot file {name!r} leaves MEDIA_ROOT")
    return Path(path)


def data_files(kind: str, snapshot: DatasetSnapshot) -> DataFiles:
    """The snapshot's train (and held-out test) file for ``kind``. ValueError says what is missing."""
    table = TABLE_FOR_KIND[RunKind(kind)]
    by_name = {str(entry["name"]): entry for entry in snapshot.files}

    def pick(stem: str) -> tuple[str, int] | None:
        for ext in DATA_EXTENSIONS:
            entry = by_name.get(stem + ext)
            if entry is not None:
                return stem + ext, int(entry.get("rows") or 0)
        return None

    split = pick(f"{table}-train")
    train = split or pick(table)
    if train is None:
        raise ValueError(f"the snapshot has no {table} table; create one that exports it")
    if train[1] == 0:
        what = "preference pairs" if table == "preference" else "unpaired rows (thumbs / ratings)"
        raise ValueError(f"the snapshot's {train[0]} has no rows: a {kind} run needs {what}")
    test = pick(f"{table}-test") if split else None
    eval_path = _snapshot_file(snapshot, test[0]) if test and test[1] > 0 else None
    return DataFiles(train=_snapshot_file(snapshot, train[0]), eval=eval_path, table=table)


def run_paths(run: TrainingRun) -> RunPaths:
    folder = Path(os.path.realpath(settings.MEDIA_ROOT)) / run.folder
    return RunPaths(
        folder=folder,
        config=folder / "run.json",
        log=folder / "child.log",
        cancel=folder / "cancel",
        output=folder / "output",
    )


def _build(
    kind: str, params: Mapping[str, Any], model_dir: Path, files: DataFiles, paths: RunPaths | None
) -> RunConfig:
    values: dict[str, Any] = {
        **params,
        "model_dir": str(model_dir),
        "train_file": str(files.train),
        "eval_file": str(files.eval) if files.eval else None,
        "output_dir": str(paths.output) if paths else "",
        "cancel_file": str(paths.cancel) if paths else None,
        "progress_file": None,  # standard output: the supervisor reads the child's pipe
    }
    return config_class(kind).from_dict(values)


def _base_model_dir(
    project: Project, kind: str, base_checkpoint: Checkpoint | None, errors: list[FieldError]
) -> Path | None:
    if base_checkpoint is None or base_checkpoint.project_id != project.pk:
        errors.append(FieldError("base_checkpoint", "choose a checkpoint of this project"))
    elif kind != RunKind.REWARD and base_checkpoint.kind != CheckpointKind.POLICY:
        errors.append(FieldError("base_checkpoint", f"a {kind} run fine-tunes a policy, not a reward model"))
    else:
        try:
            return base_checkpoint.path
        except UnsafeLocationError as exc:
            errors.append(FieldError("base_checkpoint", str(exc)))
    return None


def _validate(kind: str, config: RunConfig, *, check_files: bool) -> list[FieldError]:
    """The ml config's own ``validate()``, each message attached to the field it is about."""
    names = [f.name for f in param_fields(kind)]
    errors = []
    for problem in config.validate(check_files=check_files):
        if problem.startswith("model_dir"):
            errors.append(FieldError("base_checkpoint", problem))
        elif problem.startswith(("train_file", "eval_file")):
            errors.append(FieldError("snapshot", problem))
        else:
            name = _field_of(problem, names)
            errors.append(FieldError(f"params.{name}" if name else "params", problem))
    return errors


def _check_kind(kind: str) -> None:
    if kind not in RunKind.values:
        raise SchemaError([FieldError("kind", f"must be one of {', '.join(RunKind.values)}")])


def run_check(
    *,
    project: Project,
    kind: str,
    snapshot: DatasetSnapshot | None,
    base_checkpoint: Checkpoint | None,
    params: Mapping[str, Any],
) -> dict[str, Any]:
    """The cleaned params of a run that can start, or SchemaError naming every bad field.

    Checks: kind; snapshot of this project, succeeded, with rows for this kind; base checkpoint of this
    project (a policy for DPO/KTO: they fine-tune a causal LM) whose folder holds safetensors; and the
    hyper-parameters, through the ml config's own ``validate()`` with the real files.
    """
    _check_kind(kind)
    clean, errors = params_clean(kind, params)
    files = None
    if snapshot is None or snapshot.project_id != project.pk:
        errors.append(FieldError("snapshot", "choose a snapshot of this project"))
    elif snapshot.status != SnapshotStatus.SUCCEEDED:
        errors.append(FieldError("snapshot", f"the snapshot is {snapshot.status}; only a built snapshot can train"))
    else:
        try:
            files = data_files(kind, snapshot)
        except ValueError as exc:
            errors.append(FieldError("snapshot", str(exc)))
    model_dir = _base_model_dir(project, kind, base_checkpoint, errors)
    if errors or files is None or model_dir is None:
        raise SchemaError(errors)
    errors = _validate(kind, _build(kind, clean, model_dir, files, None), check_files=True)
    if errors:
        raise SchemaError(errors)
    return clean


def params_check(
    *, project: Project, kind: str, base_checkpoint: Checkpoint | None, params: Mapping[str, Any]
) -> dict[str, Any]:
    """Like ``run_check`` for a run whose snapshot does not exist yet (a schedule): data is checked later."""
    _check_kind(kind)
    clean, errors = params_clean(kind, params)
    model_dir = _base_model_dir(project, kind, base_checkpoint, errors)
    if errors or model_dir is None:
        raise SchemaError(errors)
    placeholder = DataFiles(train=Path("placeholder.jsonl"), eval=None, table=TABLE_FOR_KIND[RunKind(kind)])
    errors = _validate(kind, _build(kind, clean, model_dir, placeholder, None), check_files=False)
    if not (model_dir / "config.json").is_file():
        errors.append(FieldError("base_checkpoint", f"{model_dir} is not a model directory (no config.json)"))
    if errors:
        raise SchemaError(errors)
    return clean


def run_config(run: TrainingRun) -> RunConfig:
    """The config the child of ``run`` reads. Files are not checked here: the child does, and reports.

    A reward run also scores the project's active reward model (when it verifies) on its held-out pairs,
    so the promotion gate can compare the two on the same data (``compare_model_dir``).
    """
    config = _build(run.kind, run.params, run.base_checkpoint.path, data_files(run.kind, run.snapshot), run_paths(run))
    if isinstance(config, RewardRunConfig):
        active = _active_reward_dir(run.project)
        if active is not None:
            config = dataclasses.replace(config, compare_model_dir=str(active))
    return config


def _active_reward_dir(project: Project) -> Path | None:
    from models_registry.aliases import alias_checkpoint
    from models_registry.models import AliasName
    from models_registry.services import CheckpointInvalid, checkpoint_verify

    active = alias_checkpoint(project=project, name=AliasName.ACTIVE_REWARD)
    if active is None:
        return None
    try:
        checkpoint_verify(checkpoint=active)
        return active.path
    except (CheckpointInvalid, UnsafeLocationError, OSError):
        return None  # the gate then holds the new model for an admin: it has nothing to compare with
