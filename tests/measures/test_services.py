import datetime as dt
import threading

import pytest
from django.contrib.auth.models import Group
from django.core.exceptions import NON_FIELD_ERRORS, PermissionDenied, ValidationError
from django.core.files.uploadedfile import SimpleUploadedFile
from django.db import connection
from django.utils import timezone

from accounts.models import Role, User
from measures import services
from measures.evidence_types import PNG_MAGIC
from measures.models import (
    DecisionAction,
    Evidence,
    Extension,
    ExtensionStatus,
    Measure,
    MeasureDecision,
    MeasureStatus,
)
from measures.selectors import measure_change_log
from measures.services import (
    StaleMeasureError,
    evidence_add,
    extension_decide,
    extension_request,
    measure_create,
    measure_return_signed_off,
    measure_review,
    measure_set_status,
    measure_sign_off,
    measure_update,
    measures_review_many,
    measures_sign_off_many,
    progress_report_add,
)
from tests.factories import DepartmentFactory, FindingFactory, MeasureFactory, make_user

pytestmark = pytest.mark.django_db

S = MeasureStatus


@pytest.fixture(autouse=True)
def fast_password_hashing(settings):
    # The users these tests make need no real password hashing (0.5 s each otherwise).
    settings.PASSWORD_HASHERS = ["django.contrib.auth.hashers.MD5PasswordHasher"]


@pytest.fixture(autouse=True)
def media_root(settings, tmp_path):
    settings.MEDIA_ROOT = tmp_path / "media"
    return settings.MEDIA_ROOT


@pytest.fixture
def ledger_events(monkeypatch):
    """The measure ids of each ledger_changed sent; wrap the calls in `committed()` to see them.

    Receivers of other apps are the outside world here: `send` is replaced, not observed.
    """
    sent: list[list[int]] = []
    monkeypatch.setattr(services.ledger_changed, "send", lambda sender, measure_ids: sent.append(measure_ids))
    return sent


@pytest.fixture
def committed(django_capture_on_commit_callbacks):
    """Runs the on-commit callbacks of what happens inside, as a real commit would."""
    return lambda: django_capture_on_commit_callbacks(execute=True)


@pytest.fixture
def measure(department, leader_user):
    return MeasureFactory(lead_department=department, responsible_leader=leader_user)


def _fresh(measure: Measure) -> Measure:
    return Measure.objects.get(pk=measure.pk)


def _with_evidence(measure: Measure, user: User) -> Measure:
    Evidence.objects.create(measure=measure, title="通知", document_number="温民办〔2022〕27号", uploaded_by=user)
    return measure


def _at(status: str, user: User, **kwargs) -> Measure:
    """A measure already in `status`, with what the database constraints require of it."""
    now = timezone.now()
    fields: dict[str, object] = {"status": status}
    if status in (S.COMPLETED, S.REVIEWED, S.SIGNED_OFF):
        fields.update(completed_at=now, result="已建立工作机制")
    if status in (S.REVIEWED, S.SIGNED_OFF):
        fields.update(reviewed_at=now, reviewed_by=user)
    if status == S.SIGNED_OFF:
        fields.update(signed_off_at=now, signed_off_by=user)
    return MeasureFactory(**fields, **kwargs)


def _complete(measure: Measure, user: User) -> Measure:
    _with_evidence(measure, user)
    return measure_set_status(
        measure_id=measure.pk, user=user, new_status=S.COMPLETED, expected_version=measure.version, result="已整改"
    )


# --- Status transitions ---------------------------------------------------------------------------


def test_staff_starts_own_measure_and_history_records_who_and_old_and_new(
    measure, staff_user, ledger_events, committed
):
    with committed():
        updated = measure_set_status(
            measure_id=measure.pk, user=staff_user, new_status=S.IN_PROGRESS, expected_version=measure.version
        )
    assert updated.status == S.IN_PROGRESS
    assert _fresh(measure).version == measure.version + 1
    latest, previous = _fresh(measure).history.all()[:2]
    assert latest.history_user == staff_user
    assert latest.history_type == "~"
    changes = {c.field: (c.old, c.new) for c in latest.diff_against(previous).changes}
    assert changes["status"] == (S.NOT_STARTED, S.IN_PROGRESS)
    assert changes["version"] == (measure.version, measure.version + 1)
    assert ledger_events == [[measure.pk]]


def test_history_row_holds_every_tracked_column_as_saved(measure, staff_user, leader_user):
    completed = _complete(measure, staff_user)
    measure_review(measure_id=measure.pk, user=leader_user, passed=False, comment="请补充照片")
    stored = _fresh(measure)
    record = stored.history.first()
    for tracked in Measure.history.model.tracked_fields:
        assert getattr(record, tracked.attname) == getattr(stored, tracked.attname), tracked.name
    assert (record.history_user, record.history_type, record.history_change_reason) == (
        leader_user,
        "~",
        "审核退回:请补充照片",
    )
    assert record.version == completed.version + 1


def test_completing_sets_result_and_completion_time(measure, staff_user):
    measure_set_status(
        measure_id=measure.pk, user=staff_user, new_status=S.IN_PROGRESS, expected_version=measure.version
    )
    _with_evidence(measure, staff_user)
    done = measure_set_status(
        measure_id=measure.pk,
        user=staff_user,
        new_status=S.COMPLETED,
        expected_version=measure.version + 1,
        result="  出台《困难群众救助工作规程》  ",
    )
    stored = _fresh(measure)
    assert stored.status == S.COMPLETED == done.status
    assert stored.result == "出台《困难群众救助工作规程》"
    assert stored.completed_at is not None
    assert stored.history.first().history_user == staff_user


