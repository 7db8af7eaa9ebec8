"""Ledger import: read a CSV or XLSX, map its columns, plan what it changes, then write it
all or nothing.

The plan is computed from the stored upload and the current database every time it is
shown and again, under row locks, when the user confirms; the confirmation goes through
only when that second plan is the one the user saw (same digest). Reads are set-based:
one query per kind of object, whatever the number of rows; writes are bulk and recorded in
simple_history with the importing user.
"""

from __future__ import annotations

import csv
import hashlib
import io
import itertools
import re
import secrets
from collections.abc import Iterable
from dataclasses import dataclass, field
from datetime import date, datetime, timedelta
from typing import Any

from django.db import transaction
from django.utils import timezone
from django.utils.translation import gettext as _
from django.utils.translation import gettext_lazy

from accounts.models import Department, User
from accounts.roles import leaders
from findings.kinds import guess_inspection_kind
from findings.models import Category, Finding, Inspection
from findings.rules import early_deadline_message
from ledgerio.exports import unguard_formula
from measures.history import ADDED, CHANGED, HistoryNames, record_history, shown_change
from measures.models import (
    COMPLETED_STATUSES,
    ImportColumnMapping,
    Measure,
    MeasureKind,
    MeasureStatus,
    PendingImport,
    ProgressReport,
)
from measures.rules import assisting_without_lead
from measures.signals import ledger_changed

MAX_ROWS = 10_000
MAX_BYTES = 10 * 1024 * 1024
MAX_COLUMNS = 100
PREVIEW_ROWS = 200
PENDING_KEPT_FOR = timedelta(days=1)
DEFAULT_CATEGORY = gettext_lazy("未分类")

# What a column can be imported into, with the header the export writes first; the other
# names are what inspection teams' own lists (问题清单) tend to call the same thing.
TARGETS: dict[str, tuple[Any, tuple[str, ...]]] = {
    "inspection": (gettext_lazy("检查名称"), ("检查名称", "检查", "巡察名称", "检查事项", "问题来源")),
    "category": (gettext_lazy("问题类别"), ("问题类别", "类别", "方面", "问题类型", "问题分类")),
    "finding_number": (gettext_lazy("问题编号"), ("问题编号", "问题序号")),
    "finding": (gettext_lazy("问题描述"), ("问题描述", "问题", "存在问题", "问题内容", "反馈问题", "具体问题")),
    "measure_number": (gettext_lazy("措施编号"), ("措施编号", "措施序号")),
    "text": (gettext_lazy("整改措施"), ("整改措施", "措施", "整改举措", "具体措施")),
    "target": (gettext_lazy("整改目标"), ("整改目标", "目标", "预期目标")),
    "leader": (gettext_lazy("责任领导"), ("责任领导", "分管领导", "牵头领导")),
    "department": (
        gettext_lazy("责任单位"),
        ("责任单位", "责任部门", "牵头单位", "责任处室", "责任科室", "牵头部门"),
    ),
    "owner": (gettext_lazy("责任人"), ("责任人", "具体责任人", "经办人")),
    "deadline": (gettext_lazy("整改时限"), ("整改时限", "完成时限", "时限", "整改期限", "完成期限")),
    "status": (gettext_lazy("状态"), ("状态", "整改状态", "完成情况", "整改情况")),
    "completed_at": (gettext_lazy("完成时间"), ("完成时间", "完成日期")),
    "progress": (gettext_lazy("最新进展"), ("最新进展", "整改进展", "进展情况")),
    "signed_off": (gettext_lazy("销号时间 / 销号人"), ("销号时间 / 销号人", "销号时间/销号人", "销号情况")),
}
REQUIRED_TARGETS = ("finding", "text", "department", "deadline")

STATUS_SYNONYMS = {
    "已整改": MeasureStatus.COMPLETED,
    "整改完成": MeasureStatus.COMPLETED,
    "完成": MeasureStatus.COMPLETED,
    "已办结": MeasureStatus.COMPLETED,
    "正在整改": MeasureStatus.IN_PROGRESS,
    "推进中": MeasureStatus.IN_PROGRESS,
    "持续整改": MeasureStatus.IN_PROGRESS,
    "未完成": MeasureStatus.IN_PROGRESS,
    "尚未开始": MeasureStatus.NOT_STARTED,
}
LONG_TERM_WORDS = ("长期坚持", "长期")


class ImportRefused(Exception):
    def __init__(self, message: str) -> None:
        super().__init__(message)
        self.message = message


# --- Reading the file -------------------------------------------------------------------------


@dataclass
class Table:
    headers: list[str] = field(default_factory=list)
    # (spreadsheet row number, cells) for each non-empty data row.
    rows: list[tuple[int, list[Any]]] = field(default_factory=list)
    error: str = ""
    too_many_rows: int = 0
    encoding: str = ""


def decode_csv(content: bytes) -> tuple[str, str]:
    """The text and the encoding it was in: UTF-8 with or without BOM, else GB18030 (a
    superset of GBK, what Excel in China saves). Raises UnicodeDecodeError for neither."""
    if content.startswith(b"\xef\xbb\xbf"):
        return content[3:].decode("utf-8"), "UTF-8 (BOM)"
    if content.startswith((b"\xff\xfe", b"\xfe\xff")):
        return content.decode("utf-16"), "UTF-16"
    try:
        return content.decode("utf-8"), "UTF-8"
    except UnicodeDecodeError:
        return content.decode("gb18030"), "GB18030"


