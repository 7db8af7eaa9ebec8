"""Dashboard pages. Thin: who sees which department in measures.permissions, the reads in
dashboards.selectors, the pictures in dashboards.charts.

Every count on these pages links to the ledger filtered to exactly the rows it counts, so
a leader can click "超期 12" and find those twelve measures. The filters a count stands
for are spelled out once, in LEDGER_FILTERS.
"""

from __future__ import annotations

import logging
from collections.abc import Iterable, Sequence
from dataclasses import dataclass
from datetime import date
from decimal import Decimal
from html import escape
from urllib.parse import urlencode

from django.contrib import messages
from django.contrib.auth.decorators import login_required
from django.core.exceptions import PermissionDenied
from django.http import Http404, HttpRequest, HttpResponse
from django.shortcuts import redirect, render
from django.template.loader import render_to_string
from django.urls import reverse
from django.utils import timezone
from django.utils.http import url_has_allowed_host_and_scheme
from django.utils.safestring import SafeString, mark_safe
from django.utils.translation import get_language
from django.utils.translation import gettext as _
from django.views.decorators.http import require_POST
from kombu.exceptions import OperationalError as BrokerError

from dashboards import charts
from dashboards.charts import Bar, Point, Series
from dashboards.fragments import cached_fragment
from dashboards.models import DailySnapshot, Figure
from dashboards.rates import rate_percent
from dashboards.selectors import (
    TREND_DAYS,
    Breakdowns,
    Dashboard,
    InspectionDashboard,
    Row,
    breakdowns_for,
    dashboard_for,
    departments_for_choice,
    figures_stale_since,
    inspection_dashboard_for,
)
from findings.models import Inspection
from measures.models import COMPLETED_STATUSES, OPEN_STATUSES, MeasureStatus
from measures.permissions import Action, can, dashboard_department, sees_everything

logger = logging.getLogger(__name__)

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


def _cell(text: str, *, count: int | None = None, href: str = "", tone: str = "") -> SafeString:
    """One <td> of a breakdown table, built here rather than in the template: a dashboard
    holds about a thousand of them, and resolving five template variables per cell was
    most of the page's rendering time. Every part is escaped (html.escape: the cells are
    numbers, rates and our own ledger URLs)."""
    if href:
        return mark_safe(  # noqa: S308 (escaped above)
            f'<td class="r {tone}"><a class="num" href="{escape(href)}" data-count="{count}">{escape(text)}</a></td>'
        )
    return mark_safe(f'<td class="r {tone}">{escape(text)}</td>')  # noqa: S308 (escaped)


def _rate_text(rate: Decimal | None) -> str:
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
            cells.append(_cell(_rate_text(f.completion_rate), tone="rate"))
        elif key == "sign_off_rate":
            cells.append(_cell(_rate_text(f.sign_off_rate), tone="rate"))
        else:
            n = counts[key]
            cells.append(_cell(f"{n:,}", count=n, href=links[key], tone=tones.get(key, "")))
    if with_findings:
        # Findings are not ledger rows (the ledger lists measures): no link.
        cells.append(_cell(f"{f.rectified_findings:,} / {f.findings:,}", tone="nowrap"))
    return cells


def _link_rows(
    links: LedgerLinks, rows: Iterable[Row], base: Sequence[tuple[str, object]], *, with_findings: bool
) -> None:
    for row in rows:
        row.links = links.counts([*base, (SCOPE_PARAMETER[row.kind], row.id)])
        # One string per row: a loop over ten cells in the template cost a variable lookup,
        # localisation and escape check per cell, some 700 of them on a dashboard.
        row.cells = mark_safe("".join(_cells(row, with_findings=with_findings)))  # noqa: S308 (escaped cells)


def _int_param(request: HttpRequest, name: str) -> int | None:
    try:
        value = int(request.GET.get(name, ""))
    except ValueError:
        return None
    return value if value > 0 else None


@dataclass
class Tile:
    key: str
    label: str
    value: int | None = None
    rate: Decimal | None = None
    total: int | None = None
    href: str = ""
    tone: str = ""
    is_rate: bool = False

    @property
    def text(self) -> str:
        return _rate_text(self.rate) if self.is_rate else f"{self.value or 0:,}"

    @property
    def total_text(self) -> str:
        return f"{self.total or 0:,}"

    @property
    def count(self) -> str:
        # A string, so the template does not localise it: data-count is read by tests.
        return str(self.value or 0)


