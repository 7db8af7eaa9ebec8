import datetime as dt
import threading
from decimal import Decimal

import pytest
from django.db import connection, connections
from django.test.utils import CaptureQueriesContext
from django.utils import timezone

from accounts.models import Role
from dashboards.models import DailySnapshot, Figure, RecomputeState, ScopeKind
from dashboards.services import RECOMPUTE_LOCK_ID, figures_recompute, reporting_period
from findings.models import Inspection
from measures.models import Measure, MeasureKind, MeasureStatus, ProgressReport
from measures.rates import rate_percent
from tests.dashboards.conftest import TODAY, hand_count, status_fields
from tests.factories import CategoryFactory, DepartmentFactory, FindingFactory, InspectionFactory, make_user

pytestmark = pytest.mark.usefixtures("isolated_cache", "fast_passwords")

on_postgresql = pytest.mark.skipif(connection.vendor != "postgresql", reason="PostgreSQL only")


def stored_figures() -> dict[tuple[str, int], dict[str, int]]:
    fields = ("measures", "completed", "signed_off", "overdue", "due_soon", "not_reported", "findings")
    return {
        (f.scope_kind, f.scope_id): {**{k: getattr(f, k) for k in fields}, "rectified_findings": f.rectified_findings}
        for f in Figure.objects.all()
    }


# --- Flags -----------------------------------------------------------------------------------


@pytest.mark.django_db
def test_overdue_and_due_soon_flags_follow_deadline_and_status():
    office = make_user(Role.OFFICE, username="flags_office")
    finding = FindingFactory()

    def measure(days: int, status: str = MeasureStatus.IN_PROGRESS, kind: str = MeasureKind.BY_DEADLINE) -> Measure:
        return Measure.objects.create(
            finding=finding,
            inspection=finding.inspection,
            category=finding.category,
            number=Measure.objects.count() + 1,
            text="措施",
            kind=kind,
            lead_department=DepartmentFactory(),
            deadline=TODAY + dt.timedelta(days=days),
            **status_fields(status, office),
        )

    yesterday = measure(-1)
    today = measure(0)
    last_due_soon_day = measure(7)
    beyond = measure(8)
    completed_late = measure(-30, MeasureStatus.COMPLETED)
    signed_off_soon = measure(3, MeasureStatus.SIGNED_OFF)
    long_term_late = measure(-5, kind=MeasureKind.LONG_TERM)
    returned_late = measure(-2, MeasureStatus.RETURNED)

    figures_recompute(today=TODAY)

    flags = {m.pk: (m.is_overdue, m.is_due_soon) for m in Measure.objects.all()}
    assert flags[yesterday.pk] == (True, False)
    assert flags[today.pk] == (False, True)
    assert flags[last_due_soon_day.pk] == (False, True)
    assert flags[beyond.pk] == (False, False)
    assert flags[completed_late.pk] == (False, False)
    assert flags[signed_off_soon.pk] == (False, False)
    assert flags[long_term_late.pk] == (True, False)
    assert flags[returned_late.pk] == (True, False)


@pytest.mark.django_db
def test_reported_this_period_and_last_progress_follow_the_reports():
    author = make_user(Role.STAFF, username="reporter")
    reported, stale, silent = (
        Measure.objects.create(
            finding=(finding := FindingFactory()),
            inspection=finding.inspection,
            category=finding.category,
            number=1,
            text="措施",
            lead_department=DepartmentFactory(),
            deadline=TODAY + dt.timedelta(days=60),
        )
        for _ in range(3)
    )
    period_start, _ = reporting_period(TODAY)
    ProgressReport.objects.create(measure=reported, reported_on=period_start, text="本月", author=author)
    old = ProgressReport.objects.create(
        measure=reported, reported_on=period_start - dt.timedelta(days=20), text="上月", author=author
    )
    ProgressReport.objects.create(
        measure=stale, reported_on=period_start - dt.timedelta(days=1), text="上月", author=author
    )
    latest = timezone.now() + dt.timedelta(hours=1)
    ProgressReport.objects.filter(pk=old.pk).update(created_at=latest)

    figures_recompute(today=TODAY)

    reported.refresh_from_db()
    stale.refresh_from_db()
    silent.refresh_from_db()
    assert reported.reported_this_period is True
    assert reported.last_progress_at == latest
    assert stale.reported_this_period is False
    assert stale.last_progress_at is not None
    assert silent.reported_this_period is False
    assert silent.last_progress_at is None

    # A deleted report takes its flag with it; the time of the last report ever filed stays.
    reported.progress_reports.all().delete()
    result = figures_recompute(today=TODAY)
    reported.refresh_from_db()
    assert (reported.reported_this_period, reported.last_progress_at) == (False, latest)
    assert (result.reported_changed, result.last_progress_changed) == (1, 0)