def test_not_started_may_go_straight_to_completed(measure, staff_user):
    assert _complete(measure, staff_user).status == S.COMPLETED


def test_completing_needs_a_result_and_evidence(measure, staff_user):
    with pytest.raises(ValidationError) as both:
        measure_set_status(
            measure_id=measure.pk, user=staff_user, new_status=S.COMPLETED, expected_version=measure.version
        )
    assert set(both.value.message_dict) == {"result", NON_FIELD_ERRORS}

    with pytest.raises(ValidationError) as no_evidence:
        measure_set_status(
            measure_id=measure.pk,
            user=staff_user,
            new_status=S.COMPLETED,
            expected_version=measure.version,
            result="已整改",
        )
    assert set(no_evidence.value.message_dict) == {NON_FIELD_ERRORS}
    assert "佐证材料" in no_evidence.value.message_dict[NON_FIELD_ERRORS][0]

    _with_evidence(measure, staff_user)
    with pytest.raises(ValidationError) as no_result:
        measure_set_status(
            measure_id=measure.pk, user=staff_user, new_status=S.COMPLETED, expected_version=measure.version, result=" "
        )
    assert set(no_result.value.message_dict) == {"result"}
    stored = _fresh(measure)
    assert (stored.status, stored.version, stored.completed_at) == (S.NOT_STARTED, measure.version, None)


def test_withdrawing_a_completed_measure_clears_completion_time(measure, staff_user, ledger_events, committed):
    with committed():
        completed = _complete(measure, staff_user)
        measure_set_status(
            measure_id=measure.pk, user=staff_user, new_status=S.IN_PROGRESS, expected_version=completed.version
        )
    stored = _fresh(measure)
    assert stored.status == S.IN_PROGRESS
    assert stored.completed_at is None
    assert stored.history.first().history_change_reason == "撤回已完成"
    assert ledger_events == [[measure.pk], [measure.pk]]


@pytest.mark.parametrize("target", [S.IN_PROGRESS, S.COMPLETED])
def test_returned_measure_goes_back_to_work_or_completed(department, staff_user, leader_user, target):
    measure = _with_evidence(_at(S.RETURNED, leader_user, lead_department=department), staff_user)
    measure_set_status(
        measure_id=measure.pk, user=staff_user, new_status=target, expected_version=measure.version, result="已整改"
    )
    assert _fresh(measure).status == target


@pytest.mark.parametrize(
    ("start", "target"),
    [
        (S.IN_PROGRESS, S.NOT_STARTED),
        (S.IN_PROGRESS, S.IN_PROGRESS),
        (S.NOT_STARTED, S.REVIEWED),
        (S.NOT_STARTED, S.SIGNED_OFF),
        (S.NOT_STARTED, S.RETURNED),
        (S.COMPLETED, S.COMPLETED),
        (S.COMPLETED, S.NOT_STARTED),
        (S.RETURNED, S.NOT_STARTED),
        (S.NOT_STARTED, "finished"),
    ],
)
def test_invalid_transitions_are_refused_with_a_message(department, staff_user, leader_user, start, target):
    measure = _with_evidence(_at(start, leader_user, lead_department=department), staff_user)
    with pytest.raises(ValidationError) as refused:
        measure_set_status(
            measure_id=measure.pk, user=staff_user, new_status=target, expected_version=measure.version, result="x"
        )
    assert "不能把状态从" in refused.value.message_dict["status"][0]
    assert _fresh(measure).status == start


def test_staff_of_an_assisting_department_may_change_status(department, other_department, staff_user):
    measure = MeasureFactory(lead_department=other_department)
    measure.assisting_departments.add(department)
    measure_set_status(
        measure_id=measure.pk, user=staff_user, new_status=S.IN_PROGRESS, expected_version=measure.version
    )
    assert _fresh(measure).status == S.IN_PROGRESS


def test_office_may_change_status(measure, office_user):
    measure_set_status(
        measure_id=measure.pk, user=office_user, new_status=S.IN_PROGRESS, expected_version=measure.version
    )
    assert _fresh(measure).status == S.IN_PROGRESS


def test_staff_of_another_department_leaders_and_auditors_cannot_change_status(
    measure, other_staff_user, leader_user, auditor_user
):
    for user in (other_staff_user, leader_user, auditor_user):
        with pytest.raises(PermissionDenied):
            measure_set_status(
                measure_id=measure.pk, user=user, new_status=S.IN_PROGRESS, expected_version=measure.version
            )
    assert _fresh(measure).status == S.NOT_STARTED


def test_reviewed_measure_is_frozen_for_its_owner(department, staff_user, leader_user):
    measure = _at(S.REVIEWED, leader_user, lead_department=department)
    with pytest.raises(PermissionDenied):
        measure_set_status(
            measure_id=measure.pk, user=staff_user, new_status=S.IN_PROGRESS, expected_version=measure.version
        )


# --- Optimistic locking ---------------------------------------------------------------------------


