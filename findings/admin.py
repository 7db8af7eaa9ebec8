from django.contrib import admin

from findings.models import Category, Finding, Inspection, InspectionOutcome


class CategoryInline(admin.TabularInline):
    model = Category
    extra = 0


class OutcomeInline(admin.TabularInline):
    model = InspectionOutcome
    extra = 0


class FindingInline(admin.StackedInline):
    model = Finding
    extra = 0
    fields = ["inspection", "number", "description"]


@admin.register(Inspection)
class InspectionAdmin(admin.ModelAdmin):
    list_display = ["title", "kind", "source_body", "inspected_unit", "feedback_date", "deadline"]
    list_filter = ["kind", "feedback_date"]
    search_fields = ["title", "source_body", "inspected_unit", "document_number"]
    date_hierarchy = "feedback_date"
    raw_id_fields = ["follows_up"]
    inlines = [CategoryInline, OutcomeInline]


@admin.register(Category)
class CategoryAdmin(admin.ModelAdmin):
    list_display = ["title", "inspection", "order"]
    list_filter = ["inspection"]
    search_fields = ["title"]
    list_select_related = ["inspection"]
    inlines = [FindingInline]


@admin.register(Finding)
class FindingAdmin(admin.ModelAdmin):
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