@pytest.mark.django_db
def test_last_progress_catches_up_with_a_report_filed_outside_the_services(ledger):
    measure = ledger.add_measures(1, with_reports=False)[0]
    figures_recompute(today=TODAY)
    report = ProgressReport.objects.create(measure=measure, reported_on=TODAY, text="后台补录", author=ledger.office)

    result = figures_recompute(today=TODAY)

    measure.refresh_from_db()
    assert measure.last_progress_at == report.created_at
    assert measure.reported_this_period
    assert (result.reported_changed, result.last_progress_changed) == (1, 1)


@pytest.mark.parametrize(
    ("period", "today", "expected"),
    [
        ("monthly", dt.date(2024, 2, 14), (dt.date(2024, 2, 1), dt.date(2024, 2, 29))),
        ("monthly", dt.date(2024, 12, 31), (dt.date(2024, 12, 1), dt.date(2024, 12, 31))),
        ("weekly", dt.date(2024, 5, 15), (dt.date(2024, 5, 13), dt.date(2024, 5, 19))),
        ("quarterly", dt.date(2024, 5, 15), (dt.date(2024, 4, 1), dt.date(2024, 6, 30))),
        ("quarterly", dt.date(2024, 11, 2), (dt.date(2024, 10, 1), dt.date(2024, 12, 31))),
    ],
)
def test_reporting_period_contains_today(period, today, expected):
    assert reporting_period(today, period) == expected


@pytest.mark.django_db
def test_weekly_reporting_period_is_used_when_configured(ledger, settings):
    settings.REPORTING_PERIOD = "weekly"
    ledger.add_measures(60)
    figures_recompute(today=TODAY)
    start, end = reporting_period(TODAY, "weekly")
    expected = set(ProgressReport.objects.filter(reported_on__range=(start, end)).values_list("measure_id", flat=True))
    assert set(Measure.objects.filter(reported_this_period=True).values_list("id", flat=True)) == expected


# --- Figures ---------------------------------------------------------------------------------


@pytest.mark.django_db
def test_figures_match_a_hand_count_for_every_scope(ledger):
    ledger.add_measures(300)

    figures_recompute(today=TODAY)

    expected = hand_count(TODAY)
    assert {kind for kind, _ in expected} == set(ScopeKind.values)
    assert stored_figures() == expected


@pytest.mark.django_db
def test_inspection_with_145_measures_and_144_completed_shows_99_31_percent():
    # Document 002's totals: 29 findings, 145 measures, 144 completed, one carried into
    # follow-up work. (The document itself prints 99.13%; the ledger says otherwise.)
    office = make_user(Role.OFFICE, username="notice_office")
    inspection = InspectionFactory(title="巡察“回头看”")
    categories = CategoryFactory.create_batch(14, inspection=inspection)
    findings = [FindingFactory(category=categories[i % 14]) for i in range(29)]
    department = DepartmentFactory()
    done = (MeasureStatus.COMPLETED, MeasureStatus.REVIEWED, MeasureStatus.SIGNED_OFF)
    measures = []
    for i in range(145):
        finding = findings[i % 29]
        status = MeasureStatus.IN_PROGRESS if i == 144 else done[i % 3]
        measures.append(
            Measure(
                finding=finding,
                inspection=inspection,
                category_id=finding.category_id,
                number=i // 29 + 1,
                text="措施",
                lead_department=department,
                deadline=dt.date(2022, 6, 30),
                **status_fields(status, office),
            )
        )
    Measure.objects.bulk_create(measures)
    completed = sum(m.status in done for m in measures)
    assert (completed, len(measures)) == (144, 145)

    figures_recompute(today=dt.date(2022, 7, 20))

    figure = Figure.objects.get(scope_kind=ScopeKind.INSPECTION, scope_id=inspection.pk)
    assert (figure.measures, figure.completed, figure.findings) == (145, 144, 29)
    assert figure.completion_rate == rate_percent(completed, len(measures)) == Decimal("99.31")
    assert figure.overdue == 1
    assert figure.open_findings == 29 - figure.rectified_findings
    assert Figure.objects.get(scope_kind=ScopeKind.OVERALL).completion_rate == Decimal("99.31")


