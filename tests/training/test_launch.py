"""``training.launch``: rows to ml configs, validated at creation so bad runs never reach a GPU."""

from __future__ import annotations

import json
from pathlib import Path

import pytest
from django.core.exceptions import PermissionDenied

from annotation.schemas import SchemaError
from curation.services.snapshots import snapshot_build, snapshot_create
from ml.config import DPORunConfig, KTORunConfig, RewardRunConfig, config_from_json
from tests.training.ready import SMOKE, ready_project
from training.launch import data_files, param_fields, params_clean, run_check, run_config, run_paths
from training.models import RunStatus
from training.presets import PRESETS
from training.services.runs import run_create

pytestmark = pytest.mark.django_db


def fields_of(exc: pytest.ExceptionInfo[SchemaError]) -> dict[str, str]:
    return {error.field: error.message for error in exc.value.errors}


def create(ready, **overrides):
    values = {
        "project": ready.project,
        "user": ready.admin,
        "kind": "reward",
        "snapshot": ready.snapshot,
        "base_checkpoint": ready.base,
        "params": SMOKE,
    }
    return run_create(**{**values, **overrides})


def test_param_fields_come_from_the_ml_dataclass_with_its_help_texts():
    reward = {f.name: f for f in param_fields("reward")}
    assert "model_dir" not in reward  # paths are the supervisor's
    assert "train_file" not in reward
    assert reward["learning_rate"].type == "float"
    assert reward["learning_rate"].help == "Peak learning rate of AdamW."
    assert reward["max_steps"].optional
    assert reward["bf16"].type == "bool"
    assert reward["device"].choices == ("auto", "cpu", "cuda")
    dpo = {f.name: f for f in param_fields("dpo")}
    assert dpo["loss"].choices == ("sigmoid", "ipo", "robust")
    assert dpo["lora_target_modules"].type == "list"


@pytest.mark.parametrize(
    ("kind", "params", "field", "message"),
    [
        ("reward", {"learning_rate": "fast"}, "params.learning_rate", "wrong type"),
        ("reward", {"batch_size": 1.5}, "params.batch_size", "wrong type"),
        ("reward", {"gpus": 8}, "params.gpus", "not a hyper-parameter"),
        ("dpo", {"loss": "hinge"}, "params.loss", "wrong type"),
        ("dpo", {"lora_target_modules": "q_proj"}, "params.lora_target_modules", "wrong type"),
    ],
)
def test_params_of_the_wrong_type_or_unknown_are_named(kind, params, field, message):
    _, errors = params_clean(kind, params)
    assert [e.field for e in errors] == [field]
    assert message in errors[0].message


def test_params_are_stored_as_json():
    clean, errors = params_clean("dpo", {"lora_target_modules": ["q_proj", "k_proj"], "max_steps": None})
    assert errors == []
    assert clean == {"lora_target_modules": ["q_proj", "k_proj"], "max_steps": None}
    json.dumps(clean)


@pytest.mark.parametrize(
    ("kind", "params", "field", "message"),
    [
        ("reward", {"learning_rate": 1.0}, "params.learning_rate", "learning_rate must be between"),
        ("reward", {"device": "cpu", "bf16": True}, "params.bf16", "bf16 is for GPUs"),
        ("reward", {"max_steps": 0}, "params.max_steps", "max_steps must be at least 1"),
        ("dpo", {"loss": "sigmoid", "label_smoothing": 0.1}, "params.label_smoothing", "only used by the robust"),
        ("kto", {"batch_size": 1}, "params.batch_size", "KTO needs batch_size of at least 2"),
    ],
)
def test_a_bad_run_is_refused_at_creation_naming_the_field(media, tiny_base_dir, kind, params, field, message):
    ready = ready_project(tiny_base_dir)
    with pytest.raises(SchemaError) as exc:
        create(ready, kind=kind, params={**SMOKE, **params})
    assert message in fields_of(exc)[field]
    assert not ready.project.training_runs.exists()


