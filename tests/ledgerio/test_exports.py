import csv
import datetime as dt
import io
import re

import pytest
from django.db import connection
from django.urls import reverse
from django.utils import timezone
from hypothesis import given
from hypothesis import strategies as st
from openpyxl import load_workbook
from openpyxl.utils import get_column_letter

from ledgerio import exports
from measures.models import Evidence, Measure, MeasureStatus, ProgressReport
from measures.services import measure_create, measure_update
from tests.factories import (
    CategoryFactory,
    DepartmentFactory,
    FindingFactory,
    InspectionFactory,
    MeasureFactory,
    UserFactory,
    completed_fields,
)

pytestmark = pytest.mark.django_db

HEADERS = [
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
]


def build_ledger(n: int, department, other_department, author) -> list[Measure]:
    """n measures over two departments and two categories, with progress and evidence."""
    inspection = InspectionFactory()
    categories = [CategoryFactory(inspection=inspection, order=i + 1) for i in range(2)]
    measures = []
    for i in range(n):
        finding = FindingFactory(category=categories[i % 2], inspection=inspection, number=i + 1)
        measure = MeasureFactory(
            finding=finding,
            number=1,
            lead_department=department if i % 2 == 0 else other_department,
            is_overdue=i % 3 == 0,
            is_due_soon=i % 3 == 1,
        )
        ProgressReport.objects.create(measure=measure, reported_on=dt.date(2022, 3, 1), text=f"进展{i}", author=author)
        Evidence.objects.create(
            measure=measure, title="会议纪要", document_number=f"民办〔2022〕{i}号", uploaded_by=author
        )
        measures.append(measure)
    return measures


def csv_rows(response) -> list[list[str]]:
    body = b"".join(response.streaming_content)
    assert body.startswith("\ufeff".encode())
    return list(csv.reader(io.StringIO(body.decode("utf-8-sig"), newline="")))


def test_csv_has_master_columns_in_order_with_bom_and_chinese_values(
    client, office_user, leader_user, department, other_department
):
    build_ledger(3, department, other_department, office_user)
    signed = Measure.objects.order_by("id").last()
    for name, value in {**completed_fields(office_user), "responsible_leader": leader_user}.items():
        setattr(signed, name, value)
    signed.save()
    client.force_login(office_user)
    response = client.get(reverse("ledgerio:ledger_export_csv"))
    assert response.status_code == 200
    assert response["Content-Type"].startswith("text/csv")
    assert "attachment" in response["Content-Disposition"]
    rows = csv_rows(response)
    assert rows[0] == HEADERS
    assert [r[0] for r in rows[1:]] == ["1", "2", "3"]
    measures = list(Measure.objects.order_by("inspection_id", "finding_id", "number").select_related("finding"))
    for row, measure in zip(rows[1:], measures, strict=True):
        assert row[3] == str(measure.finding.number)
        assert row[6] == measure.text
        assert row[11] == measure.deadline.isoformat()
        assert row[12] == measure.get_status_display()
        assert row[14] == ("超期" if measure.is_overdue else "临期" if measure.is_due_soon else "否")
        assert row[15] == f"2022-03-01 进展{measures.index(measure)}"
        assert row[16] == "1"
    last = rows[-1]
    local_day = timezone.localtime(signed.signed_off_at).date().isoformat()
    assert last[12] == MeasureStatus.SIGNED_OFF.label
    assert last[13] == local_day
    assert last[8] == leader_user.display_name
    assert last[17] == f"{local_day} / {office_user.display_name}"


def test_csv_applies_the_ledger_filters_from_the_query_string(client, office_user, department, other_department):
    build_ledger(9, department, other_department, office_user)
    client.force_login(office_user)
    query = {"overdue": "true", "department": department.pk}
    page_count = client.get(reverse("measures:ledger"), query).context["page"].paginator.count
    rows = csv_rows(client.get(reverse("ledgerio:ledger_export_csv"), query))
    assert len(rows) - 1 == page_count
    assert page_count == Measure.objects.filter(is_overdue=True, lead_department=department).count()
    assert {r[9] for r in rows[1:]} == {department.name}


