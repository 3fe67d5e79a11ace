"""The snapshot form: HTML fields -> the ``filters`` and ``options`` objects that the service validates."""

from __future__ import annotations

from typing import Any

from django import forms

from core.models import TaskKind

TABLES = [
    ("preference", "Preference pairs (prompt / chosen / rejected / margin): reward models, DPO"),
    ("unpaired", "Unpaired (prompt / completion / label): KTO"),
    ("raw", "Raw judgments with provenance"),
]
SOURCES = [("imported", "Imported"), ("manual", "Written by hand"), ("generated", "Generated"), ("demo", "Demo")]


class SnapshotCreateForm(forms.Form):
    name = forms.CharField(max_length=200)
    # Filters
    task_kinds = forms.MultipleChoiceField(
        choices=TaskKind.choices, required=False, widget=forms.CheckboxSelectMultiple, help_text="None ticked: all."
    )
    created_from = forms.DateField(required=False, widget=forms.DateInput(attrs={"type": "date"}))
    created_to = forms.DateField(required=False, widget=forms.DateInput(attrs={"type": "date"}), help_text="Inclusive.")
    annotator_ids = forms.TypedMultipleChoiceField(
        coerce=int, required=False, widget=forms.CheckboxSelectMultiple, label="Annotators", help_text="None: all."
    )
    include_gold = forms.BooleanField(required=False, initial=False, label="Include gold (quality-check) items")
    response_sources = forms.MultipleChoiceField(
        choices=SOURCES,
        required=False,
        widget=forms.CheckboxSelectMultiple,
        help_text="Keep judgments whose item has a response from one of these. None: all.",
    )
    checkpoints = forms.CharField(
        required=False, help_text="Comma-separated checkpoint names; keeps judgments involving any of them."
    )
    # Quality filters (curation.stats; recomputed before the build)
    min_agreement = forms.FloatField(
        required=False,
        min_value=0,
        max_value=1,
        label="Minimum item agreement",
        help_text="0 to 1 (ties counted). Items judged by one annotator have no agreement and are left out. "
        "Empty: no minimum.",
    )
    exclude_flagged_annotators = forms.BooleanField(
        required=False, label="Leave out annotators flagged by the reliability checks"
    )
    include_rejected = forms.BooleanField(
        required=False, label="Include judgments a reviewer rejected", help_text="Left out by default."
    )
    consensus_only = forms.BooleanField(
        required=False,
        label="Consensus only: one training row per item, with a weight column",
        help_text="The majority (or adjudicated) answer of the kept judgments; the raw table still lists them all.",
    )
    # Options
    tables = forms.MultipleChoiceField(
        choices=TABLES, initial=[t for t, _ in TABLES], widget=forms.CheckboxSelectMultiple
    )
    file_format = forms.ChoiceField(
        choices=[("both", "JSONL and Parquet"), ("jsonl", "JSONL"), ("parquet", "Parquet")], initial="both"
    )
    prompt_format = forms.ChoiceField(
        choices=[
            ("auto", "Auto: conversational if any prompt is multi-turn or has a system message"),
            ("conversational", "Conversational (message lists)"),
            ("standard", "Standard (plain strings; single-turn prompts only)"),
        ],
        initial="auto",
    )
    include_ties = forms.BooleanField(required=False, label="Include ties as pairs (margin 0, tie=true)")
    include_both_bad = forms.BooleanField(required=False, label="Include both-bad as pairs (margin 0, tie=true)")
    test_fraction = forms.FloatField(
        min_value=0, max_value=0.5, initial=0.0, help_text="Share of prompts held out; 0 for no split."
    )
    split_seed = forms.IntegerField(min_value=0, initial=0)
    margin_mode = forms.ChoiceField(
        choices=[
            ("level_fraction", "Strength level / number of levels"),
            ("llama2", "Llama-2: weakest level 0, strongest 1"),
            ("none", "No margin (0)"),
        ],
        initial="level_fraction",
    )
    margin_scale = forms.FloatField(min_value=0.01, max_value=10, initial=1.0)
    rating_pair_min_gap = forms.FloatField(
        min_value=0.01, max_value=1, initial=0.25, help_text="Least difference of normalised mean ratings for a pair."
    )
    rating_label_threshold = forms.FloatField(
        min_value=0, max_value=1, initial=0.5, help_text="Normalised mean rating at or above which a KTO label is true."
    )

    def __init__(self, *args: Any, members: list[tuple[int, str]], **kwargs: Any) -> None:
        super().__init__(*args, **kwargs)
        self.fields["annotator_ids"].choices = members  # type: ignore[attr-defined]

    def filters(self) -> dict[str, Any]:
        data = self.cleaned_data
        return {
            "task_kinds": data["task_kinds"],
            "created_from": data["created_from"].isoformat() if data["created_from"] else None,
            "created_to": data["created_to"].isoformat() if data["created_to"] else None,
            "annotator_ids": data["annotator_ids"],
            "include_gold": data["include_gold"],
            "response_sources": data["response_sources"],
            "checkpoints": [c.strip() for c in data["checkpoints"].split(",") if c.strip()],
            "min_agreement": data["min_agreement"],
            "exclude_flagged_annotators": data["exclude_flagged_annotators"],
            "include_rejected": data["include_rejected"],
            "consensus_only": data["consensus_only"],
        }

    def options(self) -> dict[str, Any]:
        data = self.cleaned_data
        return {
            "tables": data["tables"],
            "file_format": data["file_format"],
            "prompt_format": data["prompt_format"],
            "include_ties": data["include_ties"],
            "include_both_bad": data["include_both_bad"],
            "test_fraction": data["test_fraction"],
            "split_seed": data["split_seed"],
            "margin": {"mode": data["margin_mode"], "scale": data["margin_scale"]},
            "rating_pair_min_gap": data["rating_pair_min_gap"],
            "rating_label_threshold": data["rating_label_threshold"],
        }