@pytest.mark.django_db
def test_fully_signed_off_inspection_shows_100_percent_and_every_finding_rectified():
    # Document 000: 5 categories, 12 findings, each with its measures, all completed.
    office = make_user(Role.OFFICE, username="appraisal_office")
    inspection = InspectionFactory(title="人大评议")
    categories = CategoryFactory.create_batch(5, inspection=inspection)
    department = DepartmentFactory()
    number_of_measures = 0
    for n in range(12):
        finding = FindingFactory(category=categories[n % 5])
        for number in range(1, 2 + n % 3):
            Measure.objects.create(
                finding=finding,
                inspection=inspection,
                category=finding.category,
                number=number,
                text="措施",
                lead_department=department,
                deadline=dt.date(2021, 12, 31),
                **status_fields(MeasureStatus.SIGNED_OFF, office),
            )
            number_of_measures += 1

    figures_recompute(today=dt.date(2022, 1, 5))

    figure = Figure.objects.get(scope_kind=ScopeKind.INSPECTION, scope_id=inspection.pk)
    assert figure.measures == number_of_measures
    assert figure.completion_rate == Decimal("100.00")
    assert figure.sign_off_rate == Decimal("100.00")
    assert (figure.findings, figure.rectified_findings, figure.open_findings) == (12, 12, 0)
    assert figure.overdue == 0


@pytest.mark.django_db
def test_department_finding_is_rectified_only_when_all_its_measures_are_signed_off():
    office = make_user(Role.OFFICE, username="split_office")
    finding = FindingFactory()
    signed_off_dept, open_dept = DepartmentFactory(), DepartmentFactory()
    for number, (department, status) in enumerate(
        [(signed_off_dept, MeasureStatus.SIGNED_OFF), (open_dept, MeasureStatus.IN_PROGRESS)], start=1
    ):
        Measure.objects.create(
            finding=finding,
            inspection=finding.inspection,
            category=finding.category,
            number=number,
            text="措施",
            lead_department=department,
            deadline=TODAY,
            **status_fields(status, office),
        )

    figures_recompute(today=TODAY)

    figure = Figure.objects.get(scope_kind=ScopeKind.DEPARTMENT, scope_id=signed_off_dept.pk)
    assert (figure.findings, figure.rectified_findings, figure.signed_off) == (1, 0, 1)


@pytest.mark.django_db
def test_figures_of_a_deleted_inspection_disappear(ledger):
    ledger.add_measures(40)
    figures_recompute(today=TODAY)
    gone = Inspection.objects.first()
    assert Figure.objects.filter(scope_kind=ScopeKind.INSPECTION, scope_id=gone.pk).exists()

    gone.delete()
    figures_recompute(today=TODAY)

    assert not Figure.objects.filter(scope_kind=ScopeKind.INSPECTION, scope_id=gone.pk).exists()
    assert stored_figures() == hand_count(TODAY)


# --- Set-based -------------------------------------------------------------------------------


@pytest.mark.django_db
def test_statement_count_is_the_same_for_10_and_1000_measures(ledger):
    ledger.add_measures(10)
    with CaptureQueriesContext(connection) as small:
        small_result = figures_recompute(today=TODAY)
    ledger.add_measures(990)
    assert Measure.objects.count() == 1000
    with CaptureQueriesContext(connection) as large:
        large_result = figures_recompute(today=TODAY)

    # lock (+ work_mem on PostgreSQL), three flag UPDATEs, DELETE + five INSERTs into the
    # figures, snapshot upsert + stale-row DELETE, the state row; nothing per measure.
    assert len(large.captured_queries) == len(small.captured_queries)
    assert large_result.statements == small_result.statements == len(small.captured_queries)
    assert large_result.flags_changed > small_result.flags_changed
    assert stored_figures() == hand_count(TODAY)


