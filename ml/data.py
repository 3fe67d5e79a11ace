"""Load exported training data in TRL's shapes, check it up front, and split off a held-out set.

Shapes (TRL's "standard" strings or "conversational" lists of ``{"role", "content"}`` messages):

- preference (reward, DPO): ``prompt`` (optional for reward), ``chosen``, ``rejected``, optional ``margin``
  (float, reward loss ``-log sigmoid(r⁺ - r⁻ - margin)``) and optional ``tie`` (bool: the annotator judged both
  equal, so ``chosen``/``rejected`` is an arbitrary order). Tie rows never train; the reward evaluation uses
  them for its accuracy-with-ties.
- unpaired preference (KTO): ``prompt``, ``completion``, ``label`` (bool, thumbs up).

TRL answers a wrong column with a bare ``KeyError: 'chosen'`` deep inside ``map`` and RewardTrainer drops
rows longer than ``max_length`` without a word, so both are checked and counted here, before training.
"""

from __future__ import annotations

import hashlib
import json
from collections.abc import Sequence
from dataclasses import asdict, dataclass, field
from pathlib import Path
from typing import Any, Literal

from datasets import Dataset
from transformers import PreTrainedTokenizerBase

from ml.config import RunConfig, RunKind
from ml.scoring import chat_token_ids

REQUIRED_COLUMNS: dict[RunKind, tuple[str, ...]] = {
    "reward": ("chosen", "rejected"),
    "dpo": ("prompt", "chosen", "rejected"),
    "kto": ("prompt", "completion", "label"),
}
SHAPE_HELP: dict[RunKind, str] = {
    "reward": "preference rows {prompt (optional), chosen, rejected, margin (optional), tie (optional)}",
    "dpo": "preference rows {prompt, chosen, rejected}",
    "kto": "unpaired preference rows {prompt, completion, label (true/false)}",
}

Content = str | list[dict[str, Any]]


class DataFormatError(ValueError):
    """The data file cannot train this run kind; the message says what to fix."""


@dataclass(frozen=True)
class DataReport:
    """What the loader did to the files, for the run page and the manifest."""

    kind: RunKind
    train_file: str
    train_sha256: str
    eval_file: str | None
    eval_sha256: str | None
    eval_source: Literal["file", "split", "none"]
    train_rows: int
    eval_rows: int
    eval_ties: int
    ties_excluded: int  # tie rows kept out of training (and of DPO/KTO evaluation)
    dropped_too_long: int  # reward: a side longer than max_length; DPO/KTO: the prompt alone fills it
    truncated: int  # DPO/KTO: prompt + completion longer than max_length, cut at the end
    warnings: tuple[str, ...] = field(default_factory=tuple)

    def to_dict(self) -> dict[str, Any]:
        data = asdict(self)
        data["warnings"] = list(self.warnings)
        return data


@dataclass(frozen=True)
class PreparedData:
    train: Dataset  # no tie rows, no ``tie`` column: ready for the TRL trainer
    eval: Dataset | None  # reward: keeps tie rows and the ``tie`` column; others: like train
    report: DataReport


def file_sha256(path: Path) -> str:
    digest = hashlib.sha256()
    with path.open("rb") as handle:
        for block in iter(lambda: handle.read(1 << 20), b""):
            digest.update(block)
    return digest.hexdigest()


def read_rows(path: Path, *, cache_dir: Path | None = None) -> Dataset:
    """Read a .jsonl/.json/.parquet file into a ``Dataset``, with a readable error for unreadable files."""
    if not path.is_file():
        raise DataFormatError(f"data file {path} does not exist.")
    if path.stat().st_size == 0:
        raise DataFormatError(f"data file {path} is empty.")
    cache = str(cache_dir) if cache_dir is not None else None
    try:
        if path.suffix == ".parquet":
            dataset = Dataset.from_parquet(str(path), cache_dir=cache)
        elif path.suffix in (".jsonl", ".json"):
            dataset = Dataset.from_json(str(path), cache_dir=cache)
        else:
            raise DataFormatError(f"data file {path} must be .jsonl, .json or .parquet.")
    except DataFormatError:
        raise
    except Exception as exc:  # datasets raises a zoo of arrow/json errors; one message names the file
        raise DataFormatError(f"could not read {path}: {exc}") from exc
    assert isinstance(dataset, Dataset)
    if len(dataset) == 0:
        raise DataFormatError(f"data file {path} has no rows.")
    return dataset