def test_second_save_on_a_stale_version_is_refused_naming_what_changed(measure, office_user, staff_user):
    seen_version = measure.version
    old_deadline = measure.deadline
    measure_update(
        measure_id=measure.pk, user=office_user, expected_version=seen_version, deadline=dt.date(2022, 9, 30)
    )
    with pytest.raises(StaleMeasureError) as stale:
        measure_set_status(
            measure_id=measure.pk, user=staff_user, new_status=S.IN_PROGRESS, expected_version=seen_version
        )
    assert stale.value.changed_fields == [("整改时限", old_deadline.isoformat(), "2022-09-30")]
    assert stale.value.current.version == seen_version + 1
    assert stale.value.current.deadline == dt.date(2022, 9, 30)
    assert "已被他人修改" in str(stale.value)
    assert _fresh(measure).status == S.NOT_STARTED


def test_stale_edit_shows_status_and_leader_by_their_names(measure, office_user, staff_user, leader_user):
    seen_version = measure.version
    other_leader = make_user(Role.LEADERSHIP, username="t_leader2", full_name="王副局长")
    measure_set_status(measure_id=measure.pk, user=staff_user, new_status=S.IN_PROGRESS, expected_version=seen_version)
    measure_update(
        measure_id=measure.pk, user=office_user, expected_version=seen_version + 1, responsible_leader=other_leader
    )
    with pytest.raises(StaleMeasureError) as stale:
        measure_update(measure_id=measure.pk, user=office_user, expected_version=seen_version, text="新的措施")
    assert stale.value.changed_fields == [
        ("责任领导", str(leader_user), "王副局长"),
        ("状态", "未开始", "整改中"),
    ]
    assert _fresh(measure).text == measure.text


def test_stale_edit_lists_assisting_departments_the_user_saw(measure, office_user, other_department):
    seen = {"assisting_departments": []}
    measure_update(
        measure_id=measure.pk,
        user=office_user,
        expected_version=measure.version,
        assisting_departments=[other_department],
    )
    with pytest.raises(StaleMeasureError) as stale:
        measure_update(
            measure_id=measure.pk, user=office_user, expected_version=measure.version, seen=seen, owner="张三"
        )
    assert stale.value.changed_fields == [("配合单位", "(空)", other_department.name)]


def test_stale_version_is_not_revealed_to_who_may_not_see_the_measure(measure, office_user, other_staff_user):
    measure_update(measure_id=measure.pk, user=office_user, expected_version=measure.version, owner="张三")
    with pytest.raises(PermissionDenied):
        measure_set_status(
            measure_id=measure.pk, user=other_staff_user, new_status=S.IN_PROGRESS, expected_version=measure.version
        )


# --- Ledger edits ----------------------------------------------------------------------------------


def test_office_edits_ledger_columns_with_history(measure, office_user, other_department, ledger_events, committed):
    with committed():
        updated = measure_update(
            measure_id=measure.pk,
            user=office_user,
            expected_version=measure.version,
            text="  建立救助对象动态管理机制 ",
            owner="李四",
            lead_department=other_department,
        )
    stored = _fresh(measure)
    assert (stored.text, stored.owner, stored.lead_department) == ("建立救助对象动态管理机制", "李四", other_department)
    assert stored.version == updated.version == measure.version + 1
    latest, previous = stored.history.all()[:2]
    changed = {c.field for c in latest.diff_against(previous).changes}
    assert {"text", "owner", "lead_department"} <= changed
    assert latest.history_user == office_user
    assert ledger_events == [[measure.pk]]


def test_unchanged_edit_does_not_bump_the_version(measure, office_user, ledger_events, committed):
    with committed():
        measure_update(measure_id=measure.pk, user=office_user, expected_version=measure.version, text=measure.text)
    assert _fresh(measure).version == measure.version
    assert ledger_events == []


def test_deadline_cannot_precede_the_inspection_feedback(measure, office_user):
    feedback = measure.inspection.feedback_date
    with pytest.raises(ValidationError) as refused:
        measure_update(
            measure_id=measure.pk,
            user=office_user,
            expected_version=measure.version,
            deadline=feedback - dt.timedelta(days=1),
        )
    assert feedback.isoformat() in refused.value.message_dict["deadline"][0]


def test_responsible_leader_must_be_a_leader(measure, office_user, staff_user):
    with pytest.raises(ValidationError) as refused:
        measure_update(
            measure_id=measure.pk, user=office_user, expected_version=measure.version, responsible_leader=staff_user
        )
    assert "responsible_leader" in refused.value.message_dict


def test_blank_measure_text_is_refused_by_field(measure, office_user):
    with pytest.raises(ValidationError) as refused:
        measure_update(measure_id=measure.pk, user=office_user, expected_version=measure.version, text="  ")
    assert "text" in refused.value.message_dict


def test_lead_department_is_not_also_assisting(measure, office_user, department, other_department):
    measure_update(
        measure_id=measure.pk,
        user=office_user,
        expected_version=measure.version,
        assisting_departments=[department, other_department],
    )
    stored = _fresh(measure)
    assert list(stored.assisting_departments.all()) == [other_department]
    assert stored.version == measure.version + 1


def _assisting_in_history(record) -> set[str]:
    return {row.department.name for row in record.assisting_departments.select_related("department")}


def _assisting_changes(measure: Measure) -> list[tuple[str, str]]:
    """(old, new) of every 配合单位 line of the measure page's history, oldest first."""
    return [
        (old, new)
        for entry in reversed(measure_change_log(measure))
        for label, old, new in entry["changes"]
        if label == "配合单位"
    ]


