"""Acceptance: snapshots built from real judgments load with `datasets` and train TRL's trainers unchanged.

One project per task kind (a project has one kind), each judged through the queue services and
exported as a snapshot; the four preference files together hold every origin (pairwise, ranking,
edit, rating). Both prompt formats and both file formats are exercised: standard rows as JSONL,
conversational rows as Parquet. A tiny Llama built offline by ``ml.tiny`` trains 2 steps per trainer.
"""

from __future__ import annotations

import math
from pathlib import Path

import pytest

from annotation.services.projects import item_create
from core.models import Role
from curation.models import SnapshotStatus
from curation.services.snapshots import snapshot_build, snapshot_create
from tests.curation.judging import RATING_CONFIG, judge_everything, judged_project, texts_by_position
from tests.factories import MembershipFactory, annotation_project

pytestmark = [
    pytest.mark.django_db,
    pytest.mark.slow,
    # TRL 1.16's configs still default gradient_checkpointing=True, so it must be passed (as False);
    # transformers 5.24 then warns that the name is now activation_checkpointing.
    pytest.mark.filterwarnings("ignore:`(is_)?gradient_checkpointing` is deprecated:FutureWarning"),
]


def rated_project():
    """Two responses per prompt (two items), rated far apart, so ratings give pairs too."""
    project, users = annotation_project(kind="rating", items=0, annotators=1, config=RATING_CONFIG)
    for n in range(4):
        item_create(project=project, prompt=f"Question {n}?", responses=[f"Good answer {n}."])
        item_create(project=project, prompt=f"Question {n}?", responses=[f"Bad answer {n}."])

    def score(item, _):
        [(_, text)] = texts_by_position(item)
        value = 6 if text.startswith("Good") else 2
        return {"ratings": {"helpfulness": {"score": value}, "honesty": {"score": value}}}

    judge_everything(project, users, payload=score)
    researcher = MembershipFactory(project=project, role=Role.RESEARCHER).user
    return project, researcher


def export(project, researcher, media, **options):
    snapshot = snapshot_create(
        project=project, user=researcher, name="acceptance", filters={}, options={"include_ties": False, **options}
    )
    snapshot = snapshot_build(snapshot_id=snapshot.pk)
    assert snapshot.status == SnapshotStatus.SUCCEEDED, snapshot.error
    return {f["name"]: (Path(media) / f["path"], f["rows"]) for f in snapshot.files}


def test_snapshots_train_reward_dpo_and_kto(media, tmp_path, monkeypatch):
    # Before datasets/trl are imported: huggingface_hub reads these once, at import.
    monkeypatch.setenv("HF_HUB_OFFLINE", "1")
    monkeypatch.setenv("HF_DATASETS_OFFLINE", "1")
    monkeypatch.setenv("TOKENIZERS_PARALLELISM", "false")
    from datasets import concatenate_datasets, load_dataset
    from trl import DPOConfig, DPOTrainer, KTOConfig, KTOTrainer, RewardConfig, RewardTrainer

    from ml.tiny import build_tiny_causal_lm

    projects = [judged_project(kind, items=4, annotators=2)[::2] for kind in ("pairwise", "ranking", "free_text")]
    projects.append(rated_project())

    corpus: list[str] = []
    runs = {}
    for prompt_format, file_kind in (("standard", "jsonl"), ("conversational", "parquet")):
        preference, unpaired = [], []
        for project, researcher in projects:
            files = export(project, researcher, media, prompt_format=prompt_format, file_format=file_kind)
            for name, (path, rows) in files.items():
                # Skip empty files (a ranking project has no KTO rows): datasets cannot infer a schema from them.
                if rows and name.startswith("preference"):
                    preference.append(str(path))
                elif rows and name.startswith("unpaired"):
                    unpaired.append(str(path))
                if file_kind == "jsonl" and rows:
                    corpus.extend(line for line in path.read_text().splitlines())
        loader = "json" if file_kind == "jsonl" else "parquet"
        # One file per call, then concatenate: load_dataset caches by the list of data files.
        pref = concatenate_datasets(
            [load_dataset(loader, data_files=p, split="train", cache_dir=str(tmp_path / "hf")) for p in preference]
        )
        unp = concatenate_datasets(
            [load_dataset(loader, data_files=p, split="train", cache_dir=str(tmp_path / "hf")) for p in unpaired]
        )
        assert set(pref["origin"]) == {"pairwise", "ranking", "edit", "rating"}
        assert set(unp["origin"]) == {"pairwise", "rating"}
        assert set(unp["label"]) == {True, False}
        assert pref.features["margin"].dtype == "float64"
        assert unp.features["label"].dtype == "bool"
        if prompt_format == "conversational":
            assert pref[0]["chosen"][0]["role"] == "assistant"
        else:
            assert isinstance(pref[0]["prompt"], str)
        runs[prompt_format] = (pref, unp)

    model = str(build_tiny_causal_lm(tmp_path / "tiny", corpus, seed=0))
    common = {
        "max_steps": 2,
        "per_device_train_batch_size": 4,  # KTO's KL estimate needs more than one row per batch
        "learning_rate": 1e-3,
        "use_cpu": True,
        "report_to": "none",
        "bf16": False,
        "gradient_checkpointing": False,
        "logging_steps": 1,
        "save_strategy": "no",
        "disable_tqdm": True,
        # RewardTrainer drops (does not truncate) rows longer than this; ours are far shorter.
        "max_length": 128,
    }
    for prompt_format, (pref, unp) in runs.items():
        out = tmp_path / prompt_format
        reward = RewardTrainer(model=model, args=RewardConfig(output_dir=str(out / "rm"), **common), train_dataset=pref)
        assert "margin" in reward.train_dataset.column_names  # the loss is -log sigmoid(r+ - r- - margin)
        dpo = DPOTrainer(model=model, args=DPOConfig(output_dir=str(out / "dpo"), **common), train_dataset=pref)
        kto = KTOTrainer(model=model, args=KTOConfig(output_dir=str(out / "kto"), **common), train_dataset=unp)
        for name, trainer in (("reward", reward), ("dpo", dpo), ("kto", kto)):
            result = trainer.train()
            losses = [entry["loss"] for entry in trainer.state.log_history if "loss" in entry]
            assert result.global_step == 2, name
            assert losses, name
            assert all(math.isfinite(v) for v in losses), (prompt_format, name, losses)
            assert math.isfinite(result.training_loss), (prompt_format, name)