def _cell(value: Any) -> Any:
    if value is None:
        return ""
    if isinstance(value, float) and value.is_integer():
        return str(int(value))
    if isinstance(value, (datetime, date)):
        return value
    return unguard_formula(str(value).strip())


def _raw_rows(filename: str, content: bytes, table: Table) -> Iterable[list[Any]]:
    if filename.lower().endswith((".xlsx", ".xlsm")):
        from openpyxl import load_workbook

        workbook = load_workbook(io.BytesIO(content), read_only=True, data_only=True)
        sheet = workbook.worksheets[0]
        for row in sheet.iter_rows(values_only=True, max_col=MAX_COLUMNS):
            yield [_cell(v) for v in row]
        workbook.close()
        return
    text, table.encoding = decode_csv(content)
    for row in csv.reader(io.StringIO(text, newline="")):
        yield [_cell(v) for v in row[:MAX_COLUMNS]]


def _known_header_count(row: list[Any]) -> int:
    names = {name for _label, synonyms in TARGETS.values() for name in synonyms}
    return sum(1 for v in row if isinstance(v, str) and v in names)


def read_table(filename: str, content: bytes) -> Table:
    """The header row and the data rows. The header is the first row (of the first ten)
    with at least two known column names, so a title row above it is skipped; failing
    that, the first non-empty row, whose columns the user then maps."""
    table = Table()
    if len(content) > MAX_BYTES:
        table.error = _("文件大小超过 %(mb)d MB 上限。") % {"mb": MAX_BYTES // (1024 * 1024)}
        return table
    try:
        rows = enumerate(_raw_rows(filename, content, table), start=1)
        head: list[tuple[int, list[Any]]] = []
        for number, row in rows:
            head.append((number, row))
            if len(head) >= 10:
                break
        candidates = [i for i, (_n, row) in enumerate(head) if _known_header_count(row) >= 2]
        if not candidates:
            candidates = [i for i, (_n, row) in enumerate(head) if any(v != "" for v in row)]
        if not candidates:
            table.error = _("文件中没有数据。")
            return table
        at = candidates[0]
        table.headers = [str(v) if v != "" else "" for v in head[at][1]]
        for number, row in itertools.chain(head[at + 1 :], rows):
            if not any(v != "" for v in row):
                continue
            if len(table.rows) >= MAX_ROWS:
                table.too_many_rows += 1
                continue
            table.rows.append((number, row))
    except UnicodeDecodeError:
        table.error = _("无法识别文件编码,请另存为 UTF-8 或 GBK 编码的 CSV,或 Excel(.xlsx)文件。")
    except Exception as exc:  # noqa: BLE001 (a corrupt workbook raises anything from zipfile or lxml)
        table.error = _("无法读取文件,请确认是 CSV 或 Excel(.xlsx)文件(%(error)s)。") % {"error": type(exc).__name__}
    return table


# --- Reading cells --------------------------------------------------------------------------

_DATE_PATTERNS = [
    re.compile(r"^(\d{4})[-/.](\d{1,2})[-/.](\d{1,2})$"),
    re.compile(r"^(\d{4})年(\d{1,2})月(\d{1,2})日?$"),
    re.compile(r"^(\d{4})(\d{2})(\d{2})$"),
]
# "2022年6月底" / "2022年6月" / "2022-06": due at the end of that month, as bureaus write it.
_MONTH_PATTERNS = [
    re.compile(r"^(\d{4})年(\d{1,2})月(?:底|末)?$"),
    re.compile(r"^(\d{4})[-/.](\d{1,2})$"),
]
_NUMBER_DECORATION = re.compile(r"^[\s((【\[第]*(?:问题|措施)?[\s((【\[第]*|[\s))】\]、.．。,,::条项个]*$")


def parse_date(value: Any) -> date | None:
    """A date from a cell, or None when it cannot be read. Raises nothing."""
    if isinstance(value, datetime):
        return value.date()
    if isinstance(value, date):
        return value
    text = str(value).strip().split(" ")[0] if isinstance(value, str) and " " in value.strip() else str(value).strip()
    for pattern in _DATE_PATTERNS:
        match = pattern.match(text)
        if match:
            try:
                return date(int(match[1]), int(match[2]), int(match[3]))
            except ValueError:
                return None
    for pattern in _MONTH_PATTERNS:
        match = pattern.match(text)
        if match:
            year, month = int(match[1]), int(match[2])
            if not 1 <= month <= 12:
                return None
            first_of_next = date(year + month // 12, month % 12 + 1, 1)
            return first_of_next - timedelta(days=1)
    return None


def parse_number(value: Any) -> int | None:
    """A finding or measure number: 3, "3", "3.", "(三)", "第3条", "问题三" …; None if not one."""
    if isinstance(value, int):
        return value if value >= 1 else None
    text = _NUMBER_DECORATION.sub("", str(value).strip())
    if not text:
        return None
    if text.isdigit():
        number = int(text)
        return number if number >= 1 else None
    try:
        from rectify.common.chinese_numerals import from_chinese_numeral

        number = from_chinese_numeral(text)
    except (ImportError, ValueError):
        return None
    return number if number >= 1 else None


def parse_status(value: str) -> str | None:
    text = value.strip()
    for code, label in MeasureStatus.choices:
        if text in (code, str(label)):
            return code
    return STATUS_SYNONYMS.get(text)


def _as_text(value: Any) -> str:
    if isinstance(value, datetime | date):
        return value.isoformat()[:10]
    return str(value).strip()


# --- The plan ---------------------------------------------------------------------------------


@dataclass
class Problem:
    row: int  # the spreadsheet's row number; 0 for the file as a whole
    column: str
    message: str


@dataclass
class RowChange:
    row: int
    action: str  # "create" or "update"
    inspection: str
    finding_number: int
    measure_number: int
    text: str
    changes: list[tuple[str, str, str]] = field(default_factory=list)  # (column, old, new)


@dataclass
class _Row:
    """One data row, its cells read into typed values."""

    number: int
    inspection: str = ""
    category: str | None = None
    finding_number: int | None = None
    finding: str = ""
    measure_number: int | None = None
    values: dict[str, Any] = field(default_factory=dict)  # measure field → value
    assisting: list[int] = field(default_factory=list)
    progress: tuple[date | None, str] | None = None
    long_term: bool = False


@dataclass
class ImportPlan:
    mapping: dict[str, str] = field(default_factory=dict)
    headers: list[str] = field(default_factory=list)
    encoding: str = ""
    rows_total: int = 0
    problems: list[Problem] = field(default_factory=list)
    notices: list[str] = field(default_factory=list)
    changes: list[RowChange] = field(default_factory=list)
    counts: dict[str, int] = field(default_factory=dict)
    digest: str = ""
    # What import_apply writes, filled only when there are no problems.
    new_inspections: list[Inspection] = field(default_factory=list)
    new_categories: list[tuple[Category, Inspection]] = field(default_factory=list)
    new_findings: list[tuple[Finding, Inspection, Category]] = field(default_factory=list)
    updated_findings: list[Finding] = field(default_factory=list)
    new_measures: list[tuple[Measure, Finding, list[int], tuple[date | None, str] | None]] = field(default_factory=list)
    updated_measures: list[tuple[Measure, list[str], list[int], tuple[date | None, str] | None]] = field(
        default_factory=list
    )
    progress_only: list[tuple[Measure, tuple[date | None, str]]] = field(default_factory=list)

    @property
    def can_confirm(self) -> bool:
        writes = ("measures_created", "measures_updated", "progress_created", "findings_updated")
        return not self.problems and any(self.counts.get(key) for key in writes)

    @property
    def target_labels(self) -> dict[str, str]:
        return {key: str(label) for key, (label, _names) in TARGETS.items()}


def target_label(target: str) -> str:
    return str(TARGETS[target][0])


def resolve_mapping(headers: list[str], explicit: dict[str, str], saved: dict[str, str]) -> dict[str, str]:
    """target → header. A mapping chosen for this file wins ("" there means "do not import");
    then the user's remembered mapping; then the names the export and common lists use."""
    present = set(headers)
    mapping: dict[str, str] = {}
    for target, (_label, names) in TARGETS.items():
        if target in explicit:
            if explicit[target] in present:
                mapping[target] = explicit[target]
            continue
        if saved.get(target) in present:
            mapping[target] = saved[target]
            continue
        for name in names:
            if name in present:
                mapping[target] = name
                break
    return mapping


def _person_index(users: Iterable[tuple[int, str, str]]) -> dict[str, list[int]]:
    """Display name (full name, else user name) and user name → user ids."""
    index: dict[str, list[int]] = {}
    for pk, full_name, username in users:
        for name in {full_name or username, username}:
            if name:
                index.setdefault(name, []).append(pk)
    return index


def _local_midnight(day: date) -> datetime:
    return timezone.make_aware(datetime.combine(day, datetime.min.time()))


def _local_day(value: datetime | None) -> date | None:
    return timezone.localtime(value).date() if value else None


def import_plan(*, pending: PendingImport, table: Table | None = None, lock: bool = False) -> ImportPlan:
    """What importing the pending file would create and update, and every problem in it.

    A fixed number of queries: departments, people, inspections, categories, findings,
    measures (locked with lock=True), their assisting departments and latest progress.
    """
    if table is None:
        table = read_table(pending.filename, bytes(pending.content))
    plan = ImportPlan(headers=table.headers, encoding=table.encoding)
    plan.rows_total = len(table.rows) + table.too_many_rows
    if table.error:
        plan.problems.append(Problem(0, "", table.error))
        return _finish(plan)
    if table.too_many_rows:
        plan.problems.append(
            Problem(
                0,
                "",
                _("文件共有 %(n)d 行数据,超过单次导入上限 %(max)d 行,请分批导入。")
                % {"n": plan.rows_total, "max": MAX_ROWS},
            )
        )
        return _finish(plan)
    saved = ImportColumnMapping.objects.filter(user_id=pending.user_id).values_list("mapping", flat=True).first() or {}
    plan.mapping = resolve_mapping(table.headers, pending.mapping or {}, saved)
    for target in REQUIRED_TARGETS:
        if target not in plan.mapping:
            plan.problems.append(
                Problem(
                    0,
                    target_label(target),
                    _("文件中没有对应“%(col)s”的列,请在列对应中选择。") % {"col": target_label(target)},
                )
            )
    if "inspection" not in plan.mapping and not pending.inspection_title.strip():
        plan.problems.append(
            Problem(0, target_label("inspection"), _("文件中没有“检查名称”列,请在列对应中填写本次导入所属的检查名称。"))
        )
    if plan.problems:
        return _finish(plan)
    if "category" not in plan.mapping:
        plan.notices.append(_("文件中没有“问题类别”列:新问题将归入类别“%(name)s”。") % {"name": str(DEFAULT_CATEGORY)})
    rows = _read_rows(plan, table, pending.inspection_title.strip())
    _match(plan, rows, lock=lock, user_id=pending.user_id)
    return _finish(plan)


def _read_rows(plan: ImportPlan, table: Table, fixed_inspection: str) -> list[_Row]:
    index = {}
    for i, header in enumerate(table.headers):
        index.setdefault(header, i)
    columns = {target: index[header] for target, header in plan.mapping.items()}
    departments = dict(Department.objects.values_list("name", "id"))
    leader_index = _person_index(leaders().values_list("id", "full_name", "username"))
    people = _person_index(User.objects.values_list("id", "full_name", "username"))
    problems = plan.problems
    rows: list[_Row] = []

    def cell(raw: list[Any], target: str) -> Any:
        i = columns.get(target)
        if i is None or i >= len(raw):
            return "" if i is not None else None
        return raw[i]

    for number, raw in table.rows:
        row = _Row(number=number)

        def problem(target: str, message: str, row_number: int = number) -> None:
            problems.append(Problem(row_number, target_label(target), message))

        inspection = cell(raw, "inspection")
        row.inspection = _as_text(inspection) if inspection is not None else fixed_inspection
        if inspection is not None and not row.inspection:
            row.inspection = fixed_inspection
        if not row.inspection:
            problem("inspection", _("检查名称不能为空。"))
        elif len(row.inspection) > 200:
            problem("inspection", _("检查名称不能超过 200 个字。"))
        category = cell(raw, "category")
        if category is not None:
            row.category = _as_text(category) or None
            if row.category and len(row.category) > 300:
                problem("category", _("问题类别不能超过 300 个字。"))
        row.finding = _as_text(cell(raw, "finding"))
        if not row.finding:
            problem("finding", _("问题描述不能为空。"))
        for target in ("finding_number", "measure_number"):
            value = cell(raw, target)
            if value is None:
                continue
            parsed = parse_number(value)
            if parsed is None:
                problem(target, _("“%(value)s”不是有效的编号(应为正整数)。") % {"value": _as_text(value)})
            setattr(row, target, parsed)
        for target in ("text", "target", "owner"):
            value = cell(raw, target)
            if value is not None:
                row.values[target] = _as_text(value)
        if not row.values.get("text"):
            problem("text", _("整改措施不能为空。"))
        if len(row.values.get("owner", "")) > 100:
            problem("owner", _("责任人不能超过 100 个字。"))
        department = _as_text(cell(raw, "department"))
        names = [n.strip() for n in re.split(r"[、,,;;\n]", department) if n.strip()]
        if not names:
            problem("department", _("责任单位不能为空。"))
        for position, name in enumerate(names):
            if name not in departments:
                problem("department", _("未知的责任单位“%(name)s”,请先在系统中添加该单位或更正名称。") % {"name": name})
            elif position == 0:
                row.values["lead_department_id"] = departments[name]
            elif departments[name] not in row.assisting:
                row.assisting.append(departments[name])
        leader = cell(raw, "leader")
        if leader is not None:
            name = _as_text(leader)
            found = leader_index.get(name, []) if name else [None]
            if not found:
                problem("leader", _("未知的责任领导“%(name)s”(须为系统中的领导用户)。") % {"name": name})
            elif len(set(found)) > 1:
                problem("leader", _("责任领导“%(name)s”对应多个用户,请在系统中区分姓名。") % {"name": name})
            else:
                row.values["responsible_leader_id"] = found[0]
        deadline = cell(raw, "deadline")
        deadline_text = _as_text(deadline)
        if deadline_text in LONG_TERM_WORDS:
            row.long_term = True
        elif not deadline_text:
            problem("deadline", _("整改时限不能为空。"))
        else:
            parsed_date = parse_date(deadline)
            if parsed_date is None:
                problem("deadline", _("无法识别的日期“%(value)s”,请使用 YYYY-MM-DD 格式。") % {"value": deadline_text})
            else:
                row.values["deadline"] = parsed_date
        status = cell(raw, "status")
        if status is not None and _as_text(status):
            code = parse_status(_as_text(status))
            if code is None:
                problem(
                    "status",
                    _("未知的状态“%(value)s”,可填:%(choices)s。")
                    % {
                        "value": _as_text(status),
                        "choices": "、".join(str(label) for _v, label in MeasureStatus.choices),
                    },
                )
            else:
                row.values["status"] = code
        completed = cell(raw, "completed_at")
        if completed is not None:
            if _as_text(completed):
                day = parse_date(completed)
                if day is None:
                    problem(
                        "completed_at",
                        _("无法识别的日期“%(value)s”,请使用 YYYY-MM-DD 格式。") % {"value": _as_text(completed)},
                    )
                row.values["completed_day"] = day
            else:
                row.values["completed_day"] = None
        signed = cell(raw, "signed_off")
        if signed is not None:
            text = _as_text(signed)
            if not text:
                row.values["signed_off"] = None
            else:
                day_text, _sep, who = text.partition("/")
                day = parse_date(day_text.strip())
                person = people.get(who.strip(), [])
                if day is None or not who.strip():
                    problem("signed_off", _("应填写为“YYYY-MM-DD / 销号人”,而不是“%(value)s”。") % {"value": text})
                elif not person:
                    problem("signed_off", _("未知的销号人“%(name)s”。") % {"name": who.strip()})
                elif len(set(person)) > 1:
                    problem("signed_off", _("销号人“%(name)s”对应多个用户。") % {"name": who.strip()})
                else:
                    row.values["signed_off"] = (day, person[0])
        progress = cell(raw, "progress")
        if progress is not None and _as_text(progress):
            text = _as_text(progress)
            head, _sep, rest = text.partition(" ")
            day = parse_date(head) if rest.strip() else None
            row.progress = (day, rest.strip()) if day else (None, text)
        rows.append(row)
    return rows


def _match(plan: ImportPlan, rows: list[_Row], *, lock: bool, user_id: int) -> None:
    """Match rows to existing inspections, findings and measures and work out each change."""
    problems = plan.problems
    titles = {row.inspection for row in rows if row.inspection}
    inspections: dict[str, list[Inspection]] = {}
    for inspection in Inspection.objects.filter(title__in=titles).order_by("id"):
        inspections.setdefault(inspection.title, []).append(inspection)
    for title, found in inspections.items():
        if len(found) > 1:
            first = next(r.number for r in rows if r.inspection == title)
            problems.append(
                Problem(
                    first,
                    target_label("inspection"),
                    _("检查名称“%(title)s”对应多个检查,无法确定导入到哪一个。") % {"title": title},
                )
            )
    inspection_ids = [found[0].pk for found in inspections.values()]
    categories: dict[tuple[int, str], Category] = {}
    max_order: dict[int, int] = {}
    for category in Category.objects.filter(inspection_id__in=inspection_ids):
        categories.setdefault((category.inspection_id, category.title), category)
        max_order[category.inspection_id] = max(max_order.get(category.inspection_id, 0), category.order)
    category_titles = {c.pk: c.title for c in categories.values()}
    findings: dict[tuple[int, int], Finding] = {}
    findings_by_text: dict[tuple[int, str], Finding] = {}
    max_finding: dict[int, int] = {}
    for finding in Finding.objects.filter(inspection_id__in=inspection_ids):
        findings[(finding.inspection_id, finding.number)] = finding
        findings_by_text.setdefault((finding.inspection_id, finding.description), finding)
        max_finding[finding.inspection_id] = max(max_finding.get(finding.inspection_id, 0), finding.number)

    # Numbers the file leaves out: a finding is known by its description, a measure by its
    # position under its finding.
    numbered = "finding_number" in plan.mapping
    next_finding: dict[str, int] = {}
    finding_for_text: dict[tuple[str, str], int] = {}
    position: dict[tuple[str, int], int] = {}
    for row in rows:
        inspection = inspections.get(row.inspection, [None])[0]
        if not numbered and row.finding:
            key = (row.inspection, row.finding)
            if key not in finding_for_text:
                existing = findings_by_text.get((inspection.pk, row.finding)) if inspection else None
                if existing is not None:
                    finding_for_text[key] = existing.number
                else:
                    start = max_finding.get(inspection.pk, 0) if inspection else 0
                    next_finding[row.inspection] = next_finding.get(row.inspection, start) + 1
                    finding_for_text[key] = next_finding[row.inspection]
            row.finding_number = finding_for_text[key]
        elif (
            numbered
            and row.finding_number is None
            and not any(p.row == row.number and p.column == target_label("finding_number") for p in problems)
        ):
            problems.append(Problem(row.number, target_label("finding_number"), _("问题编号不能为空。")))
        if "measure_number" not in plan.mapping and row.finding_number is not None:
            slot = (row.inspection, row.finding_number)
            position[slot] = position.get(slot, 0) + 1
            row.measure_number = position[slot]
        elif (
            "measure_number" in plan.mapping
            and row.measure_number is None
            and not any(p.row == row.number and p.column == target_label("measure_number") for p in problems)
        ):
            problems.append(Problem(row.number, target_label("measure_number"), _("措施编号不能为空。")))

    wanted_findings = [
        findings[(inspections[row.inspection][0].pk, row.finding_number)].pk
        for row in rows
        if row.inspection in inspections
        and row.finding_number is not None
        and (inspections[row.inspection][0].pk, row.finding_number) in findings
    ]
    measure_qs = Measure.objects.filter(finding_id__in=set(wanted_findings))
    if lock:
        # The rows this import rewrites stay as planned until it commits.
        measure_qs = measure_qs.select_for_update(of=("self",))
    measures = {(m.finding_id, m.number): m for m in measure_qs}
    assisting: dict[int, set[int]] = {}
    for measure_id, department_id in Measure.assisting_departments.through.objects.filter(
        measure_id__in=[m.pk for m in measures.values()]
    ).values_list("measure_id", "department_id"):
        assisting.setdefault(measure_id, set()).add(department_id)
    latest: dict[int, tuple[date, str]] = {}
    for measure_id, reported_on, text in (
        ProgressReport.objects.filter(measure_id__in=[m.pk for m in measures.values()])
        .order_by("measure_id", "-reported_on", "-id")
        .values_list("measure_id", "reported_on", "text")
    ):
        latest.setdefault(measure_id, (reported_on, text))
    names = HistoryNames.of_people_and_departments()

    seen: dict[tuple[str, int, int], int] = {}
    finding_seen: dict[tuple[str, int], _Row] = {}
    new_inspections: dict[str, Inspection] = {}
    new_categories: dict[tuple[str, str], tuple[Category, Inspection]] = {}
    new_findings: dict[tuple[str, int], tuple[Finding, Inspection, Category]] = {}
    next_order: dict[str, int] = {}
    updated_findings: dict[int, Finding] = {}
    counts = {
        "inspections_created": 0,
        "categories_created": 0,
        "findings_created": 0,
        "findings_updated": 0,
        "measures_created": 0,
        "measures_updated": 0,
        "measures_unchanged": 0,
        "progress_created": 0,
    }
    now = timezone.now()
    for row in rows:
        if row.finding_number is None or row.measure_number is None or not row.inspection:
            continue
        key = (row.inspection, row.finding_number, row.measure_number)
        if key in seen:
            problems.append(
                Problem(
                    row.number,
                    target_label("measure_number"),
                    _("与第 %(row)d 行重复(检查名称、问题编号、措施编号都相同)。") % {"row": seen[key]},
                )
            )
            continue
        seen[key] = row.number
        finding_key = (row.inspection, row.finding_number)
        first = finding_seen.setdefault(finding_key, row)
        if first is not row:
            if row.finding != first.finding:
                problems.append(
                    Problem(
                        row.number,
                        target_label("finding"),
                        _("问题 %(n)d 的描述与第 %(row)d 行不一致。") % {"n": row.finding_number, "row": first.number},
                    )
                )
            if row.category != first.category:
                problems.append(
                    Problem(
                        row.number,
                        target_label("category"),
                        _("问题 %(n)d 的类别与第 %(row)d 行不一致。") % {"n": row.finding_number, "row": first.number},
                    )
                )
        inspection = inspections.get(row.inspection, [None])[0]
        if inspection is None:
            inspection = new_inspections.get(row.inspection)
            if inspection is None:
                inspection = Inspection(kind=guess_inspection_kind(row.inspection), title=row.inspection)
                new_inspections[row.inspection] = inspection
                counts["inspections_created"] += 1
        finding = findings.get((inspection.pk, row.finding_number)) if inspection.pk else None
        category_title = row.category or str(DEFAULT_CATEGORY)
        if finding is not None:
            if row.category is not None and category_titles.get(finding.category_id) != row.category:
                problems.append(
                    Problem(
                        row.number,
                        target_label("category"),
                        _("问题 %(n)d 在系统中属于类别“%(old)s”,与文件中的“%(new)s”不一致;请先在系统中调整。")
                        % {
                            "n": row.finding_number,
                            "old": category_titles.get(finding.category_id, ""),
                            "new": row.category,
                        },
                    )
                )
            if row.finding and finding.description != row.finding and finding.pk not in updated_findings:
                finding.description = row.finding
                updated_findings[finding.pk] = finding
                counts["findings_updated"] += 1
        else:
            planned = new_findings.get(finding_key)
            if planned is not None:
                finding = planned[0]
            else:
                category = categories.get((inspection.pk, category_title)) if inspection.pk else None
                if category is None and (row.inspection, category_title) in new_categories:
                    category = new_categories[(row.inspection, category_title)][0]
                if category is None:
                    order = next_order.get(row.inspection, max_order.get(inspection.pk, 0) if inspection.pk else 0) + 1
                    next_order[row.inspection] = order
                    category = Category(title=category_title, order=order)
                    new_categories[(row.inspection, category_title)] = (category, inspection)
                    counts["categories_created"] += 1
                finding = Finding(number=row.finding_number, description=row.finding, created_by_id=user_id)
                new_findings[finding_key] = (finding, inspection, category)
                counts["findings_created"] += 1
        feedback_date = inspection.feedback_date
        if row.long_term:
            if inspection.deadline is None:
                problems.append(
                    Problem(
                        row.number,
                        target_label("deadline"),
                        _("时限为“长期坚持”时,所属检查须有整改总时限;请填写具体日期。"),
                    )
                )
                continue
            row.values["deadline"] = inspection.deadline
            row.values["kind"] = MeasureKind.LONG_TERM
        deadline = row.values.get("deadline")
        measure = measures.get((finding.pk, row.measure_number)) if finding.pk else None
        too_early = early_deadline_message(deadline=deadline, feedback_date=feedback_date)
        # A deadline the ledger already holds is not refused again for every re-import.
        if too_early and (measure is None or measure.deadline != deadline):
            problems.append(Problem(row.number, target_label("deadline"), too_early))
        if measure is None:
            _plan_create(plan, row, counts, now=now, user_id=user_id, finding=finding)
        else:
            _plan_update(
                plan,
                row,
                measure,
                counts,
                now=now,
                user_id=user_id,
                assisting=assisting.get(measure.pk, set()),
                latest=latest.get(measure.pk),
                names=names,
            )
    plan.counts = counts
    plan.new_inspections = list(new_inspections.values())
    plan.new_categories = list(new_categories.values())
    plan.new_findings = list(new_findings.values())
    plan.updated_findings = list(updated_findings.values())


def _status_fields(row: _Row, measure: Measure, *, now: datetime, user_id: int) -> list[str]:
    """Apply the row's status, completion and sign-off to `measure`, filling what the
    database requires of that status; returns the problems as messages ("" for none)."""
    values = row.values
    errors: list[str] = []
    if "completed_day" in values:
        day = values["completed_day"]
        if day is None:
            measure.completed_at = None
        elif _local_day(measure.completed_at) != day:
            measure.completed_at = _local_midnight(day)
    if "signed_off" in values:
        signed = values["signed_off"]
        if signed is None:
            measure.signed_off_at = None
            measure.signed_off_by_id = None
        else:
            day, person = signed
            if _local_day(measure.signed_off_at) != day:
                measure.signed_off_at = _local_midnight(day)
            measure.signed_off_by_id = person
    if "status" in values:
        measure.status = values["status"]
    status = measure.status
    if status in COMPLETED_STATUSES and measure.completed_at is None:
        errors.append(_("状态为“%(status)s”时须填写完成时间。") % {"status": measure.get_status_display()})
    if status in (MeasureStatus.REVIEWED, MeasureStatus.SIGNED_OFF) and measure.reviewed_by_id is None:
        # The ledger has no reviewer column: the import stands in, and history says so.
        measure.reviewed_by_id = user_id
        measure.reviewed_at = now
    if status == MeasureStatus.SIGNED_OFF and (measure.signed_off_at is None or measure.signed_off_by_id is None):
        errors.append(_("状态为“已销号”时须填写销号时间和销号人。"))
    return errors


_COMPARED = [
    "text",
    "target",
    "responsible_leader_id",
    "lead_department_id",
    "owner",
    "deadline",
    "kind",
    "status",
    "completed_at",
    "signed_off_at",
    "signed_off_by_id",
    "reviewed_by_id",
    "reviewed_at",
]


def _apply_row_values(row: _Row, measure: Measure) -> None:
    for name in ("text", "target", "owner", "lead_department_id", "deadline", "kind"):
        if name in row.values:
            setattr(measure, name, row.values[name])
    if "responsible_leader_id" in row.values:
        measure.responsible_leader_id = row.values["responsible_leader_id"]


def _plan_create(
    plan: ImportPlan,
    row: _Row,
    counts: dict[str, int],
    *,
    now: datetime,
    user_id: int,
    finding: Finding,
) -> None:
    measure = Measure(number=row.measure_number, status=MeasureStatus.NOT_STARTED, version=1)
    _apply_row_values(row, measure)
    for message in _status_fields(row, measure, now=now, user_id=user_id):
        plan.problems.append(Problem(row.number, target_label("status"), message))
    counts["measures_created"] += 1
    if row.progress:
        counts["progress_created"] += 1
    change = RowChange(
        row.number, "create", row.inspection, row.finding_number or 0, row.measure_number or 0, measure.text
    )
    plan.changes.append(change)
    plan.new_measures.append(
        (measure, finding, assisting_without_lead(row.assisting, lead=measure.lead_department_id), row.progress)
    )


def _plan_update(
    plan: ImportPlan,
    row: _Row,
    measure: Measure,
    counts: dict[str, int],
    *,
    now: datetime,
    user_id: int,
    assisting: set[int],
    latest: tuple[date, str] | None,
    names: HistoryNames,
) -> None:
    before = {attr: getattr(measure, attr) for attr in _COMPARED}
    _apply_row_values(row, measure)
    for message in _status_fields(row, measure, now=now, user_id=user_id):
        plan.problems.append(Problem(row.number, target_label("status"), message))
    changed: list[str] = []
    shown: list[tuple[str, str, str]] = []
    for attr in _COMPARED:
        old, new = before[attr], getattr(measure, attr)
        if (isinstance(old, datetime) or isinstance(new, datetime)) and _local_day(old) == _local_day(new):
            setattr(measure, attr, old)  # the same day: keep the recorded time
            continue
        if old != new:
            changed.append(attr.removesuffix("_id") if attr.endswith("_id") else attr)
            shown.append(shown_change(Measure._meta.get_field(changed[-1]), old, new, names))
    new_assisting = [
        d for d in assisting_without_lead(row.assisting, lead=measure.lead_department_id) if d not in assisting
    ]
    if new_assisting:
        shown.append(shown_change(Measure._meta.get_field("assisting_departments"), [], new_assisting, names))
    progress = None
    if row.progress:
        day, text = row.progress
        if latest is None or latest[1] != text or (day is not None and latest[0] != day):
            progress = row.progress
            counts["progress_created"] += 1
            shown.append((str(_("最新进展")), f"{latest[0].isoformat()} {latest[1]}" if latest else "", text))
    if not shown:
        counts["measures_unchanged"] += 1
        return
    if changed or new_assisting:
        counts["measures_updated"] += 1
        # New assisting departments alone move the version too, as in measure_update: a
        # concurrent editor learns something changed, and the row saved with the new version
        # is the history row that carries the new set.
        measure.version += 1
        measure.updated_at = now
        changed += ["version", "updated_at"]
        plan.updated_measures.append((measure, changed, new_assisting, progress))
    elif progress:
        plan.progress_only.append((measure, progress))
    plan.changes.append(
        RowChange(
            row.number, "update", row.inspection, row.finding_number or 0, row.measure_number or 0, measure.text, shown
        )
    )


def _finish(plan: ImportPlan) -> ImportPlan:
    plan.problems.sort(key=lambda p: (p.row, p.column))
    payload = {
        "problems": [(p.row, p.column, p.message) for p in plan.problems],
        "changes": [
            (c.row, c.action, c.inspection, c.finding_number, c.measure_number, c.text, c.changes) for c in plan.changes
        ],
        "counts": plan.counts,
        "mapping": plan.mapping,
    }
    plan.digest = hashlib.sha256(repr(payload).encode()).hexdigest()
    return plan


# --- Pending imports and writing ------------------------------------------------------------


@transaction.atomic
def pending_import_create(*, user: User, filename: str, content: bytes, inspection_title: str = "") -> PendingImport:
    """Keep the upload on the server between preview and confirmation; the browser only
    ever holds its random token."""
    PendingImport.objects.filter(created_at__lt=timezone.now() - PENDING_KEPT_FOR).delete()
    return PendingImport.objects.create(
        token=secrets.token_urlsafe(32),
        user=user,
        filename=filename[:255],
        content=content,
        size=len(content),
        inspection_title=inspection_title[:200],
    )


@transaction.atomic
def pending_import_set_mapping(*, pending: PendingImport, mapping: dict[str, str], inspection_title: str) -> None:
    """The user's column choice for this file, remembered for their next import too."""
    pending.mapping = mapping
    pending.inspection_title = inspection_title[:200]
    pending.plan_digest = ""
    pending.save(update_fields=["mapping", "inspection_title", "plan_digest"])
    remembered, _created = ImportColumnMapping.objects.get_or_create(user_id=pending.user_id)
    merged = {**remembered.mapping, **{k: v for k, v in mapping.items() if v}}
    for key, value in mapping.items():
        if not value:
            merged.pop(key, None)
    remembered.mapping = merged
    remembered.save(update_fields=["mapping", "updated_at"])


def pending_import_remember_plan(*, pending: PendingImport, plan: ImportPlan) -> None:
    if pending.plan_digest != plan.digest:
        pending.plan_digest = plan.digest
        pending.save(update_fields=["plan_digest"])


@dataclass
class ImportResult:
    measures_created: int
    measures_updated: int
    progress_created: int
    inspection_ids: list[int]


@transaction.atomic
def import_apply(*, pending: PendingImport, user: User) -> ImportResult:
    """Write the pending import: every row or, on any problem, none.

    The plan is made again here with the affected measures locked; it must be the one the
    user saw, or someone changed the ledger (or the mapping) meanwhile and we refuse.
    """
    plan = import_plan(pending=pending, lock=True)
    if plan.problems:
        raise ImportRefused(_("文件中有 %(n)d 处问题,未导入任何数据。") % {"n": len(plan.problems)})
    if not pending.plan_digest or plan.digest != pending.plan_digest:
        raise ImportRefused(_("预览之后台账或列对应已有变化,请核对新的预览后再确认导入。"))
    if not plan.can_confirm:
        raise ImportRefused(_("文件中的内容与系统一致,没有需要导入的数据。"))
    reason = _("台账导入:%(name)s") % {"name": pending.filename}
    now = timezone.now()

    # Saved parents first; the children hold the very objects, so their ids are known.
    Inspection.objects.bulk_create(plan.new_inspections)
    for category, inspection in plan.new_categories:
        category.inspection_id = inspection.pk
    Category.objects.bulk_create([c for c, _i in plan.new_categories])
    for finding, inspection, category in plan.new_findings:
        finding.inspection_id = inspection.pk
        finding.category_id = category.pk
    Finding.objects.bulk_create([f for f, _i, _c in plan.new_findings])
    if plan.updated_findings:
        Finding.objects.bulk_update(plan.updated_findings, ["description"])
    for measure, finding, _a, _p in plan.new_measures:
        measure.finding_id = finding.pk
        measure.inspection_id = finding.inspection_id
        measure.category_id = finding.category_id
    # bulk_create sets the primary keys (PostgreSQL and SQLite both return them).
    Measure.objects.bulk_create([m for m, _k, _a, _p in plan.new_measures], batch_size=500)

    by_fields: dict[tuple[str, ...], list[Measure]] = {}
    for measure, fields, _a, _p in plan.updated_measures:
        by_fields.setdefault(tuple(sorted(set(fields))), []).append(measure)
    for fields, group in by_fields.items():
        Measure.objects.bulk_update(group, list(fields), batch_size=500)

    through = Measure.assisting_departments.through
    links = [
        through(measure_id=measure.pk, department_id=d)
        for measure, _k, departments, _p in plan.new_measures
        for d in departments
    ] + [
        through(measure_id=measure.pk, department_id=d)
        for measure, _f, departments, _p in plan.updated_measures
        for d in departments
    ]
    through.objects.bulk_create(links, ignore_conflicts=True)
    # History once the assisting departments are in place, so each row carries them.
    created_ids = [m.pk for m, _k, _a, _p in plan.new_measures]
    record_history(Measure, created_ids, user=user, when=now, reason=reason, history_type=ADDED)
    updated_ids = [m.pk for m, _f, _a, _p in plan.updated_measures]
    record_history(Measure, updated_ids, user=user, when=now, reason=reason, history_type=CHANGED)

    progress = (
        [(m, p) for m, _k, _a, p in plan.new_measures if p]
        + [(m, p) for m, _f, _a, p in plan.updated_measures if p]
        + plan.progress_only
    )
    reports = [
        ProgressReport(measure_id=measure.pk, reported_on=day or timezone.localdate(), text=text, author=user)
        for measure, (day, text) in progress
    ]
    ProgressReport.objects.bulk_create(reports, batch_size=500)
    record_history(ProgressReport, [r.pk for r in reports], user=user, when=now, reason=reason, history_type=ADDED)
    if reports:
        # Bookkeeping the recompute job reads (本期已汇报); not a change worth a history row.
        Measure.objects.filter(pk__in=[m.pk for m, _p in progress]).update(last_progress_at=now)

    touched = [m.pk for m, _k, _a, _p in plan.new_measures] + [m.pk for m, _f, _a, _p in plan.updated_measures]
    transaction.on_commit(lambda: ledger_changed.send(sender=Measure, measure_ids=touched))
    pending.delete()
    return ImportResult(
        measures_created=plan.counts.get("measures_created", 0),
        measures_updated=plan.counts.get("measures_updated", 0),
        progress_created=len(reports),
        inspection_ids=sorted(
            {m.inspection_id for m, _f, _a, _p in plan.new_measures}
            | {m.inspection_id for m, _f, _a, _p in plan.updated_measures}
        ),
    )
