"""Judgments -> rows in TRL's preference and unpaired-preference shapes.

Pure module. Shapes (TRL ``docs/source/dataset_formats.md``):

- preference: ``prompt``, ``chosen``, ``rejected``, ``margin`` (float), ``tie`` (bool), ``origin``.
  RewardTrainer reads ``margin`` (loss ``-log sigmoid(r_chosen - r_rejected - margin)``); the trainers drop
  the other extra columns. ``tie`` marks a pair without a direction (a tie, both-bad, or a ranking tier
  of several), present only when the options include them: ``ml.data`` keeps such rows out of training
  and uses them for the reward model's accuracy-with-ties. Fed to TRL directly, a tie row trains as an
  ordinary pair with margin 0, which is why they are left out by default.
- unpaired (KTO): ``prompt``, ``completion``, ``label`` (bool), ``origin``.

**Standard or conversational** is decided once per snapshot, never per row: Arrow gives a column one
type, so a file mixing strings and message lists cannot be loaded by ``datasets``. With
``prompt_format="auto"`` a snapshot is conversational when any of its prompts has more than one
message or a system message (a single user turn loses nothing as a plain string). Conversational rows
carry the prompt's messages as stored and ``chosen``/``rejected``/``completion`` as
``[{"role": "assistant", "content": text}]``; standard rows carry the user turn's text and the
response texts verbatim (no separator is invented: pick conversational for chat models).

**Margins** (``MarginOptions``, all multiplied by ``scale``): a pairwise strength of level ``l`` out of
``n`` labels (1 = weakest) maps to ``l / n`` in ``level_fraction`` mode (default; every real preference
keeps a positive margin) or ``(l - 1) / (n - 1)`` in ``llama2`` mode (Llama-2's "margin small": the
weakest label, "negligibly better", gets 0 and the strongest 1); ``none`` writes 0.0 everywhere.
Ranking pairs use the tier gap ``g`` out of ``T - 1`` as the level; edits count as the strongest level;
rating pairs use the difference of normalised mean ratings. Ties and both-bad pairs, when included,
have margin 0.0.
"""

from __future__ import annotations

from collections.abc import Iterator
from dataclasses import dataclass
from typing import Any

from curation.exporters.options import MarginOptions
from curation.exporters.records import ExportContext, JudgmentRecord, Message

PAIRWISE, RANKING, EDIT, RATING = "pairwise", "ranking", "edit", "rating"
PREFERENCE_ORIGINS = (PAIRWISE, RANKING, EDIT, RATING)
UNPAIRED_ORIGINS = (PAIRWISE, RATING)


class ExportError(ValueError):
    """Data that the chosen export cannot represent; the message says which row and what to change."""


@dataclass(frozen=True)
class Pair:
    chosen: str
    rejected: str
    margin: float
    origin: str
    tie: bool = False
    weight: float | None = None  # None: the judgment's own weight (consensus-only snapshots)


def needs_conversational(messages: tuple[Message, ...] | list[Message]) -> bool:
    return len(messages) > 1 or any(m.get("role") != "user" for m in messages)


def prompt_auto(messages: Any) -> Any:
    """A prompt in the ``auto`` format, as a model saw it in training: a lone user turn as its text,
    anything else as the conversation. For code that feeds stored prompts to a model (scoring, generation).
    """
    if isinstance(messages, list) and messages and not needs_conversational(messages):
        return messages[0].get("content", "")
    return messages


# The last prompt value made: (messages, format, value). The selector gives every record of a prompt
# the same messages tuple, and rows come prompt by prompt, so most rows reuse it. Replaced as one
# tuple (never mutated), so concurrent builds in threads at worst miss, never read another's value.
_last_prompt: tuple[object, str, Any] = (None, "", None)


def prompt_value(record: JudgmentRecord, ctx: ExportContext) -> Any:
    """The ``prompt`` cell of a row. Rows of one prompt may share the returned list: do not mutate it."""
    global _last_prompt
    messages, prompt_format, value = _last_prompt
    if messages is record.prompt_messages and prompt_format == ctx.prompt_format:
        return value
    if ctx.prompt_format == "conversational":
        value = [{"role": str(m["role"]), "content": str(m["content"])} for m in record.prompt_messages]
    elif needs_conversational(record.prompt_messages):
        raise ExportError(
            f"prompt {record.prompt_id} has {len(record.prompt_messages)} message(s) or a system message; "
            "the standard format holds one user turn only. Choose the conversational or auto prompt format."
        )
    else:
        value = str(record.prompt_messages[0]["content"])
    _last_prompt = (record.prompt_messages, ctx.prompt_format, value)
    return value


def completion_value(text: str, ctx: ExportContext) -> Any:
    if ctx.prompt_format == "conversational":
        return [{"role": "assistant", "content": text}]
    return text


def strength_margin(level: int, levels: int, margin: MarginOptions) -> float:
    """Margin for a preference of strength ``level`` out of ``levels`` (1 = weakest)."""
    if margin.mode == "none":
        return 0.0
    level = max(1, min(level, levels))
    if margin.mode == "level_fraction":
        return float(margin.scale * level / levels)
    # llama2: the weakest label means "negligibly better", so it adds no margin.
    return 0.0 if levels == 1 else float(margin.scale * (level - 1) / (levels - 1))


