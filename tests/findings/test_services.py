import datetime as dt

import pytest
from django.core.exceptions import ValidationError
from django.db.models.signals import post_save
from django.urls import reverse

from findings import services
from findings.models import Finding
from measures.models import Measure
from tests.factories import CategoryFactory, FindingFactory, InspectionFactory, MeasureFactory, completed_fields

pytestmark = pytest.mark.django_db


# --- Moving a finding to another category -------------------------------------------------------


def test_moving_a_finding_moves_its_measures_to_the_new_category(office_user):
    finding = FindingFactory()
    old_category, new_category = finding.category, CategoryFactory(inspection=finding.inspection)
    open_measure = MeasureFactory(finding=finding)
    signed_off = MeasureFactory(finding=finding, **completed_fields(office_user))
    neighbour = MeasureFactory(finding__category=old_category, finding__inspection=finding.inspection)

    services.finding_update(finding=finding, category=new_category)

    assert set(Measure.objects.filter(category=new_category)) == {open_measure, signed_off}
    assert set(Measure.objects.filter(category=old_category)) == {neighbour}


def test_a_moved_finding_is_found_by_the_ledgers_category_filter(client, office_user):
    finding = FindingFactory()
    old_category, new_category = finding.category, CategoryFactory(inspection=finding.inspection)
    measure = MeasureFactory(finding=finding, text="建立健全临时救助制度")

    services.finding_update(finding=finding, category=new_category)

    client.force_login(office_user)
    moved = client.get(reverse("measures:ledger"), {"category": new_category.pk})
    left = client.get(reverse("measures:ledger"), {"category": old_category.pk})
    assert [row.pk for row in moved.context["page"]] == [measure.pk]
    assert list(left.context["page"]) == []


def test_a_move_is_announced_with_the_category_in_update_fields():
    # The dashboards' figures group measures by category: their receiver needs to know.
    finding = FindingFactory()
    MeasureFactory(finding=finding)
    seen = []

    def receiver(sender, instance, update_fields, **kwargs):  # type: ignore[no-untyped-def]
        seen.append(set(update_fields or ()))

    post_save.connect(receiver, sender=Finding)
    try:
        services.finding_update(finding=finding, category=CategoryFactory(inspection=finding.inspection))
    finally:
        post_save.disconnect(receiver, sender=Finding)
    assert seen == [{"category"}]


def test_a_finding_cannot_move_to_another_inspections_category():
    finding = FindingFactory()
    measure = MeasureFactory(finding=finding)
    elsewhere = CategoryFactory()

    with pytest.raises(ValidationError) as exc:
        services.finding_update(finding=finding, category=elsewhere)

    assert exc.value.message_dict == {"category": ["问题类别必须属于同一检查。"]}
    finding.refresh_from_db()
    measure.refresh_from_db()
    assert finding.category_id == measure.category_id != elsewhere.pk


# --- The feedback date and the measures' deadlines -----------------------------------------------


def test_feedback_date_cannot_pass_existing_measures_deadlines():
    inspection = InspectionFactory(feedback_date=dt.date(2022, 1, 10), title="原名称")
    finding = FindingFactory(category__inspection=inspection, inspection=inspection)
    MeasureFactory(finding=finding, deadline=dt.date(2022, 3, 31))
    MeasureFactory(finding=finding, deadline=dt.date(2022, 4, 30))
    MeasureFactory(finding=finding, deadline=dt.date(2022, 6, 30))

    with pytest.raises(ValidationError) as exc:
        services.inspection_update(inspection=inspection, title="新名称", feedback_date=dt.date(2022, 5, 1))

    assert exc.value.message_dict == {
        "feedback_date": ["已有 2 条整改措施的时限早于该反馈日期,请先调整这些措施的时限。"]
    }
    inspection.refresh_from_db()
    assert (inspection.title, inspection.feedback_date) == ("原名称", dt.date(2022, 1, 10))


def test_feedback_date_may_move_up_to_the_earliest_deadline():
    inspection = InspectionFactory(feedback_date=dt.date(2022, 1, 10))
    MeasureFactory(
        finding__category__inspection=inspection, finding__inspection=inspection, deadline=dt.date(2022, 3, 31)
    )

    services.inspection_update(inspection=inspection, feedback_date=dt.date(2022, 3, 31))

    inspection.refresh_from_db()
    assert inspection.feedback_date == dt.date(2022, 3, 31)


def test_feedback_date_is_free_while_the_inspection_has_no_measures():
    inspection = InspectionFactory(feedback_date=dt.date(2022, 1, 10))
    FindingFactory(category__inspection=inspection, inspection=inspection)

    services.inspection_update(inspection=inspection, feedback_date=dt.date(2022, 5, 1))

    inspection.refresh_from_db()
    assert inspection.feedback_date == dt.date(2022, 5, 1)
