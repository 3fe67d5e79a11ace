"""Training runs, their metric history, and schedules that start runs on their own.

A run's lifecycle (``training.services.transitions`` is the only writer of ``status``)::

    queued ──claim──> running ──> succeeded
       │                 ├──────> failed ────┐
       └──cancel──> cancelled <───┘          │  resume (same output folder: the child
                         └──────────resume───┴─> queued   continues from its last checkpoint)

Files of run ``N`` live under ``MEDIA_ROOT/runs/N/``: ``run.json`` (the ml config the child reads),
``child.log`` (its standard error and output), ``cancel`` (the flag the child polls) and ``output/``
(resumable ``checkpoint-*`` folders; the final model is moved into the checkpoint registry).
"""

from __future__ import annotations

from django.conf import settings
from django.db import models

from core.models import Project


class RunKind(models.TextChoices):
    REWARD = "reward", "Reward model"
    DPO = "dpo", "DPO policy"
    KTO = "kto", "KTO policy"


class RunStatus(models.TextChoices):
    QUEUED = "queued", "Queued"
    RUNNING = "running", "Running"
    SUCCEEDED = "succeeded", "Succeeded"
    FAILED = "failed", "Failed"
    CANCELLED = "cancelled", "Cancelled"


ACTIVE_STATUSES = (RunStatus.QUEUED, RunStatus.RUNNING)
FINISHED_STATUSES = (RunStatus.SUCCEEDED, RunStatus.FAILED, RunStatus.CANCELLED)


class TrainingRun(models.Model):
    project = models.ForeignKey(Project, on_delete=models.CASCADE, related_name="training_runs")
    kind = models.CharField(max_length=8, choices=RunKind.choices)
    snapshot = models.ForeignKey("curation.DatasetSnapshot", on_delete=models.RESTRICT, related_name="training_runs")
    base_checkpoint = models.ForeignKey(
        "models_registry.Checkpoint", on_delete=models.RESTRICT, related_name="derived_runs"
    )
    schedule = models.ForeignKey(
        "training.TrainingSchedule", on_delete=models.SET_NULL, null=True, blank=True, related_name="runs"
    )
    preset = models.CharField(max_length=32, blank=True)
    params = models.JSONField(default=dict, help_text="Validated hyper-parameters (ml config fields, no paths).")

    status = models.CharField(max_length=16, choices=RunStatus.choices, default=RunStatus.QUEUED)
    cancel_requested = models.BooleanField(default=False)
    attempt = models.PositiveSmallIntegerField(default=0, help_text="Executions claimed so far (1 + resumes).")
    step = models.PositiveIntegerField(default=0)
    total = models.PositiveIntegerField(default=0, help_text="Optimizer steps of the whole run.")
    loss = models.FloatField(null=True, blank=True, help_text="Latest training loss.")
    latest_metrics = models.JSONField(default=dict, blank=True, help_text="{'train': {...}, 'eval': {...}}")
    metrics = models.JSONField(default=dict, blank=True, help_text="Final metrics from the child's `finished`.")
    data_report = models.JSONField(default=dict, blank=True, help_text="What the data loader kept and dropped.")
    last_checkpoint_step = models.PositiveIntegerField(null=True, blank=True)
    resumed_from_step = models.PositiveIntegerField(null=True, blank=True)
    error = models.TextField(blank=True, help_text="Why it failed: the child's last error line, or the supervisor's.")

    output_dir = models.CharField(max_length=500, blank=True, help_text="Relative to MEDIA_ROOT.")
    log_path = models.CharField(max_length=500, blank=True, help_text="Relative to MEDIA_ROOT.")
    worker = models.CharField(max_length=255, blank=True, help_text="Host of the supervising worker.")
    child_pid = models.PositiveIntegerField(null=True, blank=True)

    created_by = models.ForeignKey(
        settings.AUTH_USER_MODEL, on_delete=models.PROTECT, related_name="+", null=True, blank=True
    )
    created_at = models.DateTimeField(auto_now_add=True, db_index=True)
    started_at = models.DateTimeField(null=True, blank=True)
    heartbeat_at = models.DateTimeField(null=True, blank=True)
    finished_at = models.DateTimeField(null=True, blank=True)

    class Meta:
        ordering = ["-created_at", "-id"]
        indexes = [
            models.Index(fields=["project", "-created_at"], name="run_by_project"),
            # The reaper's scan: running rows by heartbeat.
            models.Index(fields=["status", "heartbeat_at"], name="run_by_status_heartbeat"),
        ]

    def __str__(self) -> str:
        return f"Run {self.pk} ({self.kind}, {self.status})"

    @property
    def is_finished(self) -> bool:
        return self.status in FINISHED_STATUSES

    @property
    def folder(self) -> str:
        """The run's folder, relative to MEDIA_ROOT."""
        return f"runs/{self.pk}"

    @property
    def percent(self) -> int:
        return min(100, round(100 * self.step / self.total)) if self.total else 0


