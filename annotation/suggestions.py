"""The reward model's answer shown to an annotator, when the project turned that on (off by default).

A pre-selected answer anchors people on the model's choice, which is why it is opt-in per project and
why every judgment records what was shown (``Judgment.suggestion_shown``): curators can then compare
judgments made with and without a suggestion. The scoring job writes ``Item.suggestion``; the switch is
the loop settings' ``suggestions_enabled``, read through the reverse relation so this app does not import
the registry (which imports it).
"""

from __future__ import annotations

from typing import Any

from django.core.exceptions import ObjectDoesNotExist

from annotation.models import Item
from core.models import Project, TaskKind


def suggestions_enabled(project: Project) -> bool:
    try:
        return bool(project.loop_settings.suggestions_enabled)
    except ObjectDoesNotExist:
        return False


def suggestion_for(*, project: Project, item: Item, shown_ids: list[int]) -> dict[str, Any] | None:
    """What to pre-select for this pairwise item, with the screen side ("A"/"B"); None to show nothing."""
    if project.task_kind != TaskKind.PAIRWISE or not isinstance(item.suggestion, dict):
        return None
    if not suggestions_enabled(project):
        return None
    preferred = item.suggestion.get("preferred")
    if preferred not in shown_ids:
        return None
    return {**item.suggestion, "side": "AB"[shown_ids.index(preferred)]}


def suggestion_recorded(*, item: Item, checkpoint_id: int | None) -> dict[str, Any] | None:
    """What the submit stores: the item's suggestion, when the page said it showed that model's answer."""
    if checkpoint_id is None or not isinstance(item.suggestion, dict):
        return None
    return dict(item.suggestion) if item.suggestion.get("checkpoint") == checkpoint_id else None
