import datetime as dt

import pytest
from django.urls import reverse

from findings.models import Category, Finding, Inspection
from measures.models import Measure
from tests.factories import CategoryFactory, FindingFactory, InspectionFactory, MeasureFactory

pytestmark = pytest.mark.django_db


def test_office_builds_an_inspection_in_the_browser(client, office_user, department):
    client.force_login(office_user)
    response = client.post(
        reverse("findings:inspection_create"),
        {
            "kind": "patrol",
            "title": "市委第一巡察组巡察",
            "source_body": "市委第一巡察组",
            "feedback_date": "2022-03-01",
        },
    )
    inspection = Inspection.objects.get(title="市委第一巡察组巡察")
    assert response.status_code == 302
    client.post(reverse("findings:category_create", args=[inspection.pk]), {"title": "工作机制有待进一步完善"})
    category = Category.objects.get(inspection=inspection)
    assert category.order == 1
    client.post(
        reverse("findings:finding_create", args=[inspection.pk]),
        {"category": category.pk, "description": "协调机制不完善"},
    )
    finding = Finding.objects.get(inspection=inspection)
    assert finding.number == 1
    response = client.post(
        reverse("measures:create", args=[finding.pk]),
        {"text": "建立健全工作制度", "kind": "by_deadline", "lead_department": department.pk, "deadline": "2022-06-30"},
    )
    measure = Measure.objects.get(finding=finding)
    assert response.status_code == 302 and response["Location"] == reverse("measures:detail", args=[measure.pk])
    assert (measure.inspection_id, measure.category_id, measure.number) == (inspection.pk, category.pk, 1)


def test_measure_deadline_before_feedback_is_refused_and_input_kept(client, office_user, department):
    finding = FindingFactory(category__inspection__feedback_date=dt.date(2022, 3, 1))
    client.force_login(office_user)
    response = client.post(
        reverse("measures:create", args=[finding.pk]),
        {"text": "我写的措施内容", "kind": "by_deadline", "lead_department": department.pk, "deadline": "2022-01-01"},
    )
    assert response.status_code == 400
    html = response.content.decode()
    assert "整改时限不能早于检查反馈日期" in html
    assert "我写的措施内容" in html
    assert not Measure.objects.exists()


def test_inspection_with_deadline_before_feedback_shows_a_chinese_message(client, office_user):
    client.force_login(office_user)
    response = client.post(
        reverse("findings:inspection_create"),
        {"kind": "audit", "title": "审计", "feedback_date": "2022-03-01", "deadline": "2022-02-01"},
    )
    assert response.status_code == 400
    assert "整改总时限不能早于反馈日期" in response.content.decode()
    assert not Inspection.objects.exists()


@pytest.mark.parametrize("fixture", ["staff_user", "leader_user", "auditor_user"])
def test_only_the_office_edits_the_ledger_structure(client, request, fixture):
    user = request.getfixturevalue(fixture)
    category = CategoryFactory()
    finding = FindingFactory(category=category)
    client.force_login(user)
    urls = [
        reverse("findings:inspection_create"),
        reverse("findings:inspection_edit", args=[category.inspection_id]),
        reverse("findings:category_create", args=[category.inspection_id]),
        reverse("findings:category_edit", args=[category.pk]),
        reverse("findings:finding_create", args=[category.inspection_id]),
        reverse("findings:finding_edit", args=[finding.pk]),
        reverse("measures:create", args=[finding.pk]),
    ]
    for url in urls:
        assert client.get(url).status_code == 403, url
        assert client.post(url, {"title": "x"}).status_code == 403, url


@pytest.mark.parametrize("findings", [2, 20])
def test_inspection_page_query_count_is_constant(client, auditor_user, findings, django_assert_max_num_queries):
    inspection = InspectionFactory()
    for _ in range(findings):
        FindingFactory(category__inspection=inspection, inspection=inspection)
    client.force_login(auditor_user)
    with django_assert_max_num_queries(9):
        response = client.get(reverse("findings:inspection_detail", args=[inspection.pk]))
    assert response.status_code == 200
    assert len(response.context["inspection"].categories.all()) == findings


def test_office_cannot_move_the_feedback_date_past_measures_deadlines(client, office_user):
    inspection = InspectionFactory(title="市委第一巡察组巡察", feedback_date=dt.date(2022, 1, 10))
    finding = FindingFactory(category__inspection=inspection, inspection=inspection)
    MeasureFactory(finding=finding, deadline=dt.date(2022, 3, 31))
    client.force_login(office_user)

    response = client.post(
        reverse("findings:inspection_edit", args=[inspection.pk]),
        {"kind": "patrol", "title": "我改过的检查名称", "feedback_date": "2022-04-01", "deadline": "2022-06-30"},
    )

    assert response.status_code == 400
    assert response.context["form"].errors["feedback_date"] == [
        "已有 1 条整改措施的时限早于该反馈日期,请先调整这些措施的时限。"
    ]
    html = response.content.decode()
    assert "我改过的检查名称" in html and 'value="2022-04-01"' in html
    inspection.refresh_from_db()
    assert (inspection.title, inspection.feedback_date) == ("市委第一巡察组巡察", dt.date(2022, 1, 10))


def test_office_fixes_a_title_even_when_older_measures_end_before_the_feedback_date(client, office_user):
    # Imported ledgers hold such measures; the date is not being moved, so nothing is refused.
    inspection = InspectionFactory(title="市委第一巡察组巡查", feedback_date=dt.date(2022, 4, 1))
    finding = FindingFactory(category__inspection=inspection, inspection=inspection)
    Measure.objects.filter(pk=MeasureFactory(finding=finding).pk).update(deadline=dt.date(2022, 3, 31))
    client.force_login(office_user)

    response = client.post(
        reverse("findings:inspection_edit", args=[inspection.pk]),
        {"kind": "patrol", "title": "市委第一巡察组巡察", "feedback_date": "2022-04-01", "deadline": "2022-06-30"},
    )

    assert response.status_code == 302
    inspection.refresh_from_db()
    assert inspection.title == "市委第一巡察组巡察"


def test_office_moves_a_finding_and_its_measures_follow(client, office_user):
    finding = FindingFactory()
    new_category = CategoryFactory(inspection=finding.inspection)
    measure = MeasureFactory(finding=finding)
    client.force_login(office_user)

    response = client.post(
        reverse("findings:finding_edit", args=[finding.pk]),
        {"category": new_category.pk, "number": finding.number, "description": finding.description},
    )

    assert response.status_code == 302
    measure.refresh_from_db()
    assert measure.category_id == new_category.pk
