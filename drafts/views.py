"""Draft ledger from a pasted feedback text: paste (or upload), review and correct, confirm.

The office only (measures.permissions, Action.EDIT_LEDGER). Nothing is written before the
confirmation; the review form carries the whole draft, and a refused confirmation shows it
again as typed.
"""

from __future__ import annotations

from django import forms
from django.contrib import messages
from django.contrib.auth.decorators import login_required
from django.core.exceptions import PermissionDenied, ValidationError
from django.http import HttpRequest, HttpResponse
from django.shortcuts import redirect, render
from django.utils.translation import gettext as _
from django.utils.translation import gettext_lazy
from django.views.decorators.http import require_POST

from accounts.models import Department
from drafts.forms import EXTRA_ROWS, PREFIXES, DraftForms, review_limits
from drafts.parser import parse_feedback
from drafts.services import DraftTextError, decode_feedback_file, draft_ledger_save, draft_rows
from findings.kinds import guess_inspection_kind
from measures.permissions import Action, can

TITLE_MAX_LENGTH = 200


class DraftSourceForm(forms.Form):
    text = forms.CharField(
        label=gettext_lazy("反馈意见或报告原文"),
        required=False,
        strip=False,
        widget=forms.Textarea(
            attrs={"rows": 18, "placeholder": gettext_lazy("将反馈意见、评估报告或整改方案全文粘贴到这里")}
        ),
    )
    file = forms.FileField(
        label=gettext_lazy("或上传文本文件"),
        required=False,
        help_text=gettext_lazy(".txt 文件,UTF-8 或 GBK 编码,不超过 2 MB"),
    )

    def clean(self) -> dict:
        data = super().clean()
        upload = data.get("file")
        if upload is not None:
            try:
                data["source"] = decode_feedback_file(upload.read(MAX_READ))
            except DraftTextError as exc:
                self.add_error("file", str(exc))
        elif (data.get("text") or "").strip():
            data["source"] = data["text"]
        else:
            raise forms.ValidationError(_("请粘贴反馈意见文本,或上传 .txt 文件。"))
        return data


# One byte past the limit is enough to know the file is too big.
MAX_READ = 2 * 1024 * 1024 + 1


def _require_office(request: HttpRequest) -> None:
    if not can(request.user, Action.EDIT_LEDGER):
        raise PermissionDenied


def _departments() -> list[Department]:
    return list(Department.objects.order_by("name"))


def _review(
    request: HttpRequest, draft_forms: DraftForms, *, warnings=(), show_errors: bool, status: int
) -> HttpResponse:  # type: ignore[no-untyped-def]
    return render(
        request,
        "drafts/review.html",
        {"nav": "inspections", "forms": draft_forms, "warnings": list(warnings), "show_errors": show_errors},
        status=status,
    )


@login_required
def draft_start(request: HttpRequest) -> HttpResponse:
    _require_office(request)
    form = DraftSourceForm(request.POST or None, request.FILES or None)
    if request.method == "POST" and form.is_valid():
        text = form.cleaned_data["source"]
        draft = parse_feedback(text)
        rows = draft_rows(draft, limits=review_limits())
        draft_forms = DraftForms(
            departments=_departments(),
            initial_inspection={
                "kind": guess_inspection_kind(draft.title, text),
                "title": draft.title[:TITLE_MAX_LENGTH],
            },
            categories=rows.categories,
            findings=rows.findings,
            measures=rows.measures,
        )
        return _review(request, draft_forms, warnings=rows.warnings, show_errors=False, status=200)
    return render(
        request,
        "drafts/start.html",
        {"nav": "inspections", "form": form},
        status=400 if request.method == "POST" else 200,
    )


def _with_more_rows(data) -> tuple[object, bool]:  # type: ignore[no-untyped-def]
    """The posted draft with blank rows added under each list, unless that would pass what one
    submission may carry."""
    limits = review_limits()
    data = data.copy()
    totals = {}
    for key, prefix in PREFIXES.items():
        try:
            totals[key] = max(0, int(data.get(f"{prefix}-TOTAL_FORMS", 0)))
        except ValueError:
            totals[key] = 0
    # review_limits() leaves room for one set of blank rows past the limits, so rows are added
    # while a list is within its limit.
    if any(totals[key] > limits[key] for key in PREFIXES):
        return data, False
    for key, prefix in PREFIXES.items():
        data[f"{prefix}-TOTAL_FORMS"] = str(totals[key] + EXTRA_ROWS[key])
    return data, True


@login_required
@require_POST
def draft_confirm(request: HttpRequest) -> HttpResponse:
    _require_office(request)
    departments = _departments()
    if request.POST.get("action") == "more":
        data, added = _with_more_rows(request.POST)
        draft_forms = DraftForms(data, departments=departments)
        warnings = [] if added else [_("草稿已达单次提交的行数上限,请先保存,再在检查页面补充。")]
        return _review(request, draft_forms, warnings=warnings, show_errors=False, status=200)
    draft_forms = DraftForms(request.POST, departments=departments)
    reviewed = draft_forms.reviewed_draft()
    if reviewed is not None:
        inspection_fields, categories = reviewed
        try:
            inspection = draft_ledger_save(
                user=request.user,  # type: ignore[arg-type]
                inspection_fields=inspection_fields,
                categories=categories,
            )
        except ValidationError as exc:
            # The forms check what the services check; this is the rare rule they do not know.
            draft_forms.errors.extend(exc.messages)
            draft_forms.errors.append(_("未保存任何内容。"))
        else:
            messages.success(request, _("已根据草稿创建检查及其问题类别、问题和整改措施。"))
            return redirect("findings:inspection_detail", inspection.pk)
    return _review(request, draft_forms, show_errors=True, status=400)
