from django.contrib import admin
from django.contrib.auth.admin import UserAdmin as DjangoUserAdmin
from django.utils.translation import gettext_lazy as _

from accounts.models import Department, User


@admin.register(Department)
class DepartmentAdmin(admin.ModelAdmin):
    list_display = ["name", "order"]
    list_editable = ["order"]
    search_fields = ["name"]


@admin.register(User)
class UserAdmin(DjangoUserAdmin):
    list_display = ["username", "full_name", "title", "department", "is_active", "last_login"]
    list_filter = ["groups", "department", "is_active"]
    search_fields = ["username", "full_name", "email"]
    list_select_related = ["department"]
    fieldsets = (
        *DjangoUserAdmin.fieldsets,
        (_("单位与职务"), {"fields": ["full_name", "title", "department"]}),
    )