def check_columns(dataset: Dataset, kind: RunKind, path: Path) -> None:
    """Raise a ``DataFormatError`` naming every missing column and the expected shape."""
    columns = set(dataset.column_names)
    missing = [name for name in REQUIRED_COLUMNS[kind] if name not in columns]
    if missing:
        have = ", ".join(repr(c) for c in dataset.column_names)
        raise DataFormatError(
            f"{path.name} lacks column(s) {', '.join(repr(m) for m in missing)} needed for a {kind} run "
            f"(it has {have}). Expected TRL {SHAPE_HELP[kind]}."
        )
    if kind == "kto" and dataset.features["label"].dtype != "bool":
        raise DataFormatError(f"{path.name}: column 'label' must be true/false, not {dataset.features['label'].dtype}.")
    if "tie" in columns and dataset.features["tie"].dtype != "bool":
        raise DataFormatError(f"{path.name}: column 'tie' must be true/false, not {dataset.features['tie'].dtype}.")
    if "margin" in columns and dataset.features["margin"].dtype not in ("float32", "float64", "int64", "int32"):
        raise DataFormatError(f"{path.name}: column 'margin' must be a number, not {dataset.features['margin'].dtype}.")


def held_out(prompt: Any, fraction: float) -> bool:
    """Whether a prompt belongs to the held-out split.

    A hash of the prompt, not a seeded shuffle: every row of one prompt lands on the same side (no leakage
    of near-duplicate pairs), and the split stays the same across runs and retrains, so reward models of
    successive rounds are compared on the same held-out prompts by the promotion gate.
    """
    canonical = json.dumps(prompt, sort_keys=True, ensure_ascii=False).encode()
    bucket = int.from_bytes(hashlib.sha256(canonical).digest()[:8], "big") / 2**64
    return bucket < fraction


def split_by_prompt(dataset: Dataset, fraction: float) -> tuple[Dataset, Dataset]:
    key_column = "prompt" if "prompt" in dataset.column_names else "chosen"
    flags = [held_out(value, fraction) for value in dataset[key_column]]
    train_idx = [i for i, flag in enumerate(flags) if not flag]
    eval_idx = [i for i, flag in enumerate(flags) if flag]
    return dataset.select(train_idx), dataset.select(eval_idx)


def _token_count(tokenizer: PreTrainedTokenizerBase, content: Content, *, add_eos: bool) -> int:
    if isinstance(content, list):
        return len(chat_token_ids(tokenizer, content))
    eos = tokenizer.eos_token
    if add_eos and isinstance(eos, str) and not content.endswith(eos):
        content = content + eos
    return len(tokenizer(content)["input_ids"])


def _join(prompt: Content | None, completion: Content) -> Content:
    if prompt is None:
        return completion
    if isinstance(prompt, list) and isinstance(completion, list):
        return prompt + completion
    if isinstance(prompt, str) and isinstance(completion, str):
        return prompt + completion
    raise DataFormatError("a row mixes a conversational (list of messages) and a plain-text field.")


def reward_fits(row: dict[str, Any], tokenizer: PreTrainedTokenizerBase, max_length: int) -> bool:
    """Mirror of RewardTrainer's filter: it keeps a pair only when both sides fit in ``max_length``."""
    prompt = row.get("prompt")
    return all(
        _token_count(tokenizer, _join(prompt, row[side]), add_eos=True) <= max_length for side in ("chosen", "rejected")
    )


def policy_lengths(row: dict[str, Any], tokenizer: PreTrainedTokenizerBase) -> tuple[int, int]:
    """(prompt tokens, longest prompt + completion tokens) of a DPO or KTO row."""
    prompt = row["prompt"]
    if isinstance(prompt, list):
        prompt_len = len(chat_token_ids(tokenizer, prompt, add_generation_prompt=True))
    else:
        prompt_len = len(tokenizer(prompt)["input_ids"])
    sides = ("completion",) if "completion" in row else ("chosen", "rejected")
    full = max(_token_count(tokenizer, _join(prompt, row[side]), add_eos=True) for side in sides)
    return prompt_len, full


