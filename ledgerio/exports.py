"""Ledger exports: CSV (streamed), XLSX (plain and the official printed layout) and the
change history as CSV.

Plain functions over a queryset the caller has already cut with `visible_measures` and the
ledger's filters, so an export holds exactly the rows the ledger page shows.

Two CSV paths produce the same bytes:
- a portable one (any database): `csv.writer` over `values_list(...).iterator()`, rows
  formatted in Python;
- on PostgreSQL, `COPY (SELECT …) TO STDOUT WITH CSV` with labels, dates and the formula
  guard computed in SQL, streamed in chunks from a worker thread. It runs at COPY's speed,
  which the Python path (about a third of it) cannot reach on a million rows.
"""

from __future__ import annotations

import contextlib
import csv
import queue
import tempfile
import threading
from collections.abc import Iterable, Iterator, Sequence
from datetime import date, datetime
from typing import IO, Any

from django.conf import settings
from django.db import connection
from django.db.models import (
    Case,
    CharField,
    Count,
    ExpressionWrapper,
    F,
    Func,
    IntegerField,
    OrderBy,
    OuterRef,
    QuerySet,
    Subquery,
    TextField,
    Value,
    When,
    Window,
)
from django.db.models.functions import Coalesce, Concat, NullIf, RowNumber
from django.utils import timezone
from django.utils.translation import gettext as _
from django.utils.translation import gettext_lazy

from accounts.models import Department, User
from measures.history import BOOKKEEPING_FIELDS, HistoryNames, shown_change
from measures.models import Evidence, Measure, MeasureStatus, ProgressReport

BOM = "\ufeff"
# Excel and LibreOffice evaluate a cell that starts with one of these as a formula
# (OWASP "CSV injection"); a leading apostrophe makes them show it as text.
FORMULA_TRIGGERS = ("=", "+", "-", "@", "\t", "\r")
ROWS_PER_CHUNK = 2000
COPY_CHUNK_BYTES = 256 * 1024

LEDGER_HEADERS = [
    gettext_lazy("序号"),
    gettext_lazy("检查名称"),
    gettext_lazy("问题类别"),
    gettext_lazy("问题编号"),
    gettext_lazy("问题描述"),
    gettext_lazy("措施编号"),
    gettext_lazy("整改措施"),
    gettext_lazy("整改目标"),
    gettext_lazy("责任领导"),
    gettext_lazy("责任单位"),
    gettext_lazy("责任人"),
    gettext_lazy("整改时限"),
    gettext_lazy("状态"),
    gettext_lazy("完成时间"),
    gettext_lazy("是否超期"),
    gettext_lazy("最新进展"),
    gettext_lazy("佐证材料数"),
    gettext_lazy("销号时间 / 销号人"),
]
# Columns holding numbers, not text: never guarded, written as numbers in XLSX.
NUMBER_COLUMNS = frozenset({0, 3, 5, 16})
SIGN_OFF_SEPARATOR = " / "


GUARD = "'"


def _reads_as_formula(value: str) -> bool:
    """A formula trigger, first or after a run of guard quotes: "=x", "'=x", "''=x"."""
    first = value[:1]
    if first == GUARD:
        first = value.lstrip(GUARD)[:1]
    return first != "" and first in FORMULA_TRIGGERS


def guard_formula(value: str) -> str:
    """The cell as text a spreadsheet will not evaluate.

    Text that already looks guarded (a user typed "'=x") gets one more quote, so
    `unguard_formula` tells it from a cell we guarded and a round trip keeps it.
    """
    return GUARD + value if _reads_as_formula(value) else value


def unguard_formula(value: str) -> str:
    """The exact inverse of `guard_formula`, for imports: "'=x" reads back as "=x" and
    "''=x" as "'=x"."""
    if value[:1] == GUARD and _reads_as_formula(value):
        return value[1:]
    return value


def _local_date(value: datetime | None) -> str:
    return timezone.localtime(value).date().isoformat() if value else ""


def _person(full_name: str | None, username: str | None) -> str:
    # The same as User.__str__ (full name, else user name), which the ledger page shows.
    return full_name or username or ""


def overdue_label(is_overdue: bool, is_due_soon: bool) -> str:
    if is_overdue:
        return _("超期")
    if is_due_soon:
        return _("临期")
    return _("否")


