"""The dashboard pages: what they count, where each number leads, and how many queries
they take as the ledger grows."""

import datetime as dt
import itertools
from dataclasses import dataclass
from html.parser import HTMLParser
from unittest import mock

import pytest
from django.contrib.messages import get_messages
from django.urls import reverse
from django.utils import timezone
from kombu.exceptions import OperationalError as BrokerError

from accounts.models import Department, Role, User
from dashboards.models import DailySnapshot, Figure, ScopeKind
from dashboards.selectors import figures_stale_since
from dashboards.services import figures_recompute, reporting_period
from findings.models import Inspection
from measures.models import COMPLETED_STATUSES, Measure, MeasureStatus, ProgressReport
from measures.rates import rate_percent
from measures.services import progress_report_add
from tests.dashboards.conftest import status_fields
from tests.factories import CategoryFactory, DepartmentFactory, FindingFactory, InspectionFactory, make_user

pytestmark = pytest.mark.django_db

STATUSES = [
    MeasureStatus.NOT_STARTED,
    MeasureStatus.IN_PROGRESS,
    MeasureStatus.COMPLETED,
    MeasureStatus.REVIEWED,
    MeasureStatus.SIGNED_OFF,
    MeasureStatus.RETURNED,
    MeasureStatus.SIGNED_OFF,
]
# Days from today: overdue, due soon (within DUE_SOON_DAYS), later.
DEADLINE_OFFSETS = [-40, -3, 0, 5, 30, -12, 90]


@pytest.fixture(autouse=True)
def _fast_passwords(settings):
    settings.PASSWORD_HASHERS = ["django.contrib.auth.hashers.MD5PasswordHasher"]


@dataclass
class Ledger:
    office: User
    departments: list[Department]
    leaders: list[User]
    inspections: list[Inspection]


def build_ledger(*, inspections: int, departments: int, leaders: int, measures_per_finding: int = 3) -> Ledger:
    """A ledger whose breakdowns all grow with its size: more inspections, categories,
    departments and leaders, measures in every status, deadlines on both sides of today,
    and progress reports for some open measures this period. Then one recompute."""
    today = timezone.localdate()
    office = make_user(Role.OFFICE, username="dash_office")
    depts = [DepartmentFactory(name=f"测试单位{i}") for i in range(departments)]
    heads = [make_user(Role.LEADERSHIP, username=f"dash_leader{i}", full_name=f"领导{i}") for i in range(leaders)]
    status_cycle = itertools.cycle(STATUSES)
    offset_cycle = itertools.cycle(DEADLINE_OFFSETS)
    dept_cycle = itertools.cycle(depts)
    leader_cycle = itertools.cycle([*heads, None])
    created = []
    for i in range(inspections):
        feedback = today - dt.timedelta(days=30 * i)
        inspection = InspectionFactory(feedback_date=feedback, deadline=feedback + dt.timedelta(days=180))
        created.append(inspection)
        for category in CategoryFactory.create_batch(2, inspection=inspection):
            for finding in FindingFactory.create_batch(2, category=category, inspection=inspection):
                for number in range(1, measures_per_finding + 1):
                    status = next(status_cycle)
                    measure = Measure.objects.create(
                        finding=finding,
                        inspection=inspection,
                        category=category,
                        number=number,
                        text=f"整改措施 {finding.number}-{number}",
                        lead_department=next(dept_cycle),
                        responsible_leader=next(leader_cycle),
                        deadline=today + dt.timedelta(days=next(offset_cycle)),
                        **status_fields(status, office),
                    )
                    if number % 2:
                        ProgressReport.objects.create(measure=measure, reported_on=today, text="进展", author=office)
    figures_recompute(today=today)
    return Ledger(office, depts, heads, created)


SMALL = {"inspections": 1, "departments": 2, "leaders": 1}
LARGE = {"inspections": 5, "departments": 6, "leaders": 4}


