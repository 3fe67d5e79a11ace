from django.contrib import admin
from django.contrib.auth.admin import UserAdmin

from core.forms import ThrottledAdminAuthenticationForm
from core.models import AuditEvent, Membership, Project, User

# The admin sign-in is throttled like the site's (brute force against staff accounts).
admin.site.login_form = ThrottledAdminAuthenticationForm


@admin.register(User)
class LoopUserAdmin(UserAdmin):
    fieldsets = (*(UserAdmin.fieldsets or ()), ("Profile", {"fields": ("display_name",)}))


class MembershipInline(admin.TabularInline):
    model = Membership
    extra = 0
    autocomplete_fields = ("user",)


@admin.register(Project)
class ProjectAdmin(admin.ModelAdmin):
    list_display = ("name", "slug", "created_at")
    search_fields = ("name", "slug")
    inlines = (MembershipInline,)


@admin.register(AuditEvent)
class AuditEventAdmin(admin.ModelAdmin):
    """Read-only: the audit log cannot be added to, edited or deleted from the admin."""

    list_display = ("created_at", "action", "actor_label", "project", "target_type", "target_id", "ip")
    list_filter = ("action",)
    search_fields = ("actor_label", "action", "target_id")
    readonly_fields = (
        "actor",
        "actor_label",
        "project",
        "action",
        "target_type",
        "target_id",
        "details",
        "ip",
        "created_at",
    )

    def has_add_permission(self, request, obj=None):  # type: ignore[no-untyped-def]
        return False

    def has_change_permission(self, request, obj=None):  # type: ignore[no-untyped-def]
        return False

    def has_delete_permission(self, request, obj=None):  # type: ignore[no-untyped-def]
        return False
