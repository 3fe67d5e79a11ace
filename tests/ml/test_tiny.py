"""ml.tiny: a tiny Llama and tokenizer built offline, deterministic, without touching global RNG state."""

from __future__ import annotations

import pytest

pytestmark = pytest.mark.slow

CORPUS = [f"Question {n}? Answer {n} is short." for n in range(30)]


def test_tiny_model_is_deterministic_offline_and_chat_ready(tmp_path, monkeypatch):
    monkeypatch.setenv("HF_HUB_OFFLINE", "1")
    import torch
    from transformers import AutoModelForCausalLM, AutoTokenizer

    from ml.tiny import build_tiny_causal_lm

    torch.manual_seed(123)
    expected_next = torch.rand(1)
    torch.manual_seed(123)
    first = build_tiny_causal_lm(tmp_path / "a", CORPUS, seed=1)
    assert torch.rand(1) == expected_next  # the caller's random stream is untouched
    second = build_tiny_causal_lm(tmp_path / "b", CORPUS, seed=1)

    tokenizer = AutoTokenizer.from_pretrained(first)
    a, b = AutoModelForCausalLM.from_pretrained(first), AutoModelForCausalLM.from_pretrained(second)
    assert all(torch.equal(x, y) for x, y in zip(a.state_dict().values(), b.state_dict().values(), strict=True))
    assert sum(p.numel() for p in a.parameters()) < 50_000
    assert tokenizer.pad_token_id != tokenizer.eos_token_id
    assert tokenizer.decode(tokenizer("Ünïcode ok?")["input_ids"]) == "Ünïcode ok?"  # byte-level: nothing unknown

    messages = [{"role": "system", "content": "Be brief."}, {"role": "user", "content": "Hi?"}]
    prompt = tokenizer.apply_chat_template(messages, tokenize=False, add_generation_prompt=True)
    full = tokenizer.apply_chat_template([*messages, {"role": "assistant", "content": "Hello."}], tokenize=False)
    assert full.startswith(prompt)  # DPOTrainer finds the completion where the two diverge
    logits = a(**tokenizer("Question 1?", return_tensors="pt")).logits  # (1, seq, vocab)
    assert logits.shape[-1] == len(tokenizer)
