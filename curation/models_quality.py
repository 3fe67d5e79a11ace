"""Quality rows: reviews and adjudications (append-only decisions), and the stored statistics.

Curation adds rows; it never edits a judgment. ``Review`` and ``Adjudication`` are append-only too:
a new decision is a new row and the latest one wins, so the history of who decided what stays.
``ItemAgreement`` and ``AnnotatorReliability`` are derived data, rewritten whole by
``curation.services.quality.quality_recompute``; ``ProjectQuality`` holds the project's gold
settings and the state of that recompute.
"""

from __future__ import annotations

from typing import Any

from django.conf import settings
from django.core.validators import MaxValueValidator, MinValueValidator
from django.db import models

from annotation.models import Item, Judgment
from core.models import Project

__all__ = [
    "Adjudication",
    "AnnotatorReliability",
    "AppendOnlyDecisionError",
    "ItemAgreement",
    "ProjectQuality",
    "Review",
    "ReviewDecision",
]

MAX_GOLD_FRACTION = 0.5  # more than half gold would make the queue mostly tests


class AppendOnlyDecisionError(Exception):
    pass


class _AppendOnly(models.Model):
    class Meta:
        abstract = True

    def save(self, *args: Any, **kwargs: Any) -> None:
        if self.pk is not None and not kwargs.get("force_insert"):
            raise AppendOnlyDecisionError("Decisions are append-only; record a new one instead.")
        super().save(*args, **kwargs)


class ReviewDecision(models.TextChoices):
    ACCEPT = "accept", "Accept"
    REJECT = "reject", "Reject"
    FLAG = "flag", "Flag for discussion"


class Review(_AppendOnly):
    """A reviewer's decision on one judgment. The latest row per judgment is the judgment's status;
    a rejected judgment stays in the raw record and is left out of snapshots by default."""

    project = models.ForeignKey(Project, on_delete=models.CASCADE, related_name="+")
    judgment = models.ForeignKey(Judgment, on_delete=models.CASCADE, related_name="reviews")
    reviewer = models.ForeignKey(settings.AUTH_USER_MODEL, on_delete=models.PROTECT, related_name="+")
    decision = models.CharField(max_length=8, choices=ReviewDecision.choices)
    note = models.TextField(blank=True, max_length=2000)
    created_at = models.DateTimeField(auto_now_add=True)

    class Meta:
        indexes = [
            models.Index(fields=["judgment", "-created_at", "-id"], name="review_latest"),
            models.Index(fields=["project", "-id"], name="review_by_project"),
        ]

    def __str__(self) -> str:
        return f"Review {self.pk}: {self.decision} judgment {self.judgment_id}"


class Adjudication(_AppendOnly):
    """The final answer for an item, in the canonical payload form of the project's task kind. The
    latest row wins; it replaces the computed consensus in consensus-only snapshots (weight 1)."""

    project = models.ForeignKey(Project, on_delete=models.CASCADE, related_name="+")
    item = models.ForeignKey(Item, on_delete=models.CASCADE, related_name="adjudications")
    adjudicator = models.ForeignKey(settings.AUTH_USER_MODEL, on_delete=models.PROTECT, related_name="+")
    answer = models.JSONField()
    note = models.TextField(blank=True, max_length=2000)
    created_at = models.DateTimeField(auto_now_add=True)

    class Meta:
        indexes = [models.Index(fields=["item", "-created_at", "-id"], name="adjudication_latest")]

    def __str__(self) -> str:
        return f"Adjudication {self.pk} of item {self.item_id}"


class ProjectQuality(models.Model):
    """Per project: how much gold the queue serves, and where the stored statistics stand."""

    project = models.OneToOneField(Project, on_delete=models.CASCADE, primary_key=True, related_name="quality")
    gold_fraction = models.FloatField(
        null=True,
        blank=True,
        validators=[MinValueValidator(0.0), MaxValueValidator(MAX_GOLD_FRACTION)],
        help_text="Share of claims that serve a gold item. Empty: gold items are served like any other.",
    )
    gold_updated_at = models.DateTimeField(null=True, blank=True)
    # Recompute state: a beat task recomputes when new judgments arrived or a decision marked it dirty.
    dirty = models.BooleanField(default=True)
    running_since = models.DateTimeField(null=True, blank=True, help_text="Set while a recompute holds the claim.")
    computed_at = models.DateTimeField(null=True, blank=True)
    computed_through_judgment = models.BigIntegerField(default=0, help_text="Highest judgment id included.")
    summary = models.JSONField(default=dict, blank=True, help_text="Agreement, bias and model summary.")

    class Meta:
        constraints = [
            models.CheckConstraint(
                condition=models.Q(gold_fraction__isnull=True)
                | models.Q(gold_fraction__gte=0.0, gold_fraction__lte=MAX_GOLD_FRACTION),
                name="projectquality_gold_fraction_range",
            )
        ]

    def __str__(self) -> str:
        return f"Quality of project {self.project_id}"


class ItemAgreement(models.Model):
    """Stored agreement and consensus of one item (judgments not rejected by a review)."""

    item = models.OneToOneField(Item, on_delete=models.CASCADE, primary_key=True, related_name="agreement")
    project = models.ForeignKey(Project, on_delete=models.CASCADE, related_name="+")
    kind = models.CharField(max_length=16)
    judgments = models.PositiveIntegerField()
    agreement = models.FloatField(null=True, blank=True, help_text="Ties counted; None below two judgments.")
    agreement_no_ties = models.FloatField(null=True, blank=True)
    consensus = models.JSONField(null=True, blank=True)
    support = models.FloatField(null=True, blank=True, help_text="Share of the evidence behind the consensus.")
    method = models.CharField(max_length=16, blank=True)
    last_judgment_at = models.DateTimeField()
    computed_at = models.DateTimeField()

    class Meta:
        indexes = [
            models.Index(fields=["project", "agreement"], name="itemagreement_by_value"),
            models.Index(fields=["project", "last_judgment_at"], name="itemagreement_by_time"),
        ]

    def __str__(self) -> str:
        return f"Agreement of item {self.item_id}"


class AnnotatorReliability(models.Model):
    """Stored reliability of one annotator in one project (see curation.stats.reliability)."""

    project = models.ForeignKey(Project, on_delete=models.CASCADE, related_name="+")
    annotator = models.ForeignKey(settings.AUTH_USER_MODEL, on_delete=models.CASCADE, related_name="+")
    judgments = models.PositiveIntegerField()
    gold_accuracy = models.FloatField(null=True, blank=True)
    gold_total = models.PositiveIntegerField(default=0)
    consensus_agreement = models.FloatField(null=True, blank=True)
    consensus_compared = models.PositiveIntegerField(default=0)
    median_ms = models.FloatField()
    speed_z = models.FloatField(null=True, blank=True, help_text="Median robust z of log time vs. the others.")
    fast_share = models.FloatField(null=True, blank=True)
    position_first_rate = models.FloatField(null=True, blank=True)
    position_n = models.PositiveIntegerField(default=0)
    spammer_score = models.FloatField(null=True, blank=True)
    flags = models.JSONField(default=list, blank=True)
    flagged = models.BooleanField(default=False)
    detail = models.JSONField(default=dict, blank=True, help_text="Every statistic with intervals and p-values.")
    computed_at = models.DateTimeField()

    class Meta:
        constraints = [
            models.UniqueConstraint(fields=["project", "annotator"], name="reliability_unique_annotator"),
        ]
        indexes = [models.Index(fields=["project", "flagged"], name="reliability_flagged")]

    def __str__(self) -> str:
        return f"Reliability of {self.annotator_id} in {self.project_id}"