class NumberLinks(HTMLParser):
    """Collects every linked number on a page: <a class="num" href=… data-count=…>."""

    def __init__(self) -> None:
        super().__init__()
        self.links: list[tuple[str, int, str]] = []  # (href, count, scope of the enclosing row)
        self._scope = ""

    def handle_starttag(self, tag: str, attrs: list[tuple[str, str | None]]) -> None:
        a = dict(attrs)
        if tag == "tr":
            self._scope = a.get("data-scope") or ""
        if tag == "li" and (a.get("data-testid") or "").startswith("tile-"):
            self._scope = a["data-testid"] or ""
        if tag == "a" and "num" in (a.get("class") or "").split():
            self.links.append((a["href"] or "", int(a["data-count"] or -1), self._scope))


def number_links(html: str) -> list[tuple[str, int, str]]:
    parser = NumberLinks()
    parser.feed(html)
    return parser.links


def ledger_count(client, href: str) -> int:
    response = client.get(href)
    assert response.status_code == 200, href
    return response.context["page"].paginator.count


# --- What the numbers are -----------------------------------------------------------------


def test_tiles_show_the_ledgers_counts_and_rates(client, leader_user):
    build_ledger(**LARGE)
    client.force_login(leader_user)
    response = client.get(reverse("dashboards:dashboard"))
    assert response.status_code == 200
    tiles = {t.key: t for t in response.context["tiles"]}
    all_measures = Measure.objects.count()
    completed = Measure.objects.filter(status__in=COMPLETED_STATUSES).count()
    signed_off = Measure.objects.filter(status=MeasureStatus.SIGNED_OFF).count()
    today = timezone.localdate()
    overdue = Measure.objects.filter(deadline__lt=today).exclude(status__in=COMPLETED_STATUSES).count()
    assert tiles["measures"].value == all_measures
    assert tiles["completed"].value == completed
    assert tiles["completion_rate"].rate == rate_percent(completed, all_measures)
    assert tiles["signed_off"].value == signed_off
    assert tiles["sign_off_rate"].rate == rate_percent(signed_off, all_measures)
    assert tiles["overdue"].value == overdue > 0
    html = response.content.decode()
    assert f"{tiles['completion_rate'].rate}%" in html
    assert "数据更新于" in html


def test_every_number_on_the_dashboard_leads_to_a_ledger_of_that_many_measures(client, leader_user):
    ledger = build_ledger(**LARGE)
    client.force_login(leader_user)
    html = client.get(reverse("dashboards:dashboard")).content.decode()
    links = number_links(html)
    scopes = {scope for _href, _count, scope in links}
    # The tiles, a row of each breakdown, the overdue list's total: all present and all checked.
    assert {"tile-measures", "tile-completed", "tile-signed_off", "tile-overdue", "tile-due_soon"} <= scopes
    assert f"inspection-{ledger.inspections[0].pk}" in scopes
    assert f"department-{ledger.departments[0].pk}" in scopes
    assert f"leader-{ledger.leaders[0].pk}" in scopes
    assert any(scope.startswith("category-") for scope in scopes)
    for href, count, scope in links:
        assert ledger_count(client, href) == count, (scope, href)


def test_overdue_tile_and_list_agree_with_the_ledger(client, leader_user):
    build_ledger(**LARGE)
    client.force_login(leader_user)
    response = client.get(reverse("dashboards:dashboard"))
    overdue = response.context["data"].overdue
    total = next(t for t in response.context["tiles"] if t.key == "overdue").value
    full_list = client.get(response.context["links"]["overdue"] + "&ordering=deadline")
    assert full_list.context["page"].paginator.count == total
    # Oldest deadline first, the same measures the ledger lists first in deadline order.
    assert [m.deadline for m in overdue] == sorted(m.deadline for m in overdue)
    # The ledger breaks ties between equal deadlines its own way, so compare the deadlines.
    ledger_rows = list(full_list.context["page"].object_list)[: len(overdue)]
    assert [m.deadline for m in overdue] == [m.deadline for m in ledger_rows]
    assert {m.pk for m in overdue} <= set(Measure.objects.filter(is_overdue=True).values_list("pk", flat=True))
    assert all(m.is_overdue for m in overdue)


def test_department_ranking_puts_the_best_completion_rate_first(client, leader_user):
    build_ledger(**LARGE)
    client.force_login(leader_user)
    rows = client.get(reverse("dashboards:dashboard")).context["breakdowns"].departments
    rates = [r.figure.completion_rate for r in rows]
    assert rates == sorted(rates, reverse=True)
    assert {r.id for r in rows} == set(Measure.objects.values_list("lead_department_id", flat=True))