def export_order(measures: QuerySet[Measure]) -> list[str]:
    """The queryset's ordering plus the primary key, so ties (same deadline …) come out the
    same way in every path and every run."""
    ordering = list(measures.query.order_by) or list(Measure._meta.ordering)
    return [*ordering, "pk"]


# --- Rows formatted in Python (any database) ------------------------------------------------

_LEDGER_FIELDS = (
    "inspection__title",
    "category__title",
    "finding__number",
    "finding__description",
    "number",
    "text",
    "target",
    "responsible_leader__full_name",
    "responsible_leader__username",
    "lead_department__name",
    "owner",
    "deadline",
    "status",
    "completed_at",
    "is_overdue",
    "is_due_soon",
    "latest_progress",
    "latest_progress_on",
    "evidence_count",
    "signed_off_at",
    "signed_off_by__full_name",
    "signed_off_by__username",
    # Only the official layout reads these, to group rows under their headings.
    "inspection_id",
    "category_id",
    "category__order",
    "finding_id",
)


def _ledger_values(measures: QuerySet[Measure], ordering: Sequence[str]) -> Iterator[tuple[Any, ...]]:
    latest = ProgressReport.objects.filter(measure=OuterRef("pk")).order_by("-reported_on", "-id")
    evidence_count = (
        Evidence.objects.filter(measure=OuterRef("pk")).order_by().values("measure").annotate(n=Count("id")).values("n")
    )
    rows = (
        measures.annotate(
            latest_progress=Subquery(latest.values("text")[:1]),
            latest_progress_on=Subquery(latest.values("reported_on")[:1]),
            evidence_count=Coalesce(Subquery(evidence_count, output_field=IntegerField()), Value(0)),
        )
        .order_by(*ordering)
        .values_list(*_LEDGER_FIELDS)
    )
    # A server-side cursor on PostgreSQL: memory stays flat however many rows.
    return rows.iterator(chunk_size=ROWS_PER_CHUNK)


def _format_ledger_row(n: int, v: tuple[Any, ...], labels: dict[str, str]) -> list[Any]:
    progress = f"{v[17].isoformat()} {v[16]}" if v[16] else ""
    signed_off = f"{_local_date(v[19])}{SIGN_OFF_SEPARATOR}{_person(v[20], v[21])}" if v[19] else ""
    return [
        n,
        v[0],
        v[1],
        v[2],
        v[3],
        v[4],
        v[5],
        v[6],
        _person(v[7], v[8]),
        v[9],
        v[10],
        v[11].isoformat(),
        labels.get(v[12], v[12]),
        _local_date(v[13]),
        overdue_label(v[14], v[15]),
        progress,
        v[18],
        signed_off,
    ]


def ledger_rows_for_export(measures: QuerySet[Measure]) -> Iterator[list[Any]]:
    """The master ledger's rows (no header), in DOMAIN.md's column order, unguarded."""
    labels = {value: str(label) for value, label in MeasureStatus.choices}
    for n, values in enumerate(_ledger_values(measures, export_order(measures)), start=1):
        yield _format_ledger_row(n, values, labels)


class _Echo:
    """csv.writer's file: hands each formatted row back instead of storing it."""

    def write(self, value: str) -> str:
        return value


def _csv_line_writer() -> Any:
    # "\r\n" makes csv quote a lone "\r" as PostgreSQL's COPY does; rows then end in "\n" as
    # COPY's do, so both paths produce the same bytes.
    return csv.writer(_Echo(), lineterminator="\r\n")


def _csv_lines(writer: Any, rows: Iterable[Sequence[Any]]) -> Iterator[str]:
    for row in rows:
        line = writer.writerow([cell if isinstance(cell, int) else guard_formula(cell) for cell in row])
        yield line[:-2] + "\n"


def _chunked(lines: Iterable[str], size: int = ROWS_PER_CHUNK) -> Iterator[bytes]:
    batch: list[str] = []
    for line in lines:
        batch.append(line)
        if len(batch) >= size:
            yield "".join(batch).encode()
            batch = []
    if batch:
        yield "".join(batch).encode()