def test_ledger_page_links_to_exports_with_its_query_string(client, office_user):
    client.force_login(office_user)
    html = client.get(reverse("measures:ledger"), {"overdue": "true"}).content.decode()
    assert f'href="{reverse("ledgerio:ledger_export_csv")}?overdue=true"' in html
    assert f'href="{reverse("ledgerio:ledger_export_xlsx")}?overdue=true"' in html
    assert "layout=official" in html


def test_anonymous_users_are_sent_to_login_for_every_export(client):
    for name in ("ledger_export_csv", "ledger_export_xlsx", "history_export", "history_export_csv"):
        response = client.get(reverse(f"ledgerio:{name}"))
        assert response.status_code == 302
        assert response["Location"].startswith(reverse("login"))


def test_staff_export_only_their_departments_rows(client, staff_user, department, other_department, office_user):
    build_ledger(6, department, other_department, office_user)
    assisted = MeasureFactory(lead_department=other_department)
    assisted.assisting_departments.add(department)
    client.force_login(staff_user)
    rows = csv_rows(client.get(reverse("ledgerio:ledger_export_csv")))
    visible = Measure.objects.filter(lead_department=department).count() + 1
    assert len(rows) - 1 == visible
    assert assisted.text in {r[6] for r in rows[1:]}
    # Asking for the other department's rows gives nothing more.
    rows = csv_rows(client.get(reverse("ledgerio:ledger_export_csv"), {"department": other_department.pk}))
    assert [r[6] for r in rows[1:]] == [assisted.text]
    workbook = load_workbook(io.BytesIO(b"".join(client.get(reverse("ledgerio:ledger_export_xlsx")).streaming_content)))
    assert workbook.active.max_row - 1 == visible


@pytest.mark.parametrize("user_fixture", ["auditor_user", "leader_user", "office_user"])
def test_auditors_leadership_and_office_export_everything(request, client, user_fixture, department, other_department):
    author = request.getfixturevalue("office_user")
    build_ledger(4, department, other_department, author)
    client.force_login(request.getfixturevalue(user_fixture))
    rows = csv_rows(client.get(reverse("ledgerio:ledger_export_csv")))
    assert len(rows) - 1 == Measure.objects.count()


DANGEROUS = ['=HYPERLINK("http://x")', "+SUM(A1)", "-2+3", "@cmd", "\tTAB", "\rCR"]


def test_formula_cells_are_written_as_text_in_csv_and_xlsx(client, office_user, department):
    finding = FindingFactory(description=DANGEROUS[3])
    MeasureFactory(
        finding=finding,
        text=DANGEROUS[0],
        target=DANGEROUS[1],
        owner=DANGEROUS[2],
        lead_department=department,
    )
    MeasureFactory(finding=finding, text=DANGEROUS[4], target=DANGEROUS[5], lead_department=department)
    client.force_login(office_user)
    rows = csv_rows(client.get(reverse("ledgerio:ledger_export_csv")))
    cells = [rows[1][6], rows[1][7], rows[1][10], rows[1][4], rows[2][6], rows[2][7]]
    assert cells == ["'" + value for value in [DANGEROUS[0], DANGEROUS[1], DANGEROUS[2], DANGEROUS[3], *DANGEROUS[4:]]]
    for layout in ({}, {"layout": "official"}):
        body = b"".join(client.get(reverse("ledgerio:ledger_export_xlsx"), layout).streaming_content)
        sheet = load_workbook(io.BytesIO(body)).active
        values = [c for row in sheet.iter_rows() for c in row if isinstance(c.value, str)]
        for dangerous in DANGEROUS:
            matching = [c for c in values if c.value.lstrip("'") == dangerous or c.value.endswith(dangerous)]
            assert matching, dangerous
            for cell in matching:
                assert cell.data_type == "s"
                assert not cell.value.startswith(tuple(exports.FORMULA_TRIGGERS))
        # Both layouts have a 责任人 column: the owner is guarded there, in its own cell.
        sheet_rows = list(sheet.iter_rows())
        titles = [c.value for c in next(r for r in sheet_rows if r[0].value == "序号")]
        measure_row = next(r for r in sheet_rows if r[titles.index("整改措施")].value == "'" + DANGEROUS[0])
        owner = measure_row[titles.index("责任人")]
        assert (owner.value, owner.data_type) == ("'" + DANGEROUS[2], "s"), layout


