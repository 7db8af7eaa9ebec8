"""Ledger exports, change-history export and ledger import pages.

Thin: who may do what is decided in measures.permissions, rows come from ledgerio.exports
and ledgerio.imports.
"""

from __future__ import annotations

from collections.abc import Callable
from datetime import datetime, time
from functools import wraps
from typing import Any
from urllib.parse import quote

from django import forms
from django.contrib import messages
from django.contrib.auth.decorators import login_required
from django.core.exceptions import PermissionDenied
from django.db.models import QuerySet
from django.http import FileResponse, Http404, HttpRequest, HttpResponse, StreamingHttpResponse
from django.shortcuts import redirect, render
from django.urls import reverse
from django.utils import timezone
from django.utils.translation import gettext as _
from django.utils.translation import gettext_lazy as _l
from django.views.decorators.http import require_GET, require_POST

from findings.models import Inspection
from ledgerio import exports, imports
from measures.filters import MeasureFilter, RecentChoicesSelect, ignored_filters
from measures.models import Measure, PendingImport
from measures.permissions import can_export, can_import, visible_measures
from measures.selectors import ledger_default_order

CSV_TYPE = "text/csv; charset=utf-8"
XLSX_TYPE = "application/vnd.openxmlformats-officedocument.spreadsheetml.sheet"


class HistoryFilterForm(forms.Form):
    # Newest first and the first 200 listed, as on the ledger's own inspection filter.
    inspection = forms.ModelChoiceField(
        label=_l("检查"),
        queryset=Inspection.objects.only("id", "title").order_by("-feedback_date", "-id"),
        required=False,
        widget=RecentChoicesSelect,
    )
    date_from = forms.DateField(label=_l("起始日期"), required=False, widget=forms.DateInput(attrs={"type": "date"}))
    date_to = forms.DateField(label=_l("截止日期"), required=False, widget=forms.DateInput(attrs={"type": "date"}))


