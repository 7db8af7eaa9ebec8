import datetime as dt

import pytest

from measures.rules import assisting_without_lead
from measures.services import measure_create, measure_update
from tests.factories import DepartmentFactory, FindingFactory


def test_the_lead_department_is_left_out_of_the_assisting_ones_by_id():
    assert assisting_without_lead([3, 1, 2], lead=1) == [3, 2]


def test_assisting_departments_keep_their_order_and_lose_repeats():
    assert assisting_without_lead([5, 4, 5, 4], lead=None) == [5, 4]


@pytest.mark.django_db
def test_rows_and_ids_may_be_mixed_for_the_lead_and_the_assisting():
    lead, helper = DepartmentFactory(name="社会救助科"), DepartmentFactory(name="养老服务科")
    assert assisting_without_lead([lead, helper], lead=lead.pk) == [helper]
    assert assisting_without_lead([lead.pk, helper.pk], lead=lead) == [helper.pk]


@pytest.mark.django_db
def test_a_measure_never_has_its_lead_department_among_its_assisting_ones(office_user):
    lead, helper = DepartmentFactory(name="社会救助科"), DepartmentFactory(name="养老服务科")
    measure = measure_create(
        finding=FindingFactory(),
        text="措施",
        lead_department=lead,
        deadline=dt.date(2022, 6, 30),
        assisting_departments=[lead, helper],
    )
    assert list(measure.assisting_departments.all()) == [helper]
    # Made the lead, the helper stops assisting.
    measure = measure_update(measure_id=measure.pk, user=office_user, expected_version=1, lead_department=helper)
    assert not measure.assisting_departments.exists()
