"""The demo ledgers (fixtures/demo/) and `manage.py load_demo`."""

import datetime as dt
from collections import Counter
from decimal import Decimal
from io import StringIO

import pytest
from django.conf import settings
from django.core.management import call_command
from django.db import connection, transaction
from django.db.models import Count, Sum
from django.test import override_settings
from django.urls import reverse

from accounts.models import Role, User
from accounts.roles import role_of
from dashboards.models import Figure, ScopeKind
from dashboards.services import figures_recompute
from devdata.demo import DEMO_LOGINS, demo_load
from findings.models import Inspection, InspectionKind, OutcomeKind
from measures.models import (
    COMPLETED_STATUSES,
    OPEN_STATUSES,
    Evidence,
    Measure,
    MeasureDecision,
    MeasureKind,
    MeasureStatus,
)
from tests.dashboards.conftest import hand_count
from tests.dashboards.test_recompute import stored_figures

pytestmark = pytest.mark.django_db

TODAY = dt.date(2024, 5, 15)
OPEN_KINDS = (InspectionKind.SELF_REVIEW, InspectionKind.SURVEY)


# Twelve demo users; the production hasher would spend seconds on them.
FAST_HASHERS = ["django.contrib.auth.hashers.MD5PasswordHasher"]


@pytest.fixture(autouse=True)
def _fast_hasher(settings):
    settings.PASSWORD_HASHERS = FAST_HASHERS


@pytest.fixture(scope="class")
def demo(django_db_setup, django_db_blocker):
    """The demo loaded once for a class of read-mostly tests, in a transaction rolled back after it.

    A load takes a couple of seconds (measure_create validates each constraint with a query);
    each test still runs in its own savepoint, so tests that change data stay independent.
    """
    with django_db_blocker.unblock(), override_settings(PASSWORD_HASHERS=FAST_HASHERS), transaction.atomic():
        yield demo_load(today=TODAY)
        transaction.set_rollback(True)


def row_counts() -> dict[str, int]:
    """Rows in every table of the database: historical, many-to-many and auth tables included."""
    counts = {}
    with connection.cursor() as cursor:
        for table in connection.introspection.table_names(cursor):
            # Table names come from the database itself, not from input.
            cursor.execute(f"SELECT COUNT(*) FROM {connection.ops.quote_name(table)}")  # noqa: S608
            counts[table] = cursor.fetchone()[0]
    return counts


def inspection_page(client, inspection: Inspection):
    """The inspection's dashboard as the demo's leader sees it."""
    client.force_login(User.objects.get(username="leader"))
    response = client.get(reverse("dashboards:inspection", args=[inspection.pk]))
    assert response.status_code == 200
    return response


