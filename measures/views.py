"""Ledger and measure pages. Thin: permissions in measures.permissions, writes in
measures.services, reads in measures.selectors."""

from __future__ import annotations

from collections.abc import Callable
from typing import Any

from django.contrib import messages
from django.contrib.auth.decorators import login_required
from django.core.exceptions import PermissionDenied, ValidationError
from django.core.paginator import Paginator
from django.forms import Form
from django.http import FileResponse, Http404, HttpRequest, HttpResponse
from django.shortcuts import get_object_or_404, redirect, render
from django.utils.translation import gettext as _
from django.views.decorators.http import require_POST

from accounts.roles import Capability, has_capability, is_leader
from findings.models import Finding
from measures import services
from measures.filters import MeasureFilter, ignored_filters
from measures.forms import (
    BatchForm,
    DecisionForm,
    EvidenceForm,
    ExtensionDecisionForm,
    ExtensionRequestForm,
    MeasureForm,
    ProgressForm,
    ReturnSignedOffForm,
    StatusForm,
)
from measures.models import Evidence, Extension, Measure
from measures.permissions import Action, can, visible_measures
from measures.selectors import (
    ledger_default_order,
    ledger_rows,
    measure_change_log,
    measure_for_action,
    measure_for_page,
)

LEDGER_PAGE_SIZE = 50


def _measure_for(request: HttpRequest, measure_id: int, action: Action) -> Measure:
    """The measure if it exists and the user may do `action` to it; 404 or 403 otherwise."""
    try:
        measure = measure_for_action(measure_id)
    except Measure.DoesNotExist:
        raise Http404
    if not can(request.user, Action.VIEW, measure) or not can(request.user, action, measure):
        raise PermissionDenied
    return measure


@login_required
def ledger(request: HttpRequest) -> HttpResponse:
    measures = visible_measures(request.user, Measure.objects.all())
    filterset = MeasureFilter(request.GET or None, queryset=measures, request=request)
    # The filters that validate apply, the others are named on the page (ignored_filters).
    rows = filterset.qs if filterset.is_bound else measures
    if not request.GET.get("ordering"):
        rows = ledger_default_order(rows)
    page = Paginator(ledger_rows(rows), LEDGER_PAGE_SIZE).get_page(request.GET.get("page"))
    query = request.GET.copy()
    query.pop("page", None)
    return render(
        request,
        "measures/ledger.html",
        {
            "nav": "ledger",
            "filter": filterset,
            "ignored_filters": ignored_filters(filterset),
            "page": page,
            "query": query.urlencode(),
            # Whether to show the batch buttons; each row is still checked by can() in the service.
            "can_batch_review": is_leader(request.user),
            "can_batch_sign_off": has_capability(request.user, Capability.EDIT_LEDGER),
            "first_row_number": page.start_index(),
        },
    )


@login_required
@require_POST
def ledger_batch(request: HttpRequest) -> HttpResponse:
    form = BatchForm(request.POST)
    back = request.POST.get("back", "")
    target = "measures:ledger"
    if not form.is_valid():
        messages.error(request, " ".join(e for errors in form.errors.values() for e in errors))
        return redirect(_ledger_url(target, back))
    data = form.cleaned_data
    run = services.measures_review_many if data["action"] == "review" else services.measures_sign_off_many
    outcome = run(measure_ids=data["measure_ids"], user=request.user, comment=data["comment"])
    if outcome.done:
        messages.success(request, _("已处理 %(n)d 条措施。") % {"n": len(outcome.done)})
    if outcome.refused:
        messages.warning(request, _("%(n)d 条措施未处理(状态或权限不符)。") % {"n": len(outcome.refused)})
    return redirect(_ledger_url(target, back))


def _ledger_url(name: str, query: str) -> str:
    from django.urls import reverse

    # Only our own query string comes back; never an arbitrary URL (no open redirect).
    return reverse(name) + ("?" + query if query and "//" not in query else "")


