"""Forms for the manage pages: they parse HTML fields into the arguments of a service."""

from __future__ import annotations

from typing import Any

from django import forms

from annotation.schemas import FREE_TEXT, PAIRWISE, RANKING, RATING
from core.models import Role, TaskKind

MODES = [("optional", "Optional"), ("required", "Required"), ("off", "Off")]


class ProjectCreateForm(forms.Form):
    name = forms.CharField(max_length=200)
    description = forms.CharField(required=False, widget=forms.Textarea(attrs={"rows": 2}))
    guidelines = forms.CharField(
        required=False, widget=forms.Textarea(attrs={"rows": 6}), help_text="Markdown, shown to annotators."
    )
    task_kind = forms.ChoiceField(choices=TaskKind.choices, initial=PAIRWISE)
    overlap = forms.IntegerField(min_value=1, max_value=50, initial=1, help_text="Annotators per item (k).")
    lease_ttl_minutes = forms.IntegerField(
        min_value=1, max_value=7 * 24 * 60, initial=15, help_text="How long a claimed item stays reserved."
    )
    blind_sources = forms.BooleanField(required=False, initial=True, help_text="Hide where responses came from.")
    randomise_order = forms.BooleanField(
        required=False, initial=True, help_text="Shuffle response order per annotator."
    )

    # Pairwise
    strengths = forms.CharField(
        required=False, initial="slightly better, better, much better", help_text="Comma-separated, weakest first."
    )
    allow_tie = forms.BooleanField(required=False, initial=True)
    allow_both_bad = forms.BooleanField(required=False, initial=True)
    reason = forms.ChoiceField(choices=MODES, initial="optional", help_text="Free-text reason for a choice.")
    # Ranking
    k = forms.IntegerField(min_value=2, max_value=10, initial=4, required=False, help_text="Responses per item.")
    allow_ties = forms.BooleanField(required=False, initial=False)
    # Rating
    aspects = forms.CharField(
        required=False,
        widget=forms.Textarea(attrs={"rows": 4}),
        initial="helpfulness | Helpfulness | 1 | 7\nhonesty | Honesty | 1 | 7\n"
        "harmlessness | Harmlessness | 1 | 7\ninstruction_following | Instruction following | 1 | 7",
        help_text="One per line: name | label | min | max",
    )
    comments = forms.BooleanField(required=False, initial=True, help_text="Allow a comment per aspect.")
    # Free text
    critique = forms.ChoiceField(choices=MODES, initial="optional")
    edit = forms.ChoiceField(choices=MODES, initial="optional")

    def task_config(self) -> dict[str, Any]:
        """The raw config of the chosen kind; the schema (annotation.schemas) validates it."""
        data = self.cleaned_data
        kind = data["task_kind"]
        if kind == PAIRWISE:
            return {
                "strengths": [s.strip() for s in data["strengths"].split(",") if s.strip()],
                "allow_tie": data["allow_tie"],
                "allow_both_bad": data["allow_both_bad"],
                "reason": data["reason"],
            }
        if kind == RANKING:
            return {"k": data["k"] or 4, "allow_ties": data["allow_ties"]}
        if kind == RATING:
            return {"aspects": self._aspects(), "comments": data["comments"]}
        if kind == FREE_TEXT:
            return {"critique": data["critique"], "edit": data["edit"]}
        return {}

    def _aspects(self) -> list[dict[str, Any]]:
        aspects = []
        for n, line in enumerate(self.cleaned_data["aspects"].splitlines(), start=1):
            if not line.strip():
                continue
            parts = [p.strip() for p in line.split("|")]
            if len(parts) != 4:
                raise forms.ValidationError(f"Aspects line {n}: write name | label | min | max")
            name, label, low, high = parts
            try:
                aspects.append({"name": name, "label": label, "min": int(low), "max": int(high)})
            except ValueError:
                raise forms.ValidationError(f"Aspects line {n}: min and max must be whole numbers") from None
        return aspects


class MemberAddForm(forms.Form):
    username = forms.CharField(max_length=150)
    role = forms.ChoiceField(choices=Role.choices, initial=Role.ANNOTATOR)


class MemberRoleForm(forms.Form):
    ROLE_CHOICES = [*Role.choices, ("remove", "Remove from project")]
    role = forms.ChoiceField(choices=ROLE_CHOICES)
