import datetime as dt

import pytest
from django.urls import reverse
from django.utils import timezone

from accounts.models import Department, Role
from ledgerio.exports import history_rows
from measures.history import (
    ADDED,
    HistoryNames,
    record_changes,
    record_history,
    shown_change,
    shown_value,
)
from measures.models import Measure, MeasureStatus, ProgressReport
from measures.selectors import measure_change_log
from measures.services import measure_update
from tests.factories import DepartmentFactory, FindingFactory, MeasureFactory, make_user

pytestmark = pytest.mark.django_db
field = Measure._meta.get_field


def _names() -> HistoryNames:
    return HistoryNames.of_people_and_departments()


# --- Writing ------------------------------------------------------------------------------------


@pytest.mark.parametrize("n", [2, 20])
def test_a_batch_of_measure_history_is_two_statements_whatever_its_size(
    n, office_user, other_department, django_assert_num_queries
):
    finding = FindingFactory()
    measures = [MeasureFactory(finding=finding) for _ in range(n)]
    for measure in measures:
        measure.assisting_departments.add(other_department)
    ids = [m.pk for m in measures]
    Measure.objects.filter(pk__in=ids).update(status=MeasureStatus.IN_PROGRESS, version=2)
    when = timezone.now()
    # INSERT … SELECT of the history rows, then of their assisting departments.
    with django_assert_num_queries(2):
        record_history(Measure, ids, user=office_user, when=when, reason="批量")
    rows = Measure.history.filter(id__in=ids, history_date=when)
    assert rows.count() == n
    assert set(rows.values_list("status", "version", "history_type", "history_user", "history_change_reason")) == {
        (MeasureStatus.IN_PROGRESS, 2, "~", office_user.pk, "批量")
    }
    snapshot = Measure.history.model.assisting_departments.model
    assert set(snapshot.objects.filter(history__in=rows).values_list("measure_id", "department_id")) == {
        (pk, other_department.pk) for pk in ids
    }


def test_history_holds_what_the_database_holds_not_the_python_object(office_user):
    measure = MeasureFactory(owner="张三")
    Measure.objects.filter(pk=measure.pk).update(owner="李四")
    measure.owner = "王五"  # never saved
    record_history(Measure, [measure.pk], user=office_user, when=timezone.now())
    assert measure.history.first().owner == "李四"


def test_rows_of_other_models_are_recorded_added_with_a_reason_cut_to_the_column(office_user):
    measure = MeasureFactory()
    (report,) = ProgressReport.objects.bulk_create(
        [ProgressReport(measure=measure, reported_on=dt.date(2022, 3, 1), text="已起草", author=office_user)]
    )
    record_history(
        ProgressReport, [report.pk], user=office_user, when=timezone.now(), reason="长" * 150, history_type=ADDED
    )
    (row,) = ProgressReport.history.filter(id=report.pk)
    assert (row.history_type, row.text, row.history_user) == ("+", "已起草", office_user)
    assert len(row.history_change_reason) == 100


def test_an_empty_batch_writes_nothing(office_user, django_assert_num_queries):
    with django_assert_num_queries(0):
        record_history(Measure, [], user=office_user, when=timezone.now())


# --- Showing ------------------------------------------------------------------------------------


def test_values_are_shown_as_people_read_them(office_user, department):
    names = _names()
    assert shown_value(field("status"), MeasureStatus.IN_PROGRESS, names) == "整改中"
    assert shown_value(field("lead_department"), department.pk, names) == "社会救助科"
    assert shown_value(field("responsible_leader"), office_user.pk, names) == office_user.display_name
    assert shown_value(field("deadline"), dt.date(2022, 6, 30), names) == "2022-06-30"
    at = timezone.make_aware(dt.datetime(2022, 6, 30, 9, 5))
    assert shown_value(field("completed_at"), at, names) == "2022-06-30 09:05"
    assert shown_value(field("is_overdue"), True, names) == "是"
    assert shown_value(field("owner"), "", names) == ""
    assert shown_value(field("responsible_leader"), None, names) == ""
    # A department deleted since is still named by its id, not dropped.
    assert shown_value(field("lead_department"), 987654, names) == "987654"


