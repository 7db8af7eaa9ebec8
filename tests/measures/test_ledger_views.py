import datetime as dt

import pytest
from django.urls import reverse

from measures.models import Evidence, ProgressReport
from tests.factories import FindingFactory, InspectionFactory, MeasureFactory, completed_fields

pytestmark = pytest.mark.django_db


def build_ledger(n: int, department, other_department, author) -> None:
    """n measures split over two departments, each with progress and evidence rows."""
    inspection = InspectionFactory()
    for i in range(n):
        finding = FindingFactory(category__inspection=inspection, inspection=inspection)
        measure = MeasureFactory(
            finding=finding,
            lead_department=department if i % 2 == 0 else other_department,
            is_overdue=i % 3 == 0,
        )
        ProgressReport.objects.create(measure=measure, reported_on=dt.date(2022, 3, 1), text=f"进展{i}", author=author)
        Evidence.objects.create(
            measure=measure, title="会议纪要", document_number=f"民办〔2022〕{i}号", uploaded_by=author
        )


@pytest.mark.parametrize("rows", [3, 40])
def test_ledger_query_count_does_not_grow_with_rows(
    client, office_user, department, other_department, rows, django_assert_max_num_queries
):
    build_ledger(rows, department, other_department, office_user)
    client.force_login(office_user)
    # session, user, role groups, filter choices (inspections, departments, leaders),
    # count, page rows with latest progress and evidence count as subqueries.
    with django_assert_max_num_queries(9):
        response = client.get(reverse("measures:ledger"), {"status": ["not_started"], "q": "整改"})
    assert response.status_code == 200
    assert response.context["page"].paginator.count == rows


def test_ledger_shows_master_columns_and_marks_overdue_rows(client, office_user, department, other_department):
    build_ledger(3, department, other_department, office_user)
    client.force_login(office_user)
    html = client.get(reverse("measures:ledger")).content.decode()
    for header in [
        "序号",
        "检查名称",
        "问题类别",
        "问题编号",
        "问题描述",
        "措施编号",
        "整改措施",
        "整改目标",
        "责任领导",
        "责任单位",
        "责任人",
        "整改时限",
        "状态",
        "完成时间",
        "是否超期",
        "最新进展",
        "佐证材料数",
        "销号时间 / 销号人",
    ]:
        assert f">{header}<" in html
    assert html.count('class="overdue"') == 1  # row 0 of 3 is overdue
    assert "进展2" in html


def test_staff_see_only_their_department_rows(client, staff_user, department, other_department, office_user):
    build_ledger(6, department, other_department, office_user)
    client.force_login(staff_user)
    page = client.get(reverse("measures:ledger")).context["page"]
    assert page.paginator.count == 3
    assert {m.lead_department_id for m in page.object_list} == {department.id}


def test_staff_see_measures_their_department_assists(client, staff_user, department, other_department):
    measure = MeasureFactory(lead_department=other_department)
    measure.assisting_departments.add(department)
    client.force_login(staff_user)
    assert client.get(reverse("measures:ledger")).context["page"].paginator.count == 1
    assert client.get(reverse("measures:detail", args=[measure.pk])).status_code == 200


def test_ledger_filters_combine(client, auditor_user, department, other_department, office_user):
    build_ledger(6, department, other_department, office_user)
    client.force_login(auditor_user)
    response = client.get(reverse("measures:ledger"), {"department": department.pk, "overdue": "true"})
    rows = list(response.context["page"].object_list)
    assert rows and all(m.is_overdue and m.lead_department_id == department.id for m in rows)


def test_text_search_matches_finding_and_measure_text(client, auditor_user):
    MeasureFactory(text="规范养老机构消防安全管理")
    MeasureFactory(finding__description="低保审核把关不严")
    MeasureFactory(text="其他")
    client.force_login(auditor_user)
    assert client.get(reverse("measures:ledger"), {"q": "消防"}).context["page"].paginator.count == 1
    assert client.get(reverse("measures:ledger"), {"q": "低保"}).context["page"].paginator.count == 1


