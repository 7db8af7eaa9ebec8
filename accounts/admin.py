from typing import Any

from django.contrib import admin
from django.contrib.auth.admin import UserAdmin as DjangoUserAdmin
from django.forms import ModelForm
from django.http import HttpRequest
from django.utils.translation import gettext_lazy as _

from accounts.models import Department, User
from accounts.services import user_sync_admin_access


@admin.register(Department)
class DepartmentAdmin(admin.ModelAdmin):
    list_display = ["name", "order"]
    list_editable = ["order"]
    search_fields = ["name"]


@admin.register(User)
class UserAdmin(DjangoUserAdmin):
    """The office manages users here: their department, title and role (group).

    is_staff follows the role (accounts.services.user_sync_admin_access), so it is shown, not
    edited. An office user who is not a superuser can neither grant superuser status or single
    permissions nor change a superuser (their password included): either would let them
    give themselves more than the office may do.
    """

    list_display = ["username", "full_name", "title", "department", "is_active", "last_login"]
    list_filter = ["groups", "department", "is_active"]
    search_fields = ["username", "full_name", "email"]
    list_select_related = ["department"]
    fieldsets = (
        *DjangoUserAdmin.fieldsets,
        (_("单位与职务"), {"fields": ["full_name", "title", "department"]}),
    )

    def get_readonly_fields(self, request: HttpRequest, obj: Any = None) -> Any:
        readonly = [*super().get_readonly_fields(request, obj), "is_staff"]
        if not request.user.is_superuser:  # type: ignore[union-attr]
            readonly += ["is_superuser", "user_permissions"]
        return readonly

    def has_change_permission(self, request: HttpRequest, obj: Any = None) -> bool:
        if obj is not None and obj.is_superuser and not request.user.is_superuser:  # type: ignore[union-attr]
            return False
        return super().has_change_permission(request, obj)

    def save_related(self, request: HttpRequest, form: ModelForm, formsets: Any, change: bool) -> None:
        super().save_related(request, form, formsets, change)
        # After the groups are saved: the role decides whether the user may use the admin.
        user_sync_admin_access(user=form.instance)