def test_a_change_of_assisting_departments_alone_is_on_record(measure, office_user, other_department):
    third = DepartmentFactory(name="社会事务科")
    measure_update(
        measure_id=measure.pk,
        user=office_user,
        expected_version=measure.version,
        assisting_departments=[other_department],
    )
    measure_update(
        measure_id=measure.pk,
        user=office_user,
        expected_version=measure.version + 1,
        assisting_departments=[other_department, third],
    )
    measure_update(
        measure_id=measure.pk, user=office_user, expected_version=measure.version + 2, assisting_departments=[third]
    )
    latest, previous = _fresh(measure).history.all()[:2]
    assert latest.history_user == office_user
    assert (_assisting_in_history(previous), _assisting_in_history(latest)) == (
        {"养老服务科", "社会事务科"},
        {"社会事务科"},
    )
    assert [c.field for c in latest.diff_against(previous).changes] == ["assisting_departments", "version"]
    assert _assisting_changes(measure) == [
        ("", "养老服务科"),
        ("养老服务科", "养老服务科、社会事务科"),
        ("养老服务科、社会事务科", "社会事务科"),
    ]


def test_an_edit_of_other_columns_shows_no_change_of_assisting_departments(measure, office_user, other_department):
    measure_update(
        measure_id=measure.pk,
        user=office_user,
        expected_version=measure.version,
        assisting_departments=[other_department],
    )
    measure_update(measure_id=measure.pk, user=office_user, expected_version=measure.version + 1, owner="李四")
    assert _assisting_in_history(_fresh(measure).history.first()) == {"养老服务科"}
    assert _assisting_changes(measure) == [("", "养老服务科")]
    # One history row per save: simple_history's own row for the many-to-many is not written.
    assert _fresh(measure).history.count() == 3


def test_a_new_measures_first_history_row_has_its_assisting_departments(department, other_department):
    finding = FindingFactory()
    measure = measure_create(
        finding=finding,
        text="建立联席会议制度",
        lead_department=department,
        deadline=dt.date(2022, 6, 30),
        assisting_departments=[department, other_department],
    )
    (created,) = measure.history.all()
    assert created.history_type == "+"
    assert _assisting_in_history(created) == {"养老服务科"}
    assert _assisting_changes(measure) == []


def test_only_the_office_edits_the_ledger(measure, staff_user, leader_user, auditor_user):
    for user in (staff_user, leader_user, auditor_user):
        with pytest.raises(PermissionDenied):
            measure_update(measure_id=measure.pk, user=user, expected_version=measure.version, owner="张三")


def test_unknown_fields_are_a_programming_error(measure, office_user):
    with pytest.raises(TypeError):
        measure_update(measure_id=measure.pk, user=office_user, expected_version=measure.version, status=S.REVIEWED)


# --- Progress and evidence -----------------------------------------------------------------------


def test_progress_report_sets_latest_progress_without_moving_the_version(measure, staff_user):
    report = progress_report_add(measure=measure, user=staff_user, text="已召开专题会议研究部署")
    stored = _fresh(measure)
    assert stored.last_progress_at == report.created_at
    assert stored.version == measure.version
    assert report.reported_on == timezone.localdate()
    assert report.author == staff_user
    assert report.history.first().history_user == staff_user


def test_progress_report_queues_one_recompute_after_commit(measure, staff_user, ledger_events, committed):
    # 本期未汇报 changes with it, so the dashboards need not wait for the next beat tick.
    with committed():
        progress_report_add(measure=measure, user=staff_user, text="已召开专题会议研究部署")
        assert ledger_events == []  # nothing before the commit
    assert ledger_events == [[measure.pk]]


def test_new_measure_queues_one_recompute_after_commit(department, other_department, ledger_events, committed):
    with committed():
        measure = measure_create(
            finding=FindingFactory(),
            text="建立救助对象动态管理机制",
            lead_department=department,
            deadline=dt.date(2022, 6, 30),
            assisting_departments=[other_department],
        )
        assert ledger_events == []
    assert ledger_events == [[measure.pk]]


def test_progress_report_cannot_be_dated_in_the_future_or_empty(measure, staff_user):
    with pytest.raises(ValidationError) as refused:
        progress_report_add(
            measure=measure, user=staff_user, text=" ", reported_on=timezone.localdate() + dt.timedelta(days=1)
        )
    assert set(refused.value.message_dict) == {"text", "reported_on"}


def test_other_department_cannot_report_progress(measure, other_staff_user):
    with pytest.raises(PermissionDenied):
        progress_report_add(measure=measure, user=other_staff_user, text="x")


def _png_upload(name: str = "现场照片.png") -> SimpleUploadedFile:
    return SimpleUploadedFile(name, PNG_MAGIC + b"\x00" * 64, content_type="application/octet-stream")


def test_evidence_file_is_stored_under_a_random_name_with_the_sniffed_type(measure, staff_user, media_root):
    evidence = evidence_add(
        measure=measure, user=staff_user, title="整改现场照片", uploaded_file=_png_upload("../../现场照片.png")
    )
    stored = Evidence.objects.get(pk=evidence.pk)
    assert stored.original_name == "现场照片.png"
    assert stored.content_type == "image/png"
    assert stored.size == len(PNG_MAGIC) + 64
    assert stored.file.name.startswith(f"evidence/{measure.pk}/")
    assert stored.file.name.endswith(".png")
    assert "现场照片" not in stored.file.name
    assert (media_root / stored.file.name).read_bytes().startswith(PNG_MAGIC)
    assert stored.history.first().history_user == staff_user


