"""A draft ledger from a pasted feedback text, and saving it once the office has reviewed it.

The parser (drafts.parser) reads the text; this module turns its draft into the
rows the review form shows, and saves the reviewed rows as a real inspection with its
categories, findings and measures, all through the services and in one transaction: a
refused row leaves nothing behind. Nothing is stored between the paste and the confirmation:
the review form carries the whole draft, so an abandoned draft leaves no rows to clean up.
"""

from __future__ import annotations

from dataclasses import dataclass, field
from datetime import date

from django.core.exceptions import PermissionDenied
from django.db import transaction
from django.utils.translation import gettext as _

from accounts.models import Department, User
from drafts.parser import DraftLedger
from findings.models import Inspection
from findings.services import category_create, finding_create, inspection_create
from measures.models import Measure
from measures.permissions import Action, can
from measures.services import measure_create
from measures.signals import ledger_changed

# A feedback text is a few hundred kilobytes at most; a bigger upload is not one.
MAX_UPLOAD_BYTES = 2 * 1024 * 1024


class DraftTextError(ValueError):
    """An upload that is not a text we can read; the message is for the user."""


def decode_feedback_file(content: bytes) -> str:
    """The text of an uploaded .txt: UTF-8 (with or without BOM), else GBK / GB18030 as
    Windows Notepad in China saves it."""
    if len(content) > MAX_UPLOAD_BYTES:
        raise DraftTextError(_("文件过大(超过 %(mb)d MB),请只上传反馈意见的文本。") % {"mb": MAX_UPLOAD_BYTES // 2**20})
    if b"\x00" in content[:4096] and not content.startswith((b"\xff\xfe", b"\xfe\xff")):
        raise DraftTextError(_("上传的不是文本文件,请另存为 .txt(UTF-8 或 GBK 编码)后再上传,或直接粘贴文本。"))
    if content.startswith((b"\xff\xfe", b"\xfe\xff")):
        encodings: tuple[str, ...] = ("utf-16",)
    else:
        encodings = ("utf-8-sig", "gb18030")
    for encoding in encodings:
        try:
            return content.decode(encoding)
        except UnicodeDecodeError:
            continue
    raise DraftTextError(_("无法识别文件编码,请另存为 UTF-8 或 GBK 编码的文本文件后再上传。"))


# --- the rows the review form shows --------------------------------------------------------


@dataclass
class DraftRows:
    """The draft as the review form's rows: categories, findings pointing at a category row,
    measures pointing at a finding row (None: not placed yet, the user picks)."""

    categories: list[str] = field(default_factory=list)
    findings: list[tuple[int | None, str]] = field(default_factory=list)
    measures: list[tuple[int | None, str]] = field(default_factory=list)
    warnings: list[str] = field(default_factory=list)


def draft_rows(draft: DraftLedger, *, limits: dict[str, int]) -> DraftRows:
    """Flatten a parsed draft into form rows, within what one form submission can carry
    (`limits` per list: categories, findings, measures)."""
    rows = DraftRows(warnings=list(draft.warnings))
    rows.categories = [category.title for category in draft.categories[: limits["categories"]]]
    placed = [
        (index if index < limits["categories"] else None, finding)
        for index, category in enumerate(draft.categories)
        for finding in category.findings
    ]
    placed += [(None, finding) for finding in draft.uncategorized_findings]
    placed.sort(key=lambda pair: pair[1].number)
    total_measures = sum(len(finding.measures) for _i, finding in placed) + len(draft.unassigned_measures)
    for category_index, finding in placed[: limits["findings"]]:
        finding_index = len(rows.findings)
        rows.findings.append((category_index, finding.description))
        rows.measures.extend((finding_index, measure.text) for measure in finding.measures)
    rows.measures.extend((None, measure.text) for measure in draft.unassigned_measures)
    rows.measures = rows.measures[: limits["measures"]]
    if (
        len(draft.categories) > len(rows.categories)
        or len(placed) > len(rows.findings)
        or total_measures > len(rows.measures)
    ):
        rows.warnings.append(
            _(
                "草稿过大,一次只能核对 %(categories)d 个类别、%(findings)d 个问题、%(measures)d 条措施"
                "(原文识别出 %(all_categories)d 个类别、%(all_findings)d 个问题、%(all_measures)d 条措施)。"
                "请保存后在检查页面补充其余内容,或分批粘贴原文。"
            )
            % {
                "categories": len(rows.categories),
                "findings": len(rows.findings),
                "measures": len(rows.measures),
                "all_categories": len(draft.categories),
                "all_findings": len(placed),
                "all_measures": total_measures,
            }
        )
    return rows


# --- saving the reviewed draft -------------------------------------------------------------


@dataclass
class PlannedMeasure:
    text: str
    lead_department: Department
    deadline: date


@dataclass
class PlannedFinding:
    description: str
    measures: list[PlannedMeasure] = field(default_factory=list)


@dataclass
class PlannedCategory:
    title: str
    findings: list[PlannedFinding] = field(default_factory=list)


@transaction.atomic
def draft_ledger_save(
    *, user: User, inspection_fields: dict[str, object], categories: list[PlannedCategory]
) -> Inspection:
    """Create the inspection, its categories, findings (numbered 1…N across the inspection in
    category order) and measures (numbered 1…k within their finding); all or nothing.

    One service call per row: a draft is a few hundred rows, confirmed once, and going through
    the services keeps every rule they check (deadlines after the feedback date, numbering
    constraints) in one place.
    """
    if not can(user, Action.EDIT_LEDGER):
        raise PermissionDenied(_("您没有权限执行此操作。"))
    kind = str(inspection_fields.pop("kind"))
    title = str(inspection_fields.pop("title"))
    inspection = inspection_create(kind=kind, title=title, **inspection_fields)
    measure_ids: list[int] = []
    finding_number = 0
    for order, planned_category in enumerate(categories, start=1):
        category = category_create(inspection=inspection, title=planned_category.title, order=order)
        for planned_finding in planned_category.findings:
            finding_number += 1
            finding = finding_create(
                category=category, description=planned_finding.description, number=finding_number, created_by=user
            )
            for number, planned in enumerate(planned_finding.measures, start=1):
                measure = measure_create(
                    finding=finding,
                    text=planned.text,
                    lead_department=planned.lead_department,
                    deadline=planned.deadline,
                    number=number,
                )
                measure_ids.append(measure.pk)
    if measure_ids:
        transaction.on_commit(lambda: ledger_changed.send(sender=Measure, measure_ids=measure_ids))
    return inspection