def _detail(
    request: HttpRequest,
    measure_id: int,
    forms: dict[str, Form] | None = None,
    *,
    conflict: services.StaleMeasureError | None = None,
    status: int = 200,
) -> HttpResponse:
    try:
        measure = measure_for_page(measure_id)
    except Measure.DoesNotExist:
        raise Http404
    user = request.user
    if not can(user, Action.VIEW, measure):
        raise PermissionDenied
    allowed = {action.value: can(user, action, measure) for action in Action}
    context: dict[str, Any] = {
        "nav": "ledger",
        "measure": measure,
        "allowed": allowed,
        "change_log": measure_change_log(measure),
        "conflict": conflict,
        "status_form": StatusForm(initial={"version": measure.version, "new_status": _next_status(measure)}),
        "progress_form": ProgressForm(),
        "evidence_form": EvidenceForm(),
        "extension_form": ExtensionRequestForm(),
        "review_form": DecisionForm(initial={"version": measure.version}),
        "sign_off_form": DecisionForm(initial={"version": measure.version}),
        "return_signed_off_form": ReturnSignedOffForm(initial={"version": measure.version}),
    }
    if conflict is not None and forms:
        # Keep what the user typed but let the next save go against the current version.
        for form in forms.values():
            if "version" in form.data:
                data = form.data.copy()
                data["version"] = str(conflict.current.version)
                form.data = data
    context.update(forms or {})
    return render(request, "measures/detail.html", context, status=status)


def _next_status(measure: Measure) -> str:
    return {"not_started": "in_progress", "in_progress": "completed", "returned": "in_progress"}.get(
        measure.status, "completed"
    )


@login_required
def measure_detail(request: HttpRequest, measure_id: int) -> HttpResponse:
    return _detail(request, measure_id)


def _perform(
    request: HttpRequest,
    measure_id: int,
    *,
    form: Form,
    form_key: str,
    call: Callable[[Measure, dict[str, Any]], object],
    success: str,
) -> HttpResponse:
    """Validate, call one service, and on any refusal re-show the page with what was typed.

    Only visibility is checked here: the service asks permissions.can for `action` on the
    locked row after its version check, so someone acting on a page that went stale is
    shown what changed rather than a bare 403.
    """
    measure = _measure_for(request, measure_id, Action.VIEW)
    if form.is_valid():
        try:
            call(measure, form.cleaned_data)
        except services.StaleMeasureError as exc:
            return _detail(request, measure_id, {form_key: form}, conflict=exc, status=409)
        except ValidationError as exc:
            _add_service_errors(form, exc)
        else:
            messages.success(request, success)
            return redirect("measures:detail", measure_id)
    return _detail(request, measure_id, {form_key: form}, status=400)


def _add_service_errors(form: Form, exc: ValidationError) -> None:
    if hasattr(exc, "error_dict"):
        for field, errors in exc.error_dict.items():
            form.add_error(field if field in form.fields else None, errors)
    else:
        form.add_error(None, exc)


@login_required
@require_POST
def measure_set_status(request: HttpRequest, measure_id: int) -> HttpResponse:
    return _perform(
        request,
        measure_id,
        form=StatusForm(request.POST),
        form_key="status_form",
        call=lambda m, d: services.measure_set_status(
            measure_id=m.pk,
            user=request.user,
            new_status=d["new_status"],
            expected_version=d["version"],
            result=d["result"],
        ),
        success=_("状态已更新。"),
    )


@login_required
@require_POST
def progress_add(request: HttpRequest, measure_id: int) -> HttpResponse:
    return _perform(
        request,
        measure_id,
        form=ProgressForm(request.POST),
        form_key="progress_form",
        call=lambda m, d: services.progress_report_add(
            measure=m, user=request.user, text=d["text"], reported_on=d["reported_on"]
        ),
        success=_("进展已填报。"),
    )


@login_required
@require_POST
def evidence_add(request: HttpRequest, measure_id: int) -> HttpResponse:
    return _perform(
        request,
        measure_id,
        form=EvidenceForm(request.POST, request.FILES),
        form_key="evidence_form",
        call=lambda m, d: services.evidence_add(
            measure=m,
            user=request.user,
            title=d["title"],
            document_number=d["document_number"],
            uploaded_file=d["file"],
        ),
        success=_("佐证材料已上传。"),
    )


@login_required
@require_POST
def extension_request(request: HttpRequest, measure_id: int) -> HttpResponse:
    return _perform(
        request,
        measure_id,
        form=ExtensionRequestForm(request.POST),
        form_key="extension_form",
        call=lambda m, d: services.extension_request(
            measure=m, user=request.user, new_deadline=d["new_deadline"], reason=d["reason"]
        ),
        success=_("延期申请已提交,等待责任领导审批。"),
    )


@login_required
@require_POST
def measure_review(request: HttpRequest, measure_id: int) -> HttpResponse:
    return _perform(
        request,
        measure_id,
        form=DecisionForm(request.POST),
        form_key="review_form",
        call=lambda m, d: services.measure_review(
            measure_id=m.pk,
            user=request.user,
            passed=d["decision"] == "pass",
            comment=d["comment"],
            expected_version=d["version"],
        ),
        success=_("审核意见已记录。"),
    )