def test_document_number_alone_is_evidence(measure, staff_user):
    evidence = evidence_add(measure=measure, user=staff_user, title="通知", document_number="温民办〔2022〕27号")
    assert not evidence.file


def test_evidence_needs_a_title_and_a_file_or_document_number(measure, staff_user):
    with pytest.raises(ValidationError) as refused:
        evidence_add(measure=measure, user=staff_user, title="")
    assert set(refused.value.message_dict) == {"title", NON_FIELD_ERRORS}


def test_evidence_whose_content_contradicts_its_name_is_refused_and_not_stored(measure, staff_user, media_root):
    with pytest.raises(ValidationError) as refused:
        evidence_add(measure=measure, user=staff_user, title="通知", uploaded_file=_png_upload("通知.pdf"))
    assert "不符" in refused.value.message_dict["file"][0]
    assert not Evidence.objects.exists()
    assert not media_root.exists() or not any(p.is_file() for p in media_root.rglob("*"))


def test_evidence_over_the_size_limit_is_refused(measure, staff_user):
    from measures.evidence_types import MAX_EVIDENCE_BYTES

    big = SimpleUploadedFile("大.png", PNG_MAGIC + b"\x00" * (MAX_EVIDENCE_BYTES - len(PNG_MAGIC) + 1))
    with pytest.raises(ValidationError) as refused:
        evidence_add(measure=measure, user=staff_user, title="照片", uploaded_file=big)
    assert "20 MB" in refused.value.message_dict["file"][0]


# --- Extensions -------------------------------------------------------------------------------------


def test_approved_extension_moves_the_deadline_with_history(measure, staff_user, leader_user, ledger_events, committed):
    old_deadline = measure.deadline
    new_deadline = old_deadline + dt.timedelta(days=60)
    with committed():
        extension = extension_request(measure=measure, user=staff_user, new_deadline=new_deadline, reason="涉及改制")
    assert (extension.old_deadline, extension.status) == (old_deadline, ExtensionStatus.PENDING)

    with committed():
        decided = extension_decide(extension_id=extension.pk, user=leader_user, approve=True, comment="同意")
    stored = _fresh(measure)
    assert stored.deadline == new_deadline
    assert stored.version == measure.version + 1
    assert (decided.status, decided.decided_by, decided.decision_comment) == (
        ExtensionStatus.APPROVED,
        leader_user,
        "同意",
    )
    assert decided.decided_at is not None
    latest, previous = stored.history.all()[:2]
    assert latest.history_user == leader_user
    assert {c.field: (c.old, c.new) for c in latest.diff_against(previous).changes}["deadline"] == (
        old_deadline,
        new_deadline,
    )
    assert "批准延期" in latest.history_change_reason
    assert ledger_events == [[measure.pk], [measure.pk]]


def test_refused_extension_keeps_the_deadline(measure, staff_user, leader_user):
    extension = extension_request(
        measure=measure, user=staff_user, new_deadline=measure.deadline + dt.timedelta(days=30), reason="人手不足"
    )
    decided = extension_decide(extension_id=extension.pk, user=leader_user, approve=False, comment="请按期完成")
    assert decided.status == ExtensionStatus.REFUSED
    assert decided.decided_by == leader_user
    stored = _fresh(measure)
    assert (stored.deadline, stored.version) == (measure.deadline, measure.version)
    with pytest.raises(ValidationError):
        extension_decide(extension_id=extension.pk, user=leader_user, approve=True)


def test_extension_needs_a_reason_and_a_later_deadline(measure, staff_user):
    with pytest.raises(ValidationError) as refused:
        extension_request(measure=measure, user=staff_user, new_deadline=measure.deadline, reason=" ")
    assert set(refused.value.message_dict) == {"reason", "new_deadline"}


def test_one_pending_extension_at_a_time(measure, staff_user, leader_user):
    later = measure.deadline + dt.timedelta(days=30)
    first = extension_request(measure=measure, user=staff_user, new_deadline=later, reason="理由一")
    with pytest.raises(ValidationError, match="待审批"):
        extension_request(measure=measure, user=staff_user, new_deadline=later, reason="理由二")
    extension_decide(extension_id=first.pk, user=leader_user, approve=False)
    assert extension_request(measure=measure, user=staff_user, new_deadline=later, reason="理由二").pk


def test_only_the_responsible_leader_decides_extensions(measure, staff_user, office_user):
    other_leader = make_user(Role.LEADERSHIP, username="t_leader2")
    extension = extension_request(
        measure=measure, user=staff_user, new_deadline=measure.deadline + dt.timedelta(days=30), reason="x"
    )
    for user in (other_leader, office_user, staff_user):
        with pytest.raises(PermissionDenied):
            extension_decide(extension_id=extension.pk, user=user, approve=True)
    assert Extension.objects.get(pk=extension.pk).status == ExtensionStatus.PENDING


# --- Review and sign-off -----------------------------------------------------------------------------


def test_leader_review_records_who_when_and_comment(measure, staff_user, leader_user, ledger_events, committed):
    completed = _complete(measure, staff_user)
    before = timezone.now()
    with committed():
        reviewed = measure_review(
            measure_id=measure.pk, user=leader_user, passed=True, comment="材料齐全", expected_version=completed.version
        )
    stored = _fresh(measure)
    assert stored.status == S.REVIEWED == reviewed.status
    assert stored.reviewed_by == leader_user
    assert stored.reviewed_at >= before
    decision = MeasureDecision.objects.get(measure=measure)
    assert (decision.action, decision.decided_by, decision.comment) == (
        DecisionAction.REVIEW_PASS,
        leader_user,
        "材料齐全",
    )
    assert decision.decided_at >= before
    assert stored.history.first().history_user == leader_user
    assert ledger_events == [[measure.pk]]