def test_text_search_counts_a_measure_matching_both_ways_once_within_what_the_user_may_see(
    client, staff_user, department, other_department
):
    by_text = MeasureFactory(text="养老服务补贴发放核查", lead_department=department)
    by_finding = MeasureFactory(finding__description="养老服务机构监管不到位", lead_department=department)
    both = MeasureFactory(text="提升养老服务质量", finding=by_finding.finding, lead_department=department)
    latin = MeasureFactory(text="建立 ABC 评估制度", lead_department=department)
    MeasureFactory(text="养老服务,另一单位牵头", lead_department=other_department)
    MeasureFactory(text="低保审核", lead_department=department)
    client.force_login(staff_user)

    page = client.get(reverse("measures:ledger"), {"q": "养老服务"}).context["page"]
    assert page.paginator.count == 3
    assert {m.pk for m in page.object_list} == {by_text.pk, by_finding.pk, both.pk}
    page = client.get(reverse("measures:ledger"), {"q": "abc"}).context["page"]
    assert [m.pk for m in page.object_list] == [latin.pk]


def test_a_filter_that_does_not_validate_is_named_and_the_others_still_apply(
    client, auditor_user, department, other_department, office_user
):
    build_ledger(6, department, other_department, office_user)
    client.force_login(auditor_user)
    # A bookmark from before a department was removed, and a hand-edited date.
    response = client.get(
        reverse("measures:ledger"), {"department": department.pk, "overdue": "true", "deadline_after": "2026-13-01"}
    )
    rows = list(response.context["page"].object_list)
    assert rows and all(m.lead_department_id == department.pk and m.is_overdue for m in rows)
    html = response.content.decode()
    assert 'data-testid="ignored-filters"' in html and "以下筛选条件无效,未生效:时限起" in html

    gone = department.pk + other_department.pk + 100
    response = client.get(reverse("measures:ledger"), {"department": gone, "overdue": "true"})
    assert "未生效:责任单位" in response.content.decode()
    assert response.context["page"].paginator.count == sum(1 for i in range(6) if i % 3 == 0)


@pytest.mark.parametrize("export", ["ledgerio:ledger_export_csv", "ledgerio:ledger_export_xlsx"])
def test_an_export_with_a_filter_that_does_not_validate_is_refused_back_on_the_ledger(
    client, auditor_user, department, other_department, office_user, export
):
    build_ledger(2, department, other_department, office_user)
    client.force_login(auditor_user)
    query = {"department": department.pk, "deadline_before": "not a date"}
    response = client.get(reverse(export), query)
    assert response.status_code == 302
    assert response["Location"].startswith(reverse("measures:ledger") + "?")
    page = client.get(response["Location"])
    html = page.content.decode()
    assert "筛选条件无效(时限止),未导出" in html
    assert "未生效:时限止" in html
    # With the filters right the same export is a file.
    query["deadline_before"] = "2099-12-31"
    assert client.get(reverse(export), query).status_code == 200


def test_anonymous_user_is_sent_to_login(client):
    response = client.get(reverse("measures:ledger"))
    assert response.status_code == 302 and reverse("login") in response["Location"]


def test_staff_of_other_department_gets_403_on_measure_page(client, other_staff_user, department):
    measure = MeasureFactory(lead_department=department)
    client.force_login(other_staff_user)
    assert client.get(reverse("measures:detail", args=[measure.pk])).status_code == 403


@pytest.mark.parametrize("history_rows", [1, 12])
def test_measure_page_query_count_is_constant(
    client, office_user, department, history_rows, django_assert_max_num_queries
):
    measure = MeasureFactory(lead_department=department)
    for i in range(history_rows):
        ProgressReport.objects.create(
            measure=measure, reported_on=dt.date(2022, 3, 1), text=f"进展{i}", author=office_user
        )
        Evidence.objects.create(measure=measure, title=f"材料{i}", document_number=f"文{i}", uploaded_by=office_user)
        measure.owner = f"张{i}"
        measure.responsible_leader = office_user if i % 2 else None
        measure.save()
    client.force_login(office_user)
    # session, user, groups, measure+joins, 5 prefetches, measure history, users named
    # in history, evidence history.
    with django_assert_max_num_queries(13):
        response = client.get(reverse("measures:detail", args=[measure.pk]))
    assert response.status_code == 200
    assert f"张{history_rows - 1}" in response.content.decode()


def test_auditor_sees_no_edit_controls(client, auditor_user, office_user):
    measure = MeasureFactory(**completed_fields(office_user))
    client.force_login(auditor_user)
    html = client.get(reverse("measures:detail", args=[measure.pk])).content.decode()
    for control in ["保存状态", "上传", "提交进展", "审核通过", "销号</button>", "提交申请", "编辑措施"]:
        assert control not in html
