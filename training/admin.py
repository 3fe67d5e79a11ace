"""Django admin: a read-only view of runs (status changes go through the services, never a form), and
schedules whose beat entries the schedule service owns."""

from django.contrib import admin

from training.models import TrainingRun, TrainingSchedule


@admin.register(TrainingRun)
class TrainingRunAdmin(admin.ModelAdmin):
    list_display = ("id", "project", "kind", "status", "step", "total", "attempt", "heartbeat_at", "created_at")
    list_filter = ("status", "kind")
    search_fields = ("id", "error")

    # The status machine is the services' (conditional updates); an admin form would bypass it.
    def has_add_permission(self, request, obj=None):  # type: ignore[no-untyped-def]
        return False

    def has_change_permission(self, request, obj=None):  # type: ignore[no-untyped-def]
        return False


@admin.register(TrainingSchedule)
class TrainingScheduleAdmin(admin.ModelAdmin):
    list_display = ("id", "project", "name", "kind", "trigger", "enabled", "last_triggered_at")
    list_filter = ("enabled", "trigger", "kind")
    readonly_fields = ("periodic_task", "judgment_watermark", "pending_snapshot", "last_triggered_at", "last_message")

    def has_add_permission(self, request, obj=None):  # type: ignore[no-untyped-def]
        return False  # created through the schedule page, which validates and creates the beat entry