def test_review_return_requires_a_reason_and_sends_the_measure_back(measure, staff_user, leader_user):
    _complete(measure, staff_user)
    with pytest.raises(ValidationError) as refused:
        measure_review(measure_id=measure.pk, user=leader_user, passed=False, comment="  ")
    assert "comment" in refused.value.message_dict
    assert _fresh(measure).status == S.COMPLETED

    measure_review(measure_id=measure.pk, user=leader_user, passed=False, comment="佐证材料不足,请补充会议纪要")
    stored = _fresh(measure)
    assert (stored.status, stored.completed_at, stored.reviewed_by) == (S.RETURNED, None, None)
    decision = MeasureDecision.objects.get(measure=measure)
    assert (decision.action, decision.comment) == (DecisionAction.REVIEW_RETURN, "佐证材料不足,请补充会议纪要")
    assert stored.history.first().history_change_reason.startswith("审核退回:佐证材料不足")
    # The owner picks it up again.
    measure_set_status(
        measure_id=measure.pk, user=staff_user, new_status=S.IN_PROGRESS, expected_version=stored.version
    )


def test_long_return_reason_is_kept_whole_in_the_decision(measure, staff_user, leader_user):
    _complete(measure, staff_user)
    reason = "需补充材料。" * 40
    measure_review(measure_id=measure.pk, user=leader_user, passed=False, comment=reason)
    assert MeasureDecision.objects.get(measure=measure).comment == reason
    assert len(_fresh(measure).history.first().history_change_reason) <= 100


def test_leader_reviews_only_what_they_lead_or_what_has_no_leader(department, staff_user, leader_user):
    other_leader = make_user(Role.LEADERSHIP, username="t_leader2")
    led_by_other = _at(S.COMPLETED, leader_user, lead_department=department, responsible_leader=other_leader)
    unassigned = _at(S.COMPLETED, leader_user, lead_department=department, responsible_leader=None)
    with pytest.raises(PermissionDenied):
        measure_review(measure_id=led_by_other.pk, user=leader_user, passed=True)
    assert measure_review(measure_id=unassigned.pk, user=leader_user, passed=True).status == S.REVIEWED


def test_review_of_a_measure_the_user_saw_completed_but_was_withdrawn_is_stale(measure, staff_user, leader_user):
    completed = _complete(measure, staff_user)
    measure_set_status(
        measure_id=measure.pk, user=staff_user, new_status=S.IN_PROGRESS, expected_version=completed.version
    )
    with pytest.raises(StaleMeasureError) as stale:
        measure_review(measure_id=measure.pk, user=leader_user, passed=True, expected_version=completed.version)
    assert ("状态", "已完成", "整改中") in stale.value.changed_fields


def test_office_signs_off_a_reviewed_measure(department, leader_user, office_user, ledger_events, committed):
    measure = _at(S.REVIEWED, leader_user, lead_department=department)
    with committed():
        measure_sign_off(measure_id=measure.pk, user=office_user, passed=True, expected_version=measure.version)
    stored = _fresh(measure)
    assert (stored.status, stored.signed_off_by) == (S.SIGNED_OFF, office_user)
    assert stored.signed_off_at is not None
    decision = MeasureDecision.objects.get(measure=measure)
    assert (decision.action, decision.decided_by) == (DecisionAction.SIGN_OFF, office_user)
    assert ledger_events == [[measure.pk]]


def test_sign_off_return_needs_a_reason_and_clears_the_review(department, leader_user, office_user):
    measure = _at(S.REVIEWED, leader_user, lead_department=department)
    with pytest.raises(ValidationError):
        measure_sign_off(measure_id=measure.pk, user=office_user, passed=False)
    measure_sign_off(measure_id=measure.pk, user=office_user, passed=False, comment="文号有误")
    stored = _fresh(measure)
    assert (stored.status, stored.reviewed_by, stored.reviewed_at, stored.completed_at) == (
        S.RETURNED,
        None,
        None,
        None,
    )
    assert MeasureDecision.objects.get(measure=measure).action == DecisionAction.SIGN_OFF_RETURN


def test_only_reviewed_measures_are_signed_off_and_only_by_the_office(department, leader_user, office_user):
    completed = _at(S.COMPLETED, leader_user, lead_department=department)
    reviewed = _at(S.REVIEWED, leader_user, lead_department=department)
    with pytest.raises(PermissionDenied):
        measure_sign_off(measure_id=completed.pk, user=office_user, passed=True)
    with pytest.raises(PermissionDenied):
        measure_sign_off(measure_id=reviewed.pk, user=leader_user, passed=True)


