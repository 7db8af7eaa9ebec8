import datetime as dt
from io import StringIO

import pytest
from django.core.management import CommandError, call_command
from django.db import connection
from django.db.models import Count, F, Max, Min, Q
from django.utils import timezone

from accounts.models import Department, Role, User
from devdata.generator import MEASURES_PER_INSPECTION, chinese_numeral, ledger_generate
from findings.models import Category, Finding, Inspection, InspectionKind
from findings.services import category_create, finding_create
from measures.models import Measure, MeasureKind, MeasureStatus, ProgressReport
from measures.services import measure_create
from tests.factories import DepartmentFactory, InspectionFactory

pytestmark = pytest.mark.django_db

# A fixed day keeps runs comparable; the generator spreads deadlines around it.
TODAY = dt.date(2025, 3, 14)
Assisting = Measure.assisting_departments.through


def generate(measures: int, seed: int = 1, **kwargs):
    return ledger_generate(measures=measures, seed=seed, today=TODAY, **kwargs)


def test_generates_exactly_the_requested_number_of_measures():
    result = generate(37, batch_size=10)
    assert Measure.objects.count() == result.measures == 37
    assert Inspection.objects.count() == result.inspections
    assert Category.objects.count() == result.categories
    assert Finding.objects.count() == result.findings
    assert Assisting.objects.count() == result.assisting_links
    assert ProgressReport.objects.count() == result.progress_reports


def test_postgresql_loads_with_copy_and_other_databases_with_bulk_create():
    result = generate(20)
    assert result.method == ("copy" if connection.vendor == "postgresql" else "bulk_create")


def test_every_status_measure_kind_and_inspection_kind_appears_from_500_measures():
    generate(500)
    assert set(Measure.objects.values_list("status", flat=True)) == set(MeasureStatus.values)
    assert set(Measure.objects.values_list("kind", flat=True)) == set(MeasureKind.values)
    assert set(Inspection.objects.values_list("kind", flat=True)) == set(InspectionKind.values)


def test_about_one_inspection_per_150_measures_with_categories_findings_and_measures_between():
    result = generate(3000)
    assert result.inspections == round(3000 / MEASURES_PER_INSPECTION)
    assert result.inspections <= result.categories <= result.findings < result.measures


def test_measures_carry_their_findings_inspection_and_category():
    generate(600, batch_size=97)
    mismatched = Measure.objects.filter(
        ~Q(inspection_id=F("finding__inspection_id")) | ~Q(category_id=F("finding__category_id"))
    )
    assert mismatched.count() == 0
    assert Finding.objects.exclude(inspection_id=F("category__inspection_id")).count() == 0
    # PostgreSQL defers foreign-key checks to the commit a test never reaches: run them now.
    connection.check_constraints()


def test_categories_findings_and_measures_are_numbered_from_one_without_gaps():
    generate(600)
    generate(300, seed=2)
    # Contiguous from 1 means min = 1 and max = count; the unique constraints rule out repeats.
    gaps = [
        Category.objects.values("inspection").annotate(lo=Min("order"), hi=Max("order"), n=Count("id")),
        Finding.objects.values("inspection").annotate(lo=Min("number"), hi=Max("number"), n=Count("id")),
        Measure.objects.values("finding").annotate(lo=Min("number"), hi=Max("number"), n=Count("id")),
    ]
    assert [qs.exclude(lo=1, hi=F("n")).count() for qs in gaps] == [0, 0, 0]
    # Findings are numbered through the inspection category by category, as in the reports.
    for inspection in Inspection.objects.all():
        numbers = list(inspection.findings.order_by("category__order", "number").values_list("number", flat=True))
        assert numbers == sorted(numbers)


def test_running_twice_adds_twice_with_unique_inspection_titles_and_document_numbers():
    first = generate(400)
    second = generate(400)
    assert Measure.objects.count() == 800
    assert Inspection.objects.count() == first.inspections + second.inspections
    assert Inspection.objects.values("title").distinct().count() == Inspection.objects.count()
    assert Inspection.objects.values("document_number").distinct().count() == Inspection.objects.count()


def test_runs_after_a_ledger_entered_by_hand_and_hand_entry_continues_after_it(department):
    inspection = InspectionFactory(feedback_date=dt.date(2024, 1, 5), deadline=dt.date(2024, 12, 31))
    finding = finding_create(category=category_create(inspection=inspection, title="工作机制"), description="问题")
    before = measure_create(finding=finding, text="建立制度", lead_department=department, deadline=dt.date(2024, 6, 1))
    generate(120)
    # The id sequences were moved past the generated rows, so the services still insert.
    after = measure_create(finding=finding, text="完善台账", lead_department=department, deadline=dt.date(2024, 6, 1))
    assert after.pk > Measure.objects.exclude(pk=after.pk).aggregate(top=Max("pk"))["top"] > before.pk
    assert category_create(inspection=inspection, title="新类别").order == 2
    # Only the two measures saved through the services have history; generated rows have none.
    assert set(Measure.history.values_list("id", flat=True)) == {before.pk, after.pk}
    assert ProgressReport.history.count() == 0


