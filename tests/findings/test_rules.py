import datetime as dt

import pytest

from findings.rules import early_deadline_message, early_deadlines
from measures.models import Measure
from tests.factories import InspectionFactory, MeasureFactory

FEEDBACK = dt.date(2022, 1, 10)


def test_a_deadline_before_the_feedback_is_refused_with_the_feedback_date():
    assert early_deadline_message(deadline=dt.date(2022, 1, 9), feedback_date=FEEDBACK) == (
        "整改时限不能早于检查反馈日期(2022-01-10)。"
    )


@pytest.mark.parametrize(
    ("deadline", "feedback_date"),
    [
        (FEEDBACK, FEEDBACK),  # due on the day of the feedback
        (dt.date(2022, 6, 30), FEEDBACK),
        (dt.date(2021, 1, 1), None),  # no feedback date yet: nothing to compare
        (None, FEEDBACK),  # no deadline: another rule's business
    ],
)
def test_a_deadline_on_or_after_the_feedback_or_a_missing_date_passes(deadline, feedback_date):
    assert early_deadline_message(deadline=deadline, feedback_date=feedback_date) is None


@pytest.mark.django_db
def test_the_inspections_side_finds_exactly_the_measures_the_message_would_refuse():
    inspection = InspectionFactory(feedback_date=None)
    days = [dt.date(2022, 1, 9), FEEDBACK, dt.date(2022, 1, 11)]
    for day in days:
        MeasureFactory(finding__category__inspection=inspection, deadline=day)
    found = set(Measure.objects.filter(early_deadlines(FEEDBACK)).values_list("deadline", flat=True))
    assert found == {d for d in days if early_deadline_message(deadline=d, feedback_date=FEEDBACK)}
    assert found == {dt.date(2022, 1, 9)}
