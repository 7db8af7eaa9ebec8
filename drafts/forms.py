"""Forms of the draft-ledger review: they validate the office's corrections; drafts.services saves.

The draft is three flat lists of rows (categories; findings naming a category row; measures
naming a finding row), so a finding the parser could not place, or a measure it found in a
"下一步打算" section, is placed by picking its row, and a row is dropped by emptying its text.
Every row field is optional on its own: what a row needs depends on the others, and
`reviewed_draft` checks that across the three lists.
"""

from __future__ import annotations

from collections.abc import Sequence
from datetime import date

from django import forms
from django.conf import settings
from django.forms import BaseFormSet, formset_factory
from django.forms.utils import flatatt
from django.utils.html import format_html, format_html_join
from django.utils.safestring import SafeString
from django.utils.text import Truncator
from django.utils.translation import gettext as _
from django.utils.translation import gettext_lazy

from accounts.models import Department
from drafts.services import PlannedCategory, PlannedFinding, PlannedMeasure
from findings.models import Category, Inspection
from findings.rules import early_deadline_message

DATE_INPUT = forms.DateInput(attrs={"type": "date"}, format="%Y-%m-%d")
PREFIXES = {"categories": "cat", "findings": "fnd", "measures": "msr"}
_BLANK = ("", "—")


class FastSelect(forms.Select):
    """A <select> written in one pass. Django renders every <option> through a template, and a
    review page has a select per row with an option per category or finding: tens of thousands
    of options, seconds of rendering. The output is the same element."""

    def render(self, name, value, attrs=None, renderer=None) -> SafeString:  # type: ignore[no-untyped-def,override]
        if isinstance(value, list | tuple):
            value = value[0] if value else None
        selected = "" if value is None else str(value)
        options = format_html_join(
            "",
            '<option value="{}"{}>{}</option>',
            ((option, " selected" if str(option) == selected else "", label) for option, label in self.choices),
        )
        final_attrs = self.build_attrs(self.attrs, attrs)
        return format_html('<select name="{}"{}>{}</select>', name, flatatt(final_attrs), options)


class DraftInspectionForm(forms.ModelForm):
    default_department = forms.TypedChoiceField(
        label=gettext_lazy("默认牵头单位"),
        required=False,
        coerce=int,
        empty_value=None,
        help_text=gettext_lazy("未单独选择牵头单位的措施使用此单位"),
    )
    default_deadline = forms.DateField(
        label=gettext_lazy("默认整改时限"),
        required=False,
        widget=DATE_INPUT,
        help_text=gettext_lazy("未单独填写时限的措施使用此时限"),
    )

    class Meta:
        model = Inspection
        fields = ["kind", "title", "source_body", "inspected_unit", "feedback_date", "deadline"]
        widgets = {"feedback_date": DATE_INPUT, "deadline": DATE_INPUT}

    def __init__(self, *args: object, departments: Sequence[tuple[int, str]] = (), **kwargs: object) -> None:
        super().__init__(*args, **kwargs)  # type: ignore[arg-type]
        self.fields["default_department"].choices = [_BLANK, *departments]  # type: ignore[attr-defined]


class CategoryRowForm(forms.Form):
    title = forms.CharField(
        label=gettext_lazy("类别名称"), required=False, max_length=Category._meta.get_field("title").max_length
    )


class FindingRowForm(forms.Form):
    category = forms.TypedChoiceField(
        label=gettext_lazy("问题类别"), required=False, coerce=int, empty_value=None, widget=FastSelect
    )
    description = forms.CharField(
        label=gettext_lazy("问题描述"), required=False, widget=forms.Textarea(attrs={"rows": 2})
    )

    def __init__(self, *args: object, choices: Sequence[tuple[str, str]] = (), **kwargs: object) -> None:
        super().__init__(*args, **kwargs)  # type: ignore[arg-type]
        self.fields["category"].choices = choices  # type: ignore[attr-defined]


class MeasureRowForm(forms.Form):
    finding = forms.TypedChoiceField(
        label=gettext_lazy("所属问题"), required=False, coerce=int, empty_value=None, widget=FastSelect
    )
    text = forms.CharField(label=gettext_lazy("整改措施"), required=False, widget=forms.Textarea(attrs={"rows": 2}))
    # Choices, not a ModelChoiceField: that would query the departments once per row.
    lead_department = forms.TypedChoiceField(
        label=gettext_lazy("牵头单位"), required=False, coerce=int, empty_value=None, widget=FastSelect
    )
    deadline = forms.DateField(label=gettext_lazy("整改时限"), required=False, widget=DATE_INPUT)

    def __init__(
        self,
        *args: object,
        choices: Sequence[tuple[str, str]] = (),
        departments: Sequence[tuple[str, str]] = (),
        **kwargs: object,
    ) -> None:
        super().__init__(*args, **kwargs)  # type: ignore[arg-type]
        self.fields["finding"].choices = choices  # type: ignore[attr-defined]
        self.fields["lead_department"].choices = departments  # type: ignore[attr-defined]


