from django.contrib import admin

from annotation.models import Assignment, ImportJob, Item, Judgment, Prompt


class ReadOnlyAdmin(admin.ModelAdmin):
    """Raw feedback is append-only: the admin shows it and never edits or deletes it."""

    def has_add_permission(self, request, obj=None):  # type: ignore[no-untyped-def]
        return False

    def has_change_permission(self, request, obj=None):  # type: ignore[no-untyped-def]
        return False

    def has_delete_permission(self, request, obj=None):  # type: ignore[no-untyped-def]
        return False


@admin.register(Judgment)
class JudgmentAdmin(ReadOnlyAdmin):
    list_display = ("id", "project", "item", "annotator", "kind", "created_at")
    list_filter = ("kind",)


@admin.register(Assignment)
class AssignmentAdmin(ReadOnlyAdmin):
    list_display = ("id", "project", "item", "annotator", "status", "expires_at")
    list_filter = ("status",)


@admin.register(Item)
class ItemAdmin(ReadOnlyAdmin):
    list_display = ("id", "project", "priority", "required", "open_slots", "submitted_count", "is_gold")


@admin.register(Prompt)
class PromptAdmin(ReadOnlyAdmin):
    list_display = ("id", "project", "source", "created_at")


@admin.register(ImportJob)
class ImportJobAdmin(ReadOnlyAdmin):
    list_display = ("id", "project", "original_filename", "status", "items_created", "error_count", "created_at")
    list_filter = ("status",)
