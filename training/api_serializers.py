"""Serializers of the training API (``training.api``): a run as scripts poll it, its curve points, a start body."""

from __future__ import annotations

from typing import Any

from rest_framework import serializers

from training.models import MetricSplit, RunKind, RunMetric, RunStatus, TrainingRun
from training.presets import PRESETS

MAX_ID = 2**63 - 1


class RunSerializer(serializers.ModelSerializer[TrainingRun]):
    """A run with its progress. ``checkpoint`` is the registered model of a succeeded run, else null."""

    # Plain strings, not enums: the same choice sets appear in other components (and would collide there).
    kind = serializers.CharField(read_only=True, help_text=f"One of {', '.join(RunKind.values)}.")
    status = serializers.CharField(read_only=True, help_text=f"One of {', '.join(RunStatus.values)}.")
    percent = serializers.IntegerField(read_only=True, help_text="step / total, 0 to 100.")
    finished = serializers.BooleanField(source="is_finished", read_only=True)
    checkpoint = serializers.SerializerMethodField()

    class Meta:
        model = TrainingRun
        fields = [
            "id", "kind", "status", "finished", "cancel_requested", "snapshot", "base_checkpoint", "schedule",
            "preset", "params", "attempt", "step", "total", "percent", "loss", "latest_metrics", "metrics",
            "data_report", "last_checkpoint_step", "resumed_from_step", "error", "checkpoint", "created_by",
            "created_at", "started_at", "heartbeat_at", "finished_at",
        ]  # fmt: skip
        read_only_fields = fields

    def get_checkpoint(self, run: TrainingRun) -> int | None:
        # Prefetched by the views (``checkpoints``): no query per row of a list.
        checkpoints = list(run.checkpoints.all())
        return checkpoints[0].pk if checkpoints else None


class RunCreateSerializer(serializers.Serializer[Any]):
    """Parses the start body. The service validates everything else with the real files (SchemaError)."""

    kind = serializers.ChoiceField(choices=RunKind.choices)
    snapshot = serializers.IntegerField(min_value=1, max_value=MAX_ID, help_text="A built snapshot of this project.")
    base_checkpoint = serializers.IntegerField(
        min_value=1, max_value=MAX_ID, help_text="A checkpoint of this project (a policy for dpo and kto)."
    )
    params = serializers.DictField(
        required=False,
        default=dict,
        help_text="Hyper-parameters of the kind's ml config; they override the preset's values.",
    )
    preset = serializers.ChoiceField(
        choices=[("", "none"), *((name, p.label) for name, p in PRESETS.items())],
        required=False,
        default="",
        help_text="Fills the hyper-parameters not given in `params`, as the start form does.",
    )

    def validate(self, attrs: dict[str, Any]) -> dict[str, Any]:
        preset = PRESETS.get(attrs["preset"])
        if preset is not None and attrs["kind"] not in preset.kinds:
            raise serializers.ValidationError({"preset": [f"{preset.name} is not a preset of {attrs['kind']} runs"]})
        attrs["params"] = {**(preset.params_for(attrs["kind"]) if preset else {}), **attrs["params"]}
        return attrs


class RunMetricSerializer(serializers.ModelSerializer[RunMetric]):
    class Meta:
        model = RunMetric
        fields = ["step", "split", "values"]
        read_only_fields = fields


STATUS_CHOICES = list(RunStatus.values)
KIND_CHOICES = list(RunKind.values)
SPLIT_CHOICES = list(MetricSplit.values)
