"""Forms for starting runs and schedules. The hyper-parameter fields are generated from the ml config
dataclass of the chosen kind (``training.launch.param_fields``), with its help texts, so the form can
never offer a field the child does not read. Validation is the service's; these only convert HTML.
"""

from __future__ import annotations

from typing import Any

from django import forms
from django.db.models import QuerySet

from curation.models import DatasetSnapshot
from models_registry.models import Checkpoint
from training.launch import ParamField, param_fields
from training.models import RunKind, ScheduleTrigger
from training.presets import DEFAULT_PRESET, PRESETS, presets_for

PARAM_PREFIX = "param_"
CUSTOM = ""


def _initial(spec: ParamField, preset: dict[str, Any]) -> Any:
    value = preset.get(spec.name, spec.default)
    if spec.type == "list" and isinstance(value, list | tuple):
        return ", ".join(value)
    return value


def _param_field(spec: ParamField, initial: Any) -> forms.Field:
    common: dict[str, Any] = {"required": False, "label": spec.name, "help_text": spec.help, "initial": initial}
    if spec.type == "int":
        return forms.IntegerField(**common)
    if spec.type == "float":
        return forms.FloatField(**common, widget=forms.NumberInput(attrs={"step": "any"}))
    if spec.type == "bool" and spec.optional:
        # None is meaningful in the ml config ("decided by the device in the child"), so say so.
        choices = [("", "auto (by device)"), ("True", "on"), ("False", "off")]
        return forms.NullBooleanField(**common, widget=forms.Select(choices=choices))
    if spec.type == "bool":
        return forms.BooleanField(**common)
    if spec.type == "choice":
        return forms.ChoiceField(**{**common, "required": True}, choices=[(c, c) for c in spec.choices])
    return forms.CharField(**common)


class ParamsMixin(forms.Form):
    """Adds ``param_<name>`` fields for ``kind``, initialised from ``preset``."""

    kind_value: str

    def add_params(self, kind: str, preset: str, refresh_url: str) -> None:
        # Changing kind or preset re-renders #run-params (preset choices and fields) through htmx.
        for name in ("kind", "preset"):
            self.fields[name].widget.attrs.update(
                {"hx-get": refresh_url, "hx-target": "#run-params", "hx-include": "#id_kind, #id_preset"}
            )
        self.kind_value = kind
        values = PRESETS[preset].params_for(kind) if preset in PRESETS else {}
        self.specs = param_fields(kind)
        for spec in self.specs:
            self.fields[PARAM_PREFIX + spec.name] = _param_field(spec, _initial(spec, values))

    def param_bound_fields(self) -> list[forms.BoundField]:
        return [self[PARAM_PREFIX + spec.name] for spec in self.specs]

    def params(self) -> dict[str, Any]:
        """Submitted hyper-parameters; an empty box means the field's "empty" (None) or its default."""
        params: dict[str, Any] = {}
        for spec in self.specs:
            value = self.cleaned_data.get(PARAM_PREFIX + spec.name)
            if spec.type == "list":
                value = [part.strip() for part in (value or "").split(",") if part.strip()]
            elif value in (None, "") and spec.type != "bool":
                if spec.optional:
                    params[spec.name] = None
                continue
            params[spec.name] = value
        return params


def kind_choices() -> list[tuple[str, str]]:
    return list(RunKind.choices)


def preset_choices(kind: str) -> list[tuple[str, str]]:
    return [(p.name, p.label) for p in presets_for(kind)] + [(CUSTOM, "Custom (ml defaults)")]


def pick_preset(kind: str, preset: str | None) -> str:
    names = [name for name, _ in preset_choices(kind)]
    return preset if preset in names else DEFAULT_PRESET if DEFAULT_PRESET in names else names[0]


class SnapshotChoiceField(forms.ModelChoiceField):  # type: ignore[type-arg]
    def label_from_instance(self, obj: Any) -> str:
        return f"{obj.name} · {obj.created_at:%Y-%m-%d %H:%M} · #{obj.pk}"


class CheckpointChoiceField(forms.ModelChoiceField):  # type: ignore[type-arg]
    def label_from_instance(self, obj: Any) -> str:
        return f"{obj.name} ({obj.get_kind_display().lower()})"


class RunStartForm(ParamsMixin):
    snapshot = SnapshotChoiceField(queryset=DatasetSnapshot.objects.none(), empty_label=None)
    kind = forms.ChoiceField(choices=kind_choices, initial=RunKind.REWARD)
    base_checkpoint = CheckpointChoiceField(
        queryset=Checkpoint.objects.none(),
        empty_label=None,
        help_text="DPO and KTO fine-tune a policy; a reward run starts from a policy (new head) or a reward model.",
    )
    preset = forms.ChoiceField(required=False)

    def __init__(
        self,
        *args: Any,
        snapshots: QuerySet[DatasetSnapshot],
        checkpoints: QuerySet[Checkpoint],
        kind: str,
        preset: str,
        refresh_url: str,
        **kwargs: Any,
    ) -> None:
        super().__init__(*args, **kwargs)
        self.fields["snapshot"].queryset = snapshots  # type: ignore[attr-defined]
        self.fields["base_checkpoint"].queryset = checkpoints  # type: ignore[attr-defined]
        self.fields["preset"].choices = preset_choices(kind)  # type: ignore[attr-defined]
        self.fields["preset"].initial = preset
        self.fields["kind"].initial = kind
        self.add_params(kind, preset, refresh_url)


class ScheduleForm(ParamsMixin):
    name = forms.CharField(max_length=200)
    kind = forms.ChoiceField(choices=kind_choices, initial=RunKind.REWARD)
    trigger = forms.ChoiceField(choices=ScheduleTrigger.choices, initial=ScheduleTrigger.JUDGMENTS)
    every_n_judgments = forms.IntegerField(required=False, min_value=1, initial=100)
    cron = forms.CharField(
        required=False, max_length=120, help_text="minute hour day-of-month month day-of-week (UTC), e.g. 0 3 * * 1"
    )
    base_checkpoint = CheckpointChoiceField(queryset=Checkpoint.objects.none(), empty_label=None)
    preset = forms.ChoiceField(required=False)

    def __init__(
        self, *args: Any, checkpoints: QuerySet[Checkpoint], kind: str, preset: str, refresh_url: str, **kwargs: Any
    ) -> None:
        super().__init__(*args, **kwargs)
        self.fields["base_checkpoint"].queryset = checkpoints  # type: ignore[attr-defined]
        self.fields["preset"].choices = preset_choices(kind)  # type: ignore[attr-defined]
        self.fields["preset"].initial = preset
        self.fields["kind"].initial = kind
        self.add_params(kind, preset, refresh_url)
