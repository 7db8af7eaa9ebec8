"""The measure page's actions over HTTP: what a clerk, a leader and the office do."""

import re

import pytest
from django.core.files.uploadedfile import SimpleUploadedFile
from django.urls import reverse
from django.utils import timezone

from measures.models import DecisionAction, Evidence, Measure, MeasureDecision, MeasureStatus
from tests.factories import DepartmentFactory, MeasureFactory

pytestmark = pytest.mark.django_db

PNG = (
    b"\x89PNG\r\n\x1a\n\x00\x00\x00\rIHDR\x00\x00\x00\x01\x00\x00\x00\x01\x08\x06\x00\x00\x00\x1f\x15\xc4\x89"
    b"\x00\x00\x00\rIDATx\x9cc\xf8\x0f\x00\x00\x01\x01\x00\x05\x18\xd8N\x00\x00\x00\x00IEND\xaeB`\x82"
)


@pytest.fixture
def measure(department, leader_user):
    return MeasureFactory(lead_department=department, responsible_leader=leader_user, status="in_progress")


def post(client, name, measure_id, data):
    return client.post(reverse(f"measures:{name}", args=[measure_id]), data)


def test_staff_completes_leader_reviews_office_signs_off(client, measure, staff_user, leader_user, office_user):
    client.force_login(staff_user)
    upload = SimpleUploadedFile("纪要.png", PNG, content_type="image/png")
    response = client.post(reverse("measures:evidence_add", args=[measure.pk]), {"title": "会议纪要", "file": upload})
    assert response.status_code == 302
    response = post(client, "set_status", measure.pk, {"new_status": "completed", "result": "已建立制度", "version": 1})
    assert response.status_code == 302
    measure.refresh_from_db()
    assert measure.status == MeasureStatus.COMPLETED and measure.completed_at

    client.force_login(leader_user)
    assert post(client, "review", measure.pk, {"decision": "pass", "version": measure.version}).status_code == 302
    client.force_login(office_user)
    measure.refresh_from_db()
    response = post(
        client, "sign_off", measure.pk, {"decision": "pass", "comment": "材料齐全", "version": measure.version}
    )
    assert response.status_code == 302
    measure.refresh_from_db()
    assert (measure.status, measure.signed_off_by) == (MeasureStatus.SIGNED_OFF, office_user)
    actions = list(MeasureDecision.objects.filter(measure=measure).values_list("action", "decided_by", "comment"))
    assert actions == [("review_pass", leader_user.pk, ""), ("sign_off", office_user.pk, "材料齐全")]
    # The history table on the page names who did each step.
    html = client.get(reverse("measures:detail", args=[measure.pk])).content.decode()
    assert "已销号" in html and "材料齐全" in html


def test_completing_without_evidence_is_refused_and_the_result_kept(client, measure, staff_user):
    client.force_login(staff_user)
    response = post(client, "set_status", measure.pk, {"new_status": "completed", "result": "我写的成效", "version": 1})
    assert response.status_code == 400
    html = response.content.decode()
    assert "佐证材料" in html and "我写的成效" in html
    assert Measure.objects.get(pk=measure.pk).status == MeasureStatus.IN_PROGRESS


def test_completing_without_a_result_shows_the_error_next_to_the_field(client, measure, staff_user):
    client.force_login(staff_user)
    response = post(client, "set_status", measure.pk, {"new_status": "completed", "result": "", "version": 1})
    assert response.status_code == 400
    assert "标记已完成时必须填写整改成效" in response.content.decode()


def test_second_editor_gets_the_conflict_message_with_what_changed(client, measure, staff_user, office_user):
    client.force_login(office_user)
    response = client.post(
        reverse("measures:edit", args=[measure.pk]),
        {
            "text": measure.text,
            "kind": "by_deadline",
            "lead_department": measure.lead_department_id,
            "deadline": "2022-09-30",
            "owner": "张三",
            "version": 1,
        },
    )
    assert response.status_code == 302
    # The clerk still has version 1 on screen.
    client.force_login(staff_user)
    response = post(client, "set_status", measure.pk, {"new_status": "not_started", "result": "我的说明", "version": 1})
    assert response.status_code == 409
    html = response.content.decode()
    assert "其他人已修改了这条措施" in html
    assert "2022-09-30" in html and "张三" in html
    assert "我的说明" in html
    assert Measure.objects.get(pk=measure.pk).status == MeasureStatus.IN_PROGRESS


def test_evidence_with_a_lying_extension_is_refused(client, measure, staff_user):
    client.force_login(staff_user)
    fake = SimpleUploadedFile("report.pdf", b"<html><script>alert(1)</script></html>", content_type="application/pdf")
    response = client.post(reverse("measures:evidence_add", args=[measure.pk]), {"title": "报告", "file": fake})
    assert response.status_code == 400
    assert not Evidence.objects.exists()
    assert "报告" in response.content.decode()  # the title typed is kept


