"""Look-back (回头看): a look-back follows up an inspection, lists its completed measures, and a
measure whose problem came back is reopened as a new measure linked both ways, shown on both
inspections' pages and notices."""

import datetime as dt

import pytest
from django.core.exceptions import PermissionDenied, ValidationError
from django.urls import reverse

from findings.models import Category, Finding, InspectionKind
from measures.lookbacks import lookback_candidates, lookback_create, measure_reopen
from measures.models import Measure, MeasureStatus
from notices.builder import build_notice
from tests.factories import CategoryFactory, FindingFactory, InspectionFactory, MeasureFactory, completed_fields

pytestmark = pytest.mark.django_db

S = MeasureStatus


@pytest.fixture
def original(office_user, department):
    """An earlier inspection: finding 1 with two signed-off measures, finding 2 with one
    signed-off and one still open."""
    inspection = InspectionFactory(title="市委第一巡察组巡察", feedback_date=dt.date(2021, 3, 1))
    category = CategoryFactory(inspection=inspection, order=1, title="党建工作有待加强")
    f1 = FindingFactory(category=category, number=1, description="理论学习不够深入")
    f2 = FindingFactory(category=category, number=2, description="会议程序不规范")
    done = completed_fields(office_user)
    MeasureFactory(finding=f1, number=1, text="建立学习制度", lead_department=department, **done)
    MeasureFactory(finding=f1, number=2, text="开展专题学习", lead_department=department, **done)
    MeasureFactory(finding=f2, number=1, text="印发议事规则", lead_department=department, **done)
    MeasureFactory(finding=f2, number=2, text="规范会议记录", lead_department=department, status=S.IN_PROGRESS)
    return inspection


@pytest.fixture
def lookback(original, office_user):
    return lookback_create(
        original=original,
        user=office_user,
        title="市委第一巡察组巡察“回头看”",
        feedback_date=dt.date(2022, 1, 14),
        deadline=dt.date(2022, 6, 30),
    )


def measure(inspection, finding_number: int, number: int) -> Measure:
    return Measure.objects.get(inspection=inspection, finding__number=finding_number, number=number)


def test_a_lookback_follows_up_the_original(original, lookback):
    assert lookback.kind == InspectionKind.PATROL_LOOKBACK
    assert lookback.follows_up == original
    assert (lookback.source_body, lookback.inspected_unit) == (original.source_body, original.inspected_unit)
    assert list(original.lookbacks.all()) == [lookback]


def test_it_lists_the_originals_completed_measures_only(original, lookback):
    listed = [(m.finding.number, m.number) for m in lookback_candidates(lookback)]
    assert listed == [(1, 1), (1, 2), (2, 1)]


def test_reopening_creates_a_new_linked_measure_under_a_mirrored_finding(
    original, lookback, office_user, other_department
):
    old = measure(original, 1, 1)
    new = measure_reopen(
        original_measure=old,
        lookback=lookback,
        user=office_user,
        text="重新建立学习制度",
        lead_department=other_department,
    )
    assert new.inspection == lookback and new.reopens == old
    assert list(old.reopened_as.all()) == [new]
    assert (new.text, new.lead_department, new.deadline, new.status) == (
        "重新建立学习制度",
        other_department,
        lookback.deadline,
        S.NOT_STARTED,
    )
    assert (new.category.inspection, new.category.title) == (lookback, "党建工作有待加强")
    assert (new.finding.inspection, new.finding.description, new.finding.number) == (lookback, "理论学习不够深入", 1)
    old.refresh_from_db()
    assert old.status == S.SIGNED_OFF  # the original's sign-off stays on record
    assert [m.pk for m in lookback_candidates(lookback) if m.reopened_as_id == new.pk] == [old.pk]


def test_reopenings_share_the_mirrored_category_and_finding(original, lookback, office_user):
    a = measure_reopen(original_measure=measure(original, 1, 1), lookback=lookback, user=office_user)
    b = measure_reopen(original_measure=measure(original, 1, 2), lookback=lookback, user=office_user)
    c = measure_reopen(original_measure=measure(original, 2, 1), lookback=lookback, user=office_user)
    assert a.finding == b.finding != c.finding
    assert a.category == b.category == c.category
    assert (b.number, c.finding.number) == (2, 2)
    assert b.text == "开展专题学习"  # the original's text when none is given
    assert Category.objects.filter(inspection=lookback).count() == 1
    assert Finding.objects.filter(inspection=lookback).count() == 2


def test_what_cannot_be_reopened(original, lookback, office_user):
    done = measure(original, 1, 1)
    measure_reopen(original_measure=done, lookback=lookback, user=office_user)
    with pytest.raises(ValidationError, match="已在本次回头看中标记为问题反弹"):
        measure_reopen(original_measure=done, lookback=lookback, user=office_user)
    with pytest.raises(ValidationError, match="只有已完成整改的措施"):
        measure_reopen(original_measure=measure(original, 2, 2), lookback=lookback, user=office_user)
    elsewhere = MeasureFactory(**completed_fields(office_user))
    with pytest.raises(ValidationError, match="不属于本次回头看"):
        measure_reopen(original_measure=elsewhere, lookback=lookback, user=office_user)
    with pytest.raises(ValidationError, match="不能早于检查反馈日期"):
        measure_reopen(
            original_measure=measure(original, 1, 2), lookback=lookback, user=office_user, deadline=dt.date(2021, 1, 1)
        )
    assert Measure.objects.filter(inspection=lookback).count() == 1


