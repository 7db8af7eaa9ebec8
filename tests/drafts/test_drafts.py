"""Draft ledger from a pasted text: preview writes nothing, confirm writes exactly the reviewed
rows in one go, a bad row writes nothing and keeps what was typed, hostile input never 500s."""

import datetime as dt

import pytest
from django import forms as django_forms
from django.core.exceptions import ValidationError
from django.core.files.uploadedfile import SimpleUploadedFile
from django.urls import reverse
from django.utils import translation

from drafts.parser import UNPARSEABLE_WARNING
from drafts.services import DraftTextError, decode_feedback_file
from findings.models import Category, Finding, Inspection, InspectionKind
from measures.models import Measure
from tests.factories import DepartmentFactory

pytestmark = pytest.mark.django_db

# Written like document 000: two 方面, three numbered problems, five "一是…" measures.
FEEDBACK = """关于对市民政局评议整改工作的评估报告
根据市人大常委会9月评议交办的2个方面3个问题,市民政局高度重视,着力推动整改工作。
(一)关于“工作机制有待进一步完善”
1.针对“工作协调机制还不够完善,外部协调主动性还不够”问题:一是完善机关规范化管理、制度化建设。二是建立对外沟通协调机制。
2.针对“督导检查不够有力”问题:一是建立督查台账,实行销号管理。
(二)关于“民政执法有待进一步加强”
3.针对“执法人员培训不足”问题:一是开展民政执法人员培训。二是建立执法考核制度。
"""
EXPECTED = [
    (
        "工作机制有待进一步完善",
        [
            ("工作协调机制还不够完善,外部协调主动性还不够", ["完善机关规范化管理、制度化建设", "建立对外沟通协调机制"]),
            ("督导检查不够有力", ["建立督查台账,实行销号管理"]),
        ],
    ),
    ("民政执法有待进一步加强", [("执法人员培训不足", ["开展民政执法人员培训", "建立执法考核制度"])]),
]


def _value(value: object) -> str:
    if value is None:
        return ""
    if isinstance(value, dt.date):
        return value.isoformat()
    return str(value)


def review_data(forms, **overrides: object) -> dict[str, str]:
    """What the browser posts back from the review page, as rendered (unbound forms)."""
    data = {}
    for name, field in forms.inspection.fields.items():
        data[name] = _value(forms.inspection.initial.get(name, field.initial))
    for formset in forms.formsets:
        for name, value in formset.management_form.initial.items():
            data[f"{formset.prefix}-{name}"] = _value(value)
        for index, form in enumerate(formset.forms):
            for name in form.fields:
                data[f"{formset.prefix}-{index}-{name}"] = _value(form.initial.get(name))
    data["action"] = "save"
    data.update({key: _value(value) for key, value in overrides.items()})
    return data


def nothing_saved() -> bool:
    return not (
        Inspection.objects.exists() or Category.objects.exists() or Finding.objects.exists() or Measure.objects.exists()
    )


@pytest.fixture
def preview(client, office_user):
    client.force_login(office_user)

    def run(text: str = FEEDBACK):
        response = client.post(reverse("drafts:start"), {"text": text})
        assert response.status_code == 200, response.content.decode()[:500]
        return response

    return run


def test_preview_writes_nothing_and_confirm_creates_exactly_the_drafted_rows(client, preview, department, office_user):
    response = preview()
    assert nothing_saved()
    forms = response.context["forms"]
    assert forms.inspection.initial["kind"] == InspectionKind.CONGRESS_APPRAISAL
    assert forms.inspection.initial["title"] == "关于对市民政局评议整改工作的评估报告"

    data = review_data(
        forms,
        source_body="市人大常委会评议工作组",
        feedback_date="2021-10-10",
        default_department=department.pk,
        default_deadline="2022-03-31",
    )
    response = client.post(reverse("drafts:confirm"), data)
    assert response.status_code == 302, response.content.decode()[:2000]
    inspection = Inspection.objects.get()
    assert response["Location"] == reverse("findings:inspection_detail", args=[inspection.pk])
    assert (inspection.kind, inspection.title, inspection.source_body) == (
        InspectionKind.CONGRESS_APPRAISAL,
        "关于对市民政局评议整改工作的评估报告",
        "市人大常委会评议工作组",
    )
    saved = [
        (
            category.title,
            [
                (finding.description, [m.text for m in finding.measures.order_by("number")])
                for finding in category.findings.order_by("number")
            ],
        )
        for category in inspection.categories.order_by("order")
    ]
    assert saved == EXPECTED
    assert list(Finding.objects.order_by("number").values_list("number", flat=True)) == [1, 2, 3]
    measures = Measure.objects.order_by("finding__number", "number")
    assert [(m.finding.number, m.number) for m in measures] == [(1, 1), (1, 2), (2, 1), (3, 1), (3, 2)]
    assert {
        (m.lead_department_id, m.deadline, m.inspection_id, m.category_id == m.finding.category_id) for m in measures
    } == {(department.pk, dt.date(2022, 3, 31), inspection.pk, True)}
    assert Measure.objects.count() == 5 and Finding.objects.count() == 3 and Category.objects.count() == 2


