"""Look-back (回头看) pages: start a look-back of an inspection, re-check its completed
measures, reopen those whose problem came back. The office only (Action.EDIT_LEDGER); the
links between the two inspections are shown to everyone on the inspection pages and notices.
"""

from __future__ import annotations

from collections.abc import Sequence

from django import forms
from django.contrib import messages
from django.contrib.auth.decorators import login_required
from django.core.exceptions import PermissionDenied, ValidationError
from django.core.paginator import Paginator
from django.http import Http404, HttpRequest, HttpResponse
from django.shortcuts import redirect, render
from django.utils.translation import gettext as _
from django.utils.translation import gettext_lazy
from django.views.decorators.http import require_POST

from accounts.models import Department
from findings.models import Inspection
from measures.lookbacks import lookback_candidates, lookback_create, measure_reopen
from measures.models import Measure
from measures.permissions import Action, can

DATE_INPUT = forms.DateInput(attrs={"type": "date"}, format="%Y-%m-%d")
PAGE_SIZE = 50


class LookbackForm(forms.ModelForm):
    class Meta:
        model = Inspection
        fields = ["title", "source_body", "inspected_unit", "onsite_start", "onsite_end", "feedback_date", "deadline"]
        widgets = {
            "onsite_start": DATE_INPUT,
            "onsite_end": DATE_INPUT,
            "feedback_date": DATE_INPUT,
            "deadline": DATE_INPUT,
        }


class ReopenForm(forms.Form):
    text = forms.CharField(
        label=gettext_lazy("重新整改措施"),
        required=False,
        widget=forms.Textarea(attrs={"rows": 2}),
        help_text=gettext_lazy("留空则沿用原措施内容"),
    )
    lead_department = forms.TypedChoiceField(
        label=gettext_lazy("牵头单位"), required=False, coerce=int, empty_value=None
    )
    deadline = forms.DateField(label=gettext_lazy("整改时限"), required=False, widget=DATE_INPUT)

    def __init__(self, *args: object, departments: Sequence[tuple[int, str]] = (), **kwargs: object) -> None:
        super().__init__(*args, **kwargs)  # type: ignore[arg-type]
        self.fields["lead_department"].choices = [("", _("沿用原牵头单位")), *departments]  # type: ignore[attr-defined]


def _add_errors(form: forms.BaseForm, exc: ValidationError) -> None:
    """A service's refusal, on the field it names or above the form."""
    if hasattr(exc, "error_dict"):
        for field, errors in exc.error_dict.items():
            form.add_error(field if field in form.fields else None, errors)
    else:
        form.add_error(None, exc.messages)


def _require_office(request: HttpRequest) -> None:
    if not can(request.user, Action.EDIT_LEDGER):
        raise PermissionDenied


def _inspection(inspection_id: int, *, lookback: bool = False) -> Inspection:
    try:
        inspection = Inspection.objects.select_related("follows_up").get(pk=inspection_id)
    except Inspection.DoesNotExist:
        raise Http404
    if lookback and inspection.follows_up_id is None:
        raise Http404
    return inspection


@login_required
def lookback_new(request: HttpRequest, inspection_id: int) -> HttpResponse:
    _require_office(request)
    original = _inspection(inspection_id)
    form = LookbackForm(
        request.POST or None,
        initial={
            "title": f"{original.title}“回头看”",
            "source_body": original.source_body,
            "inspected_unit": original.inspected_unit,
        },
    )
    if request.method == "POST" and form.is_valid():
        try:
            lookback = lookback_create(original=original, user=request.user, **form.cleaned_data)  # type: ignore[arg-type]
        except ValidationError as exc:
            _add_errors(form, exc)
        else:
            messages.success(request, _("回头看已创建,请逐条复查原检查已完成的整改措施。"))
            return redirect("lookbacks:lookback", lookback.pk)
    return render(
        request,
        "measures/lookback_new.html",
        {"nav": "inspections", "form": form, "original": original},
        status=400 if request.method == "POST" else 200,
    )


def _page(
    request: HttpRequest, lookback: Inspection, *, failed: tuple[int, ReopenForm] | None = None, status: int = 200
) -> HttpResponse:
    departments = list(Department.objects.order_by("name").values_list("pk", "name"))
    page = Paginator(lookback_candidates(lookback), PAGE_SIZE).get_page(request.GET.get("page"))
    rows = []
    for measure in page:
        if failed is not None and failed[0] == measure.pk:
            form = failed[1]
        else:
            form = ReopenForm(departments=departments, prefix=f"m{measure.pk}")
        rows.append((measure, form))
    return render(
        request,
        "measures/lookback.html",
        {"nav": "inspections", "lookback": lookback, "original": lookback.follows_up, "page": page, "rows": rows},
        status=status,
    )


@login_required
def lookback_page(request: HttpRequest, inspection_id: int) -> HttpResponse:
    _require_office(request)
    return _page(request, _inspection(inspection_id, lookback=True))


@login_required
@require_POST
def lookback_reopen(request: HttpRequest, inspection_id: int, measure_id: int) -> HttpResponse:
    _require_office(request)
    lookback = _inspection(inspection_id, lookback=True)
    try:
        original = Measure.objects.select_related("finding").get(pk=measure_id, inspection_id=lookback.follows_up_id)
    except Measure.DoesNotExist:
        raise Http404
    departments = list(Department.objects.order_by("name").values_list("pk", "name"))
    form = ReopenForm(request.POST, departments=departments, prefix=f"m{measure_id}")
    if form.is_valid():
        department_id = form.cleaned_data["lead_department"]
        department = Department.objects.filter(pk=department_id).first() if department_id else None
        try:
            measure_reopen(
                original_measure=original,
                lookback=lookback,
                user=request.user,  # type: ignore[arg-type]
                text=form.cleaned_data["text"],
                lead_department=department,
                deadline=form.cleaned_data["deadline"],
            )
        except ValidationError as exc:
            _add_errors(form, exc)
        else:
            messages.success(
                request,
                _("已将第%(finding)s号问题第%(number)s条措施标记为问题反弹,并在本次回头看中新建整改措施。")
                % {"finding": original.finding.number, "number": original.number},
            )
            return redirect("lookbacks:lookback", lookback.pk)
    messages.error(
        request,
        _("第%(finding)s号问题第%(number)s条措施未能标记为问题反弹:%(reasons)s")
        % {
            "finding": original.finding.number,
            "number": original.number,
            "reasons": ";".join(str(e) for errors in form.errors.values() for e in errors),
        },
    )
    return _page(request, lookback, failed=(measure_id, form), status=400)