class MetricSplit(models.TextChoices):
    TRAIN = "train", "Training"
    EVAL = "eval", "Evaluation"


class RunMetric(models.Model):
    """One progress line of a run: the points of its curves.

    A table rather than a JSON list on the run: a 10k-step run logs thousands of points, and appending to
    a JSON column rewrites all of them on every heartbeat while the run page re-reads them on every poll.
    Rows are appended in batches and read incrementally (``step > since``) by the curve endpoint.
    """

    run = models.ForeignKey(TrainingRun, on_delete=models.CASCADE, related_name="metric_points")
    step = models.PositiveIntegerField()
    split = models.CharField(max_length=8, choices=MetricSplit.choices)
    values = models.JSONField(help_text="{'loss': 0.69, 'learning_rate': 1e-5, 'accuracy': 0.5, ...}")

    class Meta:
        ordering = ["run", "step", "id"]
        indexes = [models.Index(fields=["run", "step"], name="runmetric_by_run_step")]

    def __str__(self) -> str:
        return f"{self.split} metrics of run {self.run_id} at step {self.step}"


class ScheduleTrigger(models.TextChoices):
    JUDGMENTS = "judgments", "Every N new judgments"
    CRON = "cron", "On a cron schedule"


class TrainingSchedule(models.Model):
    """Retrain automatically: snapshot the project's judgments, then start a run from that snapshot.

    ``judgment_watermark`` is the id of the newest judgment included by the last trigger: "N new
    judgments" counts ids above it. ``pending_snapshot`` is set between creating the snapshot and
    creating the run, and together with an active run it blocks a second trigger (checked under a row
    lock), so one schedule never has two runs at once.
    """

    project = models.ForeignKey(Project, on_delete=models.CASCADE, related_name="training_schedules")
    name = models.CharField(max_length=200)
    kind = models.CharField(max_length=8, choices=RunKind.choices, default=RunKind.REWARD)
    trigger = models.CharField(max_length=16, choices=ScheduleTrigger.choices)
    every_n_judgments = models.PositiveIntegerField(null=True, blank=True)
    cron = models.CharField(max_length=120, blank=True, help_text="minute hour day-of-month month day-of-week")
    periodic_task = models.OneToOneField(
        "django_celery_beat.PeriodicTask", on_delete=models.SET_NULL, null=True, blank=True, related_name="+"
    )
    base_checkpoint = models.ForeignKey("models_registry.Checkpoint", on_delete=models.RESTRICT, related_name="+")
    preset = models.CharField(max_length=32, blank=True)
    params = models.JSONField(default=dict)
    snapshot_options = models.JSONField(default=dict, blank=True, help_text="Export options of each snapshot.")
    enabled = models.BooleanField(default=True)

    judgment_watermark = models.BigIntegerField(default=0)
    pending_snapshot = models.ForeignKey(
        "curation.DatasetSnapshot", on_delete=models.SET_NULL, null=True, blank=True, related_name="+"
    )
    last_triggered_at = models.DateTimeField(null=True, blank=True)
    last_message = models.TextField(blank=True, help_text="What the last check did or why it could not.")

    created_by = models.ForeignKey(settings.AUTH_USER_MODEL, on_delete=models.PROTECT, related_name="+")
    created_at = models.DateTimeField(auto_now_add=True)

    class Meta:
        ordering = ["name", "id"]

    def __str__(self) -> str:
        return self.name
