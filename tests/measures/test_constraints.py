import datetime as dt

import pytest
from django.core.exceptions import ValidationError
from django.db import IntegrityError, transaction
from django.utils import timezone

from findings.services import category_create, finding_create
from measures.models import Evidence, Extension, Measure, MeasureDecision, MeasureStatus
from measures.services import measure_create
from tests.factories import FindingFactory, InspectionFactory, MeasureFactory

pytestmark = pytest.mark.django_db


def test_measure_numbers_are_unique_within_a_finding():
    measure = MeasureFactory(number=1)
    with pytest.raises(IntegrityError), transaction.atomic():
        MeasureFactory(finding=measure.finding, number=1)
    # The same number under another finding is fine.
    assert MeasureFactory(number=1).number == 1


def test_finding_numbers_are_unique_within_an_inspection():
    finding = FindingFactory(number=3)
    with pytest.raises(IntegrityError), transaction.atomic():
        FindingFactory(category=finding.category, number=3)


def test_signed_off_measure_requires_who_signed_it_off(leader_user):
    measure = MeasureFactory()
    now = timezone.now()
    reviewed = {"completed_at": now, "reviewed_at": now, "reviewed_by": leader_user}
    Measure.objects.filter(pk=measure.pk).update(status=MeasureStatus.REVIEWED, **reviewed)
    with pytest.raises(IntegrityError), transaction.atomic():
        Measure.objects.filter(pk=measure.pk).update(status=MeasureStatus.SIGNED_OFF, signed_off_at=now)
    Measure.objects.filter(pk=measure.pk).update(
        status=MeasureStatus.SIGNED_OFF, signed_off_at=now, signed_off_by=leader_user
    )
    assert Measure.objects.get(pk=measure.pk).status == MeasureStatus.SIGNED_OFF


def test_completed_measure_requires_completion_time():
    measure = MeasureFactory()
    with pytest.raises(IntegrityError), transaction.atomic():
        Measure.objects.filter(pk=measure.pk).update(status=MeasureStatus.COMPLETED)


def test_extension_must_move_the_deadline_later(staff_user):
    measure = MeasureFactory(deadline=dt.date(2022, 6, 30))
    with pytest.raises(IntegrityError), transaction.atomic():
        Extension.objects.create(
            measure=measure,
            old_deadline=measure.deadline,
            new_deadline=dt.date(2022, 6, 1),
            reason="x",
            requested_by=staff_user,
        )


def test_evidence_needs_a_file_or_a_document_number(staff_user):
    measure = MeasureFactory()
    with pytest.raises(IntegrityError), transaction.atomic():
        Evidence.objects.create(measure=measure, title="会议纪要", uploaded_by=staff_user)
    evidence = Evidence.objects.create(
        measure=measure, title="通知", document_number="温民办〔2022〕27号", uploaded_by=staff_user
    )
    assert evidence.pk


def test_return_decision_needs_a_reason(leader_user):
    measure = MeasureFactory()
    with pytest.raises(IntegrityError), transaction.atomic():
        MeasureDecision.objects.create(measure=measure, action="review_return", comment="", decided_by=leader_user)


def test_inspection_deadline_cannot_precede_feedback():
    inspection = InspectionFactory.build(feedback_date=dt.date(2022, 5, 1), deadline=dt.date(2022, 4, 1))
    with pytest.raises(ValidationError):
        inspection.full_clean()


def test_measure_deadline_cannot_precede_the_inspection_feedback(department):
    inspection = InspectionFactory(feedback_date=dt.date(2022, 5, 1), deadline=dt.date(2022, 12, 31))
    category = category_create(inspection=inspection, title="工作机制有待进一步完善")
    finding = finding_create(category=category, description="协调机制不完善")
    with pytest.raises(ValidationError) as excinfo:
        measure_create(finding=finding, text="建立制度", lead_department=department, deadline=dt.date(2022, 4, 30))
    assert "整改时限" in str(excinfo.value)
    measure = measure_create(finding=finding, text="建立制度", lead_department=department, deadline=dt.date(2022, 5, 1))
    assert (measure.number, measure.inspection_id, measure.category_id) == (1, inspection.id, category.id)


def test_services_number_categories_findings_and_measures_in_order(department):
    inspection = InspectionFactory()
    first = category_create(inspection=inspection, title="一")
    second = category_create(inspection=inspection, title="二")
    f1 = finding_create(category=first, description="a")
    f2 = finding_create(category=second, description="b")
    m1 = measure_create(finding=f2, text="x", lead_department=department, deadline=dt.date(2022, 6, 1))
    m2 = measure_create(finding=f2, text="y", lead_department=department, deadline=dt.date(2022, 6, 1))
    assert (first.order, second.order, f1.number, f2.number, m1.number, m2.number) == (1, 2, 1, 2, 1, 2)