def test_departments_that_have_not_reported_are_listed_with_their_open_unreported_measures(client, leader_user):
    build_ledger(**LARGE)
    client.force_login(leader_user)
    response = client.get(reverse("dashboards:dashboard"))
    listed = {r["row"].id: r["row"].figure.not_reported for r in response.context["not_reported"]}
    assert listed
    period_start, _end = reporting_period(timezone.localdate())
    for department_id, count in listed.items():
        expected = (
            Measure.objects.filter(lead_department_id=department_id)
            .exclude(status__in=COMPLETED_STATUSES)
            .exclude(progress_reports__reported_on__gte=period_start)
        )
        assert count == expected.count()
        assert count == ledger_count(client, f"/ledger/?department={department_id}&not_reported=true")


def test_categories_of_a_selected_inspection_come_in_the_notices_order(client, leader_user):
    ledger = build_ledger(**LARGE)
    client.force_login(leader_user)
    inspection = ledger.inspections[2]
    response = client.get(reverse("dashboards:dashboard"), {"inspection": inspection.pk})
    rows = response.context["breakdowns"].categories
    assert [r.id for r in rows] == list(inspection.categories.order_by("order").values_list("id", flat=True))


def test_trend_reads_the_daily_snapshots_of_the_last_ninety_days(client, leader_user):
    build_ledger(**SMALL)
    today = timezone.localdate()
    overall = Figure.objects.get(scope_kind=ScopeKind.OVERALL)
    counts = {"measures": 10, "completed": 4, "computed_at": timezone.now()}
    DailySnapshot.objects.create(scope_kind=ScopeKind.OVERALL, day=today - dt.timedelta(days=30), **counts)
    DailySnapshot.objects.create(scope_kind=ScopeKind.OVERALL, day=today - dt.timedelta(days=120), **counts)
    client.force_login(leader_user)
    response = client.get(reverse("dashboards:dashboard"))
    days = [s.day for s in response.context["breakdowns"].trend]
    assert days == [today - dt.timedelta(days=30), today]
    svg = str(response.context["trend_chart"])
    assert 'role="img"' in svg and "<desc" in svg
    assert f"{overall.completion_rate}%" in svg
    assert "40.00%" in response.content.decode()  # the older point, in the table alternative


def test_trend_with_only_todays_snapshot_says_when_it_will_appear_instead_of_an_empty_axis(client, leader_user):
    build_ledger(**SMALL)  # one recompute: today's snapshot only, as on a new installation
    assert DailySnapshot.objects.filter(scope_kind=ScopeKind.OVERALL).count() == 1
    client.force_login(leader_user)
    response = client.get(reverse("dashboards:dashboard"))
    html = response.content.decode()
    assert 'id="chart-trend"' not in html
    assert 'data-testid="trend-note"' in html
    assert "趋势图需要至少两天的每日快照" in html
    # The day there is, in the printed table.
    assert [row["day"] for row in response.context["trend_table"]] == [timezone.localdate()]

    DailySnapshot.objects.create(
        scope_kind=ScopeKind.OVERALL,
        day=timezone.localdate() - dt.timedelta(days=1),
        measures=1,
        computed_at=timezone.now(),
    )
    figures_recompute()  # as the next day's run would: snapshots are written by recomputes only
    html = client.get(reverse("dashboards:dashboard")).content.decode()
    assert 'id="chart-trend"' in html
    assert 'data-testid="trend-note"' not in html


# --- Who sees what ------------------------------------------------------------------------


def test_staff_see_their_own_departments_dashboard_and_cannot_ask_for_another(client):
    ledger = build_ledger(**LARGE)
    own, other = ledger.departments[0], ledger.departments[1]
    staff = make_user(Role.STAFF, own, username="dash_staff")
    client.force_login(staff)
    response = client.get(reverse("dashboards:dashboard"), {"department": other.pk})
    data = response.context["data"]
    assert data.department == own
    assert response.context["breakdowns"].departments == []  # no ranking of other departments' figures
    led = Measure.objects.filter(lead_department=own)
    tiles = {t.key: t for t in response.context["tiles"]}
    assert tiles["measures"].value == led.count()
    assert tiles["completed"].value == led.filter(status__in=COMPLETED_STATUSES).count()
    assert {m.lead_department_id for m in data.overdue} <= {own.pk}
    assert sum(r.figure.measures for r in response.context["breakdowns"].inspections) == led.count()
    html = response.content.decode()
    assert other.name not in html
    for href, count, scope in number_links(html):
        assert ledger_count(client, href) == count, (scope, href)