def test_rows_can_be_corrected_reassigned_and_dropped(client, preview, department, other_department):
    forms = preview().context["forms"]
    data = review_data(
        forms,
        feedback_date="2021-10-10",
        default_department=department.pk,
        default_deadline="2022-03-31",
        **{
            "cat-1-title": "民政执法需要加强",  # renamed
            "fnd-1-category": "1",  # finding 2 moves to the second category
            "msr-4-text": "",  # the last measure is dropped
            "msr-0-lead_department": other_department.pk,  # one row overrides the defaults
            "msr-0-deadline": "2022-05-31",
            "msr-5-finding": "2",  # a blank row filled by hand
            "msr-5-text": "手工补充的措施",
        },
    )
    assert client.post(reverse("drafts:confirm"), data).status_code == 302
    inspection = Inspection.objects.get()
    second = inspection.categories.get(order=2)
    assert second.title == "民政执法需要加强"
    # Findings are numbered in category order, so finding 2 now comes after category 1's.
    assert list(second.findings.order_by("number").values_list("description", flat=True)) == [
        "督导检查不够有力",
        "执法人员培训不足",
    ]
    assert list(
        Measure.objects.filter(finding__description="执法人员培训不足")
        .order_by("number")
        .values_list("text", flat=True)
    ) == ["开展民政执法人员培训", "手工补充的措施"]
    first = Measure.objects.get(text="完善机关规范化管理、制度化建设")
    assert (first.lead_department_id, first.deadline) == (other_department.pk, dt.date(2022, 5, 31))
    assert Measure.objects.count() == 5


@pytest.mark.parametrize(
    ("overrides", "message"),
    [
        ({"default_deadline": "2022-03-31"}, "请选择牵头单位,或在上方设置默认牵头单位。"),
        ({"default_department": "DEPT"}, "请填写整改时限,或在上方设置默认整改时限。"),
        (
            {"default_department": "DEPT", "default_deadline": "2022-03-31", "msr-2-deadline": "2021-01-01"},
            "整改时限不能早于检查反馈日期(2021-10-10)。",
        ),
        (
            {"default_department": "DEPT", "default_deadline": "2022-03-31", "msr-2-finding": ""},
            "请为该措施选择所属问题。",
        ),
        ({"default_department": "DEPT", "default_deadline": "2022-03-31", "title": ""}, "REQUIRED"),
    ],
)
def test_an_invalid_row_saves_nothing_and_shows_what_was_typed(client, preview, department, overrides, message):
    forms = preview().context["forms"]
    overrides = {key: (department.pk if value == "DEPT" else value) for key, value in overrides.items()}
    if message == "REQUIRED":
        with translation.override("zh-hans"):
            message = str(django_forms.Field.default_error_messages["required"])
    data = review_data(forms, feedback_date="2021-10-10", **{"msr-1-text": "我改过的措施文字", **overrides})
    response = client.post(reverse("drafts:confirm"), data)
    assert response.status_code == 400
    html = response.content.decode()
    assert message in html
    assert "未保存任何内容" in html
    assert "我改过的措施文字" in html
    assert nothing_saved()


def test_findings_outside_any_category_are_offered_for_assignment(client, preview, department):
    text = (
        "1.针对“救助资金发放不及时”问题:一是建立资金发放台账。二是按月公示。\n"
        "2.针对“档案管理不规范”问题:一是整理归档。\n"
    )
    response = preview(text)
    forms = response.context["forms"]
    assert "不在任何类别标题下" in response.content.decode()
    assert [form.initial.get("category") for form in forms.findings.forms[:2]] == [None, None]
    data = review_data(forms, default_department=department.pk, default_deadline="2022-03-31")
    response = client.post(reverse("drafts:confirm"), data)
    assert response.status_code == 400
    assert "请为该问题选择问题类别。" in response.content.decode()
    assert nothing_saved()

    data.update({"title": "社会救助专项督查", "cat-0-title": "社会救助", "fnd-0-category": "0", "fnd-1-category": "0"})
    assert client.post(reverse("drafts:confirm"), data).status_code == 302
    assert list(Finding.objects.order_by("number").values_list("category__title", "description")) == [
        ("社会救助", "救助资金发放不及时"),
        ("社会救助", "档案管理不规范"),
    ]
    assert Measure.objects.count() == 3


