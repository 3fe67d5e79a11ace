"""Score prompt + response texts with a reward model exactly as RewardTrainer saw them in training.

RewardTrainer builds each input as ``prompt + completion`` (plus EOS for plain text; the chat template for
conversations), tokenizes it with default special tokens and right-pads with ``pad_token_id``; a sequence
classifier reads its score at the last non-pad token. Scoring the same way keeps held-out metrics and the
loop's queue priorities comparable with the training loss.
"""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass
from typing import Any

import torch
from transformers import PreTrainedModel, PreTrainedTokenizerBase

Content = str | list[dict[str, Any]]


@dataclass(frozen=True)
class PreferencePair:
    """Two responses to one prompt; ``score_pairs`` returns P(a preferred over b) = sigmoid(r_a - r_b)."""

    prompt: Content | None
    response_a: Content
    response_b: Content


def chat_token_ids(
    tokenizer: PreTrainedTokenizerBase, messages: list[dict[str, Any]], *, add_generation_prompt: bool = False
) -> list[int]:
    """Token ids of a conversation rendered with the tokenizer's chat template."""
    rendered: Any = tokenizer.apply_chat_template(
        messages, tokenize=True, add_generation_prompt=add_generation_prompt, return_dict=True
    )
    return list(rendered["input_ids"])


def reward_input_ids(tokenizer: PreTrainedTokenizerBase, prompt: Content | None, completion: Content) -> list[int]:
    if isinstance(completion, list):
        return chat_token_ids(tokenizer, (prompt if isinstance(prompt, list) else []) + completion)
    text = (prompt if isinstance(prompt, str) else "") + completion
    eos = tokenizer.eos_token
    if isinstance(eos, str) and not text.endswith(eos):
        text += eos
    return list(tokenizer(text)["input_ids"])


@torch.no_grad()
def score_texts(
    model: PreTrainedModel,
    tokenizer: PreTrainedTokenizerBase,
    items: Sequence[tuple[Content | None, Content]],
    *,
    batch_size: int = 8,
    max_length: int | None = None,
) -> list[float]:
    """One scalar reward per (prompt, completion). Inputs over ``max_length`` keep their end.

    Keeping the end (not the start) because the classifier reads the last token: cutting the start of a long
    prompt costs context, cutting the end would score a response the model never saw finished.
    """
    pad_id = model.config.pad_token_id
    if pad_id is None:
        pad_id = tokenizer.pad_token_id if tokenizer.pad_token_id is not None else tokenizer.eos_token_id
    net: Any = model  # nn.Module.eval/train are untyped for mypy
    device = next(model.parameters()).device
    was_training = model.training
    net.eval()
    scores: list[float] = []
    for start in range(0, len(items), batch_size):
        batch = [reward_input_ids(tokenizer, p, c) for p, c in items[start : start + batch_size]]
        if max_length is not None:
            batch = [ids[-max_length:] for ids in batch]
        width = max(len(ids) for ids in batch)
        input_ids = torch.full((len(batch), width), pad_id, dtype=torch.long)  # (batch, seq), right-padded
        attention = torch.zeros((len(batch), width), dtype=torch.long)
        for row, ids in enumerate(batch):
            input_ids[row, : len(ids)] = torch.tensor(ids, dtype=torch.long)
            attention[row, : len(ids)] = 1
        logits = net(input_ids=input_ids.to(device), attention_mask=attention.to(device)).logits  # (batch, 1)
        scores.extend(logits.squeeze(-1).float().cpu().tolist())
    net.train(was_training)
    return scores