def test_guard_leaves_ordinary_text_alone_and_import_reads_it_back():
    for value in ["整改措施", "2022-06-30", "", "'quoted", "'", "''"]:
        assert exports.guard_formula(value) == value
    for value in DANGEROUS:
        assert exports.unguard_formula(exports.guard_formula(value)) == value


@pytest.mark.parametrize(
    ("text", "exported"),
    [
        ("=x", "'=x"),
        ("'=x", "''=x"),  # a user's own guard is kept: it reads back as typed
        ("''=x", "'''=x"),
        ("-2+3", "'-2+3"),
        ("\t=1", "'\t=1"),
        ("'\t=1", "''\t=1"),
        ("'quoted", "'quoted"),
        ("'", "'"),
        ("", ""),
        ("a=b", "a=b"),
    ],
)
def test_guard_and_unguard_are_exact_inverses(text, exported):
    assert exports.guard_formula(text) == exported
    assert exports.unguard_formula(exported) == text


@given(st.text(alphabet=st.sampled_from(["'", "=", "+", "-", "@", "\t", "\r", "a", "中", " "]), max_size=6) | st.text())
def test_unguard_undoes_guard_for_every_string(text):
    guarded = exports.guard_formula(text)
    assert not guarded.startswith(exports.FORMULA_TRIGGERS)
    assert exports.unguard_formula(guarded) == text


def test_xlsx_freezes_header_sets_widths_and_fills_overdue_rows(client, office_user, department, other_department):
    build_ledger(4, department, other_department, office_user)
    client.force_login(office_user)
    response = client.get(reverse("ledgerio:ledger_export_xlsx"))
    assert response["Content-Type"] == exports_xlsx_type()
    sheet = load_workbook(io.BytesIO(b"".join(response.streaming_content))).active
    assert [c.value for c in sheet[1]] == HEADERS
    assert sheet.freeze_panes == "A2"
    assert sheet.column_dimensions["G"].width == exports.LEDGER_COLUMN_WIDTHS[6]
    for row in sheet.iter_rows(min_row=2):
        filled = row[0].fill.fill_type == "solid"
        assert filled == (row[14].value == "超期")
    assert (
        sum(1 for row in sheet.iter_rows(min_row=2) if row[14].value == "超期")
        == Measure.objects.filter(is_overdue=True).count()
    )


def exports_xlsx_type() -> str:
    return "application/vnd.openxmlformats-officedocument.spreadsheetml.sheet"