def _header_line() -> bytes:
    writer = _csv_line_writer()
    return (BOM + next(_csv_lines(writer, [[str(h) for h in LEDGER_HEADERS]]))).encode()


def ledger_csv_python(measures: QuerySet[Measure]) -> Iterator[bytes]:
    yield _header_line()
    yield from _chunked(_csv_lines(_csv_line_writer(), ledger_rows_for_export(measures)))


# --- The same rows formatted by PostgreSQL -------------------------------------------------


class _PgToChar(Func):
    function = "to_char"
    output_field = TextField()


def _pg_local_date(field: str) -> Func:
    local = Func(Value(settings.TIME_ZONE), F(field), function="timezone")
    return _PgToChar(local, Value("YYYY-MM-DD"))


def _pg_person(prefix: str) -> Coalesce:
    return Coalesce(NullIf(F(f"{prefix}__full_name"), Value("")), F(f"{prefix}__username"))


def _order_expressions(ordering: Sequence[str]) -> list[OrderBy]:
    return [F(name[1:]).desc() if name.startswith("-") else F(name).asc() for name in ordering]


# (alias, guarded) in DOMAIN.md's order; numbers are not guarded.
_PG_COLUMNS = [
    ("c_no", False),
    ("c_inspection", True),
    ("c_category", True),
    ("c_finding_no", False),
    ("c_finding", True),
    ("c_measure_no", False),
    ("c_text", True),
    ("c_target", True),
    ("c_leader", True),
    ("c_department", True),
    ("c_owner", True),
    ("c_deadline", True),
    ("c_status", True),
    ("c_completed", True),
    ("c_overdue", True),
    ("c_progress", True),
    ("c_evidence", False),
    ("c_signed_off", True),
]


_PG_TRIGGERS = ", ".join(["'='", "'+'", "'-'", "'@'", "chr(9)", "chr(13)"])


def _pg_guard(column: str) -> str:
    """`guard_formula` in SQL. CASE tries its branches in order, so the quote-run test
    (ltrim copies the text) runs only for the rare cell that starts with a quote."""
    return (
        f"CASE WHEN left({column}, 1) IN ({_PG_TRIGGERS}) THEN '''' || {column} "
        f"WHEN left({column}, 1) = '''' THEN CASE WHEN left(ltrim({column}, ''''), 1) IN ({_PG_TRIGGERS}) "
        f"THEN '''' || {column} ELSE {column} END ELSE {column} END"
    )


def ledger_copy_sql(measures: QuerySet[Measure]) -> str:
    """`COPY (SELECT …) TO STDOUT WITH CSV` giving exactly `ledger_csv_python`'s rows.

    The inner query is the filtered queryset itself (Django writes its joins and WHERE);
    the outer one applies the formula guard to plain column references, so each
    correlated subquery runs once per row rather than once per CASE branch. Empty text is
    made NULL because COPY quotes an empty string ("") where csv.writer writes nothing.
    """
    ordering = export_order(measures)
    latest = (
        ProgressReport.objects.filter(measure=OuterRef("pk"))
        .order_by("-reported_on", "-id")
        .annotate(
            line=Concat(
                _PgToChar(F("reported_on"), Value("YYYY-MM-DD")), Value(" "), F("text"), output_field=TextField()
            )
        )
        .values("line")[:1]
    )
    evidence_count = (
        Evidence.objects.filter(measure=OuterRef("pk")).order_by().values("measure").annotate(n=Count("id")).values("n")
    )
    status_label = Case(
        *[When(status=value, then=Value(str(label))) for value, label in MeasureStatus.choices],
        default=F("status"),
        output_field=CharField(),
    )
    inner = (
        measures.order_by(*ordering)
        .annotate(
            c_no=Window(RowNumber(), order_by=_order_expressions(ordering)),
            c_inspection=F("inspection__title"),
            c_category=F("category__title"),
            c_finding_no=F("finding__number"),
            c_finding=F("finding__description"),
            c_measure_no=F("number"),
            c_text=F("text"),
            c_target=F("target"),
            c_leader=_pg_person("responsible_leader"),
            c_department=F("lead_department__name"),
            c_owner=F("owner"),
            c_deadline=_PgToChar(F("deadline"), Value("YYYY-MM-DD")),
            c_status=status_label,
            c_completed=_pg_local_date("completed_at"),
            c_overdue=Case(
                When(is_overdue=True, then=Value(_("超期"))),
                When(is_due_soon=True, then=Value(_("临期"))),
                default=Value(_("否")),
                output_field=CharField(),
            ),
            c_progress=Subquery(latest, output_field=TextField()),
            c_evidence=Coalesce(Subquery(evidence_count, output_field=IntegerField()), Value(0)),
            c_signed_off=Case(
                When(
                    signed_off_at__isnull=False,
                    then=ExpressionWrapper(
                        Concat(
                            _pg_local_date("signed_off_at"),
                            Value(SIGN_OFF_SEPARATOR),
                            _pg_person("signed_off_by"),
                            output_field=TextField(),
                        ),
                        output_field=TextField(),
                    ),
                ),
                default=Value(""),
                output_field=TextField(),
            ),
        )
        .values_list(*(alias for alias, _guarded in _PG_COLUMNS))
    )
    sql, params = inner.query.sql_with_params()
    inner_sql = connection.ops.compose_sql(sql, params)
    outer = ", ".join(
        f"NULLIF({_pg_guard(f't.{alias}')}, '')" if guarded else f"t.{alias}" for alias, guarded in _PG_COLUMNS
    )
    # PostgreSQL emits a subquery's rows in its ORDER BY order when the outer query only
    # projects them (no join, no aggregate), which is all this one does.
    # Only our own column aliases are interpolated; user input is in inner_sql's parameters,
    # which compose_sql quoted with the driver's own escaping.
    return f"COPY (SELECT {outer} FROM ({inner_sql}) AS t) TO STDOUT WITH (FORMAT csv)"  # noqa: S608


