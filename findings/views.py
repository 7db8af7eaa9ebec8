"""Inspection, category and finding pages; the office edits them here, not only in admin.

Only the office edits them: the capability is decided in accounts.roles, which knows roles
and nothing about measures, so findings never imports measures.
"""

from django.contrib import messages
from django.contrib.auth.decorators import login_required
from django.core.exceptions import PermissionDenied, ValidationError
from django.core.paginator import Paginator
from django.db.models import Model
from django.forms import ModelForm
from django.http import Http404, HttpRequest, HttpResponse
from django.shortcuts import get_object_or_404, redirect, render
from django.utils.translation import gettext as _

from accounts.roles import Capability, has_capability
from findings import services
from findings.forms import CategoryForm, FindingForm, InspectionForm
from findings.models import Category, Finding, Inspection
from findings.selectors import inspection_for_page, inspections_for_list


def _require_office(request: HttpRequest) -> None:
    if not has_capability(request.user, Capability.EDIT_LEDGER):
        raise PermissionDenied


@login_required
def inspection_list(request: HttpRequest) -> HttpResponse:
    page = Paginator(inspections_for_list(), 50).get_page(request.GET.get("page"))
    return render(
        request,
        "findings/inspection_list.html",
        {"nav": "inspections", "page": page, "can_edit": has_capability(request.user, Capability.EDIT_LEDGER)},
    )


@login_required
def inspection_detail(request: HttpRequest, inspection_id: int) -> HttpResponse:
    try:
        inspection = inspection_for_page(inspection_id)
    except Inspection.DoesNotExist:
        raise Http404
    return render(
        request,
        "findings/inspection_detail.html",
        {
            "nav": "inspections",
            "inspection": inspection,
            "can_edit": has_capability(request.user, Capability.EDIT_LEDGER),
        },
    )


def _save_form(request: HttpRequest, form: ModelForm, save, template: str, context: dict, success: str) -> HttpResponse:  # type: ignore[no-untyped-def]
    """Validate, save through a service, and re-show the form with what was typed on failure."""
    if request.method == "POST" and form.is_valid():
        try:
            obj: Model = save(form.cleaned_data)
        except ValidationError as exc:
            if hasattr(exc, "error_dict"):
                for field, errors in exc.error_dict.items():
                    form.add_error(field if field in form.fields else None, errors)
            else:
                form.add_error(None, exc)
        else:
            messages.success(request, success)
            inspection_id = obj.pk if isinstance(obj, Inspection) else obj.inspection_id  # type: ignore[attr-defined]
            return redirect("findings:inspection_detail", inspection_id)
    return render(
        request,
        template,
        {"nav": "inspections", "form": form, **context},
        status=400 if request.method == "POST" else 200,
    )


@login_required
def inspection_create(request: HttpRequest) -> HttpResponse:
    _require_office(request)
    form = InspectionForm(request.POST or None)
    return _save_form(
        request,
        form,
        lambda d: services.inspection_create(**d),
        "findings/form.html",
        {"heading": _("新建检查")},
        _("检查已创建。"),
    )


@login_required
def inspection_edit(request: HttpRequest, inspection_id: int) -> HttpResponse:
    _require_office(request)
    inspection = get_object_or_404(Inspection, pk=inspection_id)
    form = InspectionForm(request.POST or None, instance=inspection)
    return _save_form(
        request,
        form,
        lambda d: services.inspection_update(inspection=inspection, **d),
        "findings/form.html",
        {"heading": _("编辑检查"), "inspection": inspection},
        _("检查已保存。"),
    )


@login_required
def category_create(request: HttpRequest, inspection_id: int) -> HttpResponse:
    _require_office(request)
    inspection = get_object_or_404(Inspection, pk=inspection_id)
    form = CategoryForm(request.POST or None)
    form.fields["order"].required = False
    return _save_form(
        request,
        form,
        lambda d: services.category_create(inspection=inspection, title=d["title"], order=d.get("order")),
        "findings/form.html",
        {"heading": _("新增问题类别"), "inspection": inspection},
        _("问题类别已创建。"),
    )


@login_required
def category_edit(request: HttpRequest, category_id: int) -> HttpResponse:
    _require_office(request)
    category = get_object_or_404(Category.objects.select_related("inspection"), pk=category_id)
    form = CategoryForm(request.POST or None, instance=category)
    return _save_form(
        request,
        form,
        lambda d: services.category_update(category=category, **d),
        "findings/form.html",
        {"heading": _("编辑问题类别"), "inspection": category.inspection},
        _("问题类别已保存。"),
    )


@login_required
def finding_create(request: HttpRequest, inspection_id: int) -> HttpResponse:
    _require_office(request)
    inspection = get_object_or_404(Inspection, pk=inspection_id)
    form = FindingForm(request.POST or None, inspection=inspection, initial={"category": request.GET.get("category")})
    return _save_form(
        request,
        form,
        lambda d: services.finding_create(
            category=d["category"], description=d["description"], number=d.get("number"), created_by=request.user
        ),
        "findings/form.html",
        {"heading": _("新增问题"), "inspection": inspection},
        _("问题已创建。"),
    )


@login_required
def finding_edit(request: HttpRequest, finding_id: int) -> HttpResponse:
    _require_office(request)
    finding = get_object_or_404(Finding.objects.select_related("inspection"), pk=finding_id)
    form = FindingForm(request.POST or None, instance=finding, inspection=finding.inspection)
    return _save_form(
        request,
        form,
        lambda d: services.finding_update(finding=finding, **{k: v for k, v in d.items() if v is not None}),
        "findings/form.html",
        {"heading": _("编辑问题"), "inspection": finding.inspection},
        _("问题已保存。"),
    )