def test_signed_off_measure_is_final(department, staff_user, leader_user, office_user):
    measure = _at(S.SIGNED_OFF, leader_user, lead_department=department)
    later = measure.deadline + dt.timedelta(days=30)
    attempts = [
        lambda: measure_update(measure_id=measure.pk, user=office_user, expected_version=measure.version, owner="x"),
        lambda: measure_set_status(
            measure_id=measure.pk, user=office_user, new_status=S.IN_PROGRESS, expected_version=measure.version
        ),
        lambda: progress_report_add(measure=measure, user=staff_user, text="x"),
        lambda: evidence_add(measure=measure, user=office_user, title="x", document_number="1"),
        lambda: extension_request(measure=measure, user=office_user, new_deadline=later, reason="x"),
        lambda: measure_review(measure_id=measure.pk, user=leader_user, passed=False, comment="x"),
        lambda: measure_sign_off(measure_id=measure.pk, user=office_user, passed=False, comment="x"),
    ]
    for attempt in attempts:
        with pytest.raises(PermissionDenied, match="已销号"):
            attempt()
    assert _fresh(measure).version == measure.version


def test_office_returns_a_signed_off_measure_with_the_reason_on_record(
    department, staff_user, leader_user, office_user, ledger_events, committed
):
    measure = _at(S.SIGNED_OFF, leader_user, lead_department=department, responsible_leader=leader_user)
    with committed():
        returned = measure_return_signed_off(
            measure_id=measure.pk, user=office_user, comment="回头看发现问题反弹", expected_version=measure.version
        )
    stored = _fresh(measure)
    assert stored.status == S.RETURNED == returned.status
    assert (stored.signed_off_by, stored.signed_off_at, stored.reviewed_by, stored.reviewed_at) == (None,) * 4
    assert stored.completed_at is None
    assert stored.version == measure.version + 1
    decision = MeasureDecision.objects.get(measure=measure)
    assert (decision.action, decision.decided_by, decision.comment) == (
        DecisionAction.SIGN_OFF_REVOKE,
        office_user,
        "回头看发现问题反弹",
    )
    latest, previous = stored.history.all()[:2]
    assert (latest.history_user, latest.history_change_reason) == (office_user, "退回已销号:回头看发现问题反弹")
    changes = {c.field: (c.old, c.new) for c in latest.diff_against(previous).changes}
    assert changes["status"] == (S.SIGNED_OFF, S.RETURNED)
    assert changes["signed_off_by"] == (leader_user.pk, None)
    assert ledger_events == [[measure.pk]]
    # The owner works on it again, and it goes through review and sign-off once more.
    _complete(stored, staff_user)
    assert _fresh(measure).status == S.COMPLETED


def test_returning_a_signed_off_measure_needs_a_reason(department, leader_user, office_user):
    measure = _at(S.SIGNED_OFF, leader_user, lead_department=department)
    with pytest.raises(ValidationError) as refused:
        measure_return_signed_off(
            measure_id=measure.pk, user=office_user, comment="  ", expected_version=measure.version
        )
    assert refused.value.message_dict["comment"] == ["退回必须填写理由。"]
    stored = _fresh(measure)
    assert (stored.status, stored.version) == (S.SIGNED_OFF, measure.version)
    assert not MeasureDecision.objects.exists()


def test_only_the_office_returns_a_signed_off_measure(department, staff_user, leader_user, auditor_user, office_user):
    signed_off = _at(S.SIGNED_OFF, leader_user, lead_department=department, responsible_leader=leader_user)
    for user in (staff_user, leader_user, auditor_user):
        with pytest.raises(PermissionDenied, match="没有权限"):
            measure_return_signed_off(
                measure_id=signed_off.pk, user=user, comment="x", expected_version=signed_off.version
            )
    # Before sign-off the way back is the sign-off form's own return.
    reviewed = _at(S.REVIEWED, leader_user, lead_department=department)
    with pytest.raises(PermissionDenied):
        measure_return_signed_off(
            measure_id=reviewed.pk, user=office_user, comment="x", expected_version=reviewed.version
        )
    assert _fresh(signed_off).status == S.SIGNED_OFF
    assert not MeasureDecision.objects.exists()


def test_return_of_a_signed_off_measure_on_a_stale_version_is_refused(department, leader_user, office_user):
    measure = _at(S.SIGNED_OFF, leader_user, lead_department=department)
    measure_return_signed_off(
        measure_id=measure.pk, user=office_user, comment="第一次", expected_version=measure.version
    )
    with pytest.raises(StaleMeasureError):
        measure_return_signed_off(
            measure_id=measure.pk, user=office_user, comment="第二次", expected_version=measure.version
        )
    assert MeasureDecision.objects.filter(measure=measure).count() == 1


def test_pending_extension_cannot_move_a_signed_off_deadline(department, staff_user, leader_user):
    measure = _at(S.SIGNED_OFF, leader_user, lead_department=department, responsible_leader=leader_user)
    extension = Extension.objects.create(
        measure=measure,
        old_deadline=measure.deadline,
        new_deadline=measure.deadline + dt.timedelta(days=30),
        reason="x",
        requested_by=staff_user,
    )
    with pytest.raises(PermissionDenied, match="已销号"):
        extension_decide(extension_id=extension.pk, user=leader_user, approve=True)


# --- Batch review and sign-off -------------------------------------------------------------------


def _reviewed_measures(count: int, leader: User) -> list[Measure]:
    finding = FindingFactory()
    department = DepartmentFactory()
    return [_at(S.REVIEWED, leader, finding=finding, lead_department=department, number=n) for n in range(1, count + 1)]


# Bound on the queries of a batch sign-off, whatever its size:
#  1 SAVEPOINT (the service's atomic, nested in the test's transaction)
#  2 SELECT … FOR UPDATE of the measures
#  3 their assisting departments (prefetch, for staff rules)
#  4 the user's groups (role_of, once: it is kept on the user)
#  5 UPDATE of the permitted measures
#  6 INSERT of the decisions
#  7 INSERT … SELECT of the history rows
#  8 INSERT … SELECT of their assisting departments
#  9 RELEASE SAVEPOINT
BATCH_QUERIES = 9