def test_a_list_of_departments_follows_the_departments_order_not_the_ids():
    later = DepartmentFactory(name="养老服务科", order=3)
    earlier = DepartmentFactory(name="办公室", order=2)
    ids = {later.pk, earlier.pk}
    assert shown_value(field("assisting_departments"), ids, _names()) == "办公室、养老服务科"
    only_these = HistoryNames.of([(field("assisting_departments"), set(), ids)])
    assert shown_value(field("assisting_departments"), ids, only_these) == "办公室、养老服务科"


def test_a_change_is_its_label_and_both_values():
    first, second = DepartmentFactory(name="甲科"), DepartmentFactory(name="乙科")
    names = HistoryNames.of([(field("lead_department"), first.pk, second.pk)])
    assert shown_change(field("lead_department"), first.pk, second.pk, names) == ("牵头单位", "甲科", "乙科")


def test_names_are_read_in_one_query_per_model_named(office_user, department, django_assert_num_queries):
    changes = [
        (field("lead_department"), department.pk, None),
        (field("responsible_leader"), None, office_user.pk),
        (field("assisting_departments"), set(), {department.pk}),
        (field("owner"), "张三", "李四"),
    ]
    with django_assert_num_queries(2):
        HistoryNames.of(changes)


def test_consecutive_records_differ_in_content_not_in_bookkeeping(office_user, department, other_department):
    measure = MeasureFactory(lead_department=department)
    measure_update(measure_id=measure.pk, user=office_user, expected_version=1, lead_department=other_department)
    newer, older = measure.history.all()[:2]
    assert record_changes(older, newer) == [(field("lead_department"), department.pk, other_department.pk)]
    assert record_changes(older, newer, assisting=({1}, {1, 2}))[-1] == (field("assisting_departments"), {1}, {1, 2})


@pytest.fixture
def changed_measure(office_user):
    lead = DepartmentFactory(name="社会救助科", order=1)
    other = DepartmentFactory(name="养老服务科", order=2)
    leader = make_user(Role.LEADERSHIP, username="t_leader2", full_name="王局长")
    measure = MeasureFactory(lead_department=lead)
    measure_update(
        measure_id=measure.pk,
        user=office_user,
        expected_version=1,
        lead_department=other,
        responsible_leader=leader,
        deadline=dt.date(2022, 9, 30),
        assisting_departments=[lead],
    )
    return measure


EXPECTED = {
    ("责任领导", "", "王局长"),
    ("牵头单位", "社会救助科", "养老服务科"),
    ("整改时限", "2022-06-30", "2022-09-30"),
    ("配合单位", "", "社会救助科"),
}


def test_the_page_and_the_csv_show_a_change_alike(changed_measure):
    (latest, _created) = measure_change_log(changed_measure)
    assert set(latest["changes"]) == EXPECTED
    in_csv = {tuple(row[1:4]) for row in history_rows(measure_ids=None) if row[1] != "创建措施"}
    assert in_csv == EXPECTED


def test_the_admin_history_shows_a_change_as_the_page_does(client, changed_measure):
    client.force_login(make_user(Role.OFFICE, username="root", is_superuser=True, is_staff=True))
    response = client.get(reverse("admin:measures_measure_history", args=[changed_measure.pk]))
    assert response.status_code == 200
    records = response.context["page_obj"]
    shown = {(c["field"], c["old"], c["new"]) for r in records for c in getattr(r, "history_delta_changes", [])}
    assert shown == EXPECTED


def test_history_names_of_everyone_reads_two_small_tables(django_assert_num_queries, department):
    with django_assert_num_queries(2):
        names = HistoryNames.of_people_and_departments()
    assert names.name(Department, department.pk) == "社会救助科"