@pytest.mark.parametrize("fixture", ["staff_user", "leader_user", "auditor_user"])
def test_only_the_office_creates_lookbacks_and_reopens(request, original, lookback, fixture):
    user = request.getfixturevalue(fixture)
    with pytest.raises(PermissionDenied):
        lookback_create(original=original, user=user, title="回头看")
    with pytest.raises(PermissionDenied):
        measure_reopen(original_measure=measure(original, 1, 1), lookback=lookback, user=user)


def test_both_inspection_pages_and_notices_show_the_link(client, original, lookback, office_user, auditor_user):
    old = measure(original, 1, 2)
    new = measure_reopen(original_measure=old, lookback=lookback, user=office_user, text="再次开展专题学习")
    client.force_login(auditor_user)

    page = client.get(reverse("findings:inspection_detail", args=[original.pk])).content.decode()
    assert "回头看中发现问题反弹的措施" in page
    assert reverse("measures:detail", args=[new.pk]) in page and lookback.title in page

    page = client.get(reverse("findings:inspection_detail", args=[lookback.pk])).content.decode()
    assert "本次回头看重新整改的原有措施" in page
    assert reverse("measures:detail", args=[old.pk]) in page and original.title in page

    original_notice = build_notice(original).as_text()
    assert "回头看中发现反弹,已重新整改:" in original_notice
    assert (
        f"1.第1号问题第2条措施“开展专题学习”:问题反弹,已在“{lookback.title}”中重新整改(当前状态:未开始)。"
        in original_notice
    )

    lookback_notice = build_notice(lookback).as_text()
    assert (
        f"1.“{original.title}”第1号问题第2条措施“开展专题学习”,重新整改为第1号问题第1条措施(当前状态:未开始)。"
        in lookback_notice
    )
    assert "一是再次开展专题学习。" in lookback_notice


def test_office_runs_a_lookback_in_the_browser(client, original, office_user, department):
    client.force_login(office_user)
    form = client.get(reverse("lookbacks:new", args=[original.pk]))
    assert form.status_code == 200 and "市委第一巡察组巡察“回头看”" in form.content.decode()
    response = client.post(
        reverse("lookbacks:new", args=[original.pk]),
        {"title": "回头看", "source_body": "市委第一巡察组", "feedback_date": "2022-01-14", "deadline": "2022-06-30"},
    )
    lookback = original.lookbacks.get()
    assert response.status_code == 302 and response["Location"] == reverse("lookbacks:lookback", args=[lookback.pk])

    page = client.get(response["Location"]).content.decode()
    assert "建立学习制度" in page and "规范会议记录" not in page  # completed measures only

    old = measure(original, 2, 1)
    url = reverse("lookbacks:reopen", args=[lookback.pk, old.pk])
    prefix = f"m{old.pk}"
    response = client.post(url, {f"{prefix}-text": "我写的新措施", f"{prefix}-deadline": "2021-01-01"})
    assert response.status_code == 400
    html = response.content.decode()
    assert "整改时限不能早于检查反馈日期" in html and "我写的新措施" in html
    assert not Measure.objects.filter(inspection=lookback).exists()

    response = client.post(
        url,
        {
            f"{prefix}-text": "我写的新措施",
            f"{prefix}-deadline": "2022-05-31",
            f"{prefix}-lead_department": department.pk,
        },
    )
    assert response.status_code == 302
    new = Measure.objects.get(inspection=lookback)
    assert (new.reopens, new.text, new.deadline) == (old, "我写的新措施", dt.date(2022, 5, 31))
    page = client.get(reverse("lookbacks:lookback", args=[lookback.pk])).content.decode()
    assert reverse("measures:detail", args=[new.pk]) in page


@pytest.mark.parametrize("fixture", ["staff_user", "leader_user", "auditor_user"])
def test_only_the_office_reaches_the_lookback_pages(client, request, original, lookback, fixture):
    client.force_login(request.getfixturevalue(fixture))
    old = measure(original, 1, 1)
    assert client.get(reverse("lookbacks:new", args=[original.pk])).status_code == 403
    assert client.post(reverse("lookbacks:new", args=[original.pk]), {"title": "x"}).status_code == 403
    assert client.get(reverse("lookbacks:lookback", args=[lookback.pk])).status_code == 403
    assert client.post(reverse("lookbacks:reopen", args=[lookback.pk, old.pk]), {}).status_code == 403
    assert not Measure.objects.filter(inspection=lookback).exists()
    assert original.lookbacks.count() == 1


def test_an_inspection_that_follows_nothing_has_no_lookback_page(client, original, office_user):
    client.force_login(office_user)
    assert client.get(reverse("lookbacks:lookback", args=[original.pk])).status_code == 404


@pytest.mark.parametrize("measures", [3, 30])
def test_lookback_page_queries_do_not_grow(client, office_user, department, measures, django_assert_max_num_queries):
    inspection = InspectionFactory(feedback_date=dt.date(2021, 3, 1))
    finding = FindingFactory(category__inspection=inspection)
    for number in range(1, measures + 1):
        MeasureFactory(finding=finding, number=number, lead_department=department, **completed_fields(office_user))
    lookback = lookback_create(original=inspection, user=office_user, title="回头看", deadline=dt.date(2022, 6, 30))
    measure_reopen(original_measure=Measure.objects.first(), lookback=lookback, user=office_user)
    client.force_login(office_user)
    # session, user, groups (role), the look-back with its original, departments, the count
    # and the page of candidates (with the reopening measure as a subquery).
    with django_assert_max_num_queries(7):
        response = client.get(reverse("lookbacks:lookback", args=[lookback.pk]))
    assert response.status_code == 200