def test_a_run_needs_a_built_snapshot_and_a_checkpoint_of_its_own_project(media, tiny_base_dir):
    ready = ready_project(tiny_base_dir)
    other = ready_project(tiny_base_dir)
    queued = snapshot_create(project=ready.project, user=ready.admin, name="later", filters={}, options={})
    with pytest.raises(SchemaError) as exc:
        create(ready, snapshot=other.snapshot, base_checkpoint=other.base)
    assert set(fields_of(exc)) == {"snapshot", "base_checkpoint"}
    with pytest.raises(SchemaError) as exc:
        create(ready, snapshot=queued)
    assert "only a built snapshot can train" in fields_of(exc)["snapshot"]
    with pytest.raises(SchemaError) as exc:
        create(ready, kind="tree")
    assert set(fields_of(exc)) == {"kind"}


def test_policy_runs_refuse_a_reward_model_as_their_base(media, tiny_base_dir):
    from models_registry.services import checkpoint_register_base

    ready = ready_project(tiny_base_dir)
    reward_base = checkpoint_register_base(
        project=ready.project, kind="reward", directory=tiny_base_dir, name="reward base"
    )
    with pytest.raises(SchemaError) as exc:
        create(ready, kind="dpo", base_checkpoint=reward_base)
    assert "fine-tunes a policy" in fields_of(exc)["base_checkpoint"]


def test_a_snapshot_without_rows_for_the_kind_is_refused(media, tiny_base_dir):
    ready = ready_project(tiny_base_dir)
    only_raw = snapshot_create(
        project=ready.project, user=ready.admin, name="raw", filters={}, options={"tables": ["raw"]}
    )
    only_raw = snapshot_build(snapshot_id=only_raw.pk)
    with pytest.raises(SchemaError) as exc:
        create(ready, snapshot=only_raw)
    assert "no preference table" in fields_of(exc)["snapshot"]
    # Pairwise judgments give unpaired rows too, so KTO can train on this snapshot but not on a raw one.
    with pytest.raises(SchemaError) as exc:
        create(ready, kind="kto", snapshot=only_raw)
    assert "no unpaired table" in fields_of(exc)["snapshot"]


def test_only_project_admins_create_runs(media, tiny_base_dir):
    ready = ready_project(tiny_base_dir)
    for user in (ready.researcher, ready.annotator):
        with pytest.raises(PermissionDenied):
            create(ready, user=user)


def test_the_split_snapshot_gives_train_and_test_files(media, tiny_base_dir):
    ready = ready_project(tiny_base_dir, items=8, options={"file_format": "both", "test_fraction": 0.5})
    assert ready.snapshot.counts["splits"]["preference"]["test"] > 0
    files = data_files("reward", ready.snapshot)
    assert files.train.name == "preference-train.jsonl"
    assert files.eval is not None
    assert files.eval.name == "preference-test.jsonl"
    assert data_files("kto", ready.snapshot).train.name == "unpaired-train.jsonl"


@pytest.mark.parametrize(("kind", "cls"), [("reward", RewardRunConfig), ("dpo", DPORunConfig), ("kto", KTORunConfig)])
def test_the_child_config_round_trips_with_the_run_paths(media, tiny_base_dir, enqueued, kind, cls):
    ready = ready_project(tiny_base_dir)
    params = {**SMOKE, **PRESETS["cpu-smoke"].params_for(kind)}
    run = create(ready, kind=kind, params=params, preset="cpu-smoke")
    assert run.status == RunStatus.QUEUED
    assert run.log_path == f"runs/{run.pk}/child.log"
    config = run_config(run)
    assert isinstance(config, cls)
    paths = run_paths(run)
    assert config.output_dir == str(paths.output)
    assert config.cancel_file == str(paths.cancel)
    assert config.progress_file is None  # events on standard output, read from the pipe
    assert Path(config.model_dir) == Path(tiny_base_dir).resolve()
    assert config.validate() == []
    assert config_from_json(config.to_json(), kind=kind) == config
    # Enqueued once, on commit (pytest-django's transaction never commits: nothing was sent).
    assert enqueued["execute_run"] == []


def test_every_preset_is_valid_for_its_kinds(media, tiny_base_dir):
    ready = ready_project(tiny_base_dir)
    for preset in PRESETS.values():
        for kind in preset.kinds:
            run_check(
                project=ready.project,
                kind=kind,
                snapshot=ready.snapshot,
                base_checkpoint=ready.base,
                params=preset.params_for(kind),
            )