def test_leadership_may_narrow_the_dashboard_to_one_department(client, auditor_user):
    ledger = build_ledger(**LARGE)
    department = ledger.departments[2]
    client.force_login(auditor_user)
    response = client.get(reverse("dashboards:dashboard"), {"department": department.pk})
    assert response.context["data"].department == department
    for href, count, scope in number_links(response.content.decode()):
        assert f"department={department.pk}" in href
        assert ledger_count(client, href) == count, (scope, href)


def test_a_user_without_a_role_is_refused(client, db):
    user = User.objects.create_user(username="dash_nobody", password="x")
    client.force_login(user)
    assert client.get(reverse("dashboards:dashboard")).status_code == 403


def test_home_opens_the_dashboard(client, leader_user):
    client.force_login(leader_user)
    response = client.get("/")
    assert response.status_code == 302
    assert response.url == reverse("dashboards:dashboard")


def test_the_navigation_links_to_the_dashboard(client, leader_user):
    client.force_login(leader_user)
    html = client.get(reverse("measures:ledger")).content.decode()
    assert f'href="{reverse("dashboards:dashboard")}"' in html
    assert "总览" in html


# --- One inspection -----------------------------------------------------------------------


def test_inspection_page_shows_categories_in_order_open_findings_and_lookbacks(client, leader_user):
    ledger = build_ledger(**LARGE)
    inspection = ledger.inspections[0]
    lookback = InspectionFactory(follows_up=inspection, title="巡察“回头看”")
    figures_recompute()
    client.force_login(leader_user)
    response = client.get(reverse("dashboards:inspection", args=[inspection.pk]))
    assert response.status_code == 200
    data = response.context["data"]
    assert [r.id for r in data.categories] == list(inspection.categories.order_by("order").values_list("id", flat=True))
    measures = Measure.objects.filter(inspection=inspection)
    assert data.headline.measures == measures.count()
    unrectified = {
        f.pk
        for f in inspection.findings.all()
        if not f.measures.exists() or f.measures.exclude(status=MeasureStatus.SIGNED_OFF).exists()
    }
    assert {f.pk for f in data.findings} == unrectified
    assert data.open_measure_total == measures.exclude(status__in=COMPLETED_STATUSES).count()
    assert [r.id for r in data.lookbacks] == [lookback.pk]
    html = response.content.decode()
    assert lookback.title in html
    assert "整改完成率" in html
    for href, count, scope in number_links(html):
        assert ledger_count(client, href) == count, (scope, href)


def test_inspection_page_for_staff_counts_their_department_only(client):
    ledger = build_ledger(**LARGE)
    own = ledger.departments[1]
    inspection = ledger.inspections[1]
    client.force_login(make_user(Role.STAFF, own, username="dash_staff2"))
    response = client.get(reverse("dashboards:inspection", args=[inspection.pk]))
    data = response.context["data"]
    assert data.headline.measures == Measure.objects.filter(inspection=inspection, lead_department=own).count()
    assert "实时统计" in response.content.decode()  # not the recompute's time: these counts are live
    for href, count, scope in number_links(response.content.decode()):
        assert ledger_count(client, href) == count, (scope, href)


def test_inspection_page_of_a_missing_inspection_is_404(client, leader_user):
    client.force_login(leader_user)
    assert client.get(reverse("dashboards:inspection", args=[987654])).status_code == 404


def test_office_may_recompute_from_an_inspection_page_and_come_back_to_it(client, office_user):
    ledger = build_ledger(**SMALL)
    url = reverse("dashboards:inspection", args=[ledger.inspections[0].pk])
    client.force_login(office_user)
    response = client.get(url)
    html = response.content.decode()
    assert 'action="/dashboard/recompute/"' in html
    assert f'name="next" value="{url}"' in html
    with mock.patch("dashboards.tasks.recompute_figures.apply_async"):
        assert client.post(reverse("dashboards:recompute"), {"next": url}).url == url