@pytest.mark.django_db
def test_second_run_writes_no_measure_rows(ledger):
    ledger.add_measures(200)
    first = figures_recompute(today=TODAY)
    assert first.overdue_changed and first.due_soon_changed and first.reported_changed

    assert first.last_progress_changed

    second = figures_recompute(today=TODAY)

    assert (second.overdue_changed, second.due_soon_changed, second.reported_changed) == (0, 0, 0)
    assert second.last_progress_changed == 0


@pytest.mark.django_db
def test_routine_tick_writes_only_the_measures_whose_flags_change(ledger):
    ledger.add_measures(200)
    figures_recompute(today=TODAY)
    measure = Measure.objects.filter(is_overdue=False, is_due_soon=False, status=MeasureStatus.IN_PROGRESS).first()
    Measure.objects.filter(pk=measure.pk).update(deadline=TODAY - dt.timedelta(days=1))

    result = figures_recompute(today=TODAY)

    assert (result.overdue_changed, result.due_soon_changed, result.reported_changed) == (1, 0, 0)
    assert result.last_progress_changed == 0
    assert Measure.objects.get(pk=measure.pk).is_overdue


@on_postgresql
@pytest.mark.django_db
def test_unchanged_measures_keep_their_row_version_on_postgresql(ledger):
    ledger.add_measures(200)
    figures_recompute(today=TODAY)

    def row_versions() -> dict[int, str]:
        with connection.cursor() as cursor:
            cursor.execute(f"SELECT id, xmin::text FROM {Measure._meta.db_table}")  # noqa: S608
            return dict(cursor.fetchall())

    before = row_versions()
    figures_recompute(today=TODAY)
    assert row_versions() == before


@pytest.mark.django_db
def test_next_day_moves_flags_without_touching_the_rest(ledger):
    ledger.add_measures(300)
    figures_recompute(today=TODAY)
    tomorrow = TODAY + dt.timedelta(days=1)

    result = figures_recompute(today=tomorrow)

    due_today = Measure.objects.filter(deadline=TODAY).exclude(
        status__in=[MeasureStatus.COMPLETED, MeasureStatus.REVIEWED, MeasureStatus.SIGNED_OFF]
    )
    newly_due_soon = Measure.objects.filter(deadline=tomorrow + dt.timedelta(days=7)).exclude(
        status__in=[MeasureStatus.COMPLETED, MeasureStatus.REVIEWED, MeasureStatus.SIGNED_OFF]
    )
    # Yesterday's last day becomes overdue (and leaves 临期); a new day enters the window.
    assert result.overdue_changed == due_today.count()
    assert result.due_soon_changed == due_today.count() + newly_due_soon.count()
    assert stored_figures() == hand_count(tomorrow)


# --- Snapshots -------------------------------------------------------------------------------


@pytest.mark.django_db
def test_second_run_the_same_day_updates_the_snapshot_rows(ledger):
    ledger.add_measures(100)
    figures_recompute(today=TODAY)
    rows = DailySnapshot.objects.count()
    assert rows == Figure.objects.count()
    measure = Measure.objects.filter(status=MeasureStatus.IN_PROGRESS).first()
    Measure.objects.filter(pk=measure.pk).update(**status_fields(MeasureStatus.COMPLETED, ledger.office))

    figures_recompute(today=TODAY)

    assert DailySnapshot.objects.count() == rows
    snapshot = DailySnapshot.objects.get(scope_kind=ScopeKind.OVERALL, day=TODAY)
    assert snapshot.completed == Figure.objects.get(scope_kind=ScopeKind.OVERALL).completed
    assert snapshot.completed == hand_count(TODAY)[(ScopeKind.OVERALL, 0)]["completed"]


