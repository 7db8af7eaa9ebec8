"""The measures in the admin: to look at, never to change.

Every change to a measure, its progress, evidence, extensions and decisions goes through
measures.services, which checks the role, the status rules and the version and records
who did it and why. An admin form would bypass all of that (it could turn a signed-off
measure back to "in progress" with no recorded return), and deleting a measure would
cascade to its review and sign-off records. So these admin pages are read-only, and the
history view shows old versions without offering to revert to them.
"""

import itertools
from typing import Any

from django.contrib import admin
from django.core.exceptions import PermissionDenied
from django.http import HttpRequest, HttpResponse
from simple_history.admin import SimpleHistoryAdmin

from findings.admin import FindingAdmin
from findings.models import Finding
from measures.history import HistoryNames, assisting_departments_by_record, record_changes, shown_change
from measures.models import Evidence, Extension, Measure, MeasureDecision, ProgressReport


class ReadOnlyAdminMixin:
    def has_add_permission(self, request: HttpRequest, obj: Any = None) -> bool:
        return False

    def has_change_permission(self, request: HttpRequest, obj: Any = None) -> bool:
        return False

    def has_delete_permission(self, request: HttpRequest, obj: Any = None) -> bool:
        return False


class ReadOnlyHistoryAdmin(ReadOnlyAdminMixin, SimpleHistoryAdmin):
    # SIMPLE_HISTORY_REVERT_DISABLED only hides the "Revert" button: simple_history's
    # history_form_view still saves a POSTed old version over the current row. Refuse it.
    def history_form_view(
        self, request: HttpRequest, object_id: str, version_id: str, extra_context: dict | None = None
    ) -> HttpResponse:
        if request.method not in ("GET", "HEAD"):
            raise PermissionDenied
        return super().history_form_view(request, object_id, version_id, extra_context)

    def set_history_delta_changes(
        self, request: HttpRequest, historical_records: Any, foreign_keys_are_objs: bool = True
    ) -> None:
        # Each change shown as on the measure's page and in the history CSV (labels, names,
        # local times), with the names on this page read in one query per model.
        records = list(historical_records)  # newest first
        of_measures = bool(records) and records[0].instance_type is Measure
        ids = [r.history_id for r in records]
        assisting = assisting_departments_by_record(history_id__in=ids) if of_measures else {}
        pairs = []
        for newer, older in itertools.pairwise(records):
            sets = (assisting.get(older.history_id, set()), assisting.get(newer.history_id, set()))
            pairs.append((newer, record_changes(older, newer, assisting=sets if of_measures else None)))
        names = HistoryNames.of(change for _newer, changes in pairs for change in changes)
        for newer, changes in pairs:
            newer.history_delta_changes = [
                dict(zip(("field", "old", "new"), shown_change(f, old, new, names), strict=True))
                for f, old, new in changes
            ]


class ProgressInline(ReadOnlyAdminMixin, admin.TabularInline):
    model = ProgressReport
    extra = 0
    raw_id_fields = ["author"]


class EvidenceInline(ReadOnlyAdminMixin, admin.TabularInline):
    model = Evidence
    extra = 0
    raw_id_fields = ["uploaded_by"]


class ExtensionInline(ReadOnlyAdminMixin, admin.TabularInline):
    model = Extension
    extra = 0
    raw_id_fields = ["requested_by", "decided_by"]


class DecisionInline(ReadOnlyAdminMixin, admin.TabularInline):
    model = MeasureDecision
    extra = 0
    raw_id_fields = ["decided_by"]


class MeasureInline(ReadOnlyAdminMixin, admin.TabularInline):
    model = Measure
    extra = 0
    fields = ["number", "text", "lead_department", "deadline", "status"]
    readonly_fields = fields
    show_change_link = True

    def get_queryset(self, request: HttpRequest) -> Any:
        return super().get_queryset(request).select_related("lead_department")


# The finding's page lists its measures. The inline is added here, by re-registering the
# finding's admin, because findings sits below measures and does not import it.
admin.site.unregister(Finding)


@admin.register(Finding)
class FindingWithMeasuresAdmin(FindingAdmin):
    inlines = [*FindingAdmin.inlines, MeasureInline]


@admin.register(Measure)
class MeasureAdmin(ReadOnlyHistoryAdmin):
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
    history_list_display = ["status", "deadline", "lead_department"]


@admin.register(ProgressReport)
class ProgressReportAdmin(ReadOnlyHistoryAdmin):
    list_display = ["measure", "reported_on", "author"]
    raw_id_fields = ["measure", "author"]


@admin.register(Evidence)
class EvidenceAdmin(ReadOnlyHistoryAdmin):
    list_display = ["title", "document_number", "measure", "uploaded_by", "uploaded_at"]
    search_fields = ["title", "document_number"]
    raw_id_fields = ["measure", "uploaded_by"]


@admin.register(Extension)
class ExtensionAdmin(ReadOnlyHistoryAdmin):
    list_display = ["measure", "old_deadline", "new_deadline", "status", "requested_by", "decided_by"]
    list_filter = ["status"]
    raw_id_fields = ["measure", "requested_by", "decided_by"]


@admin.register(MeasureDecision)
class MeasureDecisionAdmin(ReadOnlyAdminMixin, admin.ModelAdmin):
    list_display = ["measure", "action", "decided_by", "decided_at"]
    list_filter = ["action"]
    raw_id_fields = ["measure", "decided_by"]