@pytest.mark.parametrize("role_user", ["leader_user", "staff_user"])
def test_leadership_and_staff_see_no_recompute_button_on_an_inspection_page(client, role_user, request):
    ledger = build_ledger(**SMALL)
    client.force_login(request.getfixturevalue(role_user))
    response = client.get(reverse("dashboards:inspection", args=[ledger.inspections[0].pk]))
    assert response.status_code == 200
    assert 'action="/dashboard/recompute/"' not in response.content.decode()


# --- Query discipline ---------------------------------------------------------------------


@pytest.mark.parametrize("size", [SMALL, LARGE], ids=["small", "large"])
def test_dashboard_query_count_does_not_grow_with_the_ledger(client, leader_user, size, django_assert_max_num_queries):
    build_ledger(**size)
    client.force_login(leader_user)
    # session, user, role groups; overall figure; recent inspections, their figures, the
    # inspection count; top categories by figures, their names; department ranking;
    # leaders; overdue list; due-soon list; trend snapshots; departments for the scope menu;
    # the first measure change and the first progress report not yet in the figures (the
    # "may be stale" note).
    with django_assert_max_num_queries(17):
        response = client.get(reverse("dashboards:dashboard"))
    assert response.status_code == 200


@pytest.mark.parametrize("size", [SMALL, LARGE], ids=["small", "large"])
def test_department_dashboard_query_count_does_not_grow_with_the_ledger(client, size, django_assert_max_num_queries):
    ledger = build_ledger(**size)
    client.force_login(make_user(Role.STAFF, ledger.departments[0], username="dash_staff3"))
    # session, user, role groups; the department; its figure; its most recent inspections;
    # their counts grouped live; overdue; due soon; trend; the user's department in the
    # top bar (base.html); the first measure change and the first progress report not yet in
    # the figures (the "may be stale" note).
    with django_assert_max_num_queries(13):
        response = client.get(reverse("dashboards:dashboard"))
    assert response.status_code == 200


@pytest.mark.parametrize("size", [SMALL, LARGE], ids=["small", "large"])
def test_inspection_page_query_count_does_not_grow_with_the_ledger(
    client, leader_user, size, django_assert_max_num_queries
):
    ledger = build_ledger(**size)
    InspectionFactory(follows_up=ledger.inspections[0])
    client.force_login(leader_user)
    # session, user, role groups; the inspection with its original; its figure; look-backs
    # and their figures; categories and their figures; open findings with counts; open
    # measures and their count; the first measure change and the first progress report not
    # yet in the figures.
    with django_assert_max_num_queries(14):
        response = client.get(reverse("dashboards:inspection", args=[ledger.inspections[0].pk]))
    assert response.status_code == 200


# --- Recompute from the page --------------------------------------------------------------


def test_office_queues_a_recompute_from_the_page(client, office_user):
    client.force_login(office_user)
    assert 'action="/dashboard/recompute/"' in client.get(reverse("dashboards:dashboard")).content.decode()
    with mock.patch("dashboards.tasks.recompute_figures.apply_async") as apply_async:
        response = client.post(reverse("dashboards:recompute"), {"next": "/dashboard/?department=1"})
    apply_async.assert_called_once_with(ignore_result=True)
    assert response.status_code == 302
    assert response.url == "/dashboard/?department=1"
    assert "已提交重新计算任务" in str(list(get_messages(response.wsgi_request))[0])


def test_recompute_runs_in_the_request_when_the_broker_is_unreachable(client, office_user):
    build_ledger(**SMALL)
    Figure.objects.all().delete()
    client.force_login(office_user)
    with mock.patch("dashboards.tasks.recompute_figures.apply_async", side_effect=BrokerError("connection refused")):
        response = client.post(reverse("dashboards:recompute"), {"next": "https://evil.example/"})
    assert response.url == reverse("dashboards:dashboard")  # never an outside redirect
    assert Figure.objects.get(scope_kind=ScopeKind.OVERALL).measures == Measure.objects.count()
    assert "任务队列不可用" in str(list(get_messages(response.wsgi_request))[0])


