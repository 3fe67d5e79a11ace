from __future__ import annotations

from django import forms

from models_registry.models import PriorityStrategy


class LoopSettingsForm(forms.Form):
    priority_strategy = forms.ChoiceField(
        choices=PriorityStrategy.choices, help_text="How the re-score button orders the open items."
    )
    gate_margin = forms.FloatField(
        min_value=0.0,
        max_value=1.0,
        help_text="A new reward model may be this much less accurate than the active one and still be promoted.",
    )
