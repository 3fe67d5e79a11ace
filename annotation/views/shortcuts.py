"""The annotator's keyboard map per task kind: the page's "?" dialog lists exactly these keys.

``static/js/annotate.js`` implements them; keep the two in step (its header comment has the same map).
"""

from __future__ import annotations

from collections.abc import Mapping
from dataclasses import dataclass
from typing import Any

from annotation.schemas import FREE_TEXT, PAIRWISE, RANKING, RATING, config_parse

STRENGTH_KEYS = "qwert"  # schemas.PairwiseConfig allows at most five strengths


@dataclass(frozen=True)
class Shortcut:
    keys: tuple[str, ...]  # alternatives, each a key or a combination such as "Ctrl+Enter"
    action: str


def shortcuts(kind: str, raw_config: Mapping[str, Any]) -> list[Shortcut]:
    """Every key the page answers to for ``kind``: the help dialog lists exactly these."""
    config = config_parse(kind, raw_config)
    rows: list[Shortcut] = []
    if kind == PAIRWISE:
        rows += [Shortcut(("1",), "A is better"), Shortcut(("2",), "B is better")]
        if config.allow_tie:
            rows.append(Shortcut(("3",), "Tie: equally good"))
        if config.allow_both_bad:
            rows.append(Shortcut(("4",), "Both are bad"))
        rows += [
            Shortcut((STRENGTH_KEYS[n], f"Shift+{n + 1}"), f"Strength: {label}")
            for n, label in enumerate(config.strengths)
        ]
        if config.reason != "off":
            rows.append(Shortcut(("c",), "Write the reason"))
    elif kind == RANKING:
        rows += [
            Shortcut(("1", "…", "9"), "Select the response at that place"),
            Shortcut(("↑", "k"), "Move the selected response up"),
            Shortcut(("↓", "j"), "Move the selected response down"),
        ]
        if config.allow_ties:
            rows.append(Shortcut(("t",), "Tie the selected response with the one above (or untie)"))
    elif kind == RATING:
        rows += [
            Shortcut(
                ("0", "…", "9"), "Score the current aspect (the score itself on scales within 0-9, else the n-th point)"
            ),
            Shortcut(("↓", "Tab"), "Next aspect"),
            Shortcut(("↑", "Shift+Tab"), "Previous aspect"),
            Shortcut(("←", "→"), "Change the score of the current aspect"),
        ]
        if config.comments:
            rows.append(Shortcut(("c",), "Comment on the current aspect"))
    elif kind == FREE_TEXT:
        if config.critique != "off":
            rows.append(Shortcut(("c",), "Write the critique"))
        if config.edit != "off":
            rows.append(Shortcut(("e",), "Edit the response"))
    rows += [
        Shortcut(("Enter",), "Submit (outside text boxes)"),
        Shortcut(("Ctrl+Enter", "⌘+Enter"), "Submit, also while typing"),
        Shortcut(("Esc",), "Leave a text box (then the keys above work) or close a dialog"),
        Shortcut(("s",), "Skip this item (asks why)"),
        Shortcut(("f",), "Flag this item (asks why)"),
        Shortcut(("n",), "Get the next item once time on this one ran out"),
        Shortcut(("g",), "Show or hide the guidelines"),
        Shortcut(("?",), "Show this list"),
    ]
    return rows