class _CopyAborted(Exception):
    pass


class _ChunkSink:
    """The file psycopg2's copy_expert writes into: whole rows, batched into chunks and
    handed to the streaming thread through a bounded queue (so memory stays flat when the
    client reads slowly)."""

    def __init__(self, out: queue.Queue[Any], stop: threading.Event) -> None:
        self.out = out
        self.stop = stop
        self.parts: list[bytes] = []
        self.size = 0

    def write(self, data: bytes) -> int:
        if self.stop.is_set():
            raise _CopyAborted
        self.parts.append(data)
        self.size += len(data)
        if self.size >= COPY_CHUNK_BYTES:
            self.flush()
        return len(data)

    def flush(self) -> None:
        if self.parts:
            self.out.put(b"".join(self.parts))
            self.parts = []
            self.size = 0


_DONE = object()

# Measured on a million-row ledger: JIT compiling this wide query costs about 5 s, and
# parallel workers only add a Gather Merge of 1.5 kB rows in front of the single-threaded
# window function; both off, the same COPY runs about a third faster.
_COPY_SETTINGS = {"jit": "off", "max_parallel_workers_per_gather": "0"}


def copy_into(cursor: Any, copy_sql: str, sink: Any) -> None:
    """Run `copy_sql` on a psycopg2 cursor into `sink` with the settings above, restoring
    the session's own settings afterwards (the connection is reused by later requests)."""
    for name, value in _COPY_SETTINGS.items():
        cursor.execute("SELECT set_config(%s, %s, false)", [name, value])
    try:
        cursor.copy_expert(copy_sql, sink, size=COPY_CHUNK_BYTES)
    finally:
        if not cursor.connection.closed and cursor.connection.get_transaction_status() != 3:  # not in error
            for name in _COPY_SETTINGS:
                cursor.execute(f"RESET {name}")