def _tiles(figure: Figure | None, links: dict[str, str], *, with_findings: bool) -> list[Tile]:
    f = figure or Figure()
    tiles = [
        Tile("measures", _("整改措施"), f.measures, href=links["measures"]),
        Tile("completed", _("已完成"), f.completed, href=links["completed"], tone="good"),
        Tile("completion_rate", _("整改完成率"), rate=f.completion_rate, tone="good", is_rate=True),
        Tile("signed_off", _("已销号"), f.signed_off, href=links["signed_off"], tone="good"),
        Tile("sign_off_rate", _("销号率"), rate=f.sign_off_rate, tone="good", is_rate=True),
        Tile("overdue", _("超期"), f.overdue, href=links["overdue"], tone="bad" if f.overdue else ""),
        Tile("due_soon", _("临期"), f.due_soon, href=links["due_soon"], tone="warn" if f.due_soon else ""),
        Tile(
            "not_reported",
            _("本期未汇报"),
            f.not_reported,
            href=links["not_reported"],
            tone="warn" if f.not_reported else "",
        ),
    ]
    if with_findings:
        # Findings are not ledger rows (the ledger lists measures), so this tile links nowhere.
        tiles.append(Tile("findings", _("问题整改到位"), f.rectified_findings, total=f.findings))
    return tiles


def _bars(rows: Iterable[Row]) -> list[Bar]:
    return [
        Bar(
            row.label,
            (row.figure.completion_rate, row.figure.sign_off_rate),
            _("超期 %(n)d") % {"n": row.figure.overdue} if row.figure.overdue else "",
        )
        for row in rows
    ]


def _rate_chart(chart_id: str, title: str, rows: list[Row]) -> str:
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


@login_required
def dashboard(request: HttpRequest) -> HttpResponse:
    department_id = dashboard_department(request.user, _int_param(request, "department"))
    today = timezone.localdate()
    data: Dashboard = dashboard_for(department_id=department_id, inspection_id=_int_param(request, "inspection"))
    base: list[tuple[str, object]] = [("department", data.department.pk)] if data.department else []
    ledger = LedgerLinks()
    links = ledger.counts(base)
    if data.live:
        # One department's breakdowns are counted live: nothing to keep between requests.
        breakdowns_html = _breakdowns_html(data, ledger, base, links, today)
    else:
        computed_at = data.headline.computed_at.isoformat() if data.headline else "none"
        selected = data.selected_inspection.pk if data.selected_inspection else "all"
        breakdowns_html = cached_fragment(
            ("dashboard", selected, get_language(), today.isoformat(), computed_at),
            lambda: _breakdowns_html(data, ledger, base, links, today),
        )
    _mark_days_late([*data.overdue, *data.due_soon], today)
    context = {
        "nav": "dashboard",
        "data": data,
        "scope_name": data.department.name if data.department else _("全局"),
        "department_query": urlencode(base),
        "can_choose_department": sees_everything(request.user),
        "department_choices": departments_for_choice() if sees_everything(request.user) else [],
        "can_recompute": can(request.user, Action.RECOMPUTE_FIGURES),
        "computed_at": data.headline.computed_at if data.headline else None,
        "figures_stale_since": figures_stale_since(data.headline.computed_at if data.headline else None),
        "tiles": _tiles(data.headline, links, with_findings=not data.live),
        "links": links,
        "breakdowns_html": breakdowns_html,
        "today": today,
        "recompute_next": request.get_full_path(),
    }
    return render(request, "dashboards/dashboard.html", context)


def _breakdowns_html(
    data: Dashboard, ledger: LedgerLinks, base: list[tuple[str, object]], links: dict[str, str], today: date
) -> str:
    """The dashboard's breakdowns, charts and trend (templates/dashboards/_breakdowns.html).
    Depends on the scope, the figures, the names and the day only: see dashboards.fragments."""
    breakdowns: Breakdowns = breakdowns_for(data, today=today)
    for rows in (breakdowns.inspections, breakdowns.categories, breakdowns.departments, breakdowns.leaders):
        _link_rows(ledger, rows, base, with_findings=not data.live)
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
                "not_reported": _cell(
                    f"{row.figure.not_reported:,}",
                    count=row.figure.not_reported,
                    href=row.links["not_reported"],
                    tone="warn",
                ),
                "open": _cell(f"{row.open:,}", count=row.open, href=row.links["open"]),
            }
            for row in not_reported[:NOT_REPORTED_ROWS]
        ],
        "not_reported_departments": len(not_reported),
        "inspection_chart": _rate_chart("chart-inspections", _("各检查整改完成率"), breakdowns.inspections),
        "category_chart": _rate_chart("chart-categories", _("各问题类别整改完成率"), breakdowns.categories),
        "department_chart": _rate_chart("chart-departments", _("责任单位整改完成率排名"), breakdowns.departments),
        "leader_chart": _rate_chart("chart-leaders", _("各责任领导分管措施整改完成率"), breakdowns.leaders),
        "trend_chart": _trend_chart(breakdowns.trend),
        "trend_table": [
            {
                "day": s.day,
                "measures": f"{s.measures:,}",
                "completed": f"{s.completed:,}",
                "completion_rate": _rate_text(s.completion_rate),
                "sign_off_rate": _rate_text(s.sign_off_rate),
            }
            for s in _weekly(breakdowns.trend)
        ],
    }
    return render_to_string("dashboards/_breakdowns.html", context)