@pytest.mark.django_db
def test_next_day_adds_a_snapshot_row_per_scope(ledger):
    ledger.add_measures(100)
    figures_recompute(today=TODAY)
    figures_recompute(today=TODAY + dt.timedelta(days=1))

    per_day = Figure.objects.count()
    assert DailySnapshot.objects.filter(day=TODAY).count() == per_day
    assert DailySnapshot.objects.filter(day=TODAY + dt.timedelta(days=1)).count() == per_day


@pytest.mark.django_db
def test_snapshot_of_a_scope_gone_since_the_mornings_run_is_dropped(ledger):
    ledger.add_measures(40)
    figures_recompute(today=TODAY)
    gone = Inspection.objects.first()
    gone.delete()

    figures_recompute(today=TODAY)

    assert not DailySnapshot.objects.filter(scope_kind=ScopeKind.INSPECTION, scope_id=gone.pk).exists()
    assert DailySnapshot.objects.filter(day=TODAY).count() == Figure.objects.count()


@pytest.mark.django_db
def test_run_records_its_state(ledger):
    ledger.add_measures(20)
    result = figures_recompute(today=TODAY)
    state = RecomputeState.objects.get()
    assert state.last_finished_at is not None
    assert state.measures_changed == result.flags_changed
    assert state.running_since is None


# --- Locking ---------------------------------------------------------------------------------


@on_postgresql
@pytest.mark.django_db
def test_run_skips_while_another_session_holds_the_advisory_lock(ledger):
    import psycopg2

    ledger.add_measures(20)
    params = connection.get_connection_params()
    other = psycopg2.connect(**params)
    try:
        with other.cursor() as cursor:
            cursor.execute("SELECT pg_advisory_lock(%s)", [RECOMPUTE_LOCK_ID])
        result = figures_recompute(today=TODAY)
        assert result.skipped
        assert not Figure.objects.exists()
        assert not Measure.objects.filter(is_overdue=True).exists()
        with other.cursor() as cursor:
            cursor.execute("SELECT pg_advisory_unlock(%s)", [RECOMPUTE_LOCK_ID])
    finally:
        other.close()

    assert not figures_recompute(today=TODAY).skipped
    assert stored_figures() == hand_count(TODAY)


@pytest.mark.skipif(connection.vendor == "postgresql", reason="the claimed row stands in for advisory locks")
@pytest.mark.django_db
def test_run_skips_while_another_run_has_claimed_the_state_row(ledger, settings):
    ledger.add_measures(20)
    RecomputeState.objects.create(id=1, running_since=timezone.now())

    assert figures_recompute(today=TODAY).skipped
    assert not Figure.objects.exists()

    # A claim older than the stale limit is a crashed run's; the next run takes over.
    stale = timezone.now() - dt.timedelta(seconds=settings.RECOMPUTE_LOCK_STALE_SECONDS + 1)
    RecomputeState.objects.filter(id=1).update(running_since=stale)
    assert not figures_recompute(today=TODAY).skipped
    assert RecomputeState.objects.get().running_since is None


@on_postgresql
@pytest.mark.django_db(transaction=True)
def test_overlapping_runs_do_not_double_the_figures(ledger, monkeypatch):
    """A run blocked halfway holds the lock; a second run started meanwhile skips, and the
    figures end up counted once."""
    import dashboards.services as services

    ledger.add_measures(100)
    original = services._recompute
    inside, release = threading.Event(), threading.Event()

    def slow_recompute(today):
        inside.set()
        assert release.wait(timeout=30)
        return original(today)

    monkeypatch.setattr(services, "_recompute", slow_recompute)
    results = {}

    def run(name: str) -> None:
        try:
            results[name] = figures_recompute(today=TODAY)
        finally:
            connections.close_all()

    first = threading.Thread(target=run, args=("first",))
    first.start()
    assert inside.wait(timeout=30)
    inside.clear()
    second = threading.Thread(target=run, args=("second",))
    second.start()
    second.join(timeout=30)
    release.set()
    first.join(timeout=30)

    assert results["second"].skipped
    assert not inside.is_set()  # the second run never got past the lock
    assert not results["first"].skipped
    assert stored_figures() == hand_count(TODAY)
    assert DailySnapshot.objects.count() == Figure.objects.count()