class ImportUploadForm(forms.Form):
    file = forms.FileField(label=_l("台账文件(CSV 或 Excel .xlsx)"))
    inspection_title = forms.CharField(
        label=_l("检查名称"),
        max_length=200,
        required=False,
        help_text=_l("文件中没有“检查名称”列时(如检查组的问题清单),所有行导入到此检查。"),
    )

    def clean_file(self) -> Any:
        upload = self.cleaned_data["file"]
        if upload.size > imports.MAX_BYTES:
            raise forms.ValidationError(
                _l("文件大小超过 %(mb)d MB 上限,请分批导入。") % {"mb": imports.MAX_BYTES // (1024 * 1024)}
            )
        if not upload.name.lower().endswith((".csv", ".xlsx", ".xlsm")):
            raise forms.ValidationError(_l("只能导入 CSV 或 Excel(.xlsx)文件。"))
        return upload


class ImportMappingForm(forms.Form):
    """One select per importable field: which column of the user's file holds it."""

    inspection_title = forms.CharField(label=_l("检查名称(文件无此列时)"), max_length=200, required=False)

    def __init__(self, *args: Any, headers: list[str], **kwargs: Any) -> None:
        super().__init__(*args, **kwargs)
        choices = [("", _l("(不导入)"))] + [(h, h) for h in dict.fromkeys(headers) if h]
        for target, (label, _names) in imports.TARGETS.items():
            self.fields[f"map_{target}"] = forms.ChoiceField(label=label, choices=choices, required=False)

    def mapping(self) -> dict[str, str]:
        return {target: self.cleaned_data.get(f"map_{target}", "") for target in imports.TARGETS}

    def target_fields(self) -> list[Any]:
        return [self[f"map_{target}"] for target in imports.TARGETS]


def _attachment(filename: str) -> str:
    # RFC 6266: an ASCII fallback plus the UTF-8 name for browsers that read it.
    fallback = filename.encode("ascii", "ignore").decode() or "export"
    return f"attachment; filename=\"{fallback}\"; filename*=UTF-8''{quote(filename)}"


def _require_export(request: HttpRequest) -> None:
    if not can_export(request.user):
        raise PermissionDenied


class UnreadableFilters(Exception):
    """The export's filters do not all validate: it would not be the rows asked for."""

    def __init__(self, labels: str) -> None:
        super().__init__(labels)
        self.labels = labels


def ledger_for_export(request: HttpRequest) -> QuerySet[Measure]:
    """The ledger page's rows for this request: visibility, then the same filters and order.

    Unlike the page, which lists by the filters it can read and names the others, an export
    with a filter that does not validate is refused (UnreadableFilters): a file handed to an
    auditor must hold exactly the rows its filters say."""
    measures = visible_measures(request.user, Measure.objects.all())
    filterset = MeasureFilter(request.GET or None, queryset=measures, request=request)
    labels = ignored_filters(filterset)
    if labels:
        raise UnreadableFilters(labels)
    rows = filterset.qs if filterset.is_bound else measures
    if not request.GET.get("ordering"):
        rows = ledger_default_order(rows)
    return rows


def _back_to_the_ledger(request: HttpRequest, refused: UnreadableFilters) -> HttpResponse:
    messages.error(
        request, _("筛选条件无效(%(fields)s),未导出。请在台账页修改筛选条件后再导出。") % {"fields": refused.labels}
    )
    return redirect(reverse("measures:ledger") + "?" + request.GET.urlencode())


def ledger_csv_response(measures: QuerySet[Measure]) -> StreamingHttpResponse:
    """The ledger CSV download, the same for the page and the API (ledgerio.apis)."""
    response = StreamingHttpResponse(exports.ledger_csv(measures), content_type=CSV_TYPE)
    response["Content-Disposition"] = _attachment(f"整改台账-{exports.today_stamp()}.csv")
    return response


def _ledger_export(view: Callable[[HttpRequest], HttpResponse]) -> Callable[[HttpRequest], HttpResponse]:
    """A ledger download: export permission checked, and refused filters sent back to the ledger."""

    @login_required
    @wraps(view)
    def export(request: HttpRequest) -> HttpResponse:
        _require_export(request)
        try:
            return view(request)
        except UnreadableFilters as refused:
            return _back_to_the_ledger(request, refused)

    return export


@_ledger_export
def ledger_export_csv(request: HttpRequest) -> StreamingHttpResponse:
    return ledger_csv_response(ledger_for_export(request))


@_ledger_export
def ledger_export_xlsx(request: HttpRequest) -> FileResponse:
    rows = ledger_for_export(request)
    official = request.GET.get("layout") == "official"
    write = exports.ledger_xlsx_official if official else exports.ledger_xlsx
    handle = exports.xlsx_to_tempfile(write, rows)
    name = "整改台账(正式版式)" if official else "整改台账"
    response = FileResponse(handle, content_type=XLSX_TYPE)
    response["Content-Disposition"] = _attachment(f"{name}-{exports.today_stamp()}.xlsx")
    return response


@login_required
@require_GET
def history_export(request: HttpRequest) -> HttpResponse:
    """The form auditors fill in to download the change history (GET to the CSV below)."""
    _require_export(request)
    form = HistoryFilterForm(request.GET or None)
    return render(request, "ledgerio/history_export.html", {"nav": "ledger", "form": form})


@login_required
def history_export_csv(request: HttpRequest) -> HttpResponse:
    _require_export(request)
    form = HistoryFilterForm(request.GET or None)
    if request.GET and not form.is_valid():
        return HttpResponse(
            "\n".join(str(e) for errors in form.errors.values() for e in errors),
            status=400,
            content_type="text/plain; charset=utf-8",
        )
    data = form.cleaned_data if request.GET else {}
    since = until = None
    if data.get("date_from"):
        since = timezone.make_aware(datetime.combine(data["date_from"], time.min))
    if data.get("date_to"):
        until = timezone.make_aware(datetime.combine(data["date_to"], time.max))
    measures = visible_measures(request.user, Measure.objects.all())
    stream = exports.history_csv(
        user=request.user,
        measures=measures,
        inspection=data.get("inspection"),
        since=since,
        until=until,
    )
    response = StreamingHttpResponse(stream, content_type=CSV_TYPE)
    response["Content-Disposition"] = _attachment(f"整改变更记录-{exports.today_stamp()}.csv")
    return response


# --- Import ---------------------------------------------------------------------------------


def _require_import(request: HttpRequest) -> None:
    if not can_import(request.user):
        raise PermissionDenied


def _pending_for(request: HttpRequest, token: str) -> PendingImport:
    # A pending import is reachable only by the user who uploaded it.
    pending = PendingImport.objects.filter(token=token, user=request.user).first()
    if pending is None:
        raise Http404
    return pending


@login_required
def import_start(request: HttpRequest) -> HttpResponse:
    _require_import(request)
    form = ImportUploadForm(request.POST or None, request.FILES or None)
    if request.method == "POST" and form.is_valid():
        upload = form.cleaned_data["file"]
        pending = imports.pending_import_create(
            user=request.user,
            filename=upload.name,
            content=upload.read(),
            inspection_title=form.cleaned_data.get("inspection_title", ""),
        )
        return redirect("ledgerio:import_preview", pending.token)
    return render(
        request,
        "ledgerio/import_start.html",
        {"nav": "imports", "form": form, "max_rows": imports.MAX_ROWS, "max_mb": imports.MAX_BYTES // (1024 * 1024)},
        status=400 if request.method == "POST" else 200,
    )


@login_required
def import_preview(request: HttpRequest, token: str) -> HttpResponse:
    _require_import(request)
    pending = _pending_for(request, token)
    table = imports.read_table(pending.filename, bytes(pending.content))
    if request.method == "POST":
        mapping_form = ImportMappingForm(request.POST, headers=table.headers if table else [])
        if mapping_form.is_valid():
            imports.pending_import_set_mapping(
                pending=pending,
                mapping=mapping_form.mapping(),
                inspection_title=mapping_form.cleaned_data["inspection_title"],
            )
            return redirect("ledgerio:import_preview", pending.token)
    plan = imports.import_plan(pending=pending, table=table)
    imports.pending_import_remember_plan(pending=pending, plan=plan)
    mapping_form = ImportMappingForm(
        headers=table.headers if table else [],
        initial={**{f"map_{k}": v for k, v in plan.mapping.items()}, "inspection_title": pending.inspection_title},
    )
    return render(request, "ledgerio/import_preview.html", _preview_context(pending, plan, mapping_form))


def _preview_context(pending: PendingImport, plan: imports.ImportPlan, mapping_form: Any) -> dict[str, Any]:
    return {
        "nav": "imports",
        "pending": pending,
        "plan": plan,
        "mapping_form": mapping_form,
        "shown_rows": plan.changes[: imports.PREVIEW_ROWS],
    }


@login_required
@require_POST
def import_confirm(request: HttpRequest, token: str) -> HttpResponse:
    _require_import(request)
    pending = _pending_for(request, token)
    try:
        result = imports.import_apply(pending=pending, user=request.user)
    except imports.ImportRefused as refused:
        messages.error(request, refused.message)
        return redirect("ledgerio:import_preview", token)
    messages.success(
        request,
        _("导入完成:新增 %(created)d 条措施,更新 %(updated)d 条措施。")
        % {"created": result.measures_created, "updated": result.measures_updated},
    )
    target = reverse("measures:ledger")
    if len(result.inspection_ids) == 1:
        target += f"?inspection={result.inspection_ids[0]}"
    return redirect(target)


@login_required
@require_POST
def import_cancel(request: HttpRequest, token: str) -> HttpResponse:
    _require_import(request)
    _pending_for(request, token).delete()
    messages.info(request, _("已取消导入,未写入任何数据。"))
    return redirect("ledgerio:import_start")
