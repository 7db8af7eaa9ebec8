"""The breakdowns of the dashboard pages: tables, charts and trend, rendered to HTML.

Every count on these pages links to the ledger filtered to exactly the rows it counts, so
a leader can click "超期 12" and find those twelve measures. The filters a count stands
for are spelled out once, in LEDGER_FILTERS.

For the whole bureau the breakdowns depend on the figures and the names alone, so they are
rendered once per recompute and kept (dashboards.fragments): `bureau_breakdowns` is what
the page asks for, and the recompute job calls `warm_bureau_breakdowns` so that the first
leader to open the page after a run does not wait for the rendering either.
"""

from __future__ import annotations

from collections.abc import Iterable, Sequence
from datetime import date
from decimal import Decimal
from html import escape
from urllib.parse import urlencode

from django.conf import settings
from django.template.loader import render_to_string
from django.urls import reverse
from django.utils import translation
from django.utils.safestring import SafeString, mark_safe
from django.utils.translation import gettext as _

from dashboards import charts
from dashboards.charts import Bar, Point, Series
from dashboards.fragments import cached_fragment
from dashboards.models import DailySnapshot
from dashboards.selectors import TREND_DAYS, Breakdowns, Dashboard, Row, breakdowns_for, dashboard_for
from measures.models import COMPLETED_STATUSES, OPEN_STATUSES, MeasureStatus

# The ledger query each count of a Figure stands for (measures.filters.MeasureFilter).
# Completed means completed, reviewed or signed off, as in the figures; 本期未汇报 is the
# ledger's not_reported filter, which like the figures counts open measures only.
LEDGER_FILTERS: dict[str, list[tuple[str, str]]] = {
    "measures": [],
    "completed": [("status", s.value) for s in COMPLETED_STATUSES],
    "open": [("status", s.value) for s in OPEN_STATUSES],
    "signed_off": [("status", MeasureStatus.SIGNED_OFF.value)],
    "overdue": [("overdue", "true")],
    "due_soon": [("due_soon", "true")],
    "not_reported": [("not_reported", "true")],
}
# The ledger parameter that selects one row of each breakdown.
SCOPE_PARAMETER = {"inspection": "inspection", "category": "category", "department": "department", "leader": "leader"}

NOT_REPORTED_ROWS = 10
# Daily snapshots needed before the trend chart is drawn: a line needs two days.
MIN_TREND_SNAPSHOTS = 2
# The columns of a breakdown table after its label (templates/dashboards/_breakdown_table.html).
TABLE_COLUMNS = (
    "measures",
    "completed",
    "completion_rate",
    "signed_off",
    "sign_off_rate",
    "open",
    "overdue",
    "due_soon",
    "not_reported",
)


def _series() -> tuple[Series, Series]:
    # Built per request so the legend follows the user's language.
    return Series(_("整改完成率"), "#81c784"), Series(_("销号率"), "#2e7d32")


class LedgerLinks:
    """Builds the ledger URL of every count of a page.

    A page holds some hundred rows of seven linked counts each; reversing the URL and
    encoding the fixed part of each query once per page rather than per link keeps that
    cheap (it was a third of the dashboard's rendering time).
    """

    def __init__(self) -> None:
        self.url = reverse("measures:ledger")
        self.extra = {count: urlencode(filters) for count, filters in LEDGER_FILTERS.items()}

    def query(self, filters: Sequence[tuple[str, object]]) -> str:
        return f"{self.url}?{urlencode(filters)}" if filters else self.url

    def counts(self, base: Sequence[tuple[str, object]]) -> dict[str, str]:
        prefix = urlencode(base)
        return {
            count: f"{self.url}?{'&'.join(part for part in (prefix, extra) if part)}" if (prefix or extra) else self.url
            for count, extra in self.extra.items()
        }