def test_evidence_is_downloaded_as_attachment_only_by_those_who_see_the_measure(
    client, measure, staff_user, other_staff_user, auditor_user
):
    client.force_login(staff_user)
    upload = SimpleUploadedFile("photo.png", PNG, content_type="text/html")
    client.post(reverse("measures:evidence_add", args=[measure.pk]), {"title": "照片", "file": upload})
    evidence = Evidence.objects.get()
    url = reverse("measures:evidence_download", args=[evidence.pk])
    client.force_login(auditor_user)
    response = client.get(url)
    assert response.status_code == 200
    assert response["Content-Type"] == "image/png"
    assert response["Content-Disposition"].startswith("attachment")
    assert b"".join(response.streaming_content) == PNG
    client.force_login(other_staff_user)
    assert client.get(url).status_code == 403
    client.logout()
    assert client.get(url).status_code == 302


def test_other_department_cannot_act_on_a_measure(client, measure, other_staff_user):
    client.force_login(other_staff_user)
    for name, data in [
        ("set_status", {"new_status": "completed", "result": "x", "version": 1}),
        ("progress_add", {"reported_on": "2022-03-01", "text": "x"}),
        ("extension_request", {"new_deadline": "2023-01-01", "reason": "x"}),
    ]:
        assert post(client, name, measure.pk, data).status_code == 403


def test_leader_returns_with_a_reason_and_staff_sees_it(client, measure, staff_user, leader_user):
    client.force_login(staff_user)
    client.post(
        reverse("measures:evidence_add", args=[measure.pk]),
        {"title": "通知", "document_number": "温民办〔2022〕27号"},
    )
    post(client, "set_status", measure.pk, {"new_status": "completed", "result": "成效", "version": 1})
    client.force_login(leader_user)
    version = Measure.objects.get(pk=measure.pk).version
    refused = post(client, "review", measure.pk, {"decision": "return", "comment": "", "version": version})
    assert refused.status_code == 400 and "退回必须填写理由" in refused.content.decode()
    post(client, "review", measure.pk, {"decision": "return", "comment": "佐证不足", "version": version})
    assert Measure.objects.get(pk=measure.pk).status == MeasureStatus.RETURNED
    client.force_login(staff_user)
    assert "佐证不足" in client.get(reverse("measures:detail", args=[measure.pk])).content.decode()


def test_extension_request_and_approval_move_the_deadline(client, measure, staff_user, leader_user):
    client.force_login(staff_user)
    post(client, "extension_request", measure.pk, {"new_deadline": "2022-12-31", "reason": "涉及多部门协调"})
    extension = measure.extensions.get()
    client.force_login(leader_user)
    response = client.post(reverse("measures:extension_decide", args=[extension.pk]), {"decision": "approve"})
    assert response.status_code == 302
    assert str(Measure.objects.get(pk=measure.pk).deadline) == "2022-12-31"


def test_batch_sign_off_from_the_ledger(client, office_user, leader_user, department):
    from django.utils import timezone

    now = timezone.now()
    reviewed = [
        MeasureFactory(
            lead_department=department, status="reviewed", completed_at=now, reviewed_at=now, reviewed_by=leader_user
        )
        for _ in range(3)
    ]
    still_open = MeasureFactory(lead_department=department)
    client.force_login(office_user)
    response = client.post(
        reverse("measures:ledger_batch"),
        {"action": "sign_off", "measure_ids": [m.pk for m in reviewed] + [still_open.pk], "back": "status=reviewed"},
    )
    assert response.status_code == 302 and response["Location"].endswith("?status=reviewed")
    assert Measure.objects.filter(status="signed_off").count() == 3
    assert Measure.objects.get(pk=still_open.pk).status == "not_started"


def test_batch_action_by_staff_changes_nothing(client, staff_user, leader_user, department):
    from django.utils import timezone

    now = timezone.now()
    m = MeasureFactory(
        lead_department=department, status="reviewed", completed_at=now, reviewed_at=now, reviewed_by=leader_user
    )
    client.force_login(staff_user)
    client.post(reverse("measures:ledger_batch"), {"action": "sign_off", "measure_ids": [m.pk]})
    assert Measure.objects.get(pk=m.pk).status == "reviewed"


# --- Assisting departments in the page's history --------------------------------------------


def test_page_history_shows_a_change_of_assisting_departments_by_name(client, measure, office_user, other_department):
    client.force_login(office_user)
    edit = reverse("measures:edit", args=[measure.pk])
    form = {
        "text": measure.text,
        "kind": measure.kind,
        "lead_department": measure.lead_department_id,
        "deadline": measure.deadline.isoformat(),
    }
    assert client.post(edit, {**form, "assisting_departments": [other_department.pk], "version": 1}).status_code == 302
    third = DepartmentFactory(name="社会事务科")
    assert client.post(edit, {**form, "assisting_departments": [third.pk], "version": 2}).status_code == 302
    response = client.get(reverse("measures:detail", args=[measure.pk]))
    rows = [
        [cell.strip() for cell in re.findall(r"<td[^>]*>(.*?)</td>", row, re.S)]
        for row in re.findall(r"<tr>(.*?)</tr>", _history_table(response.content.decode()), re.S)
    ]
    assisting = [(row[3], row[4]) for row in rows if row and row[2] == "配合单位"]
    assert assisting == [("<del>养老服务科</del>", "<ins>社会事务科</ins>"), ("<del></del>", "<ins>养老服务科</ins>")]


