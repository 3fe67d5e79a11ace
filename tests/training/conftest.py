"""Fixtures for training: real judgments, a real snapshot, a tiny base model built offline, fast ticks."""

from __future__ import annotations

import os

import pytest
from django.db import transaction

# Before transformers / huggingface_hub are imported by a fixture: never reach the Hub.
os.environ.setdefault("HF_HUB_OFFLINE", "1")
os.environ.setdefault("HF_DATASETS_OFFLINE", "1")
os.environ.setdefault("TOKENIZERS_PARALLELISM", "false")

CORPUS = [f"Question {n}? Answer {n}.{r} <|user|> <|assistant|>" for n in range(12) for r in range(2)]


@pytest.fixture(scope="session")
def tiny_base_dir(tmp_path_factory):
    """A ~14k-parameter causal LM and tokenizer, built once per session, never downloaded."""
    from ml.tiny import build_tiny_causal_lm

    return build_tiny_causal_lm(tmp_path_factory.mktemp("tiny") / "base", CORPUS, seed=0)


@pytest.fixture
def media(settings, tmp_path):
    settings.MEDIA_ROOT = tmp_path / "media"
    return settings.MEDIA_ROOT


@pytest.fixture
def fast_ticks(settings):
    """Heartbeats, progress writes and cancel checks every 0.1 s instead of every 2 s."""
    settings.TRAINING_PROGRESS_INTERVAL = 0.1
    settings.TRAINING_TERMINATE_GRACE = 10


@pytest.fixture(autouse=True)
def enqueued(monkeypatch):
    """Tasks enqueued on commit, recorded instead of sent: tests call the task bodies directly.

    Transactional tests commit, and a message sent to the shared test broker would wait there for ever.
    """
    from curation.tasks import build_snapshot
    from models_registry.tasks import check_agreement, generate, score_queue
    from training.tasks import execute_run

    tasks = {
        "execute_run": execute_run,
        "build_snapshot": build_snapshot,
        "generate": generate,
        "check_agreement": check_agreement,
        "score_queue": score_queue,
    }
    sent: dict[str, list[int]] = {name: [] for name in tasks}

    def recorder(name):
        return lambda pk: transaction.on_commit(lambda: sent[name].append(pk))

    for name, task in tasks.items():
        monkeypatch.setattr(task, "delay_on_commit", recorder(name))
    return sent