def test_official_layout_numbers_categories_findings_and_measures(client, office_user, department):
    inspection = InspectionFactory(title="市委第一巡察组巡察")
    second = CategoryFactory(inspection=inspection, order=2, title="作风建设")
    first = CategoryFactory(inspection=inspection, order=1, title="工作机制")
    f1 = FindingFactory(category=first, inspection=inspection, number=1, description="制度不健全")
    f2 = FindingFactory(category=first, inspection=inspection, number=2, description="台账不规范")
    f3 = FindingFactory(category=second, inspection=inspection, number=3, description="作风不扎实")
    for finding, count in ((f1, 2), (f2, 1), (f3, 3)):
        for n in range(1, count + 1):
            MeasureFactory(finding=finding, number=n, text=f"措施{finding.number}-{n}", lead_department=department)
    client.force_login(office_user)
    body = b"".join(client.get(reverse("ledgerio:ledger_export_xlsx"), {"layout": "official"}).streaming_content)
    sheet = load_workbook(io.BytesIO(body)).active
    first_cells = [row[0].value for row in sheet.iter_rows()]
    assert first_cells[0] == "市委第一巡察组巡察整改落实情况台账"
    assert first_cells[1] == "序号"
    assert first_cells[2:] == [
        "一、工作机制",
        "(一)制度不健全",
        "1.",
        "2.",
        "(二)台账不规范",
        "1.",
        "二、作风建设",
        "(一)作风不扎实",
        "1.",
        "2.",
        "3.",
    ]
    merged = {str(r) for r in sheet.merged_cells.ranges}
    last = get_column_letter(len(exports.OFFICIAL_HEADERS))
    assert {f"A1:{last}1", f"A3:{last}3", f"A4:{last}4", f"A9:{last}9"} <= merged
    assert sheet.cell(row=5, column=2).value == "措施1-1"


@pytest.mark.parametrize("rows", [3, 30])
def test_export_query_counts_do_not_grow_with_rows(
    client, office_user, department, other_department, rows, django_assert_max_num_queries
):
    build_ledger(rows, department, other_department, office_user)
    client.force_login(office_user)
    # session, user, role groups, then the rows in one query (latest progress and evidence
    # count as correlated subqueries); on PostgreSQL the rows come by COPY, which
    # the counter does not see.
    with django_assert_max_num_queries(4):
        response = client.get(reverse("ledgerio:ledger_export_csv"))
        body = b"".join(response.streaming_content)
    assert body.count(b"\n") == rows + 1
    # session, user, role groups, rows.
    with django_assert_max_num_queries(4):
        response = client.get(reverse("ledgerio:ledger_export_xlsx"))
        b"".join(response.streaming_content)


TRICKY = [
    'say "yes", then',
    "line one\nline two",
    "carriage\rreturn",
    "",
    " leading space",
    "=1+1",
    "comma,inside",
    "\\.",
    "中文,“引号”",
    # a user's own guard quote, before a formula trigger or not
    "'=x",
    "''-1",
    "'quoted",
    "'",
]


@pytest.mark.skipif(connection.vendor != "postgresql", reason="the COPY path runs on PostgreSQL only")
def test_copy_path_and_python_path_give_the_same_file(office_user, leader_user, department, other_department):
    build_ledger(5, department, other_department, office_user)
    finding = FindingFactory(description=TRICKY[0])
    for i, text in enumerate(TRICKY, start=1):
        MeasureFactory(
            finding=finding,
            number=i,
            text=text or "x",
            target=text,
            owner=TRICKY[-i],
            lead_department=department,
            responsible_leader=leader_user if i % 2 else None,
        )
    done = Measure.objects.order_by("id").first()
    for name, value in completed_fields(office_user).items():
        setattr(done, name, value)
    done.completed_at = timezone.make_aware(dt.datetime(2022, 5, 31, 23, 30), dt.UTC)  # June 1st in Shanghai
    done.save()
    for ordering in (
        ("inspection_id", "finding_id", "number"),
        ("deadline",),
        ("-lead_department__name",),
        ("status",),
    ):
        measures = Measure.objects.order_by(*ordering)
        python = b"".join(exports.ledger_csv_python(measures))
        copied = b"".join(exports.ledger_csv_copy(measures))
        assert copied == python
    assert b"2022-06-01" in python


def test_history_export_lists_field_changes_with_who_and_when(client, office_user, auditor_user, department):
    measure = MeasureFactory(lead_department=department, text="原措施")
    measure.text = "新措施"
    measure.status = MeasureStatus.IN_PROGRESS
    measure._history_user = office_user
    measure.save()
    client.force_login(auditor_user)
    rows = csv_rows(client.get(reverse("ledgerio:history_export_csv")))
    assert rows[0] == ["措施", "字段", "原值", "新值", "操作人", "时间", "配合单位"]
    changes = {(r[1], r[2], r[3]) for r in rows[1:]}
    assert ("整改措施", "原措施", "新措施") in changes
    assert ("状态", "未开始", "整改中") in changes
    assert ("创建措施", "", "原措施") in changes
    assert any(r[4] == office_user.display_name for r in rows[1:])
    assert all(r[0].startswith(measure.inspection.title) for r in rows[1:])