def copy_to_chunks(copy_sql: str) -> Iterator[bytes]:
    """Run a COPY … TO STDOUT on this thread's database connection and yield its output.

    psycopg2's copy_expert pushes into a file and returns only at the end, so it runs on a
    worker thread that owns the connection until it finishes; this generator only reads the
    queue and never touches the connection meanwhile.
    """
    connection.ensure_connection()
    raw = connection.connection
    chunks: queue.Queue[Any] = queue.Queue(maxsize=8)
    stop = threading.Event()

    def run() -> None:
        sink = _ChunkSink(chunks, stop)
        try:
            with raw.cursor() as cursor:
                copy_into(cursor, copy_sql, sink)
            sink.flush()
            chunks.put(_DONE)
        except BaseException as exc:  # handed to the reading thread, which re-raises it
            chunks.put(exc)

    worker = threading.Thread(target=run, name="ledger-copy", daemon=True)
    worker.start()
    finished = False
    try:
        while True:
            item = chunks.get()
            if item is _DONE:
                finished = True
                return
            if isinstance(item, BaseException):
                finished = True
                raise item
            yield item
    finally:
        if not finished:
            # The client went away mid-download: stop the COPY and drop the connection,
            # whose protocol state is undefined after an interrupted COPY OUT.
            stop.set()
            while worker.is_alive():
                with contextlib.suppress(queue.Empty):
                    chunks.get(timeout=0.1)
            worker.join()
            connection.close()
        else:
            worker.join()


def ledger_csv_copy(measures: QuerySet[Measure]) -> Iterator[bytes]:
    yield _header_line()
    yield from copy_to_chunks(ledger_copy_sql(measures))


def ledger_csv(measures: QuerySet[Measure]) -> Iterator[bytes]:
    """The ledger as UTF-8 CSV with a byte-order mark (so Excel on Windows reads Chinese)."""
    if connection.vendor == "postgresql":
        return ledger_csv_copy(measures)
    return ledger_csv_python(measures)


# --- XLSX --------------------------------------------------------------------------------

LEDGER_COLUMN_WIDTHS = [6, 24, 22, 8, 40, 8, 48, 30, 10, 16, 10, 12, 8, 12, 8, 36, 8, 22]


def _xlsx_cell(value: Any) -> Any:
    return value if isinstance(value, int) else guard_formula(value)


def ledger_xlsx(measures: QuerySet[Measure], out: IO[bytes]) -> None:
    """The master ledger as an Excel workbook, written row by row (openpyxl write-only mode)."""
    from openpyxl import Workbook
    from openpyxl.cell import WriteOnlyCell
    from openpyxl.styles import Alignment, Font, PatternFill
    from openpyxl.utils import get_column_letter

    workbook = Workbook(write_only=True)
    sheet = workbook.create_sheet(_("整改台账"))
    for index, width in enumerate(LEDGER_COLUMN_WIDTHS, start=1):
        sheet.column_dimensions[get_column_letter(index)].width = width
    sheet.freeze_panes = "A2"
    bold = Font(bold=True)
    header = []
    for title in LEDGER_HEADERS:
        cell = WriteOnlyCell(sheet, value=str(title))
        cell.font = bold
        cell.alignment = Alignment(horizontal="center", vertical="center", wrap_text=True)
        header.append(cell)
    sheet.append(header)
    overdue_fill = PatternFill(fill_type="solid", start_color="FFF4CCCC", end_color="FFF4CCCC")
    overdue_text = str(_("超期"))
    for row in ledger_rows_for_export(measures):
        values = [_xlsx_cell(v) for v in row]
        if row[14] == overdue_text:
            cells = []
            for value in values:
                cell = WriteOnlyCell(sheet, value=value)
                cell.fill = overdue_fill
                cells.append(cell)
            sheet.append(cells)
        else:
            sheet.append(values)
    workbook.save(out)


OFFICIAL_HEADERS = [
    gettext_lazy("序号"),
    gettext_lazy("整改措施"),
    gettext_lazy("整改目标"),
    gettext_lazy("责任领导"),
    gettext_lazy("责任单位"),
    gettext_lazy("责任人"),
    gettext_lazy("整改时限"),
    gettext_lazy("完成情况"),
    gettext_lazy("完成时间"),
    gettext_lazy("最新进展"),
]
OFFICIAL_WIDTHS = [7, 50, 30, 10, 16, 10, 12, 10, 12, 36]


def _chinese_numeral(n: int) -> str:
    try:
        from rectify.common.chinese_numerals import to_chinese_numeral
    except ImportError:  # pragma: no cover (the shared helper ships with findings)
        digits = "零一二三四五六七八九"
        if n < 10:
            return digits[n]
        tens, ones = divmod(n, 10)
        return ("" if tens == 1 else digits[tens]) + "十" + (digits[ones] if ones else "") if n < 100 else str(n)
    return to_chinese_numeral(n)