def _history_table(html: str) -> str:
    return html.split('data-testid="history"', 1)[1].split("</table>", 1)[0]


# --- The version is required for every write that names one -----------------------------------


def _signed_off(department, leader_user, office_user):
    now = timezone.now()
    return MeasureFactory(
        lead_department=department,
        responsible_leader=leader_user,
        status=MeasureStatus.SIGNED_OFF,
        completed_at=now,
        result="已建立制度",
        reviewed_at=now,
        reviewed_by=leader_user,
        signed_off_at=now,
        signed_off_by=office_user,
    )


@pytest.mark.parametrize(
    ("name", "status", "who", "data"),
    [
        ("set_status", "in_progress", "staff_user", {"new_status": "not_started"}),
        ("review", "completed", "leader_user", {"decision": "pass"}),
        ("sign_off", "reviewed", "office_user", {"decision": "pass"}),
        ("return_signed_off", "signed_off", "office_user", {"comment": "问题反弹"}),
        (
            "edit",
            "in_progress",
            "office_user",
            {"text": "改写后的措施", "kind": "by_deadline", "deadline": "2022-09-30"},
        ),
    ],
)
def test_a_write_without_the_version_is_refused_and_saves_nothing(
    client, request, department, leader_user, office_user, name, status, who, data
):
    now = timezone.now()
    if status == "signed_off":
        measure = _signed_off(department, leader_user, office_user)
    else:
        fields = {"completed_at": now, "result": "已整改"} if status in ("completed", "reviewed") else {}
        if status == "reviewed":
            fields.update(reviewed_at=now, reviewed_by=leader_user)
        measure = MeasureFactory(lead_department=department, responsible_leader=leader_user, status=status, **fields)
    if name == "edit":
        data = {**data, "lead_department": department.pk}
    before = Measure.objects.filter(pk=measure.pk).values().get()
    client.force_login(request.getfixturevalue(who))
    for version in ({}, {"version": ""}):
        response = post(client, name, measure.pk, {**data, **version})
        assert response.status_code == 400
        assert "页面缺少版本信息,修改未保存" in response.content.decode()
    assert Measure.objects.filter(pk=measure.pk).values().get() == before
    assert not MeasureDecision.objects.exists()


# --- 退回已销号 ------------------------------------------------------------------------------------


def test_office_returns_a_signed_off_measure_from_its_page(client, department, leader_user, office_user):
    measure = _signed_off(department, leader_user, office_user)
    client.force_login(office_user)
    page = client.get(reverse("measures:detail", args=[measure.pk])).content.decode()
    assert reverse("measures:return_signed_off", args=[measure.pk]) in page

    refused = post(client, "return_signed_off", measure.pk, {"comment": " ", "version": measure.version})
    assert refused.status_code == 400
    assert "退回必须填写理由" in refused.content.decode()
    assert Measure.objects.get(pk=measure.pk).status == MeasureStatus.SIGNED_OFF

    response = post(
        client, "return_signed_off", measure.pk, {"comment": "回头看发现问题反弹", "version": measure.version}
    )
    assert response.status_code == 302
    stored = Measure.objects.get(pk=measure.pk)
    assert (stored.status, stored.signed_off_by, stored.signed_off_at) == (MeasureStatus.RETURNED, None, None)
    decision = MeasureDecision.objects.get(measure=measure)
    assert (decision.action, decision.decided_by, decision.comment) == (
        DecisionAction.SIGN_OFF_REVOKE,
        office_user,
        "回头看发现问题反弹",
    )
    latest = stored.history.first()
    assert (latest.history_user, latest.history_change_reason) == (office_user, "退回已销号:回头看发现问题反弹")
    page = client.get(reverse("measures:detail", args=[measure.pk])).content.decode()
    assert "退回已销号</strong>:回头看发现问题反弹" in page  # 审核与销号记录
    assert "退回已销号:回头看发现问题反弹" in _history_table(page)
    # Returned, it is no longer signed off: the form has gone.
    assert reverse("measures:return_signed_off", args=[measure.pk]) not in page


@pytest.mark.parametrize("who", ["staff_user", "leader_user", "auditor_user"])
def test_only_the_office_may_return_a_signed_off_measure(client, request, department, leader_user, office_user, who):
    measure = _signed_off(department, leader_user, office_user)
    client.force_login(request.getfixturevalue(who))
    page = client.get(reverse("measures:detail", args=[measure.pk])).content.decode()
    assert reverse("measures:return_signed_off", args=[measure.pk]) not in page
    response = post(client, "return_signed_off", measure.pk, {"comment": "问题反弹", "version": measure.version})
    assert response.status_code == 403
    stored = Measure.objects.get(pk=measure.pk)
    assert (stored.status, stored.version) == (MeasureStatus.SIGNED_OFF, measure.version)
    assert not MeasureDecision.objects.exists()