# Blank rows under each list, to add what the parser missed or fill an empty draft by hand.
EXTRA_ROWS = {"categories": 2, "findings": 3, "measures": 5}
# Fields a submission carries besides the rows: csrf, the button, the inspection form and
# the three management forms.
_FIXED_FIELDS = 2 + 8 + 3 * 4
_FIELDS_PER_ROW = {"categories": 1, "findings": 2, "measures": 4}
# Even without a field limit, one page of selects stays reviewable and renders quickly.
ABSOLUTE_LIMITS = {"categories": 100, "findings": 150, "measures": 600}


def review_limits() -> dict[str, int]:
    """How many rows of each list one review can hold from the text. A submission past
    Django's DATA_UPLOAD_MAX_NUMBER_FIELDS is refused as a whole, which would lose every
    correction, so the form never grows past it: the budget keeps room for two sets of blank
    rows ("增加空行" adds rows while a list is within its limit)."""
    budget = settings.DATA_UPLOAD_MAX_NUMBER_FIELDS
    if budget is None:
        return dict(ABSOLUTE_LIMITS)
    rows_budget = budget - _FIXED_FIELDS - 2 * sum(EXTRA_ROWS[k] * _FIELDS_PER_ROW[k] for k in EXTRA_ROWS)
    categories = max(5, min(ABSOLUTE_LIMITS["categories"], rows_budget // 10))
    rows_budget -= categories
    # A finding with four measures costs 2 + 4 × 4 fields.
    findings = max(5, min(ABSOLUTE_LIMITS["findings"], rows_budget // 18))
    measures = max(10, min(ABSOLUTE_LIMITS["measures"], (rows_budget - findings * 2) // 4))
    return {"categories": categories, "findings": findings, "measures": measures}


def _formset(form: type[forms.Form], limit: int) -> type[BaseFormSet]:
    # absolute_max bounds what a tampered TOTAL_FORMS can make the server build.
    rows = limit + 2 * max(EXTRA_ROWS.values())
    return formset_factory(form, extra=0, max_num=rows, absolute_max=rows)


def _label(position: int, text: str) -> str:
    return f"{position}. {Truncator(text).chars(40)}" if text else f"{position}. " + _("(空)")


def _posted_texts(data: object, prefix: str, name: str, limit: int) -> list[str]:
    """The texts typed into one column of a bound formset, read before the formset is built
    so the next list's choices can name them."""
    try:
        total = int(data.get(f"{prefix}-TOTAL_FORMS", 0))  # type: ignore[attr-defined]
    except (TypeError, ValueError):
        return []
    total = max(0, min(total, limit))
    return [str(data.get(f"{prefix}-{i}-{name}", "")).strip() for i in range(total)]  # type: ignore[attr-defined]


_ROW_FORMS: dict[str, type[forms.Form]] = {
    "categories": CategoryRowForm,
    "findings": FindingRowForm,
    "measures": MeasureRowForm,
}


class DraftForms:
    """The inspection form and the three row formsets of one review, bound or from a draft."""

    def __init__(
        self,
        data: object | None = None,
        *,
        departments: Sequence[Department],
        initial_inspection: dict[str, object] | None = None,
        categories: Sequence[str] = (),
        findings: Sequence[tuple[int | None, str]] = (),
        measures: Sequence[tuple[int | None, str]] = (),
        extra: dict[str, int] | None = None,
    ) -> None:
        extra = extra or EXTRA_ROWS
        limits = review_limits()
        formset_classes = {key: _formset(form, limits[key]) for key, form in _ROW_FORMS.items()}
        row_caps = {key: cls.absolute_max for key, cls in formset_classes.items()}
        self.bound = data is not None
        named = [(department.pk, department.name) for department in departments]
        dept_choices = [_BLANK, *((str(pk), name) for pk, name in named)]
        self.inspection = DraftInspectionForm(data, initial=initial_inspection, departments=named)
        if data is not None:
            category_titles = _posted_texts(data, PREFIXES["categories"], "title", row_caps["categories"])
            finding_texts = _posted_texts(data, PREFIXES["findings"], "description", row_caps["findings"])
            category_kwargs: dict[str, object] = {"data": data}
            finding_kwargs: dict[str, object] = {"data": data}
            measure_kwargs: dict[str, object] = {"data": data}
        else:
            category_titles = [*categories, *[""] * extra["categories"]]
            finding_texts = [text for _c, text in findings] + [""] * extra["findings"]
            category_kwargs = {"initial": [{"title": t} for t in category_titles]}
            finding_kwargs = {
                "initial": [{"category": c, "description": t} for c, t in findings]
                + [{} for _ in range(extra["findings"])]
            }
            measure_kwargs = {
                "initial": [{"finding": f, "text": t} for f, t in measures] + [{} for _ in range(extra["measures"])]
            }
        category_choices = [_BLANK, *((str(i), _label(i + 1, t)) for i, t in enumerate(category_titles))]
        finding_choices = [_BLANK, *((str(i), _label(i + 1, t)) for i, t in enumerate(finding_texts))]
        self.categories = formset_classes["categories"](prefix=PREFIXES["categories"], **category_kwargs)  # type: ignore[arg-type]
        self.findings = formset_classes["findings"](
            prefix=PREFIXES["findings"],
            form_kwargs={"choices": category_choices},
            **finding_kwargs,  # type: ignore[arg-type]
        )
        self.measures = formset_classes["measures"](
            prefix=PREFIXES["measures"],
            form_kwargs={"choices": finding_choices, "departments": dept_choices},
            **measure_kwargs,  # type: ignore[arg-type]
        )
        self.departments = {department.pk: department for department in departments}
        self.errors: list[str] = []

    @property
    def formsets(self) -> tuple[BaseFormSet, BaseFormSet, BaseFormSet]:
        return self.categories, self.findings, self.measures

    def reviewed_draft(self) -> tuple[dict[str, object], list[PlannedCategory]] | None:
        """(inspection fields, the planned rows) when everything is in order; else None, with
        the reasons on the rows and in `errors`. Every row is checked even when an earlier one
        failed, so one round trip shows all there is to correct."""
        valid = self.inspection.is_valid()
        valid = all([formset.is_valid() for formset in self.formsets]) and valid
        inspection = dict(self.inspection.cleaned_data)
        default_department_id = inspection.pop("default_department", None)
        default_deadline: date | None = inspection.pop("default_deadline", None)
        feedback_date: date | None = inspection.get("feedback_date")  # type: ignore[assignment]

        planned_categories: dict[int, PlannedCategory] = {}
        for index, form in enumerate(self.categories.forms):
            title = form.cleaned_data.get("title", "").strip()
            if title:
                planned_categories[index] = PlannedCategory(title=title)
        planned_findings: dict[int, PlannedFinding] = {}
        for index, form in enumerate(self.findings.forms):
            description = form.cleaned_data.get("description", "").strip()
            if not description or "category" in form.errors:
                continue
            category_index = form.cleaned_data.get("category")
            if category_index is None:
                form.add_error("category", _("请为该问题选择问题类别。"))
            elif category_index not in planned_categories:
                form.add_error("category", _("所选类别的名称为空,请填写类别名称或另选类别。"))
            else:
                planned = PlannedFinding(description=description)
                planned_findings[index] = planned
                planned_categories[category_index].findings.append(planned)
        for form in self.measures.forms:
            text = form.cleaned_data.get("text", "").strip()
            if not text or form.errors:
                continue
            finding_index = form.cleaned_data.get("finding")
            department_id = form.cleaned_data.get("lead_department") or default_department_id
            deadline = form.cleaned_data.get("deadline") or default_deadline
            if finding_index is None:
                form.add_error("finding", _("请为该措施选择所属问题。"))
            elif finding_index not in planned_findings:
                form.add_error("finding", _("所选问题的描述为空或未指定类别,请先完善该问题或另选问题。"))
            if department_id not in self.departments:
                form.add_error("lead_department", _("请选择牵头单位,或在上方设置默认牵头单位。"))
            if deadline is None:
                form.add_error("deadline", _("请填写整改时限,或在上方设置默认整改时限。"))
            elif too_early := early_deadline_message(deadline=deadline, feedback_date=feedback_date):
                form.add_error("deadline", too_early)
            if not form.errors:
                planned_findings[finding_index].measures.append(  # type: ignore[index]
                    PlannedMeasure(text=text, lead_department=self.departments[department_id], deadline=deadline)  # type: ignore[index,arg-type]
                )
        if not planned_findings and valid:
            self.errors.append(_("草稿中没有任何问题,请至少填写一个问题类别和一个问题后再保存。"))
        row_errors = sum(1 for formset in self.formsets for form in formset.forms if form.errors)
        if row_errors:
            self.errors.append(_("有 %(n)d 行需要修改,请查看下方标出的行。") % {"n": row_errors})
        if not valid or self.inspection.errors or any(formset.non_form_errors() for formset in self.formsets):
            self.errors.append(_("请修改标出的内容。"))
        if self.errors:
            self.errors.append(_("未保存任何内容。"))
            return None
        return inspection, list(planned_categories.values())