@login_required
def inspection_dashboard(request: HttpRequest, inspection_id: int) -> HttpResponse:
    department_id = dashboard_department(request.user, _int_param(request, "department"))
    try:
        data: InspectionDashboard = inspection_dashboard_for(inspection_id=inspection_id, department_id=department_id)
    except Inspection.DoesNotExist:
        raise Http404
    base: list[tuple[str, object]] = [("department", data.department.pk)] if data.department else []
    ledger = LedgerLinks()
    _link_rows(ledger, data.categories, base, with_findings=not data.live)
    _link_rows(ledger, data.lookbacks, [], with_findings=True)
    links = ledger.counts([*base, ("inspection", inspection_id)])
    _mark_days_late(data.open_measures, timezone.localdate())
    for finding in data.findings:
        finding.ledger_url = ledger.query([*base, ("finding", finding.pk)])  # type: ignore[attr-defined]
        finding.completion_rate = rate_percent(finding.n_completed, finding.n_measures)  # type: ignore[attr-defined]
    context = {
        "nav": "dashboard",
        "data": data,
        "scope_name": data.department.name if data.department else _("全局"),
        "show_findings": not data.live,
        "department_query": urlencode(base),
        "open_measures": data.headline.measures - data.headline.completed,
        "completion_rate": charts.format_value(data.headline.completion_rate, "%"),
        "tiles": _tiles(data.headline, links, with_findings=not data.live),
        "links": links,
        "computed_at": data.headline.computed_at,
        "live_only": data.live,
        "figures_stale_since": None if data.live else figures_stale_since(data.headline.computed_at),
        "can_recompute": can(request.user, Action.RECOMPUTE_FIGURES),
        "category_chart": _rate_chart("chart-categories", _("各问题类别整改完成率"), data.categories),
        "today": timezone.localdate(),
        "recompute_next": request.get_full_path(),
    }
    return render(request, "dashboards/inspection.html", context)


@login_required
@require_POST
def recompute(request: HttpRequest) -> HttpResponse:
    """Queue the recompute job now; without a reachable broker, run it in this request."""
    if not can(request.user, Action.RECOMPUTE_FIGURES):
        raise PermissionDenied
    # Imported here: the task module connects to Celery, which the pages never need.
    from dashboards.services import figures_recompute
    from dashboards.tasks import recompute_figures

    try:
        # ignore_result: nobody waits for the outcome here, and subscribing to the result
        # backend is what hangs (twenty reconnect tries) when Redis is down.
        recompute_figures.apply_async(ignore_result=True)
    except (BrokerError, OSError) as exc:
        logger.warning("Recompute could not be queued (%s); running it in the request.", exc)
        result = figures_recompute()
        if result.skipped:
            messages.warning(request, _("任务队列不可用;另一个统计任务正在运行,请稍后刷新查看。"))
        else:
            messages.success(
                request,
                _("任务队列不可用,已在本次请求中直接重新计算统计数据(用时 %(s).1f 秒)。") % {"s": result.seconds},
            )
    else:
        messages.success(request, _("已提交重新计算任务,通常一分钟内完成,请稍后刷新本页。"))
    return redirect(_safe_next(request))


def _safe_next(request: HttpRequest) -> str:
    target = request.POST.get("next", "")
    if target and url_has_allowed_host_and_scheme(target, allowed_hosts={request.get_host()}):
        return target
    return reverse("dashboards:dashboard")


def _mark_days_late(measures: Iterable, today: date) -> None:
    for measure in measures:
        measure.days_late = (today - measure.deadline).days
        measure.days_left = -measure.days_late
