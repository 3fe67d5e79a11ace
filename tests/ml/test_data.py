"""Loading exported data: friendly column errors, a stable split by prompt, length and tie reports."""

from __future__ import annotations

import hashlib
import random
from pathlib import Path

import pytest
from datasets import Dataset
from transformers import AutoTokenizer

from ml.data import DataFormatError, held_out, prepare_data, split_by_prompt
from tests.ml.conftest import preference_rows, unpaired_rows, write_jsonl


@pytest.fixture(scope="module")
def tokenizer(tiny_model: Path):
    return AutoTokenizer.from_pretrained(tiny_model)


@pytest.mark.parametrize(
    ("kind", "rows", "missing"),
    [
        ("dpo", [{"prompt": "p", "response_a": "x", "response_b": "y"}], "'chosen', 'rejected'"),
        ("dpo", [{"chosen": "x", "rejected": "y"}], "'prompt'"),
        ("reward", [{"prompt": "p", "chosen": "x"}], "'rejected'"),
        ("kto", [{"prompt": "p", "chosen": "x", "rejected": "y"}], "'completion', 'label'"),
    ],
)
def test_wrong_columns_name_what_is_missing(tmp_path, make_config, tokenizer, kind, rows, missing):
    config = make_config(kind, train_file=str(write_jsonl(tmp_path / "bad.jsonl", rows)))
    with pytest.raises(DataFormatError) as info:
        prepare_data(config, tokenizer)
    message = str(info.value)
    assert f"lacks column(s) {missing}" in message
    assert f"needed for a {kind} run" in message
    assert "bad.jsonl" in message
    assert "Expected TRL" in message


def test_kto_label_must_be_boolean(tmp_path, make_config, tokenizer):
    rows = [{"prompt": "p", "completion": "c", "label": 1}]
    config = make_config("kto", train_file=str(write_jsonl(tmp_path / "k.jsonl", rows)))
    with pytest.raises(DataFormatError, match="'label' must be true/false"):
        prepare_data(config, tokenizer)


@pytest.mark.parametrize(("content", "fragment"), [("", "is empty"), ("{not json\n", "could not read")])
def test_unreadable_files_name_the_file(tmp_path, make_config, tokenizer, content, fragment):
    path = tmp_path / "broken.jsonl"
    path.write_text(content)
    with pytest.raises(DataFormatError, match=fragment) as info:
        prepare_data(make_config("dpo", train_file=str(path)), tokenizer)
    assert "broken.jsonl" in str(info.value)


def test_split_is_by_prompt_stable_and_order_free():
    rows = preference_rows(200)
    train, evaluation = split_by_prompt(Dataset.from_list(rows), 0.2)
    assert set(train["prompt"]).isdisjoint(evaluation["prompt"])
    assert 0 < len(evaluation) < len(train)
    shuffled = rows[:]
    random.Random(1).shuffle(shuffled)
    _, evaluation_again = split_by_prompt(Dataset.from_list(shuffled), 0.2)
    assert sorted(evaluation_again["prompt"]) == sorted(evaluation["prompt"])
    assert held_out("a prompt", 0.0) is False


def test_report_counts_rows_over_max_length_that_reward_training_would_drop(tmp_path, make_config, tokenizer):
    rows = preference_rows(20)
    for row in rows[:3]:
        row["chosen"] = " very long answer" * 40
    path = write_jsonl(tmp_path / "long.jsonl", rows)
    data = prepare_data(make_config("reward", train_file=str(path), eval_fraction=0.0), tokenizer)
    assert data.report.dropped_too_long == 3
    assert data.report.train_rows == 17
    assert len(data.train) == 17
    assert any("do not fit max_length=64" in w for w in data.report.warnings)
    assert data.report.train_sha256 == hashlib.sha256(path.read_bytes()).hexdigest()


def test_policy_rows_are_truncated_or_dropped_when_the_prompt_fills_max_length(tmp_path, make_config, tokenizer):
    rows = preference_rows(10)
    rows[0]["chosen"] = " long" * 80  # fits the prompt, cut at the end
    rows[1]["prompt"] = "an endless prompt " * 40  # nothing of the completion would remain
    path = write_jsonl(tmp_path / "dpo.jsonl", rows)
    data = prepare_data(make_config("dpo", train_file=str(path), eval_fraction=0.0), tokenizer)
    assert data.report.truncated == 1
    assert data.report.dropped_too_long == 1
    assert data.report.train_rows == 9


def test_ties_never_train_but_stay_in_the_reward_evaluation(tmp_path, make_config, tokenizer):
    train = write_jsonl(tmp_path / "t.jsonl", preference_rows(12, ties_every=3))
    evaluation = write_jsonl(tmp_path / "e.jsonl", preference_rows(8, seed=1, ties_every=2))
    config = make_config("reward", train_file=str(train), eval_file=str(evaluation))
    data = prepare_data(config, tokenizer)
    assert data.report.ties_excluded == 4
    assert "tie" not in data.train.column_names
    assert len(data.train) == 8
    assert data.eval is not None
    assert data.report.eval_source == "file"
    assert data.report.eval_ties == 4
    assert sum(data.eval["tie"]) == 4
    assert data.report.eval_sha256 == hashlib.sha256(evaluation.read_bytes()).hexdigest()

    dpo = prepare_data(make_config("dpo", train_file=str(train), eval_file=str(evaluation)), tokenizer)
    assert dpo.eval is not None
    assert "tie" not in dpo.eval.column_names
    assert len(dpo.eval) == 4


def test_parquet_files_load(tmp_path, make_config, tokenizer):
    path = tmp_path / "kto.parquet"
    Dataset.from_list(unpaired_rows(16)).to_parquet(str(path))
    data = prepare_data(make_config("kto", train_file=str(path), eval_fraction=0.0), tokenizer)
    assert data.report.train_rows == 16
    assert data.eval is None
    assert data.report.eval_source == "none"
