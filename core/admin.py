from django.contrib import admin
from django.contrib.auth.admin import UserAdmin

from core.forms import ThrottledAdminAuthenticationForm
from core.models import Membership, Project, User

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