def gap_margin(gap: float, margin: MarginOptions) -> float:
    """Margin for a preference measured on a [0, 1] scale (rating pairs)."""
    return 0.0 if margin.mode == "none" else float(margin.scale * gap)


def _text(record: JudgmentRecord, response_id: Any) -> str:
    response = record.responses.get(int(response_id))
    if response is None:
        raise ExportError(f"judgment {record.id} names response {response_id}, which is not in its item")
    return response.text


def _pairwise_pairs(record: JudgmentRecord, ctx: ExportContext) -> Iterator[Pair]:
    payload = record.payload
    outcome = payload.get("outcome")
    if outcome == "preferred":
        level = int(payload.get("strength_level") or ctx.strength_levels)
        margin = strength_margin(level, ctx.strength_levels, ctx.options.margin)
        yield Pair(_text(record, payload["preferred"]), _text(record, payload["rejected"]), margin, PAIRWISE)
        return
    wanted = (outcome == "tie" and ctx.options.include_ties) or (outcome == "both_bad" and ctx.options.include_both_bad)
    if wanted:
        # No direction: item order, margin 0, so a reward model is pushed as little as a pair can push it.
        first, second = record.responses_by_position()[:2]
        yield Pair(first.text, second.text, 0.0, PAIRWISE, tie=True)


def _ranking_pairs(record: JudgmentRecord, ctx: ExportContext) -> Iterator[Pair]:
    tiers: list[list[int]] = [list(tier) for tier in record.payload.get("ranking", [])]
    levels = max(1, len(tiers) - 1)
    for i, better in enumerate(tiers):
        if ctx.options.include_ties:
            for a_index, a in enumerate(better):
                for b in better[a_index + 1 :]:
                    yield Pair(_text(record, a), _text(record, b), 0.0, RANKING, tie=True)
        for gap, worse in enumerate(tiers[i + 1 :], start=1):
            margin = strength_margin(gap, levels, ctx.options.margin)
            for a in better:
                for b in worse:
                    yield Pair(_text(record, a), _text(record, b), margin, RANKING)


def _edit_pairs(record: JudgmentRecord, ctx: ExportContext) -> Iterator[Pair]:
    edited, original = record.payload.get("edited_text"), record.payload.get("original_text")
    if edited and original and edited != original:
        # An annotator rewriting a response is the strongest preference we collect.
        margin = strength_margin(ctx.strength_levels, ctx.strength_levels, ctx.options.margin)
        yield Pair(str(edited), str(original), margin, EDIT)


def judgment_pairs(record: JudgmentRecord, ctx: ExportContext) -> Iterator[Pair]:
    """Preference pairs implied by one judgment. Rating pairs need several judgments: see exporters.ratings."""
    if record.kind == "pairwise":
        yield from _pairwise_pairs(record, ctx)
    elif record.kind == "ranking":
        yield from _ranking_pairs(record, ctx)
    elif record.kind == "free_text":
        yield from _edit_pairs(record, ctx)


def _weighted(row: dict[str, Any], weight: float | None, record: JudgmentRecord, ctx: ExportContext) -> dict[str, Any]:
    if ctx.weighted:
        chosen = weight if weight is not None else record.weight
        row["weight"] = float(chosen if chosen is not None else 1.0)
    return row


def preference_row(record: JudgmentRecord, pair: Pair, ctx: ExportContext) -> dict[str, Any]:
    row = {
        "prompt": prompt_value(record, ctx),
        "chosen": completion_value(pair.chosen, ctx),
        "rejected": completion_value(pair.rejected, ctx),
        "margin": float(pair.margin),  # always a float: RewardTrainer builds a float tensor from the column
        "tie": pair.tie,
        "origin": pair.origin,
    }
    return _weighted(row, pair.weight, record, ctx)


def unpaired_row(
    record: JudgmentRecord, text: str, label: bool, origin: str, ctx: ExportContext, weight: float | None = None
) -> dict[str, Any]:
    row = {
        "prompt": prompt_value(record, ctx),
        "completion": completion_value(text, ctx),
        "label": bool(label),
        "origin": origin,
    }
    return _weighted(row, weight, record, ctx)


def pairwise_unpaired(record: JudgmentRecord, ctx: ExportContext) -> Iterator[dict[str, Any]]:
    """KTO rows from a pairwise judgment: chosen True, rejected False; both-bad gives two False rows.

    A tie says nothing about either response on its own, so it gives no row.
    """
    if record.kind != "pairwise":
        return
    outcome = record.payload.get("outcome")
    if outcome == "preferred":
        yield unpaired_row(record, _text(record, record.payload["preferred"]), True, PAIRWISE, ctx)
        yield unpaired_row(record, _text(record, record.payload["rejected"]), False, PAIRWISE, ctx)
    elif outcome == "both_bad":
        for response in record.responses_by_position():
            yield unpaired_row(record, response.text, False, PAIRWISE, ctx)
