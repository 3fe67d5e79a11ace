"""Tiny causal language models built fully offline, for tests, CI and the embedded demo.

TRL's own tests download ``trl-internal-testing/tiny-*`` models from the Hub; our CI has no network.
So we train a byte-level BPE tokenizer in-process on a small corpus and attach a randomly initialised
``LlamaForCausalLM`` of a few thousand parameters. Both are saved with ``save_pretrained`` into one
folder, which every trainer accepts as ``model=<path>`` (``RewardTrainer`` turns it into a one-label
sequence classifier with a fresh ``score`` head).

Nothing here touches global state: the weights are drawn inside ``torch.random.fork_rng`` so a caller's
random stream is the same before and after, and the same ``seed`` always gives the same weights.
"""

from __future__ import annotations

from collections.abc import Iterable
from dataclasses import dataclass
from pathlib import Path

import torch
from tokenizers import Tokenizer, decoders, models, pre_tokenizers, trainers
from transformers import LlamaConfig, LlamaForCausalLM, PreTrainedTokenizerFast

UNK, PAD, EOS = "<unk>", "<pad>", "<eos>"
ROLE_TOKENS = ("<|system|>", "<|user|>", "<|assistant|>")

# The smallest template that TRL's conversational path needs. Each message renders as a role marker,
# its content and EOS; the generation prompt is the bare assistant marker. So the rendered prompt is
# always a prefix of the rendered prompt + completion, which DPOTrainer relies on to find where the
# completion starts (otherwise it warns and trims the prompt; see trl PR #6433).
CHAT_TEMPLATE = (
    "{% for message in messages %}"
    "{{ '<|' + message['role'] + '|>' + message['content'] + '" + EOS + "' }}"
    "{% endfor %}"
    "{% if add_generation_prompt %}{{ '<|assistant|>' }}{% endif %}"
)


@dataclass(frozen=True)
class TinyLMConfig:
    """Shape of the tiny model. The defaults give about 14k parameters: a training step takes milliseconds."""

    vocab_size: int = 320  # target for the BPE trainer: 256 byte symbols + special tokens + a few merges
    hidden_size: int = 16
    intermediate_size: int = 32
    num_hidden_layers: int = 2
    num_attention_heads: int = 4
    num_key_value_heads: int = 2
    max_position_embeddings: int = 512


def build_tiny_tokenizer(corpus: Iterable[str], *, vocab_size: int = 320) -> PreTrainedTokenizerFast:
    """A byte-level BPE tokenizer trained on ``corpus``, with unk/pad/eos, role markers and a chat template.

    Byte-level means any text encodes (no unknown characters), whatever the corpus was.
    """
    tokenizer = Tokenizer(models.BPE(unk_token=UNK))
    tokenizer.pre_tokenizer = pre_tokenizers.ByteLevel(add_prefix_space=False)
    tokenizer.decoder = decoders.ByteLevel()
    trainer = trainers.BpeTrainer(
        vocab_size=vocab_size,
        special_tokens=[UNK, PAD, EOS, *ROLE_TOKENS],
        initial_alphabet=pre_tokenizers.ByteLevel.alphabet(),
        show_progress=False,
    )
    tokenizer.train_from_iterator(corpus, trainer=trainer)
    # transformers 5 leaves this constructor (TokenizersBackend.__init__) unannotated.
    wrapped = PreTrainedTokenizerFast(  # type: ignore[no-untyped-call]
        tokenizer_object=tokenizer,
        unk_token=UNK,
        pad_token=PAD,  # distinct from EOS: reward models find the last real token by the pad id
        eos_token=EOS,
        additional_special_tokens=list(ROLE_TOKENS),
    )
    wrapped.chat_template = CHAT_TEMPLATE
    return wrapped


def build_tiny_causal_lm(
    out_dir: Path, corpus: Iterable[str], seed: int = 0, config: TinyLMConfig | None = None
) -> Path:
    """Train a tokenizer on ``corpus``, build a random ``LlamaForCausalLM``, save both to ``out_dir``.

    Returns ``out_dir``, ready for ``AutoModelForCausalLM.from_pretrained`` / ``AutoTokenizer`` and for
    TRL trainers as ``model=str(out_dir)``. Deterministic for a given corpus, seed and config.
    """
    shape = config or TinyLMConfig()
    out_dir = Path(out_dir)
    out_dir.mkdir(parents=True, exist_ok=True)
    tokenizer = build_tiny_tokenizer(corpus, vocab_size=shape.vocab_size)
    model_config = LlamaConfig(
        vocab_size=len(tokenizer),
        hidden_size=shape.hidden_size,
        intermediate_size=shape.intermediate_size,
        num_hidden_layers=shape.num_hidden_layers,
        num_attention_heads=shape.num_attention_heads,
        num_key_value_heads=shape.num_key_value_heads,
        max_position_embeddings=shape.max_position_embeddings,
        pad_token_id=tokenizer.pad_token_id,
        eos_token_id=tokenizer.eos_token_id,
        bos_token_id=None,  # the tokenizer adds no BOS; a stray id here would be prepended by some paths
        tie_word_embeddings=False,
    )
    with torch.random.fork_rng(devices=[]):
        torch.manual_seed(seed)
        model = LlamaForCausalLM(model_config)
    model.generation_config.pad_token_id = tokenizer.pad_token_id
    model.generation_config.eos_token_id = tokenizer.eos_token_id
    model.save_pretrained(out_dir)
    tokenizer.save_pretrained(out_dir)
    return out_dir