class TestDemoLedgers:
    def test_congress_appraisal_has_its_five_categories_and_twelve_findings_all_signed_off(self, demo):
        inspection = Inspection.objects.get(kind=InspectionKind.CONGRESS_APPRAISAL)
        assert inspection.categories.count() == 5
        assert list(inspection.findings.values_list("number", flat=True)) == list(range(1, 13))
        assert "工作机制有待进一步完善" in inspection.categories.values_list("title", flat=True)
        # Every finding has measures, split on 一是/二是 where the report does.
        assert not inspection.findings.annotate(n=Count("measures")).filter(n=0).exists()
        assert inspection.findings.annotate(n=Count("measures")).filter(n__gt=1).exists()

        measures = list(inspection.measures.select_related("reviewed_by", "signed_off_by"))
        assert measures
        office = User.objects.get(username="office")
        for measure in measures:
            assert measure.status == MeasureStatus.SIGNED_OFF
            assert measure.result
            assert role_of(measure.reviewed_by) == Role.LEADERSHIP
            assert measure.signed_off_by == office
            assert measure.completed_at <= measure.reviewed_at <= measure.signed_off_at
            assert measure.signed_off_at.date() >= inspection.feedback_date
        # Each sign-off is on record as a review step and a sign-off step.
        decisions = Counter(
            MeasureDecision.objects.filter(measure__inspection=inspection).values_list("action", flat=True)
        )
        assert decisions == {"review_pass": len(measures), "sign_off": len(measures)}

    def test_patrol_lookback_keeps_its_fourteen_categories_and_only_the_screw_factory_open(self, demo):
        inspection = Inspection.objects.get(kind=InspectionKind.PATROL_LOOKBACK)
        assert list(inspection.categories.values_list("order", flat=True)) == list(range(1, 15))
        assert inspection.categories.get(order=13).title == "历史遗留问题化解力度不够"

        open_measures = inspection.measures.filter(status__in=OPEN_STATUSES)
        assert open_measures.count() == 1
        screw_factory = open_measures.get()
        assert "螺丝厂" in screw_factory.text
        assert screw_factory.kind == MeasureKind.LONG_TERM
        assert screw_factory.status == MeasureStatus.IN_PROGRESS
        assert screw_factory.progress_reports.exists()
        assert not inspection.measures.exclude(pk=screw_factory.pk).exclude(status=MeasureStatus.SIGNED_OFF).exists()

        # The report gives only totals for its 29 problems and 145 measures: no invented rows.
        assert "原文仅给出总数" in inspection.source_note
        assert inspection.measures.count() < 145

    def test_patrol_lookback_records_accountability_and_regulations_by_kind(self, demo):
        inspection = Inspection.objects.get(kind=InspectionKind.PATROL_LOOKBACK)
        totals = dict(inspection.outcomes.values_list("kind").annotate(total=Sum("count")))
        assert totals == {
            OutcomeKind.CRITICISED: 2,
            OutcomeKind.REMINDER_TALK: 6,
            OutcomeKind.REGULATION_NEW: 13,
            OutcomeKind.REGULATION_REVISED: 14,
        }

    def test_issued_documents_are_evidence_on_the_measures_they_belong_to(self, demo):
        evidence = Evidence.objects.select_related("measure").get(document_number="温民办〔2022〕27号")
        assert evidence.measure.inspection.kind == InspectionKind.PATROL_LOOKBACK
        assert evidence.measure.text == "规范会议程序"
        assert not evidence.file
        # Filed when the measure was completed, not when the demo was loaded.
        assert evidence.uploaded_at == evidence.measure.completed_at

    def test_reports_with_next_year_measures_leave_them_open_some_overdue_some_due_soon(self, demo):
        inspections = Inspection.objects.filter(kind__in=OPEN_KINDS)
        assert inspections.count() == 3
        due_soon_end = TODAY + dt.timedelta(days=settings.DUE_SOON_DAYS)
        for inspection in inspections:
            measures = inspection.measures.all()
            assert measures.exists()
            assert not measures.exclude(status__in=OPEN_STATUSES).exists(), inspection.title
            assert measures.filter(deadline__lt=TODAY).exists(), inspection.title
            assert measures.filter(deadline__gte=TODAY, deadline__lte=due_soon_end).exists(), inspection.title
            assert measures.filter(deadline__gt=due_soon_end).exists(), inspection.title
        reported = Measure.objects.filter(inspection__in=inspections, progress_reports__isnull=False).distinct()
        assert reported.exists()
        assert not reported.filter(last_progress_at__isnull=True).exists()

    def test_overdue_flags_are_left_to_the_recompute_job(self, demo):
        assert not Measure.objects.filter(is_overdue=True).exists()
        assert not Measure.objects.filter(is_due_soon=True).exists()
        figures_recompute(today=TODAY)
        assert Measure.objects.filter(is_overdue=True).exists()
        assert Measure.objects.filter(is_due_soon=True).exists()

    def test_every_figure_of_the_demo_equals_a_count_of_its_measures_by_hand(self, demo):
        figures_recompute(today=TODAY)
        assert stored_figures() == hand_count(TODAY, settings.DUE_SOON_DAYS)

    def test_anyang_appraisal_shows_every_measure_completed(self, demo, client):
        # Document 000: every problem the congress raised was rectified and struck off.
        figures_recompute(today=TODAY)
        inspection = Inspection.objects.get(kind=InspectionKind.CONGRESS_APPRAISAL)
        figure = Figure.objects.get(scope_kind=ScopeKind.INSPECTION, scope_id=inspection.pk)
        assert figure.completion_rate == Decimal("100.00")
        assert figure.sign_off_rate == Decimal("100.00")
        assert figure.rectified_findings == figure.findings == 12
        page = inspection_page(client, inspection)
        assert page.context["completion_rate"] == "100.00%"
        assert "整改完成率 100.00%" in page.content.decode()

    def test_wenzhou_lookback_shows_the_rate_of_its_own_rows_not_the_reports(self, demo, client):
        # Document 002 prints a rate its own totals do not give; the ledger's rows decide.
        figures_recompute(today=TODAY)
        inspection = Inspection.objects.get(kind=InspectionKind.PATROL_LOOKBACK)
        statuses = list(inspection.measures.values_list("status", flat=True))
        completed = sum(status in COMPLETED_STATUSES for status in statuses)
        assert 0 < completed < len(statuses)
        # Hundredths of a per cent, rounded half up, in integers: (2·c·10⁴ + n) // 2n.
        hundredths = (2 * completed * 10_000 + len(statuses)) // (2 * len(statuses))
        expected = Decimal(hundredths) / 100
        figure = Figure.objects.get(scope_kind=ScopeKind.INSPECTION, scope_id=inspection.pk)
        assert (figure.measures, figure.completed) == (len(statuses), completed)
        assert figure.completion_rate == expected
        page = inspection_page(client, inspection)
        assert page.context["completion_rate"] == f"{expected:.2f}%"
        assert f"整改完成率 {expected:.2f}%" in page.content.decode()

    def test_reset_reloads_with_deadlines_counted_from_the_new_day(self, demo):
        screw_factory = Measure.objects.get(text__contains="螺丝厂")
        later = TODAY + dt.timedelta(days=30)
        before = Measure.objects.count()
        feedback_dates = dict(Inspection.objects.values_list("title", "feedback_date"))

        demo_load(today=later, reset=True)

        assert Measure.objects.count() == before
        assert Measure.objects.get(text__contains="螺丝厂").deadline == screw_factory.deadline + dt.timedelta(days=30)
        # Fixed dates stay what the report says.
        assert dict(Inspection.objects.values_list("title", "feedback_date")) == feedback_dates

    def test_demo_logins_have_their_roles_and_the_demo_password(self, demo, client):
        expected = {"office": Role.OFFICE, "staff": Role.STAFF, "leader": Role.LEADERSHIP, "auditor": Role.AUDITOR}
        for username, role in expected.items():
            user = User.objects.get(username=username)
            assert role_of(user) == role
            assert client.login(username=username, password=settings.DEMO_PASSWORD), username
            client.logout()
        assert User.objects.get(username="leader").full_name

    def test_staff_login_sits_in_the_department_with_the_most_open_measures(self, demo):
        open_by_department = Counter(
            Measure.objects.filter(status__in=OPEN_STATUSES).values_list("lead_department__name", flat=True)
        )
        busiest = max(open_by_department.values())
        staff = User.objects.select_related("department").get(username="staff")
        assert open_by_department[staff.department.name] == busiest
        assert demo.staff_department == staff.department

    def test_a_changed_demo_password_is_applied_on_the_next_run(self, demo, settings, client):
        settings.DEMO_PASSWORD = "another-demo-pass"
        demo_load(today=TODAY)
        assert client.login(username="auditor", password="another-demo-pass")
        assert User.objects.filter(username__in=DEMO_LOGINS).count() == 4


def test_running_the_command_twice_changes_no_counts():
    out = StringIO()
    call_command("load_demo", stdout=out)
    after_first = row_counts()
    assert after_first["findings_inspection"] == 5

    out = StringIO()
    call_command("load_demo", stdout=out)

    assert row_counts() == after_first
    assert "未作改动" in out.getvalue()


def test_command_prints_where_to_go_and_the_four_logins():
    out = StringIO()
    call_command("load_demo", stdout=out)
    printed = out.getvalue()
    assert settings.SITE_URL in printed
    assert settings.DEMO_PASSWORD in printed
    for username in DEMO_LOGINS:
        assert f"  {username} " in printed