def test_measures_the_parser_could_not_tie_to_a_finding_are_offered_for_assignment(client, preview, department):
    text = (
        "2019年度法治政府建设工作总结\n一、存在问题和原因\n1.执法人员培训不够。\n2.制度建设滞后。\n"
        "二、下一步打算\n1.加强执法培训。\n2.完善制度建设。\n3.开展专项检查。\n"
    )
    response = preview(text)
    assert "无法对应到具体问题" in response.content.decode()
    forms = response.context["forms"]
    unassigned = [(f.initial.get("finding"), f.initial.get("text")) for f in forms.measures.forms[:3]]
    assert unassigned == [(None, "加强执法培训"), (None, "完善制度建设"), (None, "开展专项检查")]
    data = review_data(forms, title="2019年度法治工作", default_department=department.pk, default_deadline="2020-12-31")
    response = client.post(reverse("drafts:confirm"), data)
    assert response.status_code == 400
    assert response.content.decode().count("请为该措施选择所属问题。") == 3
    data.update({"msr-0-finding": "0", "msr-1-finding": "1", "msr-2-finding": "1"})
    assert client.post(reverse("drafts:confirm"), data).status_code == 302
    assert list(Measure.objects.order_by("finding__number", "number").values_list("finding__number", "text")) == [
        (1, "加强执法培训"),
        (2, "完善制度建设"),
        (2, "开展专项检查"),
    ]


def test_a_refusal_half_way_through_saving_leaves_nothing(client, preview, department, monkeypatch):
    from drafts import services as drafts

    calls = []
    real = drafts.measure_create

    def failing_on_the_third(**kwargs):
        calls.append(kwargs["text"])
        if len(calls) == 3:
            raise ValidationError({"deadline": "模拟的服务层拒绝"})
        return real(**kwargs)

    monkeypatch.setattr(drafts, "measure_create", failing_on_the_third)
    forms = preview().context["forms"]
    data = review_data(forms, default_department=department.pk, default_deadline="2022-03-31")
    response = client.post(reverse("drafts:confirm"), data)
    assert response.status_code == 400
    assert "模拟的服务层拒绝" in response.content.decode()
    assert len(calls) == 3
    assert nothing_saved()


def test_unparseable_text_gives_the_parsers_message_and_an_empty_draft_to_fill(client, preview, department):
    response = preview("今天天气很好,我们开了一个会。")
    assert UNPARSEABLE_WARNING in response.content.decode()
    forms = response.context["forms"]
    assert all(not form.initial.get("title") for form in forms.categories.forms)
    data = review_data(
        forms,
        kind="audit",
        title="2022年度经济责任审计",
        default_department=department.pk,
        default_deadline="2022-12-31",
        **{
            "cat-0-title": "财务管理",
            "fnd-0-category": "0",
            "fnd-0-description": "票据管理不规范",
            "msr-0-finding": "0",
            "msr-0-text": "建立票据登记制度",
        },
    )
    assert client.post(reverse("drafts:confirm"), data).status_code == 302
    assert Measure.objects.get().text == "建立票据登记制度"


def test_an_empty_draft_is_refused_with_a_message(client, preview):
    forms = preview("随便写点什么").context["forms"]
    response = client.post(reverse("drafts:confirm"), review_data(forms, title="空草稿", kind="other"))
    assert response.status_code == 400
    assert "草稿中没有任何问题" in response.content.decode()
    assert nothing_saved()


def test_a_draft_too_big_for_one_form_is_cut_with_a_warning_and_still_submits(client, preview, department, settings):
    lines = ["(一)关于“工作机制有待进一步完善”"]
    lines += [f"{n}.针对“问题{n}”问题:一是甲{n}。二是乙{n}。三是丙{n}。四是丁{n}。五是戊{n}。" for n in range(1, 101)]
    response = preview("\n".join(lines))
    assert "草稿过大" in response.content.decode()
    forms = response.context["forms"]
    data = review_data(forms, title="大草稿", default_department=department.pk, default_deadline="2030-01-01")
    assert len(data) + 1 <= settings.DATA_UPLOAD_MAX_NUMBER_FIELDS  # and the csrf token
    assert client.post(reverse("drafts:confirm"), data).status_code == 302
    kept = sum(1 for form in forms.measures.forms if form.initial.get("text"))
    assert Measure.objects.count() == kept > 0


def test_more_rows_keeps_what_was_typed(client, preview):
    forms = preview().context["forms"]
    data = review_data(forms, action="more", **{"cat-0-title": "我改的类别"})
    response = client.post(reverse("drafts:confirm"), data)
    assert response.status_code == 200
    more = response.context["forms"]
    assert len(more.categories.forms) == len(forms.categories.forms) + 2
    assert "我改的类别" in response.content.decode()
    assert nothing_saved()


