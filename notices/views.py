"""An inspection's notice (整改落实情况通报): read it, download it, and (the office) reword it.

Who may do which is decided in measures.permissions; the words and figures come from
notices.builder, the Word layout from notices.document.
"""

from __future__ import annotations

import re

from django import forms
from django.contrib.auth.decorators import login_required
from django.core.exceptions import PermissionDenied
from django.http import Http404, HttpRequest, HttpResponse
from django.shortcuts import render
from django.utils.http import content_disposition_header
from django.utils.translation import gettext as _
from django.utils.translation import gettext_lazy

from findings.models import Inspection
from measures.permissions import can_edit_notice, can_read_notice
from notices.builder import Notice, build_notice, figure_errors, notice_blocks
from notices.document import notice_docx

DOCX_TYPE = "application/vnd.openxmlformats-officedocument.wordprocessingml.document"
# A notice runs to a few pages; the cap only keeps a pasted book out of python-docx.
MAX_NOTICE_LENGTH = 200_000


class NoticeEditForm(forms.Form):
    text = forms.CharField(
        label=gettext_lazy("通报正文"),
        max_length=MAX_NOTICE_LENGTH,
        strip=False,
        widget=forms.Textarea(attrs={"rows": 28, "spellcheck": "false"}),
    )
    format = forms.ChoiceField(
        choices=[("docx", gettext_lazy("Word 文档")), ("txt", gettext_lazy("纯文本"))], initial="docx"
    )


def _inspection(request: HttpRequest, inspection_id: int) -> Inspection:
    if not can_read_notice(request.user):
        raise PermissionDenied
    try:
        return Inspection.objects.get(pk=inspection_id)
    except Inspection.DoesNotExist:
        raise Http404


_UNSAFE_IN_FILENAME = re.compile(r'[\\/:*?"<>|\x00-\x1f“”]+')


def _filename(notice_title: str, extension: str) -> str:
    name = _UNSAFE_IN_FILENAME.sub("", notice_title).strip()[:80] or "整改落实情况通报"
    return f"{name}.{extension}"


def _download(text: str, *, title: str, file_format: str) -> HttpResponse:
    if file_format == "txt":
        # A BOM and CRLF so that Notepad on the older Windows machines bureaus run opens the
        # file as UTF-8 rather than guessing GBK.
        body = ("\r\n".join(text.splitlines()) + "\r\n").encode("utf-8-sig")
        response = HttpResponse(body, content_type="text/plain; charset=utf-8")
    else:
        response = HttpResponse(notice_docx(text), content_type=DOCX_TYPE)
    response["Content-Disposition"] = content_disposition_header(True, _filename(title, file_format))
    return response


def _render(
    request: HttpRequest, notice: Notice, form: NoticeEditForm | None, *, errors=(), status=200
) -> HttpResponse:  # type: ignore[no-untyped-def]
    return render(
        request,
        "notices/notice.html",
        {
            "nav": "inspections",
            "inspection": notice.inspection,
            "notice": notice,
            "blocks": notice_blocks(notice.as_text()),
            "form": form,
            "figure_errors": list(errors),
        },
        status=status,
    )


@login_required
def notice(request: HttpRequest, inspection_id: int) -> HttpResponse:
    """The generated notice; for the office, an editor whose text is downloaded on POST once
    its figures are checked against the ledger."""
    inspection = _inspection(request, inspection_id)
    editable = can_edit_notice(request.user)
    if request.method == "POST":
        if not editable:
            raise PermissionDenied
        form = NoticeEditForm(request.POST)
        if form.is_valid():
            text = form.cleaned_data["text"]
            errors = figure_errors(text, inspection)
            if not errors:
                blocks = notice_blocks(text)
                title = blocks[0].text if blocks else ""
                return _download(text, title=title, file_format=form.cleaned_data["format"])
            form.add_error("text", _("通报中的数字必须与台账一致,未生成下载文件。"))
        else:
            errors = []
        # The office's wording is kept in the form; the page around it shows the ledger now.
        return _render(request, build_notice(inspection), form, errors=errors, status=400)
    built = build_notice(inspection)
    form = NoticeEditForm(initial={"text": built.as_text()}) if editable else None
    return _render(request, built, form)


def _generated_download(request: HttpRequest, inspection_id: int, file_format: str) -> HttpResponse:
    built = build_notice(_inspection(request, inspection_id))
    return _download(built.as_text(), title=built.title, file_format=file_format)


@login_required
def notice_docx_download(request: HttpRequest, inspection_id: int) -> HttpResponse:
    return _generated_download(request, inspection_id, "docx")


@login_required
def notice_txt_download(request: HttpRequest, inspection_id: int) -> HttpResponse:
    return _generated_download(request, inspection_id, "txt")