def test_history_export_names_the_assisting_departments_as_of_each_row(client, office_user, auditor_user):
    lead = DepartmentFactory(name="社会救助科", order=1)
    # Department order first, then name: 养老服务科 after 办公室 though it sorts before by name.
    first = DepartmentFactory(name="养老服务科", order=3)
    second = DepartmentFactory(name="办公室", order=2)
    measure = measure_create(
        finding=FindingFactory(),
        text="原措施",
        lead_department=lead,
        deadline=dt.date(2022, 6, 30),
        assisting_departments=[first],
    )
    ProgressReport.objects.create(measure=measure, reported_on=dt.date(2022, 3, 1), text="已起草", author=office_user)
    measure = measure_update(
        measure_id=measure.pk, user=office_user, expected_version=1, assisting_departments=[first, second]
    )
    measure_update(measure_id=measure.pk, user=office_user, expected_version=2, text="新措施")
    client.force_login(auditor_user)
    rows = csv_rows(client.get(reverse("ledgerio:history_export_csv")))
    assert rows[0][-1] == "配合单位"
    assert [(r[1], r[2], r[3], r[6]) for r in rows[1:]] == [
        ("创建措施", "", "原措施", "养老服务科"),
        # A progress report's history has no departments of its own: the measure's as of then.
        ("新增整改进展", "", "2022-03-01 已起草", "养老服务科"),
        # A change to the assisting departments alone is a row too.
        ("配合单位", "养老服务科", "办公室、养老服务科", "办公室、养老服务科"),
        ("整改措施", "原措施", "新措施", "办公室、养老服务科"),
    ]

    # Rows from a later date still name the departments recorded before it.
    tomorrow = timezone.localdate() + dt.timedelta(days=1)
    later = timezone.make_aware(dt.datetime.combine(tomorrow, dt.time(9)))
    ProgressReport.history.filter(measure_id=measure.pk).update(history_date=later)
    rows = csv_rows(client.get(reverse("ledgerio:history_export_csv"), {"date_from": tomorrow.isoformat()}))
    assert [(r[1], r[6]) for r in rows[1:]] == [("新增整改进展", "办公室、养老服务科")]


def test_history_export_filters_by_inspection_and_date_and_staff_see_their_department(
    client, staff_user, department, other_department, office_user
):
    mine = MeasureFactory(lead_department=department, text="本单位措施")
    theirs = MeasureFactory(lead_department=other_department, text="他单位措施")
    ProgressReport.objects.create(measure=mine, reported_on=dt.date(2022, 3, 1), text="本单位进展", author=office_user)
    client.force_login(staff_user)
    rows = csv_rows(client.get(reverse("ledgerio:history_export_csv")))
    texts = {r[3] for r in rows[1:]}
    assert "本单位措施" in texts and "2022-03-01 本单位进展" in texts
    assert "他单位措施" not in texts
    client.force_login(office_user)
    rows = csv_rows(client.get(reverse("ledgerio:history_export_csv"), {"inspection": theirs.inspection_id}))
    assert {r[3] for r in rows[1:]} == {"他单位措施"}
    tomorrow = (timezone.localdate() + dt.timedelta(days=1)).isoformat()
    rows = csv_rows(client.get(reverse("ledgerio:history_export_csv"), {"date_from": tomorrow}))
    assert rows[1:] == []
    assert client.get(reverse("ledgerio:history_export_csv"), {"date_from": "not a date"}).status_code == 400


