from __future__ import annotations

from typing import Any

from django import forms

from curation.models import DatasetSnapshot
from ml.generation_config import GenerationParams
from models_registry.models import Pairing, PriorityStrategy, PromptSelection

DEFAULT_PARAMS = GenerationParams()


class LoopSettingsForm(forms.Form):
    priority_strategy = forms.ChoiceField(
        choices=PriorityStrategy.choices, help_text="How the re-score button orders the open items."
    )
    gate_margin = forms.FloatField(
        min_value=0.0,
        max_value=1.0,
        help_text="A new reward model may be this much less accurate than the active one and still be promoted.",
    )
    ensemble_size = forms.IntegerField(
        min_value=2,
        max_value=8,
        initial=3,
        required=False,
        help_text="Ensemble strategy: how many reward models vote (empty keeps the current value).",
    )
    suggestions_enabled = forms.BooleanField(
        required=False,
        label="Show the reward model's answer to annotators",
        help_text="Off by default: a pre-selected answer anchors people. Each judgment records whether it was shown.",
    )
    generate_on_promotion = forms.BooleanField(
        required=False,
        label="Generate when a policy is promoted",
        help_text="Promoting a policy starts a generation job with the settings of the form below.",
    )


class GenerationForm(forms.Form):
    """A generation job's options; saved as the project's defaults, also for generation on promotion."""

    selection = forms.ChoiceField(choices=PromptSelection.choices, label="Prompts")
    prompt_limit = forms.IntegerField(min_value=1, max_value=100_000, initial=50, label="At most this many prompts")
    pairing = forms.ChoiceField(choices=Pairing.choices, label="Pairs")
    num_samples = forms.IntegerField(
        min_value=1, max_value=16, initial=DEFAULT_PARAMS.num_samples, label="Samples per prompt and model"
    )
    max_new_tokens = forms.IntegerField(min_value=1, max_value=4096, initial=DEFAULT_PARAMS.max_new_tokens)
    temperature = forms.FloatField(min_value=0.0, max_value=5.0, initial=DEFAULT_PARAMS.temperature)
    top_p = forms.FloatField(min_value=0.01, max_value=1.0, initial=DEFAULT_PARAMS.top_p)

    PARAM_FIELDS = ("num_samples", "max_new_tokens", "temperature", "top_p")

    def params(self) -> dict[str, Any]:
        return {name: self.cleaned_data[name] for name in self.PARAM_FIELDS}


class AgreementForm(forms.Form):
    snapshot = forms.ModelChoiceField(queryset=DatasetSnapshot.objects.none(), label="Snapshot")

    def __init__(self, *args: Any, snapshots: Any = None, **kwargs: Any) -> None:
        super().__init__(*args, **kwargs)
        field = self.fields["snapshot"]
        assert isinstance(field, forms.ModelChoiceField)
        field.queryset = snapshots if snapshots is not None else DatasetSnapshot.objects.none()
