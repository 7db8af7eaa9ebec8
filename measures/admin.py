from django.contrib import admin
from simple_history.admin import SimpleHistoryAdmin

from measures.models import Evidence, Extension, Measure, MeasureDecision, ProgressReport


class ProgressInline(admin.TabularInline):
    model = ProgressReport
    extra = 0
    raw_id_fields = ["author"]


class EvidenceInline(admin.TabularInline):
    model = Evidence
    extra = 0
    raw_id_fields = ["uploaded_by"]


class ExtensionInline(admin.TabularInline):
    model = Extension
    extra = 0
    raw_id_fields = ["requested_by", "decided_by"]


class DecisionInline(admin.TabularInline):
    model = MeasureDecision
    extra = 0
    raw_id_fields = ["decided_by"]


@admin.register(Measure)
class MeasureAdmin(SimpleHistoryAdmin):
    list_display = [
        "__str__",
        "inspection",
        "lead_department",
        "responsible_leader",
        "deadline",
        "status",
        "is_overdue",
    ]
    list_filter = ["status", "kind", "is_overdue", "is_due_soon", "lead_department", "inspection"]
    search_fields = ["text", "finding__description", "owner"]
    list_select_related = ["finding", "inspection", "lead_department", "responsible_leader"]
    raw_id_fields = [
        "finding",
        "inspection",
        "category",
        "responsible_leader",
        "reviewed_by",
        "signed_off_by",
        "reopens",
    ]
    filter_horizontal = ["assisting_departments"]
    readonly_fields = ["is_overdue", "is_due_soon", "reported_this_period", "version"]
    date_hierarchy = "deadline"
    inlines = [ProgressInline, EvidenceInline, ExtensionInline, DecisionInline]


@admin.register(ProgressReport)
class ProgressReportAdmin(SimpleHistoryAdmin):
    list_display = ["measure", "reported_on", "author"]
    raw_id_fields = ["measure", "author"]


@admin.register(Evidence)
class EvidenceAdmin(SimpleHistoryAdmin):
    list_display = ["title", "document_number", "measure", "uploaded_by", "uploaded_at"]
    search_fields = ["title", "document_number"]
    raw_id_fields = ["measure", "uploaded_by"]


@admin.register(Extension)
class ExtensionAdmin(SimpleHistoryAdmin):
    list_display = ["measure", "old_deadline", "new_deadline", "status", "requested_by", "decided_by"]
    list_filter = ["status"]
    raw_id_fields = ["measure", "requested_by", "decided_by"]


@admin.register(MeasureDecision)
class MeasureDecisionAdmin(admin.ModelAdmin):
    list_display = ["measure", "action", "decided_by", "decided_at"]
    list_filter = ["action"]
    raw_id_fields = ["measure", "decided_by"]