def test_a_gbk_upload_is_read(client, office_user):
    client.force_login(office_user)
    upload = SimpleUploadedFile("反馈意见.txt", FEEDBACK.encode("gbk"), content_type="text/plain")
    response = client.post(reverse("drafts:start"), {"text": "", "file": upload})
    assert response.status_code == 200
    assert [form.initial["title"] for form in response.context["forms"].categories.forms[:2]] == [
        "工作机制有待进一步完善",
        "民政执法有待进一步加强",
    ]


def test_a_binary_upload_is_refused_with_a_message(client, office_user):
    client.force_login(office_user)
    upload = SimpleUploadedFile("x.docx", b"PK\x03\x04\x00\x00binary", content_type="application/octet-stream")
    response = client.post(reverse("drafts:start"), {"text": "", "file": upload})
    assert response.status_code == 400
    assert "上传的不是文本文件" in response.content.decode()


def test_decoding():
    assert decode_feedback_file("巡察".encode("utf-8-sig")) == "巡察"
    assert decode_feedback_file("巡察".encode("gb18030")) == "巡察"
    with pytest.raises(DraftTextError):
        decode_feedback_file(b"x" * (2 * 1024 * 1024 + 1))


HOSTILE = [
    "",
    "   \n\t  ",
    "“" * 5000,
    "!?。,;:" * 20000,
    "一是" * 50000,
    "(一)关于“\n1.针对“\n一是\n" * 3000,
    "1.\n" * 100_000,
    "<script>alert('x')</script>(一)关于“<b>粗体</b>”\n1.针对“<i>x</i>”问题:一是<img src=x>。",
    "\x00\x01\x02\u202e\ufeff(一)关于“控制字符”\n1.针对“\x00”问题:一是x。",
    "a" * 1_000_000,
]


@pytest.mark.parametrize("text", HOSTILE, ids=range(len(HOSTILE)))
def test_hostile_text_never_500s(client, office_user, text):
    client.force_login(office_user)
    response = client.post(reverse("drafts:start"), {"text": text})
    assert response.status_code in (200, 400)
    html = response.content.decode()
    assert "<script>alert" not in html and "<img src=x>" not in html
    if response.status_code == 200:
        forms = response.context["forms"]
        data = review_data(forms, default_department=DepartmentFactory().pk, default_deadline="2030-01-01")
        assert client.post(reverse("drafts:confirm"), data).status_code in (302, 400)


@pytest.mark.parametrize(
    "tampered",
    [
        {"cat-TOTAL_FORMS": "abc"},
        {"fnd-TOTAL_FORMS": "-5"},
        {"msr-TOTAL_FORMS": "999999"},
        {"fnd-0-category": "77"},
        {"msr-0-finding": "x"},
        {"msr-0-lead_department": "999999"},
        {"kind": "nonsense", "feedback_date": "2021-02-30"},
    ],
)
def test_a_tampered_review_is_refused_not_crashed(client, preview, department, tampered):
    forms = preview().context["forms"]
    data = review_data(forms, default_department=department.pk, default_deadline="2022-03-31", **tampered)
    assert client.post(reverse("drafts:confirm"), data).status_code == 400
    assert nothing_saved()


@pytest.mark.parametrize("fixture", ["staff_user", "leader_user", "auditor_user"])
def test_only_the_office_drafts_ledgers(client, request, fixture):
    client.force_login(request.getfixturevalue(fixture))
    assert client.get(reverse("drafts:start")).status_code == 403
    assert client.post(reverse("drafts:start"), {"text": FEEDBACK}).status_code == 403
    assert client.post(reverse("drafts:confirm"), {"action": "save"}).status_code == 403
    assert nothing_saved()


def test_anonymous_users_are_sent_to_log_in(client):
    response = client.get(reverse("drafts:start"))
    assert response.status_code == 302 and "/login/" in response["Location"]


@pytest.mark.parametrize("findings", [2, 40])
def test_preview_queries_do_not_grow_with_the_draft(client, office_user, findings, django_assert_max_num_queries):
    DepartmentFactory.create_batch(5)
    lines = ["(一)关于“工作机制有待进一步完善”"]
    lines += [f"{n}.针对“问题{n}”问题:一是措施甲。二是措施乙。三是措施丙。" for n in range(1, findings + 1)]
    client.force_login(office_user)
    # session, user, the user's groups (role), the departments, once for every row's select.
    with django_assert_max_num_queries(4):
        response = client.post(reverse("drafts:start"), {"text": "\n".join(lines)})
    assert response.status_code == 200
    assert len(response.context["forms"].measures.forms) == findings * 3 + 5
