"""Inspections, categories and findings in the admin, for the rectification office.

Writes that carry rules go through findings.services: editing an inspection checks its
feedback date against the measures' deadlines, moving a finding to another category carries
its measures along. A finding's inspection and a category's inspection are fixed once
created, since the rows below them copy them. The finding's page lists its measures, read
only: measures/admin.py adds that inline, as findings does not import measures.
"""

from typing import Any

from django import forms
from django.contrib import admin
from django.http import HttpRequest
from django.utils.translation import gettext_lazy as _

from findings import services
from findings.models import Category, Finding, Inspection, InspectionOutcome


class NoDeleteMixin:
    # Deleting an inspection, category or finding cascades to its measures and their
    # review and sign-off records, the audit trail; nothing in the app deletes them.
    def has_delete_permission(self, request: object, obj: object = None) -> bool:
        return False


class FixedOnChangeMixin:
    """Fields that may be chosen when a row is added and never changed afterwards.

    Disabled rather than read-only: a read-only field leaves the form, and the form then
    skips the unique constraints that name it (a finding's number within its inspection).
    A disabled field stays in the form with its stored value, whatever is posted.
    """

    fixed_on_change: tuple[str, ...] = ()

    def get_form(self, request: HttpRequest, obj: Any = None, change: bool = False, **kwargs: Any) -> Any:
        form = super().get_form(request, obj, change, **kwargs)  # type: ignore[misc]
        if obj is not None:
            for name in self.fixed_on_change:
                if name in form.base_fields:
                    form.base_fields[name].disabled = True
        return form


class FindingListInline(NoDeleteMixin, admin.TabularInline):
    """Findings listed under their inspection or category, each linking to its own page.

    Not edited in place: a change of category must go through findings.services, and a
    finding added here would skip the check that its category belongs to its inspection.
    """

    model = Finding
    extra = 0
    fields = ["number", "category", "description"]
    readonly_fields = fields
    show_change_link = True

    def has_add_permission(self, request: HttpRequest, obj: Any = None) -> bool:
        return False

    def has_change_permission(self, request: HttpRequest, obj: Any = None) -> bool:
        return False


class FindingInline(FindingListInline):
    fk_name = "inspection"


class CategoryFindingInline(FindingListInline):
    fk_name = "category"
    fields = ["number", "description"]
    readonly_fields = fields


class CategoryInline(NoDeleteMixin, admin.TabularInline):
    model = Category
    extra = 0


class OutcomeInline(admin.TabularInline):
    model = InspectionOutcome
    extra = 0


class InspectionAdminForm(forms.ModelForm):
    # No Meta: ModelAdmin.get_form supplies the model and fields.
    def clean(self) -> dict[str, Any]:
        cleaned = super().clean()
        if "feedback_date" in self.changed_data:
            try:
                services.inspection_feedback_date_check(
                    inspection=self.instance, feedback_date=cleaned.get("feedback_date")
                )
            except forms.ValidationError as exc:
                self.add_error(None, exc)
        return cleaned


@admin.register(Inspection)
class InspectionAdmin(NoDeleteMixin, admin.ModelAdmin):
    form = InspectionAdminForm
    list_display = ["title", "kind", "source_body", "inspected_unit", "feedback_date", "deadline"]
    list_filter = ["kind", "feedback_date"]
    search_fields = ["title", "source_body", "inspected_unit", "document_number"]
    date_hierarchy = "feedback_date"
    raw_id_fields = ["follows_up"]
    inlines = [CategoryInline, FindingInline, OutcomeInline]

    def save_model(self, request: HttpRequest, obj: Inspection, form: forms.ModelForm, change: bool) -> None:
        if change:
            services.inspection_update(inspection=obj, **{name: form.cleaned_data[name] for name in form.changed_data})
        else:
            super().save_model(request, obj, form, change)


@admin.register(Category)
class CategoryAdmin(FixedOnChangeMixin, NoDeleteMixin, admin.ModelAdmin):
    list_display = ["title", "inspection", "order"]
    list_filter = ["inspection"]
    search_fields = ["title"]
    list_select_related = ["inspection"]
    fixed_on_change = ("inspection",)
    inlines = [CategoryFindingInline]


class FindingAdminForm(forms.ModelForm):
    # No Meta: ModelAdmin.get_form supplies the model and fields.
    def clean(self) -> dict[str, Any]:
        cleaned = super().clean()
        category, inspection = cleaned.get("category"), cleaned.get("inspection")
        if category is not None and inspection is not None:
            try:
                services.finding_category_check(inspection_id=inspection.pk, category=category)
            except forms.ValidationError as exc:
                self.add_error(None, exc)
        return cleaned


@admin.register(Finding)
class FindingAdmin(FixedOnChangeMixin, NoDeleteMixin, admin.ModelAdmin):
    form = FindingAdminForm
    list_display = ["number", "short_description", "category", "inspection"]
    list_filter = ["inspection"]
    search_fields = ["description"]
    list_select_related = ["category", "inspection"]
    raw_id_fields = ["category", "inspection"]
    readonly_fields = ["created_by"]
    fixed_on_change = ("inspection",)

    @admin.display(description=_("问题描述"))
    def short_description(self, obj: Finding) -> str:
        return obj.description[:60]

    def save_model(self, request: HttpRequest, obj: Finding, form: forms.ModelForm, change: bool) -> None:
        if change:
            # Through the service: a move to another category carries the measures along.
            services.finding_update(finding=obj, **{name: form.cleaned_data[name] for name in form.changed_data})
        else:
            obj.created_by = request.user  # type: ignore[assignment]
            super().save_model(request, obj, form, change)


@admin.register(InspectionOutcome)
class InspectionOutcomeAdmin(admin.ModelAdmin):
    list_display = ["inspection", "kind", "count", "note"]
    list_filter = ["kind"]