def cell(text: str, *, count: int | None = None, href: str = "", tone: str = "") -> SafeString:
    """One <td> of a breakdown table, built here rather than in the template: a dashboard
    holds about a thousand of them, and resolving five template variables per cell was
    most of the page's rendering time. Every part is escaped (html.escape: the cells are
    numbers, rates and our own ledger URLs)."""
    if href:
        return mark_safe(  # noqa: S308 (escaped above)
            f'<td class="r {tone}"><a class="num" href="{escape(href)}" data-count="{count}">{escape(text)}</a></td>'
        )
    return mark_safe(f'<td class="r {tone}">{escape(text)}</td>')  # noqa: S308 (escaped)


def rate_text(rate: Decimal | None) -> str:
    return "—" if rate is None else f"{rate}%"


def _cells(row: Row, *, with_findings: bool) -> list[SafeString]:
    f, links = row.figure, row.links
    counts = {
        "measures": f.measures,
        "completed": f.completed,
        "signed_off": f.signed_off,
        "open": row.open,
        "overdue": f.overdue,
        "due_soon": f.due_soon,
        "not_reported": f.not_reported,
    }
    tones = {"overdue": "bad" if f.overdue else "", "due_soon": "warn" if f.due_soon else ""}
    cells = []
    for key in TABLE_COLUMNS:
        if key == "completion_rate":
            cells.append(cell(rate_text(f.completion_rate), tone="rate"))
        elif key == "sign_off_rate":
            cells.append(cell(rate_text(f.sign_off_rate), tone="rate"))
        else:
            n = counts[key]
            cells.append(cell(f"{n:,}", count=n, href=links[key], tone=tones.get(key, "")))
    if with_findings:
        # Findings are not ledger rows (the ledger lists measures): no link.
        cells.append(cell(f"{f.rectified_findings:,} / {f.findings:,}", tone="nowrap"))
    return cells


def link_rows(
    links: LedgerLinks, rows: Iterable[Row], base: Sequence[tuple[str, object]], *, with_findings: bool
) -> None:
    for row in rows:
        row.links = links.counts([*base, (SCOPE_PARAMETER[row.kind], row.id)])
        # One string per row: a loop over ten cells in the template cost a variable lookup,
        # localisation and escape check per cell, some 700 of them on a dashboard.
        row.cells = mark_safe("".join(_cells(row, with_findings=with_findings)))  # noqa: S308 (escaped cells)


def _bars(rows: Iterable[Row]) -> list[Bar]:
    return [
        Bar(
            row.label,
            (row.figure.completion_rate, row.figure.sign_off_rate),
            _("超期 %(n)d") % {"n": row.figure.overdue} if row.figure.overdue else "",
        )
        for row in rows
    ]


def rate_chart(chart_id: str, title: str, rows: list[Row]) -> str:
    return charts.bar_chart(
        chart_id=chart_id,
        title=title,
        desc=_("横向条形图:每行的整改完成率(浅色)和销号率(深色),末尾注明超期条数。数据及链接见下表。"),
        bars=_bars(rows),
        series=_series(),
    )


def _trend_points(trend: list[DailySnapshot]) -> tuple[list[Point], list[Point]]:
    completion = [Point(s.day, s.completion_rate) for s in trend]
    sign_off = [Point(s.day, s.sign_off_rate) for s in trend]
    return completion, sign_off


def _weekly(trend: list[DailySnapshot]) -> list[DailySnapshot]:
    """The latest day and then one day at least a week before each: the printed and
    spoken trend table. The chart shows every day; thirteen rows say the same to a reader."""
    picked: list[DailySnapshot] = []
    for snapshot in reversed(trend):
        if not picked or (picked[-1].day - snapshot.day).days >= 7:
            picked.append(snapshot)
    return picked[::-1]


def _trend_desc(trend: list[DailySnapshot]) -> str:
    if not trend:
        return _("暂无每日快照数据。")
    first, last = trend[0], trend[-1]
    return _("折线图:%(start)s 至 %(end)s 每日整改完成率和销号率;完成率由 %(a)s 变为 %(b)s。") % {
        "start": first.day.isoformat(),
        "end": last.day.isoformat(),
        "a": charts.format_value(first.completion_rate, "%"),
        "b": charts.format_value(last.completion_rate, "%"),
    }