def ledger_xlsx_official(measures: QuerySet[Measure], out: IO[bytes]) -> None:
    """The layout bureaus print: a title row per inspection, categories as merged rows
    numbered 一、二、…, findings (一)(二)… and measures 1. 2. … under them."""
    from openpyxl import Workbook
    from openpyxl.cell import WriteOnlyCell
    from openpyxl.styles import Alignment, Font, PatternFill
    from openpyxl.utils import get_column_letter

    labels = {value: str(label) for value, label in MeasureStatus.choices}
    workbook = Workbook(write_only=True)
    sheet = workbook.create_sheet(_("整改台账"))
    width = len(OFFICIAL_HEADERS)
    last_column = get_column_letter(width)
    for index, w in enumerate(OFFICIAL_WIDTHS, start=1):
        sheet.column_dimensions[get_column_letter(index)].width = w
    title_font = Font(bold=True, size=16)
    bold = Font(bold=True)
    wrap = Alignment(wrap_text=True, vertical="top")
    overdue_fill = PatternFill(fill_type="solid", start_color="FFF4CCCC", end_color="FFF4CCCC")
    row_number = 0

    def merged(text: str, font: Font, alignment: Alignment | None = None) -> None:
        nonlocal row_number
        row_number += 1
        cell = WriteOnlyCell(sheet, value=guard_formula(text))
        cell.font = font
        cell.alignment = alignment or Alignment(wrap_text=True, vertical="center")
        sheet.append([cell])
        sheet.merged_cells.add(f"A{row_number}:{last_column}{row_number}")

    ordering = ["inspection_id", "category__order", "finding__number", "number", "pk"]
    current = (None, None, None)
    category_no = finding_no = measure_no = 0
    for values in _ledger_values(measures, ordering):
        inspection_id, category_id, finding_id = values[22], values[23], values[25]
        if inspection_id != current[0]:
            merged(_("%(title)s整改落实情况台账") % {"title": values[0]}, title_font, Alignment(horizontal="center"))
            row_number += 1
            header = []
            for title in OFFICIAL_HEADERS:
                cell = WriteOnlyCell(sheet, value=str(title))
                cell.font = bold
                cell.alignment = Alignment(horizontal="center", vertical="center")
                header.append(cell)
            sheet.append(header)
            category_no = 0
            current = (inspection_id, None, None)
        if category_id != current[1]:
            category_no += 1
            finding_no = 0
            merged(f"{_chinese_numeral(category_no)}、{values[1]}", bold)
            current = (inspection_id, category_id, None)
        if finding_id != current[2]:
            finding_no += 1
            measure_no = 0
            merged(f"({_chinese_numeral(finding_no)}){values[3]}", bold)
            current = (inspection_id, category_id, finding_id)
        measure_no += 1
        row = _format_ledger_row(measure_no, values, labels)
        cells_values = [f"{measure_no}.", row[6], row[7], row[8], row[9], row[10], row[11], row[12], row[13], row[15]]
        cells = []
        for value in cells_values:
            cell = WriteOnlyCell(sheet, value=_xlsx_cell(value))
            cell.alignment = wrap
            if values[14]:
                cell.fill = overdue_fill
            cells.append(cell)
        row_number += 1
        sheet.append(cells)
    if row_number == 0:
        merged(_("整改落实情况台账"), title_font, Alignment(horizontal="center"))
    workbook.save(out)


def xlsx_to_tempfile(write: Any, measures: QuerySet[Measure]) -> IO[bytes]:
    """Write-only workbooks still need a seekable file to zip into: a temporary file, so a
    large export does not sit in memory."""
    handle = tempfile.TemporaryFile()  # noqa: SIM115 (closed by the FileResponse)
    write(measures, handle)
    handle.seek(0)
    return handle


def today_stamp() -> str:
    return date.today().strftime("%Y%m%d")


# --- Change history ---------------------------------------------------------------------------

HISTORY_HEADERS = [
    gettext_lazy("措施"),
    gettext_lazy("字段"),
    gettext_lazy("原值"),
    gettext_lazy("新值"),
    gettext_lazy("操作人"),
    gettext_lazy("时间"),
    gettext_lazy("配合单位"),
]


