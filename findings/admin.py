from django.contrib import admin

from findings.models import Category, Finding, Inspection, InspectionOutcome


class NoDeleteMixin:
    # Deleting an inspection, category or finding cascades to its measures and their
    # review and sign-off records, the audit trail; nothing in the app deletes them.
    def has_delete_permission(self, request: object, obj: object = None) -> bool:
        return False


class CategoryInline(NoDeleteMixin, admin.TabularInline):
    model = Category
    extra = 0


class OutcomeInline(admin.TabularInline):
    model = InspectionOutcome
    extra = 0


class FindingInline(NoDeleteMixin, admin.StackedInline):
    model = Finding
    extra = 0
    fields = ["inspection", "number", "description"]


@admin.register(Inspection)
class InspectionAdmin(NoDeleteMixin, admin.ModelAdmin):
    list_display = ["title", "kind", "source_body", "inspected_unit", "feedback_date", "deadline"]
    list_filter = ["kind", "feedback_date"]
    search_fields = ["title", "source_body", "inspected_unit", "document_number"]
    date_hierarchy = "feedback_date"
    raw_id_fields = ["follows_up"]
    inlines = [CategoryInline, OutcomeInline]


@admin.register(Category)
class CategoryAdmin(NoDeleteMixin, admin.ModelAdmin):
    list_display = ["title", "inspection", "order"]
    list_filter = ["inspection"]
    search_fields = ["title"]
    list_select_related = ["inspection"]
    inlines = [FindingInline]


@admin.register(Finding)
class FindingAdmin(NoDeleteMixin, admin.ModelAdmin):
    list_display = ["number", "short_description", "category", "inspection"]
    list_filter = ["inspection"]
    search_fields = ["description"]
    list_select_related = ["category", "inspection"]
    raw_id_fields = ["category", "inspection", "created_by"]

    @admin.display(description="问题描述")
    def short_description(self, obj: Finding) -> str:
        return obj.description[:60]


@admin.register(InspectionOutcome)
class InspectionOutcomeAdmin(admin.ModelAdmin):
    list_display = ["inspection", "kind", "count", "note"]
    list_filter = ["kind"]
