from django.contrib import admin

from dashboards.models import DailySnapshot, Figure, RecomputeState


@admin.register(Figure)
class FigureAdmin(admin.ModelAdmin):
    list_display = ["scope_kind", "scope_id", "measures", "completed", "signed_off", "overdue", "computed_at"]
    list_filter = ["scope_kind"]


@admin.register(DailySnapshot)
class DailySnapshotAdmin(admin.ModelAdmin):
    list_display = ["scope_kind", "scope_id", "day", "measures", "completed"]
    list_filter = ["scope_kind", "day"]


admin.site.register(RecomputeState)