def _history_fields(model: type) -> list[Any]:
    return [
        f
        for f in model._meta.fields
        if not f.name.startswith("history_")
        and f.name not in BOOKKEEPING_FIELDS
        and f.attname not in BOOKKEEPING_FIELDS
    ]


def _measure_label_subquery(measure_ref: str) -> Subquery:
    from django.db.models.functions import Cast

    label = (
        Measure.objects.filter(pk=OuterRef(measure_ref))
        .annotate(
            label=Concat(
                F("inspection__title"),
                Value(" " + _("问题")),
                Cast(F("finding__number"), CharField()),
                Value(" " + _("措施")),
                Cast(F("number"), CharField()),
                output_field=CharField(),
            )
        )
        .values("label")[:1]
    )
    return Subquery(label, output_field=CharField())


def _with_assisting_departments(
    records: Iterator[dict[str, Any]], records_qs: QuerySet[Any]
) -> Iterator[dict[str, Any]]:
    """The measures' history records, each with the ids of its assisting departments under
    "assisting".

    The departments come from one more query, streamed beside the records in the records' own
    order (history_id breaks ties), so each record's links are next in line: a fixed number of
    queries and one record's set in memory, however long the history.
    """
    snapshot = Measure.history.model.assisting_departments.model  # type: ignore[attr-defined]
    links = (
        snapshot.objects.filter(history__in=records_qs.values("pk"))
        .order_by("history__id", "history__history_date", "history_id")
        .values_list("history_id", "department_id")
        .iterator(chunk_size=ROWS_PER_CHUNK)
    )
    link = next(links, None)
    for record in records:
        department_ids = []
        while link is not None and link[0] == record["history_id"]:
            department_ids.append(link[1])
            link = next(links, None)
        record["assisting"] = department_ids
        yield record


def _history_changes(
    records: Iterator[dict[str, Any]],
    *,
    fields: list[Any],
    names: HistoryNames,
    created: Any,
    deleted: Any,
    since: datetime | None,
) -> Iterator[tuple[int, datetime, list[str] | None, str | None]]:
    """(measure id, when, row, None) for each field that changed between consecutive records
    of the same object; records arrive ordered by object then time, so only the previous one
    is kept in memory.

    Records that carry their assisting departments (the measures' own) also yield
    (measure id, when, None, their names) first, even when nothing shown changed or they fall
    before `since`: `history_rows` stamps every row of the measure with the set as of its time.
    """
    previous: dict[str, Any] | None = None
    assisting_field = Measure._meta.get_field("assisting_departments")
    for record in records:
        same_object = previous is not None and previous["id"] == record["id"]
        when = record["history_date"]
        rows: list[list[str]] = []
        if record["history_type"] == "+" or not same_object:
            rows.append([str(created[0]), "", created[1](record)])
        elif record["history_type"] == "-":
            rows.append([str(deleted[0]), deleted[1](record), ""])
        else:
            assert previous is not None
            for field in fields:
                old, new = previous[field.attname], record[field.attname]
                if old != new:
                    rows.append(list(shown_change(field, old, new, names)))
            if "assisting" in record and set(previous["assisting"]) != set(record["assisting"]):
                # A change to them alone is a change on record (a history row of its own).
                rows.append(list(shown_change(assisting_field, previous["assisting"], record["assisting"], names)))
        previous = record
        if "assisting" in record:
            yield (record["measure_ref"], when, None, names.name_list(Department, record["assisting"]))
        if since is not None and when < since:
            continue
        for field_name, old_value, new_value in rows:
            yield (
                record["measure_ref"],
                when,
                [
                    record["label"] or f"#{record['measure_ref']}",
                    field_name,
                    old_value,
                    new_value,
                    names.name(User, record["history_user_id"]) if record["history_user_id"] else "",
                    timezone.localtime(when).strftime("%Y-%m-%d %H:%M:%S"),
                ],
                None,
            )