def form_fields(html: str, testid: str) -> tuple[str, str, dict[str, str]]:
    """(method, action, {name: input type}) of the form marked data-testid=testid."""
    form = re.search(rf'<form[^>]*data-testid="{testid}"[^>]*>(.*?)</form>', html, re.S)
    assert form, testid
    tag = form.group(0)[: form.group(0).index(">")]
    method = re.search(r'method="(\w+)"', tag).group(1)
    action = re.search(r'action="([^"]+)"', tag).group(1)
    fields = {
        m.group(2): (re.search(r'type="(\w+)"', m.group(0)) or re.search(r"(select)", m.group(1))).group(1)
        for m in re.finditer(r'<(input|select)[^>]*name="(\w+)"[^>]*>', form.group(1))
    }
    return method, action, fields


def test_auditors_reach_the_history_export_from_the_ledger_and_its_fields_filter_it(client, auditor_user, department):
    first = MeasureFactory(lead_department=department, text="第一次检查的措施")
    second = MeasureFactory(lead_department=department, text="第二次检查的措施")
    client.force_login(auditor_user)
    html = client.get(reverse("measures:ledger")).content.decode()
    page_url = reverse("ledgerio:history_export")
    assert f'href="{page_url}"' in html
    # From a ledger narrowed to one inspection, the form starts on that inspection.
    html = client.get(reverse("measures:ledger"), {"inspection": second.inspection_id}).content.decode()
    assert f'href="{page_url}?inspection={second.inspection_id}"' in html
    page = client.get(page_url, {"inspection": second.inspection_id})
    assert page.status_code == 200
    method, action, fields = form_fields(page.content.decode(), "history-export-form")
    assert (method, action) == ("get", reverse("ledgerio:history_export_csv"))
    assert fields == {"inspection": "select", "date_from": "date", "date_to": "date"}
    assert re.search(rf'<option value="{second.inspection_id}" selected>', page.content.decode())

    today = timezone.localdate()
    submitted = {"inspection": first.inspection_id, "date_from": today.isoformat(), "date_to": today.isoformat()}
    rows = csv_rows(client.get(action, submitted))
    assert {r[3] for r in rows[1:]} == {"第一次检查的措施"}
    yesterday = (today - dt.timedelta(days=1)).isoformat()
    assert csv_rows(client.get(action, {**submitted, "date_to": yesterday}))[1:] == []
    assert csv_rows(client.get(action, {"inspection": "", "date_from": "", "date_to": ""}))[1:] != []


@pytest.mark.parametrize("n", [3, 30])
def test_history_export_form_query_count_does_not_grow(client, auditor_user, n, django_assert_max_num_queries):
    inspections = InspectionFactory.create_batch(n)
    client.force_login(auditor_user)
    # session, user, role groups, the listed inspections; the chosen one is validated (one more).
    with django_assert_max_num_queries(4):
        assert client.get(reverse("ledgerio:history_export")).status_code == 200
    with django_assert_max_num_queries(5):
        client.get(reverse("ledgerio:history_export"), {"inspection": inspections[0].pk})


def test_users_without_a_role_cannot_open_the_history_export_form(client, department):
    client.force_login(UserFactory())
    assert client.get(reverse("ledgerio:history_export")).status_code == 403


@pytest.mark.parametrize("n", [2, 20])
def test_history_export_query_count_does_not_grow(
    client, auditor_user, office_user, department, other_department, n, django_assert_max_num_queries
):
    for i in range(n):
        measure = MeasureFactory(lead_department=department)
        measure.text = f"改{i}"
        measure.save()
        measure_update(
            measure_id=measure.pk, user=office_user, expected_version=1, assisting_departments=[other_department]
        )
    client.force_login(auditor_user)
    # session, user, role groups, users, departments, then one query per history table and
    # one for the assisting departments of the measures' history rows.
    with django_assert_max_num_queries(10):
        rows = csv_rows(client.get(reverse("ledgerio:history_export_csv")))
    assert len(rows) - 1 == 3 * n
    assert {r[6] for r in rows[1:] if r[1] == "配合单位"} == {other_department.name}
