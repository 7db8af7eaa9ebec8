import csv
import datetime as dt
import io

import pytest
from django.core.files.uploadedfile import SimpleUploadedFile
from django.urls import reverse
from openpyxl import Workbook

from findings.models import Category, Finding, Inspection
from ledgerio import imports
from measures.models import ImportColumnMapping, Measure, MeasureStatus, PendingImport, ProgressReport
from measures.selectors import measure_change_log
from measures.services import measure_update
from tests.factories import (
    CategoryFactory,
    DepartmentFactory,
    FindingFactory,
    InspectionFactory,
    MeasureFactory,
    completed_fields,
)

pytestmark = pytest.mark.django_db


def build_ledger(office_user, leader_user, department, other_department) -> list[Measure]:
    inspection = InspectionFactory(title="市委第一巡察组巡察", feedback_date=dt.date(2022, 1, 10))
    first = CategoryFactory(inspection=inspection, order=1, title="工作机制有待进一步完善")
    second = CategoryFactory(inspection=inspection, order=2, title="作风建设")
    findings = [
        FindingFactory(category=first if n < 2 else second, inspection=inspection, number=n + 1, description=f"问题{n}")
        for n in range(3)
    ]
    measures = []
    for i in range(6):
        finding = findings[i // 2]
        measure = MeasureFactory(
            finding=finding,
            number=i % 2 + 1,
            text=["=危险公式", "建立制度\n第二行", "-完善台账", '说 "明",含逗号', "@人员", "普通措施"][i],
            target="目标" if i % 2 else "",
            owner="张三" if i % 3 else "",
            responsible_leader=leader_user if i % 2 else None,
            lead_department=department if i % 2 else other_department,
            deadline=dt.date(2022, 6, 30) + dt.timedelta(days=i),
            status=MeasureStatus.IN_PROGRESS if i == 2 else MeasureStatus.NOT_STARTED,
        )
        measures.append(measure)
    done = measures[0]
    for name, value in completed_fields(office_user).items():
        setattr(done, name, value)
    done.save()
    ProgressReport.objects.create(
        measure=measures[1], reported_on=dt.date(2022, 3, 1), text="已起草", author=office_user
    )
    return measures


def export(client, fmt: str) -> bytes:
    response = client.get(reverse(f"ledgerio:ledger_export_{fmt}"))
    return b"".join(response.streaming_content)


def upload(client, name: str, content: bytes, **extra):
    response = client.post(reverse("ledgerio:import_start"), {"file": SimpleUploadedFile(name, content), **extra})
    assert response.status_code == 302, response.content.decode()
    preview = client.get(response["Location"])
    assert preview.status_code == 200
    return preview.context["plan"], preview.context["pending"]


def confirm(client, pending):
    return client.post(reverse("ledgerio:import_confirm", args=[pending.token]))


def history_rows() -> int:
    return Measure.history.count() + ProgressReport.history.count()


def snapshot() -> tuple:
    return (
        Inspection.objects.count(),
        Category.objects.count(),
        Finding.objects.count(),
        history_rows(),
        sorted(Measure.objects.values_list("id", "version", "text", "status", "deadline")),
        ProgressReport.objects.count(),
    )


@pytest.mark.parametrize("fmt", ["csv", "xlsx"])
def test_an_export_reimports_unchanged(client, office_user, leader_user, department, other_department, fmt):
    build_ledger(office_user, leader_user, department, other_department)
    client.force_login(office_user)
    before = snapshot()
    plan, pending = upload(client, f"台账.{fmt}", export(client, fmt))
    assert plan.problems == []
    assert plan.counts["measures_unchanged"] == Measure.objects.count()
    assert plan.counts["measures_created"] == plan.counts["measures_updated"] == plan.counts["progress_created"] == 0
    assert not plan.can_confirm
    response = confirm(client, pending)
    assert response.status_code == 302
    assert snapshot() == before


@pytest.mark.parametrize("fmt", ["csv", "xlsx"])
def test_import_into_an_empty_ledger_loses_nothing(client, office_user, leader_user, department, other_department, fmt):
    build_ledger(office_user, leader_user, department, other_department)
    client.force_login(office_user)
    original = export(client, "csv")
    file = original if fmt == "csv" else export(client, "xlsx")
    Measure.objects.all().delete()
    Inspection.objects.all().delete()
    plan, pending = upload(client, f"台账.{fmt}", file)
    assert plan.problems == []
    assert plan.counts["measures_created"] == 6
    assert plan.counts["findings_created"] == 3
    assert plan.counts["categories_created"] == 2
    assert plan.counts["inspections_created"] == 1
    assert plan.counts["progress_created"] == 1
    response = confirm(client, pending)
    assert response.status_code == 302
    assert not PendingImport.objects.exists()
    assert export(client, "csv") == original
    # Recorded in history like any other change, with who did it and why.
    records = Measure.history.filter(id__in=Measure.objects.values("id"))
    assert records.count() == 6
    assert {(r.history_type, r.history_user_id) for r in records} == {("+", office_user.pk)}
    assert all(r.history_change_reason == f"台账导入:台账.{fmt}" for r in records)
    assert ProgressReport.history.filter(history_user=office_user).count() == 1


def test_an_edited_export_updates_the_changed_rows_only(client, office_user, leader_user, department, other_department):
    measures = build_ledger(office_user, leader_user, department, other_department)
    client.force_login(office_user)
    rows = list(csv.reader(io.StringIO(export(client, "csv").decode("utf-8-sig"), newline="")))
    target = next(r for r in rows[1:] if r[6] == "普通措施")
    target[11] = "2022/12/31"
    target[12] = "整改中"
    target[15] = "2022-07-01 已完成调研"
    out = io.StringIO()
    csv.writer(out).writerows(rows)
    plan, pending = upload(client, "台账.csv", out.getvalue().encode("utf-8"))
    assert plan.problems == []
    assert plan.counts["measures_updated"] == 1
    assert plan.counts["progress_created"] == 1
    assert plan.counts["measures_unchanged"] == len(measures) - 1
    (change,) = plan.changes
    assert ("整改时限", "2022-07-05", "2022-12-31") in change.changes
    assert ("状态", "未开始", "整改中") in change.changes
    confirm(client, pending)
    measure = Measure.objects.get(text="普通措施")
    assert measure.deadline == dt.date(2022, 12, 31)
    assert measure.status == MeasureStatus.IN_PROGRESS
    assert measure.version == 2
    assert measure.progress_reports.get().text == "已完成调研"
    assert measure.history.first().history_user == office_user


def test_a_gbk_problem_list_is_read_and_mapped_without_asking(client, office_user, department, other_department):
    inspection = InspectionFactory(title="区人大评议", feedback_date=dt.date(2021, 12, 1))
    content = "\r\n".join(
        [
            "序号,存在问题,整改措施,责任部门,完成时限,问题类别",
            f"一,救助政策宣传不到位,加大宣传力度,{department.name},2022年6月底,政策落实",
            f"一,救助政策宣传不到位,开展入户走访,{other_department.name}、{department.name},2022-03-31,政策落实",
            f"二,养老机构监管薄弱,开展专项检查,{other_department.name},2022.5.1,监管",
        ]
    ).encode("gbk")
    client.force_login(office_user)
    plan, pending = upload(client, "问题清单.csv", content, inspection_title="区人大评议")
    assert plan.encoding == "GB18030"
    assert plan.problems == []
    assert plan.mapping["finding"] == "存在问题"
    assert plan.mapping["department"] == "责任部门"
    assert plan.counts["measures_created"] == 3
    assert plan.counts["findings_created"] == 2
    confirm(client, pending)
    findings = list(inspection.findings.order_by("number"))
    assert [f.description for f in findings] == ["救助政策宣传不到位", "养老机构监管薄弱"]
    first = findings[0].measures.order_by("number")
    assert [m.text for m in first] == ["加大宣传力度", "开展入户走访"]
    assert first[0].deadline == dt.date(2022, 6, 30)
    assert list(first[1].assisting_departments.all()) == [department]
    assert first[1].lead_department == other_department
    assert Measure.objects.filter(inspection=inspection).count() == 3


def test_an_imported_measures_history_names_its_assisting_departments(
    client, office_user, department, other_department
):
    InspectionFactory(title="区人大评议", feedback_date=dt.date(2021, 12, 1))
    content = "\r\n".join(
        [
            "序号,存在问题,整改措施,责任部门,完成时限",
            f"一,救助政策宣传不到位,开展入户走访,{other_department.name}、{department.name},2022-03-31",
        ]
    ).encode("utf-8")
    client.force_login(office_user)
    _plan, pending = upload(client, "问题清单.csv", content, inspection_title="区人大评议")
    confirm(client, pending)

    measure = Measure.objects.get(text="开展入户走访")
    created = measure.history.get()
    assert [d.department for d in created.assisting_departments.all()] == [department]
    # So a later edit of the text shows the text changed, not the departments "added".
    measure_update(measure_id=measure.pk, user=office_user, expected_version=measure.version, text="入户走访全覆盖")
    newest = measure_change_log(measure)[0]
    assert [label for label, _old, _new in newest["changes"]] == ["整改措施"]


def test_an_import_that_only_adds_assisting_departments_records_one_history_row(
    client, office_user, department, other_department
):
    measure = MeasureFactory(lead_department=department, text="开展入户走访")
    client.force_login(office_user)
    rows = list(csv.reader(io.StringIO(export(client, "csv").decode("utf-8-sig"), newline="")))
    rows[1][9] = f"{department.name}、{other_department.name}"  # 责任单位: lead, then assisting
    out = io.StringIO()
    csv.writer(out).writerows(rows)
    edited = out.getvalue().encode("utf-8")
    plan, pending = upload(client, "台账.csv", edited)
    assert plan.problems == []
    assert plan.counts["measures_updated"] == 1
    (change,) = plan.changes
    assert change.changes == [("配合单位", "", other_department.name)]
    before = history_rows()
    confirm(client, pending)

    assert history_rows() == before + 1
    measure.refresh_from_db()
    assert list(measure.assisting_departments.all()) == [other_department]
    assert measure.version == 2
    newest = measure.history.first()
    assert (newest.history_type, newest.history_user, newest.history_change_reason) == (
        "~",
        office_user,
        "台账导入:台账.csv",
    )
    assert newest.version == 2
    assert [d.department for d in newest.assisting_departments.all()] == [other_department]
    assert measure_change_log(measure)[0]["changes"] == [("配合单位", "", other_department.name)]
    history = client.get(reverse("ledgerio:history_export_csv"))
    lines = list(csv.reader(io.StringIO(b"".join(history.streaming_content).decode("utf-8-sig"), newline="")))
    assert lines[-1][1:5] == ["配合单位", "", other_department.name, office_user.display_name]

    # The same file again changes nothing, so it writes no history either.
    plan, pending = upload(client, "台账.csv", edited)
    assert plan.counts["measures_unchanged"] == 1
    assert not plan.can_confirm
    confirm(client, pending)
    assert history_rows() == before + 1


def test_utf8_with_and_without_bom_and_gb18030_are_detected():
    text = "整改措施,责任单位\n加强管理,办公室\n"
    assert imports.decode_csv(text.encode("utf-8")) == (text, "UTF-8")
    assert imports.decode_csv(b"\xef\xbb\xbf" + text.encode("utf-8")) == (text, "UTF-8 (BOM)")
    assert imports.decode_csv(text.encode("gb18030")) == (text, "GB18030")


def test_bad_rows_are_all_reported_and_nothing_is_written(client, office_user, department):
    InspectionFactory(title="市委巡察", feedback_date=dt.date(2022, 1, 10))
    header = "检查名称,问题编号,问题描述,措施编号,整改措施,责任单位,整改时限,状态,完成时间"
    lines = [
        header,
        f"市委巡察,1,问题一,1,措施一,{department.name},2022-06-30,未开始,",  # row 2: fine
        "市委巡察,1,问题一,2,措施二,不存在的科室,2022-06-30,未开始,",  # 3: unknown department
        f"市委巡察,1,问题一,3,措施三,{department.name},2022-13-45,未开始,",  # 4: bad date
        f"市委巡察,1,问题一,4,,{department.name},2022-06-30,未开始,",  # 5: missing text
        f"市委巡察,1,问题一,1,措施一,{department.name},2022-06-30,未开始,",  # 6: duplicate of row 2
        f"市委巡察,2,问题二,1,措施,{department.name},2022-06-30,差不多了,",  # 7: unknown status
        f"市委巡察,2,问题二,2,措施,{department.name},2022-06-30,已完成,",  # 8: completed without a date
        f"市委巡察,2,问题二,3,措施,{department.name},2021-12-31,未开始,",  # 9: before the feedback
        f"市委巡察,x,问题三,1,措施,{department.name},2022-06-30,未开始,",  # 10: bad finding number
    ]
    client.force_login(office_user)
    before = snapshot()
    plan, pending = upload(client, "bad.csv", "\n".join(lines).encode())
    found = {(p.row, p.column) for p in plan.problems}
    assert found == {
        (3, "责任单位"),
        (4, "整改时限"),
        (5, "整改措施"),
        (6, "措施编号"),
        (7, "状态"),
        (8, "状态"),
        (9, "整改时限"),
        (10, "问题编号"),
    }
    messages = {p.row: p.message for p in plan.problems}
    assert "不存在的科室" in messages[3]
    assert "第 2 行" in messages[6]
    assert not plan.can_confirm
    response = confirm(client, pending)
    assert response.status_code == 302
    assert snapshot() == before
    html = client.get(reverse("ledgerio:import_preview", args=[pending.token])).content.decode()
    assert "不存在的科室" in html and "发现 8 处问题" in html


def test_too_many_rows_and_too_large_files_are_refused(client, office_user, department, settings, monkeypatch):
    client.force_login(office_user)
    monkeypatch.setattr(imports, "MAX_ROWS", 5)
    lines = ["检查名称,问题编号,问题描述,措施编号,整改措施,责任单位,整改时限"] + [
        f"巡察,1,问题,{i},措施,{department.name},2022-06-30" for i in range(1, 8)
    ]
    plan, _pending = upload(client, "big.csv", "\n".join(lines).encode())
    assert [(p.row, p.message) for p in plan.problems] == [(0, "文件共有 7 行数据,超过单次导入上限 5 行,请分批导入。")]
    monkeypatch.setattr(imports, "MAX_BYTES", 100)
    response = client.post(reverse("ledgerio:import_start"), {"file": SimpleUploadedFile("big.csv", b"x" * 101)})
    assert response.status_code == 400
    assert "超过" in response.content.decode()
    assert not Measure.objects.exists()


def test_a_mapping_chosen_once_is_used_for_the_next_file(client, office_user, department):
    client.force_login(office_user)
    content = f"事项,举措,部门,期限\n台账不全,补齐台账,{department.name},2022-06-30\n".encode()
    plan, pending = upload(client, "清单.csv", content, inspection_title="专项督查")
    assert {p.column for p in plan.problems} >= {"问题描述", "整改措施", "责任单位", "整改时限"}
    response = client.post(
        reverse("ledgerio:import_preview", args=[pending.token]),
        {
            "map_finding": "事项",
            "map_text": "举措",
            "map_department": "部门",
            "map_deadline": "期限",
            "inspection_title": "专项督查",
        },
    )
    assert response.status_code == 302
    plan = client.get(response["Location"]).context["plan"]
    assert plan.problems == []
    assert plan.counts["measures_created"] == 1
    assert ImportColumnMapping.objects.get(user=office_user).mapping["text"] == "举措"
    plan, _pending = upload(client, "下一份清单.csv", content, inspection_title="专项督查")
    assert plan.problems == []
    assert plan.mapping == {"finding": "事项", "text": "举措", "department": "部门", "deadline": "期限"}


def test_an_xlsx_problem_list_with_a_title_row_and_real_dates(client, office_user, department):
    workbook = Workbook()
    sheet = workbook.active
    sheet.append(["某某局巡察反馈问题整改清单"])
    sheet.append(["序号", "问题描述", "整改措施", "责任单位", "整改时限", "状态"])
    sheet.append([1, "制度不健全", "修订制度", department.name, dt.datetime(2022, 6, 30), "已完成"])
    sheet.append([2, "学习不深入", "开展学习", department.name, dt.date(2022, 7, 31), ""])
    out = io.BytesIO()
    workbook.save(out)
    client.force_login(office_user)
    plan, _pending = upload(client, "清单.xlsx", out.getvalue(), inspection_title="某某局巡察")
    # The completed row has no 完成时间: reported, not invented.
    assert [(p.row, p.column) for p in plan.problems] == [(3, "状态")]
    assert plan.counts["measures_created"] == 2


def test_confirm_is_refused_when_the_ledger_changed_after_the_preview(
    client, office_user, leader_user, department, other_department
):
    build_ledger(office_user, leader_user, department, other_department)
    client.force_login(office_user)
    rows = list(csv.reader(io.StringIO(export(client, "csv").decode("utf-8-sig"), newline="")))
    rows[1][7] = "新目标"
    out = io.StringIO()
    csv.writer(out).writerows(rows)
    plan, pending = upload(client, "台账.csv", out.getvalue().encode())
    assert plan.counts["measures_updated"] == 1
    Measure.objects.filter(text="普通措施").update(owner="李四")  # someone edits meanwhile
    before = snapshot()
    response = confirm(client, pending)
    assert response.status_code == 302
    assert response["Location"] == reverse("ledgerio:import_preview", args=[pending.token])
    assert snapshot() == before


def test_a_failure_while_writing_leaves_nothing_behind(client, office_user, department, monkeypatch):
    client.force_login(office_user)
    content = f"检查名称,问题描述,整改措施,责任单位,整改时限\n新检查,问题,措施,{department.name},2022-06-30\n".encode()
    _plan, pending = upload(client, "x.csv", content)

    def broken(*args, **kwargs):
        raise RuntimeError("disk full")

    monkeypatch.setattr(imports, "record_history", broken)  # after the rows, before their history
    with pytest.raises(RuntimeError):
        confirm(client, pending)
    assert not Inspection.objects.exists()
    assert not Finding.objects.exists()
    assert PendingImport.objects.filter(pk=pending.pk).exists()


@pytest.mark.parametrize("user_fixture", ["staff_user", "leader_user", "auditor_user"])
def test_only_the_office_may_import(request, client, user_fixture):
    client.force_login(request.getfixturevalue(user_fixture))
    assert client.get(reverse("ledgerio:import_start")).status_code == 403
    html = client.get(reverse("measures:ledger")).content.decode()
    assert reverse("ledgerio:import_start") not in html


def test_anonymous_users_are_sent_to_login_and_others_cannot_open_a_pending_import(client, office_user, department):
    response = client.get(reverse("ledgerio:import_start"))
    assert response.status_code == 302 and response["Location"].startswith(reverse("login"))
    client.force_login(office_user)
    assert reverse("ledgerio:import_start") in client.get(reverse("measures:ledger")).content.decode()
    _plan, pending = upload(client, "x.csv", "整改措施,责任单位\n措施,科室\n".encode())
    colleague = DepartmentFactory(name="办公室")
    from accounts.models import Role
    from tests.factories import make_user

    client.force_login(make_user(Role.OFFICE, colleague, username="t_office2"))
    assert client.get(reverse("ledgerio:import_preview", args=[pending.token])).status_code == 404
    assert confirm(client, pending).status_code == 404


@pytest.mark.parametrize("n", [4, 40])
def test_preview_query_count_does_not_grow_with_rows(client, office_user, department, n, django_assert_max_num_queries):
    inspection = InspectionFactory(title="巡察")
    category = CategoryFactory(inspection=inspection, order=1, title="类别")
    lines = ["检查名称,问题类别,问题编号,问题描述,措施编号,整改措施,责任单位,整改时限"]
    for i in range(1, n + 1):
        finding = FindingFactory(category=category, inspection=inspection, number=i, description=f"问题{i}")
        MeasureFactory(finding=finding, number=1, text=f"措施{i}", lead_department=department)
        lines.append(f"巡察,类别,{i},问题{i},1,措施{i}{'改' if i % 2 else ''},{department.name},2022-06-30")
    client.force_login(office_user)
    response = client.post(
        reverse("ledgerio:import_start"), {"file": SimpleUploadedFile("x.csv", "\n".join(lines).encode())}
    )
    # session, user, role, pending import, saved mapping, departments, leaders, people,
    # inspections, categories, findings, measures, assisting departments, latest progress,
    # department names, people's names, saving the plan digest, and the template's own.
    with django_assert_max_num_queries(20):
        preview = client.get(response["Location"])
    assert preview.context["plan"].counts["measures_updated"] == (n + 1) // 2
