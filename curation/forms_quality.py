"""Forms of the quality pages: review decisions, known answers (gold, adjudication), gold fraction.

Forms only turn HTML fields into the plain objects the services validate (``curation.answers``);
the rules live in the services.
"""

from __future__ import annotations

from collections.abc import Sequence
from typing import Any

from django import forms

from annotation.schemas import PAIRWISE, RANKING, RATING, config_parse
from core.models import Project
from curation.models_quality import MAX_GOLD_FRACTION, ReviewDecision


class ReviewForm(forms.Form):
    decision = forms.ChoiceField(choices=ReviewDecision.choices)
    note = forms.CharField(required=False, max_length=2000, widget=forms.Textarea(attrs={"rows": 2}))


class GoldFractionForm(forms.Form):
    managed = forms.BooleanField(
        required=False,
        label="Serve gold at a set rate",
        help_text="Off: gold items are served like any other item, in priority order.",
    )
    gold_fraction = forms.FloatField(
        min_value=0,
        max_value=MAX_GOLD_FRACTION,
        required=False,
        label="Share of claims that serve a gold item",
        help_text=f"0 to {MAX_GOLD_FRACTION}; e.g. 0.1 serves gold on about one claim in ten.",
    )

    def fraction(self) -> float | None:
        if not self.cleaned_data["managed"]:
            return None
        value = self.cleaned_data["gold_fraction"]
        return float(value) if value is not None else 0.0


class AnswerForm(forms.Form):
    """A known answer for one item, with fields built from the project's task kind.

    ``responses`` are the item's (id, letter) pairs in item order.
    """

    note = forms.CharField(required=False, max_length=2000, widget=forms.Textarea(attrs={"rows": 2}))

    def __init__(
        self, *args: Any, project: Project, responses: Sequence[tuple[int, str]], gold: bool, **kwargs: Any
    ) -> None:
        super().__init__(*args, **kwargs)
        self.kind = project.task_kind
        self.responses = list(responses)
        config = config_parse(project.task_kind, project.task_config)
        if self.kind == PAIRWISE:
            choices = [(f"r{rid}", f"{letter} is better") for rid, letter in self.responses]
            choices += [("tie", "Tie")] if config.allow_tie else []
            choices += [("both_bad", "Both bad")] if config.allow_both_bad else []
            self.fields["outcome"] = forms.ChoiceField(choices=choices, widget=forms.RadioSelect, label="Answer")
        elif self.kind == RANKING:
            for rid, letter in self.responses:
                self.fields[f"rank_{rid}"] = forms.IntegerField(
                    min_value=1, max_value=len(self.responses), label=f"Rank of {letter}", help_text="1 = best."
                )
        elif self.kind == RATING:
            for aspect in config.aspects:
                self.fields[f"score_{aspect.name}"] = forms.IntegerField(
                    min_value=aspect.min, max_value=aspect.max, required=False, label=f"{aspect.label} score"
                )
            if gold:
                self.fields["tolerance"] = forms.IntegerField(
                    min_value=0, max_value=20, initial=0, help_text="Points either side that still count as right."
                )
        if gold:
            del self.fields["note"]

    def answer(self) -> dict[str, Any]:
        data = self.cleaned_data
        if self.kind == PAIRWISE:
            outcome = data["outcome"]
            if outcome.startswith("r"):
                return {"outcome": "preferred", "preferred": int(outcome[1:])}
            return {"outcome": outcome}
        if self.kind == RANKING:
            ranks = sorted({data[f"rank_{rid}"] for rid, _ in self.responses})
            return {"ranking": [[rid for rid, _ in self.responses if data[f"rank_{rid}"] == r] for r in ranks]}
        scores = {
            name.removeprefix("score_"): {"score": value}
            for name, value in data.items()
            if name.startswith("score_") and value is not None
        }
        answer: dict[str, Any] = {"ratings": scores}
        if "tolerance" in data:
            answer["tolerance"] = data["tolerance"] or 0
        return answer
