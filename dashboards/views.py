"""Dashboard pages. Thin: who sees which department in measures.permissions, the reads in
dashboards.selectors, the tables and charts in dashboards.breakdowns.
"""

from __future__ import annotations

import logging
from collections.abc import Iterable
from dataclasses import dataclass
from datetime import date
from decimal import Decimal
from urllib.parse import urlencode

from django.contrib import messages
from django.contrib.auth.decorators import login_required
from django.core.exceptions import PermissionDenied
from django.http import Http404, HttpRequest, HttpResponse
from django.shortcuts import redirect, render
from django.urls import reverse
from django.utils import timezone
from django.utils.http import url_has_allowed_host_and_scheme
from django.utils.translation import gettext as _
from django.views.decorators.http import require_POST
from kombu.exceptions import OperationalError as BrokerError

from dashboards import charts
from dashboards.breakdowns import LedgerLinks, breakdowns_html, bureau_breakdowns, link_rows, rate_chart, rate_text
from dashboards.models import Figure
from dashboards.selectors import (
    Dashboard,
    InspectionDashboard,
    dashboard_for,
    departments_for_choice,
    figures_stale_since,
    inspection_dashboard_for,
)
from findings.models import Inspection
from measures.permissions import Action, can, dashboard_department, sees_everything
from measures.rates import rate_percent

logger = logging.getLogger(__name__)


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
        return rate_text(self.rate) if self.is_rate else f"{self.value or 0:,}"

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
        breakdowns = breakdowns_html(data, ledger, base, links, today)
    else:
        breakdowns = bureau_breakdowns(data, ledger, links, today)
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
        "breakdowns_html": breakdowns,
        "today": today,
        "recompute_next": request.get_full_path(),
    }
    return render(request, "dashboards/dashboard.html", context)


@login_required
def inspection_dashboard(request: HttpRequest, inspection_id: int) -> HttpResponse:
    department_id = dashboard_department(request.user, _int_param(request, "department"))
    try:
        data: InspectionDashboard = inspection_dashboard_for(inspection_id=inspection_id, department_id=department_id)
    except Inspection.DoesNotExist:
        raise Http404
    base: list[tuple[str, object]] = [("department", data.department.pk)] if data.department else []
    ledger = LedgerLinks()
    link_rows(ledger, data.categories, base, with_findings=not data.live)
    link_rows(ledger, data.lookbacks, [], with_findings=True)
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
        "category_chart": rate_chart("chart-categories", _("各问题类别整改完成率"), data.categories),
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