def _without_ties(dataset: Dataset) -> tuple[Dataset, int]:
    if "tie" not in dataset.column_names:
        return dataset, 0
    keep = [i for i, tie in enumerate(dataset["tie"]) if not tie]
    return dataset.select(keep).remove_columns("tie"), len(dataset) - len(keep)


def _filter_lengths(
    dataset: Dataset, kind: RunKind, tokenizer: PreTrainedTokenizerBase, max_length: int
) -> tuple[Dataset, int, int]:
    """Drop rows TRL would drop anyway (so we know which), and count rows TRL will truncate."""
    keep: list[int] = []
    truncated = 0
    for i, row in enumerate(dataset):
        assert isinstance(row, dict)
        if kind == "reward":
            if reward_fits(row, tokenizer, max_length):
                keep.append(i)
            continue
        prompt_len, full_len = policy_lengths(row, tokenizer)
        if prompt_len >= max_length:  # nothing of the completion would be left after truncation
            continue
        truncated += full_len > max_length
        keep.append(i)
    return dataset.select(keep), len(dataset) - len(keep), truncated


def prepare_data(
    config: RunConfig, tokenizer: PreTrainedTokenizerBase, *, cache_dir: Path | None = None
) -> PreparedData:
    """Read, check, split and length-filter the data of a run. Raises ``DataFormatError`` on bad input."""
    kind = config.kind
    train_path = Path(config.train_file)
    rows = read_rows(train_path, cache_dir=cache_dir)
    check_columns(rows, kind, train_path)
    warnings: list[str] = []

    eval_path = Path(config.eval_file) if config.eval_file else None
    eval_rows: Dataset | None
    if eval_path is not None:
        eval_rows = read_rows(eval_path, cache_dir=cache_dir)
        check_columns(eval_rows, kind, eval_path)
        source: Literal["file", "split", "none"] = "file"
    elif config.eval_fraction > 0:
        rows, eval_rows = split_by_prompt(rows, config.eval_fraction)
        source = "split"
        if len(eval_rows) == 0:
            warnings.append("no prompt fell into the held-out split: there are no held-out metrics.")
            eval_rows, source = None, "none"
    else:
        eval_rows, source = None, "none"

    train, ties_train = _without_ties(rows)
    train, dropped, truncated = _filter_lengths(train, kind, tokenizer, config.max_length)
    eval_ties = 0
    if eval_rows is not None:
        if kind != "reward":  # only the reward evaluation has a use for ties
            eval_rows, ties_eval = _without_ties(eval_rows)
            ties_train += ties_eval
        eval_rows, dropped_eval, truncated_eval = _filter_lengths(eval_rows, kind, tokenizer, config.max_length)
        dropped += dropped_eval
        truncated += truncated_eval
        eval_ties = sum(tie_flags(eval_rows))
    if dropped:
        warnings.append(f"{dropped} row(s) do not fit max_length={config.max_length} and were left out.")
    if len(train) == 0:
        raise DataFormatError(f"{train_path.name} has no trainable rows left (ties and rows over max_length removed).")

    report = DataReport(
        kind=kind,
        train_file=str(train_path),
        train_sha256=file_sha256(train_path),
        eval_file=str(eval_path) if eval_path else None,
        eval_sha256=file_sha256(eval_path) if eval_path else None,
        eval_source=source,
        train_rows=len(train),
        eval_rows=len(eval_rows) if eval_rows is not None else 0,
        eval_ties=eval_ties,
        ties_excluded=ties_train,
        dropped_too_long=dropped,
        truncated=truncated,
        warnings=tuple(warnings),
    )
    return PreparedData(train=train, eval=eval_rows, report=report)


def tie_flags(dataset: Dataset) -> Sequence[bool]:
    """The ``tie`` column as booleans, all false when the data has none."""
    if "tie" not in dataset.column_names:
        return [False] * len(dataset)
    return [bool(t) for t in dataset["tie"]]