@pytest.mark.parametrize("count", [10, 100])
def test_batch_sign_off_uses_the_same_queries_for_10_or_100(
    count, leader_user, office_user, django_assert_max_num_queries, ledger_events, committed
):
    measures = _reviewed_measures(count, leader_user)
    ids = [m.pk for m in measures]
    office = User.objects.get(pk=office_user.pk)  # role not cached: a request's user neither
    with committed(), django_assert_max_num_queries(BATCH_QUERIES):
        outcome = measures_sign_off_many(measure_ids=ids, user=office, comment="集中销号")
    assert outcome.done == ids
    assert outcome.refused == {}
    assert Measure.objects.filter(pk__in=ids, status=S.SIGNED_OFF, signed_off_by=office_user).count() == count
    assert MeasureDecision.objects.filter(
        measure__in=ids, action=DecisionAction.SIGN_OFF, comment="集中销号"
    ).count() == (count)
    history = Measure.history.filter(id__in=ids, status=S.SIGNED_OFF)
    assert history.count() == count
    assert set(history.values_list("history_user", flat=True)) == {office_user.pk}
    assert {h.version for h in history} == {m.version + 1 for m in measures}
    assert ledger_events == [ids]


def test_batch_sign_off_refuses_what_may_not_be_signed_off_and_says_why(
    leader_user, office_user, ledger_events, committed
):
    reviewed = _reviewed_measures(2, leader_user)
    completed = _at(S.COMPLETED, leader_user)
    signed_off = _at(S.SIGNED_OFF, leader_user)
    ids = [reviewed[0].pk, completed.pk, signed_off.pk, reviewed[1].pk, 999_999, reviewed[0].pk]
    with committed():
        outcome = measures_sign_off_many(measure_ids=ids, user=office_user)
    assert outcome.done == [reviewed[0].pk, reviewed[1].pk]
    assert set(outcome.refused) == {completed.pk, signed_off.pk, 999_999}
    assert "已完成" in outcome.refused[completed.pk]
    assert "已销号" in outcome.refused[signed_off.pk]
    assert "不存在" in outcome.refused[999_999]
    assert _fresh(completed).status == S.COMPLETED
    assert ledger_events == [[reviewed[0].pk, reviewed[1].pk]]


def test_batch_review_passes_what_the_leader_leads(department, leader_user, office_user, ledger_events, committed):
    other_leader = make_user(Role.LEADERSHIP, username="t_leader2")
    mine = [_at(S.COMPLETED, office_user, lead_department=department, responsible_leader=leader_user) for _ in "ab"]
    theirs = _at(S.COMPLETED, office_user, lead_department=department, responsible_leader=other_leader)
    with committed():
        outcome = measures_review_many(measure_ids=[m.pk for m in [*mine, theirs]], user=leader_user, comment="同意")
    assert outcome.done == [m.pk for m in mine]
    assert list(outcome.refused) == [theirs.pk]
    for measure in mine:
        stored = _fresh(measure)
        assert (stored.status, stored.reviewed_by) == (S.REVIEWED, leader_user)
        assert stored.decisions.get().action == DecisionAction.REVIEW_PASS
    assert _fresh(theirs).status == S.COMPLETED
    assert ledger_events == [[m.pk for m in mine]]


def test_batch_with_nothing_permitted_changes_nothing(leader_user, auditor_user, ledger_events, committed):
    measures = _reviewed_measures(3, leader_user)
    with committed():
        outcome = measures_sign_off_many(measure_ids=[m.pk for m in measures], user=auditor_user)
    assert outcome.done == []
    assert len(outcome.refused) == 3
    assert not MeasureDecision.objects.exists()
    assert ledger_events == []


@pytest.mark.django_db(transaction=True)
def test_two_simultaneous_saves_of_one_version_one_wins_the_other_is_told():
    """Real concurrency: two connections save the same version at the same moment."""
    if connection.vendor != "postgresql":
        pytest.skip("row locks between connections are what PostgreSQL is for; SQLite has one writer")
    # An earlier transactional test may have flushed the groups the data migration made.
    Group.objects.get_or_create(name=Role.OFFICE.value)
    office = make_user(Role.OFFICE, username="t_office_race")
    measure = MeasureFactory()
    start = threading.Barrier(2)
    outcomes: dict[str, object] = {}

    def save(owner: str) -> None:
        try:
            start.wait()
            measure_update(measure_id=measure.pk, user=office, expected_version=measure.version, owner=owner)
            outcomes[owner] = "saved"
        except StaleMeasureError as stale:
            outcomes[owner] = stale.changed_fields
        finally:
            connection.close()

    threads = [threading.Thread(target=save, args=(owner,)) for owner in ("张三", "李四")]
    for thread in threads:
        thread.start()
    for thread in threads:
        thread.join()
    winner = next(owner for owner, outcome in outcomes.items() if outcome == "saved")
    loser = next(owner for owner in outcomes if owner != winner)
    assert outcomes[loser] == [("责任人", "(空)", winner)]
    stored = _fresh(measure)
    assert (stored.owner, stored.version) == (winner, measure.version + 1)
    assert stored.history.count() == 2  # created, then the one save that won
