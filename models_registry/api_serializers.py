"""Serializers of the loop API (``models_registry.api_loop``): checkpoints, alias events and loop jobs."""

from __future__ import annotations

from typing import Any

from rest_framework import serializers

from models_registry.models import AliasEvent, Checkpoint, JobStatus, Pairing, PromptSelection, ScoringJob
from models_registry.models_jobs import GenerationJob


class CheckpointSerializer(serializers.ModelSerializer[Checkpoint]):
    """A registered model. ``aliases`` lists the aliases pointing at it now (context ``aliases``: id → name)."""

    aliases = serializers.SerializerMethodField()
    is_base = serializers.BooleanField(read_only=True, help_text="Registered from a folder, not trained here.")

    class Meta:
        model = Checkpoint
        fields = ["id", "kind", "name", "aliases", "is_base", "run", "snapshot", "metrics", "sha256", "created_at"]
        read_only_fields = fields

    def get_aliases(self, checkpoint: Checkpoint) -> list[str]:
        name = self.context.get("aliases", {}).get(checkpoint.pk)
        return [name] if name else []


class AliasEventSerializer(serializers.ModelSerializer[AliasEvent]):
    class Meta:
        model = AliasEvent
        fields = ["id", "alias", "kind", "checkpoint", "previous", "actor", "reason", "created_at"]
        read_only_fields = fields


class PromoteSerializer(serializers.Serializer[Any]):
    reason = serializers.CharField(max_length=500, required=False, default="", allow_blank=True)


# A plain string, not an enum: generation and scoring jobs (and runs) share the choice set, which
# drf-spectacular cannot name once for several components without a settings override.
_STATUS_HELP = f"One of {', '.join(JobStatus.values)}."


class GenerationJobSerializer(serializers.ModelSerializer[GenerationJob]):
    status = serializers.CharField(read_only=True, help_text=_STATUS_HELP)
    percent = serializers.IntegerField(read_only=True)
    finished = serializers.BooleanField(source="is_finished", read_only=True)

    class Meta:
        model = GenerationJob
        fields = [
            "id", "status", "finished", "cancel_requested", "checkpoint", "baseline", "selection", "prompt_limit",
            "pairing", "params", "trigger", "total", "done", "percent", "prompts", "responses_created", "duplicates",
            "items_created", "error", "created_by", "created_at", "started_at", "heartbeat_at", "finished_at",
        ]  # fmt: skip
        read_only_fields = fields


class GenerationCreateSerializer(serializers.Serializer[Any]):
    """Every field is optional: what is left out comes from the project's loop settings."""

    selection = serializers.ChoiceField(choices=PromptSelection.choices, required=False)
    prompt_limit = serializers.IntegerField(min_value=1, max_value=100_000, required=False)
    pairing = serializers.ChoiceField(choices=Pairing.choices, required=False)
    params = serializers.DictField(
        required=False, help_text="ml.generate parameters (num_samples, max_new_tokens, temperature, top_p, ...)."
    )


class ScoringJobSerializer(serializers.ModelSerializer[ScoringJob]):
    status = serializers.CharField(read_only=True, help_text=_STATUS_HELP)
    percent = serializers.IntegerField(read_only=True)
    finished = serializers.BooleanField(source="is_finished", read_only=True)

    class Meta:
        model = ScoringJob
        fields = [
            "id", "strategy", "checkpoint", "status", "finished", "total", "done", "percent", "error", "created_by",
            "created_at", "started_at", "heartbeat_at", "finished_at",
        ]  # fmt: skip
        read_only_fields = fields