def snapshot(measures):
    """What a ledger looks like, without the ids that differ between runs."""
    return [
        (
            m.inspection.kind,
            m.inspection.feedback_date,
            m.category.order,
            m.category.title,
            m.finding.number,
            m.finding.description,
            m.number,
            m.text,
            m.kind,
            m.status,
            m.deadline,
            m.completed_at,
            m.signed_off_at,
            m.lead_department.name,
            m.responsible_leader.username if m.responsible_leader else None,
            m.owner,
            m.last_progress_at,
            sorted(d.name for d in m.assisting_departments.all()),
            sorted((r.reported_on, r.text) for r in m.progress_reports.all()),
        )
        for m in measures.select_related("inspection", "category", "finding", "lead_department", "responsible_leader")
        .prefetch_related("assisting_departments", "progress_reports")
        .order_by("id")
    ]


def test_the_same_seed_gives_the_same_ledger_and_another_seed_a_different_one():
    generate(300, seed=5)
    boundary = Measure.objects.aggregate(top=Max("id"))["top"]
    generate(300, seed=5)
    first, second = Measure.objects.filter(id__lte=boundary), Measure.objects.filter(id__gt=boundary)
    assert snapshot(first) == snapshot(second)
    generate(300, seed=6)
    third = Measure.objects.filter(id__gt=boundary + 300)
    assert snapshot(third) != snapshot(first)


def test_completed_reviewed_and_signed_off_measures_say_when_and_by_whom():
    generate(800)
    done = Measure.objects.filter(
        status__in=[MeasureStatus.COMPLETED, MeasureStatus.REVIEWED, MeasureStatus.SIGNED_OFF]
    )
    assert done.filter(Q(completed_at__isnull=True) | Q(result="")).count() == 0
    assert done.filter(completed_at__gt=F("reviewed_at")).count() == 0
    assert done.filter(reviewed_at__gt=F("signed_off_at")).count() == 0
    reviewed = done.exclude(status=MeasureStatus.COMPLETED)
    assert reviewed.exclude(reviewed_by__groups__name=Role.LEADERSHIP).count() == 0
    assert (
        reviewed.filter(status=MeasureStatus.SIGNED_OFF).exclude(signed_off_by__groups__name=Role.OFFICE).count() == 0
    )
    still_open = Measure.objects.exclude(pk__in=done)
    assert still_open.exclude(completed_at=None, reviewed_at=None, signed_off_at=None).count() == 0
    led = Measure.objects.exclude(responsible_leader=None)
    assert led.exclude(responsible_leader__groups__name=Role.LEADERSHIP).count() == 0
    assert Measure.objects.filter(completed_at__date__gt=TODAY).count() == 0


def test_the_flags_of_the_recompute_job_are_left_at_their_defaults():
    generate(300)
    assert Measure.objects.filter(Q(is_overdue=True) | Q(is_due_soon=True) | Q(reported_this_period=True)).count() == 0


def test_deadlines_spread_around_today_with_some_overdue_and_some_due_soon():
    generate(800)
    open_measures = Measure.objects.filter(status__in=[MeasureStatus.NOT_STARTED, MeasureStatus.IN_PROGRESS])
    assert open_measures.filter(deadline__lt=TODAY).exists()
    assert open_measures.filter(deadline__range=(TODAY, TODAY + dt.timedelta(days=7))).exists()
    assert Measure.objects.filter(deadline__gt=TODAY + dt.timedelta(days=180)).exists()
    assert Measure.objects.filter(deadline__lt=TODAY - dt.timedelta(days=180)).exists()
    assert Measure.objects.filter(deadline__lt=F("inspection__feedback_date")).count() == 0
    assert Inspection.objects.filter(feedback_date__gt=TODAY).count() == 0


def test_progress_reports_are_recent_for_some_measures_and_old_for_others():
    generate(600)
    latest = dict(
        ProgressReport.objects.values("measure").annotate(last=Max("reported_on")).values_list("measure", "last")
    )
    period_start = TODAY.replace(day=1) - dt.timedelta(days=10)
    assert any(day >= period_start for day in latest.values())
    assert any(day < period_start for day in latest.values())
    # last_progress_at is the latest report's moment; measures never reported have none.
    for measure_id, last_progress_at in Measure.objects.values_list("id", "last_progress_at"):
        if measure_id in latest:
            assert timezone.localtime(last_progress_at).date() == latest[measure_id]
        else:
            assert last_progress_at is None


def test_assisting_departments_never_include_the_lead_department():
    generate(600)
    assert Assisting.objects.exists()
    assert Assisting.objects.filter(department_id=F("measure__lead_department_id")).count() == 0


def test_a_second_run_reuses_the_departments_and_people():
    DepartmentFactory(name="社会救助科")
    generate(50)
    pool = (Department.objects.count(), User.objects.count())
    generate(50)
    assert (Department.objects.count(), User.objects.count()) == pool
    assert Department.objects.filter(name="社会救助科").count() == 1
    assert Measure.objects.filter(lead_department__name="社会救助科").exists()


def test_command_reports_what_it_added_and_how_fast():
    out = StringIO()
    call_command("generate_ledger", measures=75, seed=3, batch_size=20, stdout=out)
    assert Measure.objects.count() == 75
    assert "75 measures" in out.getvalue()
    assert "rows/s" in out.getvalue()


def test_command_refuses_a_non_positive_count():
    with pytest.raises(CommandError):
        call_command("generate_ledger", measures=0, stdout=StringIO())


@pytest.mark.parametrize(("n", "text"), [(1, "一"), (10, "十"), (12, "十二"), (20, "二十"), (35, "三十五")])
def test_chinese_numerals(n, text):
    assert chinese_numeral(n) == text