def _trend_chart(trend: list[DailySnapshot]) -> str:
    """The line chart, or "" before there are two days to draw a line between: a new
    installation (or a fresh demo) has only today's snapshot, and one dot on an empty axis
    reads like a broken chart. The template then says when the trend will appear."""
    if len(trend) < MIN_TREND_SNAPSHOTS:
        return ""
    completion, sign_off = _trend_points(trend)
    return charts.line_chart(
        chart_id="chart-trend",
        title=_("整改完成率趋势(近 %(n)d 天)") % {"n": TREND_DAYS},
        desc=_trend_desc(trend),
        lines=list(zip(_series(), (completion, sign_off), strict=True)),
    )


def breakdowns_html(
    data: Dashboard, ledger: LedgerLinks, base: list[tuple[str, object]], links: dict[str, str], today: date
) -> str:
    """The dashboard's breakdowns, charts and trend (templates/dashboards/_breakdowns.html).
    Depends on the scope, the figures, the names and the day only: see dashboards.fragments."""
    breakdowns: Breakdowns = breakdowns_for(data, today=today)
    for rows in (breakdowns.inspections, breakdowns.categories, breakdowns.departments, breakdowns.leaders):
        link_rows(ledger, rows, base, with_findings=not data.live)
    # 逾期未报: the departments with the most open measures not reported this period.
    not_reported = sorted(
        (r for r in breakdowns.departments if r.figure.not_reported),
        key=lambda r: (-r.figure.not_reported, r.label),
    )
    context = {
        "data": data,
        "breakdowns": breakdowns,
        "show_findings": not data.live,
        "department_query": urlencode(base),
        "links": links,
        "not_reported": [
            {
                "row": row,
                "not_reported": cell(
                    f"{row.figure.not_reported:,}",
                    count=row.figure.not_reported,
                    href=row.links["not_reported"],
                    tone="warn",
                ),
                "open": cell(f"{row.open:,}", count=row.open, href=row.links["open"]),
            }
            for row in not_reported[:NOT_REPORTED_ROWS]
        ],
        "not_reported_departments": len(not_reported),
        "inspection_chart": rate_chart("chart-inspections", _("各检查整改完成率"), breakdowns.inspections),
        "category_chart": rate_chart("chart-categories", _("各问题类别整改完成率"), breakdowns.categories),
        "department_chart": rate_chart("chart-departments", _("责任单位整改完成率排名"), breakdowns.departments),
        "leader_chart": rate_chart("chart-leaders", _("各责任领导分管措施整改完成率"), breakdowns.leaders),
        "trend_chart": _trend_chart(breakdowns.trend),
        "trend_table": [
            {
                "day": s.day,
                "measures": f"{s.measures:,}",
                "completed": f"{s.completed:,}",
                "completion_rate": rate_text(s.completion_rate),
                "sign_off_rate": rate_text(s.sign_off_rate),
            }
            for s in _weekly(breakdowns.trend)
        ],
    }
    return render_to_string("dashboards/_breakdowns.html", context)


def bureau_breakdowns(data: Dashboard, ledger: LedgerLinks, links: dict[str, str], today: date) -> SafeString:
    """The whole bureau's breakdowns (data.department None), from the cache when the figures
    and names have not changed since they were rendered in this language today."""
    computed_at = data.headline.computed_at.isoformat() if data.headline else "none"
    selected = data.selected_inspection.pk if data.selected_inspection else "all"
    return cached_fragment(
        ("dashboard", selected, translation.get_language()),
        lambda: breakdowns_html(data, ledger, [], links, today),
        rendered_from=(computed_at, today.isoformat()),
    )


def warm_bureau_breakdowns(today: date) -> None:
    """Render the whole bureau's dashboard breakdowns into the cache in every language,
    as the page would (after a recompute, for the figures it just wrote)."""
    for language, _name in settings.LANGUAGES:
        with translation.override(language):
            data = dashboard_for(department_id=None, inspection_id=None)
            ledger = LedgerLinks()
            bureau_breakdowns(data, ledger, ledger.counts([]), today)