@login_required
@require_POST
def measure_sign_off(request: HttpRequest, measure_id: int) -> HttpResponse:
    return _perform(
        request,
        measure_id,
        form=DecisionForm(request.POST),
        form_key="sign_off_form",
        call=lambda m, d: services.measure_sign_off(
            measure_id=m.pk,
            user=request.user,
            passed=d["decision"] == "pass",
            comment=d["comment"],
            expected_version=d["version"],
        ),
        success=_("销号意见已记录。"),
    )


@login_required
@require_POST
def measure_return_signed_off(request: HttpRequest, measure_id: int) -> HttpResponse:
    return _perform(
        request,
        measure_id,
        form=ReturnSignedOffForm(request.POST),
        form_key="return_signed_off_form",
        call=lambda m, d: services.measure_return_signed_off(
            measure_id=m.pk, user=request.user, comment=d["comment"], expected_version=d["version"]
        ),
        success=_("已退回该销号措施,责任单位需重新整改。"),
    )


@login_required
@require_POST
def extension_decide(request: HttpRequest, extension_id: int) -> HttpResponse:
    extension = get_object_or_404(Extension.objects.only("id", "measure_id"), pk=extension_id)
    return _perform(
        request,
        extension.measure_id,
        form=ExtensionDecisionForm(request.POST),
        form_key="extension_decision_form",
        call=lambda m, d: services.extension_decide(
            extension_id=extension.pk, user=request.user, approve=d["decision"] == "approve", comment=d["comment"]
        ),
        success=_("延期审批已记录。"),
    )


@login_required
def evidence_download(request: HttpRequest, evidence_id: int) -> FileResponse:
    evidence = get_object_or_404(Evidence.objects.select_related("measure"), pk=evidence_id)
    _measure_for(request, evidence.measure_id, Action.VIEW)
    if not evidence.file:
        raise Http404
    # Always as an attachment with the type we detected at upload: never rendered inline.
    response = FileResponse(
        evidence.file.open("rb"),
        as_attachment=True,
        filename=evidence.original_name or evidence.file.name.rsplit("/", 1)[-1],
        content_type=evidence.content_type or "application/octet-stream",
    )
    response["X-Content-Type-Options"] = "nosniff"
    return response


@login_required
def measure_create(request: HttpRequest, finding_id: int) -> HttpResponse:
    if not can(request.user, Action.EDIT_LEDGER):
        raise PermissionDenied
    finding = get_object_or_404(Finding.objects.select_related("inspection", "category"), pk=finding_id)
    form = MeasureForm(request.POST or None)
    if request.method == "POST" and form.is_valid():
        data = {k: v for k, v in form.cleaned_data.items() if k != "version"}
        try:
            measure = services.measure_create(finding=finding, **data)
        except ValidationError as exc:
            _add_service_errors(form, exc)
        else:
            messages.success(request, _("整改措施已创建。"))
            return redirect("measures:detail", measure.pk)
    return render(
        request,
        "measures/measure_form.html",
        {"nav": "inspections", "form": form, "finding": finding, "measure": None},
        status=400 if request.method == "POST" else 200,
    )


@login_required
def measure_edit(request: HttpRequest, measure_id: int) -> HttpResponse:
    measure = _measure_for(request, measure_id, Action.EDIT_LEDGER)
    form = MeasureForm(request.POST or None, instance=measure)
    conflict = None
    if request.method == "POST" and form.is_valid():
        data = {k: v for k, v in form.cleaned_data.items() if k != "version"}
        try:
            services.measure_update(
                measure_id=measure.pk,
                user=request.user,
                expected_version=form.cleaned_data["version"],
                **data,
            )
        except services.StaleMeasureError as exc:
            conflict = exc
            posted = form.data.copy()
            posted["version"] = str(exc.current.version)
            form.data = posted
        except ValidationError as exc:
            _add_service_errors(form, exc)
        else:
            messages.success(request, _("整改措施已保存。"))
            return redirect("measures:detail", measure.pk)
    status = 409 if conflict else (400 if request.method == "POST" else 200)
    return render(
        request,
        "measures/measure_form.html",
        {"nav": "ledger", "form": form, "finding": measure.finding, "measure": measure, "conflict": conflict},
        status=status,
    )