@pytest.mark.parametrize("role_user", ["leader_user", "auditor_user", "staff_user"])
def test_only_the_office_may_trigger_a_recompute(client, role_user, request):
    user = request.getfixturevalue(role_user)
    client.force_login(user)
    assert 'action="/dashboard/recompute/"' not in client.get(reverse("dashboards:dashboard")).content.decode()
    with mock.patch("dashboards.tasks.recompute_figures.apply_async") as apply_async:
        assert client.post(reverse("dashboards:recompute")).status_code == 403
    apply_async.assert_not_called()


def test_recompute_needs_a_post(client, office_user):
    client.force_login(office_user)
    assert client.get(reverse("dashboards:recompute")).status_code == 405


def test_dashboard_before_any_recompute_says_so(client, leader_user):
    client.force_login(leader_user)
    response = client.get(reverse("dashboards:dashboard"))
    assert response.status_code == 200
    assert "统计数据尚未生成" in response.content.decode()


# --- "Figures may be stale" ---------------------------------------------------------------


def test_a_progress_report_not_yet_in_the_figures_makes_the_dashboard_say_they_may_be_stale(
    client, leader_user, settings
):
    """The queue is down and the only change is a progress report: 本期未汇报 has moved, yet
    the measure has no new history row (progress_report_add updates it with a bare UPDATE)."""
    ledger = build_ledger(**SMALL)
    settings.FIGURES_STALE_AFTER_SECONDS = 0  # the report is "older than the limit" at once
    client.force_login(leader_user)
    pages = (reverse("dashboards:dashboard"), reverse("dashboards:inspection", args=[ledger.inspections[0].pk]))
    for url in pages:
        assert 'data-testid="figures-stale"' not in client.get(url).content.decode(), url

    unreported = Measure.objects.filter(status__in=[MeasureStatus.NOT_STARTED, MeasureStatus.IN_PROGRESS]).exclude(
        progress_reports__isnull=False
    )[0]
    history_rows = Measure.history.count()
    progress_report_add(measure=unreported, user=ledger.office, text="已召开专题会议")
    assert Measure.history.count() == history_rows  # nothing for the old check to see

    for url in pages:
        assert 'data-testid="figures-stale"' in client.get(url).content.decode(), url

    figures_recompute()
    for url in pages:
        assert 'data-testid="figures-stale"' not in client.get(url).content.decode(), url


def test_a_progress_report_counts_as_stale_only_once_it_waited_longer_than_the_limit(settings):
    ledger = build_ledger(**SMALL)
    computed_at = Figure.objects.get(scope_kind=ScopeKind.OVERALL).computed_at
    report = progress_report_add(
        measure=Measure.objects.filter(status=MeasureStatus.NOT_STARTED)[0], user=ledger.office, text="进展"
    )
    filed = report.history.get().history_date
    limit = dt.timedelta(seconds=settings.FIGURES_STALE_AFTER_SECONDS)
    # Within the limit the queued recompute may still be on its way.
    assert figures_stale_since(computed_at, now=filed + limit - dt.timedelta(seconds=1)) is None
    assert figures_stale_since(computed_at, now=filed + limit + dt.timedelta(seconds=1)) == filed


def test_figures_computed_before_midnight_are_stale_once_the_after_midnight_run_is_late(db, settings):
    """Measures fall overdue at midnight with no row written anywhere."""
    tz = timezone.get_current_timezone()
    computed_at = dt.datetime(2024, 5, 14, 23, 50, tzinfo=tz)
    midnight = dt.datetime(2024, 5, 15, tzinfo=tz)
    limit = dt.timedelta(seconds=settings.FIGURES_STALE_AFTER_SECONDS)
    assert figures_stale_since(computed_at, now=dt.datetime(2024, 5, 14, 23, 59, tzinfo=tz)) is None
    assert figures_stale_since(computed_at, now=midnight + limit - dt.timedelta(seconds=1)) is None
    assert figures_stale_since(computed_at, now=midnight + limit + dt.timedelta(seconds=1)) == midnight