def history_rows(
    *,
    measure_ids: QuerySet[Any] | None,
    inspection: Any = None,
    since: datetime | None = None,
    until: datetime | None = None,
) -> Iterator[list[str]]:
    """Every recorded change of measures and of their progress, evidence and extensions:
    (措施, 字段, 原值, 新值, 操作人, 时间, 配合单位), grouped by measure and in time order within
    it; 配合单位 is the measure's assisting departments as of the row.

    `measure_ids` limits the output to those measures (None: all, deleted ones included).
    Memory is bounded by one object's history: four ordered streams merged by measure id.
    """
    import heapq

    from measures.models import Extension

    names = HistoryNames.of_people_and_departments()

    def stream(model: type, measure_ref: str, created: Any, deleted: Any) -> Iterator[Any]:
        history = model.history.model  # type: ignore[attr-defined]
        fields = [f for f in _history_fields(history) if f.attname != measure_ref]
        qs = history.objects.all()
        if measure_ids is not None:
            qs = qs.filter(**{f"{measure_ref}__in": measure_ids})
        if inspection is not None:
            if model is Measure:
                qs = qs.filter(inspection_id=inspection.pk)
            else:
                in_inspection = Measure.history.filter(inspection_id=inspection.pk).values("id")
                qs = qs.filter(**{f"{measure_ref}__in": in_inspection})
        if until is not None:
            qs = qs.filter(history_date__lte=until)
        records = (
            qs.annotate(measure_ref=F(measure_ref), label=_measure_label_subquery(measure_ref))
            .order_by(measure_ref, "id", "history_date", "history_id")
            .values(
                "id",
                *(f.attname for f in fields),
                "measure_ref",
                "label",
                "history_id",
                "history_type",
                "history_date",
                "history_user_id",
            )
            .iterator(chunk_size=ROWS_PER_CHUNK)
        )
        if model is Measure:
            records = _with_assisting_departments(records, qs)
        return _history_changes(records, fields=fields, names=names, created=created, deleted=deleted, since=since)

    measures = stream(
        Measure,
        "id",
        (_("创建措施"), lambda r: r["text"]),
        (_("删除措施"), lambda r: r["text"]),
    )
    progress = stream(
        ProgressReport,
        "measure_id",
        (_("新增整改进展"), lambda r: f"{r['reported_on'].isoformat()} {r['text']}"),
        (_("删除整改进展"), lambda r: f"{r['reported_on'].isoformat()} {r['text']}"),
    )
    evidence = stream(
        Evidence,
        "measure_id",
        (_("上传佐证材料"), lambda r: r["title"] + (f"({r['document_number']})" if r["document_number"] else "")),
        (_("删除佐证材料"), lambda r: r["title"] + (f"({r['document_number']})" if r["document_number"] else "")),
    )
    extensions = stream(
        Extension,
        "measure_id",
        (_("申请延期"), lambda r: f"{r['old_deadline'].isoformat()} → {r['new_deadline'].isoformat()}:{r['reason']}"),
        (_("删除延期申请"), lambda r: f"{r['old_deadline'].isoformat()} → {r['new_deadline'].isoformat()}"),
    )
    merged = heapq.merge(measures, progress, evidence, extensions, key=lambda item: item[0])

    def in_time_order(batch: list[tuple[int, datetime, list[str] | None, str | None]]) -> Iterator[list[str]]:
        # A stable sort: a measure record's set comes before its own rows and before rows of
        # the same instant from the other histories (merged after the measures').
        batch.sort(key=lambda entry: entry[1])
        assisting = ""
        for _measure_id, _when, row, departments in batch:
            if departments is not None:
                assisting = departments
            elif row is not None:
                yield [*row, assisting]

    batch: list[tuple[int, datetime, list[str] | None, str | None]] = []
    for item in merged:
        if batch and batch[0][0] != item[0]:
            yield from in_time_order(batch)
            batch = []
        batch.append(item)
    yield from in_time_order(batch)


def history_csv(
    *,
    user: Any,
    measures: QuerySet[Measure],
    inspection: Any = None,
    since: datetime | None = None,
    until: datetime | None = None,
) -> Iterator[bytes]:
    """The change history as CSV, for the measures `user` may see."""
    from measures.permissions import sees_everything

    # Those who see every measure also see the history of deleted ones.
    measure_ids = None if sees_everything(user) else measures.values("id")
    writer = _csv_line_writer()
    yield (BOM + next(_csv_lines(writer, [[str(h) for h in HISTORY_HEADERS]]))).encode()
    rows = history_rows(measure_ids=measure_ids, inspection=inspection, since=since, until=until)
    yield from _chunked(_csv_lines(writer, rows))
