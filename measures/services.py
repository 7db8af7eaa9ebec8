"""Writes for measures: creation, status, progress, evidence, extensions, review and sign-off.

Every change to a Measure row goes through two helpers, so the rules hold everywhere:
`_locked_measure` locks the row, refuses a stale `expected_version` with the fields that
changed, and asks `measures.permissions.can`; `_save_measure` writes the changed columns with
a version bump and records the history row (who, when, why, and the assisting departments as
they then stood). Batch review and sign-off do the same set-based: one UPDATE, one INSERT of
decisions, one INSERT … SELECT of history rows and one of their assisting departments.

Signed-off is final but for one explicit, recorded step: the office's return of a signed-off
measure (`measure_return_signed_off`); the permissions module refuses everything else.
"""

import os
import secrets
from collections.abc import Iterable, Iterator, Sequence
from contextlib import contextmanager
from dataclasses import dataclass, field
from datetime import date, datetime

from django.contrib.auth.models import AnonymousUser
from django.core.exceptions import NON_FIELD_ERRORS, PermissionDenied, ValidationError
from django.core.files.uploadedfile import UploadedFile
from django.db import models, transaction
from django.db.models import F
from django.utils import timezone
from django.utils.translation import gettext as _

from accounts.models import Department, User
from accounts.roles import is_leader
from findings.models import Finding
from findings.rules import early_deadline_message
from measures.evidence_types import EvidenceFileError, evidence_type_of
from measures.history import HistoryNames, record_assisting_departments_in_history, record_history, shown_value
from measures.models import (
    DecisionAction,
    Evidence,
    Extension,
    ExtensionStatus,
    Measure,
    MeasureDecision,
    MeasureStatus,
    ProgressReport,
)
from measures.permissions import Action, can
from measures.rules import assisting_without_lead
from measures.signals import ledger_changed

Actor = User | AnonymousUser


@transaction.atomic
def measure_create(
    *,
    finding: Finding,
    text: str,
    lead_department: Department,
    deadline: date,
    number: int | None = None,
    assisting_departments: Iterable[Department] = (),
    **fields: object,
) -> Measure:
    too_early = early_deadline_message(deadline=deadline, feedback_date=finding.inspection.feedback_date)
    if too_early:
        raise ValidationError({"deadline": too_early})
    if number is None:
        last = finding.measures.order_by("-number").values_list("number", flat=True).first()
        number = (last or 0) + 1
    measure = Measure(
        finding=finding,
        inspection_id=finding.inspection_id,
        category_id=finding.category_id,
        number=number,
        text=text,
        lead_department=lead_department,
        deadline=deadline,
        **fields,
    )
    measure.full_clean()
    now = timezone.now()
    measure._history_date = now  # type: ignore[attr-defined]  # simple_history's "+" row gets this date
    measure.save()
    assisting = assisting_without_lead(assisting_departments, lead=lead_department)
    if assisting:
        with _no_automatic_history(measure):
            measure.assisting_departments.set(assisting)
        # The "+" row was written before the departments existed: it gets them, so the
        # history's first row is the measure as created, not a bare one and then an edit.
        record_assisting_departments_in_history([measure.pk], when=now)
    # A new measure changes every figure it is counted in (all measures, not started, …).
    _announce([measure.pk])
    return measure


# --- Optimistic locking --------------------------------------------------------------------

# What a user reads on the measure's page and may have based an edit on; the "what changed"
# message lists these. Timestamps and who-signed fields follow from status, so they stay out.
_DIFF_FIELDS = (
    "text",
    "target",
    "kind",
    "responsible_leader",
    "lead_department",
    "assisting_departments",
    "owner",
    "deadline",
    "status",
    "result",
)


class StaleMeasureError(Exception):
    """The measure changed after the user read it: nothing was saved.

    `current` is the row as it is now; `changed_fields` lists (field name, value the user saw,
    current value) for the page to show.
    """

    def __init__(self, *, current: Measure, changed_fields: list[tuple[str, str, str]]) -> None:
        self.current = current
        self.changed_fields = changed_fields
        self.message = _("该整改措施已被他人修改,您的修改未保存。请查看以下变化后重新操作。")
        super().__init__(self.message)


def _normalised(name: str, value: object) -> object:
    model_field = Measure._meta.get_field(name)
    if model_field.many_to_many:
        return sorted(v.pk if isinstance(v, models.Model) else v for v in value)  # type: ignore[attr-defined]
    if model_field.is_relation and isinstance(value, models.Model):
        return value.pk
    if value == "":
        return None
    return value


def _display(name: str, value: object, names: HistoryNames) -> str:
    """A normalised value as the measure's page shows it; "(空)" says there is none."""
    return shown_value(Measure._meta.get_field(name), value, names) or _("(空)")  # type: ignore[arg-type]


def _changes_since(
    current: Measure, expected_version: int, seen: dict[str, object] | None
) -> list[tuple[str, str, str]]:
    """What differs between what the user saw (version `expected_version`) and the row now.

    The history row of that version holds what the user saw; `seen` adds or overrides values
    it does not give. Assisting departments come from `seen` only: history rows written before
    they were recorded, or by imports (bulk history without its many-to-many), have none.
    """
    before: dict[str, object] = {}
    record = (
        Measure.history.filter(id=current.pk, version=expected_version).order_by("-history_date", "-history_id").first()
    )
    if record is not None:
        for name in _DIFF_FIELDS:
            model_field = Measure._meta.get_field(name)
            if not model_field.many_to_many:
                before[name] = getattr(record, model_field.attname)
    before.update(seen or {})
    differing = []
    for name in sorted(before, key=lambda n: _DIFF_FIELDS.index(n) if n in _DIFF_FIELDS else len(_DIFF_FIELDS)):
        model_field = Measure._meta.get_field(name)
        if model_field.many_to_many:
            now_value: object = list(current.assisting_departments.values_list("pk", flat=True))
        else:
            now_value = getattr(current, model_field.attname)
        old, new = _normalised(name, before[name]), _normalised(name, now_value)
        if old != new:
            differing.append((model_field, old, new))
    names = HistoryNames.of(differing)  # type: ignore[arg-type]
    return [(str(f.verbose_name), _display(f.name, o, names), _display(f.name, n, names)) for f, o, n in differing]


def _require(user: Actor, action: Action, measure: Measure | None = None) -> None:
    if can(user, action, measure):
        return
    if (
        measure is not None
        and measure.status == MeasureStatus.SIGNED_OFF
        and action != Action.RETURN_SIGNED_OFF
        and can(user, Action.VIEW, measure)
    ):
        raise PermissionDenied(_("该措施已销号,不能再修改。"))
    raise PermissionDenied(_("您没有权限执行此操作。"))


def _locked_measure(
    measure_id: int,
    *,
    user: Actor,
    action: Action,
    expected_version: int | None = None,
    seen: dict[str, object] | None = None,
) -> Measure:
    """The measure, locked for this transaction, once the version and the permission are checked.

    Concurrent writers queue on the row lock (PostgreSQL; SQLite lets one writer at a time),
    so the version compared here is the one this transaction will overwrite. The version is
    compared before the permission: a status moved by someone else (completed → reviewed)
    then reads as "changed, here is what" rather than a bare 403.
    """
    measure = Measure.objects.select_for_update().get(pk=measure_id)
    if expected_version is not None and measure.version != expected_version:
        if not can(user, Action.VIEW, measure):
            raise PermissionDenied(_("您没有权限执行此操作。"))
        raise StaleMeasureError(current=measure, changed_fields=_changes_since(measure, expected_version, seen))
    _require(user, action, measure)
    return measure


@contextmanager
def _no_automatic_history(measure: Measure) -> Iterator[None]:
    """Changes to assisting departments without simple_history's own row (its m2m_changed
    handler writes one with the old version and no reason); the service records its own."""
    measure.skip_history_when_saving = True  # type: ignore[attr-defined]
    try:
        yield
    finally:
        del measure.skip_history_when_saving  # type: ignore[attr-defined]


def _save_measure(measure: Measure, *, user: Actor, fields: Sequence[str], when: datetime, reason: str = "") -> None:
    """Write `fields` of a measure read by `_locked_measure`, bump its version, record history."""
    values = {
        Measure._meta.get_field(name).attname: getattr(measure, Measure._meta.get_field(name).attname)
        for name in fields
    }
    # The version condition is redundant under the row lock, and costs nothing: should a write
    # ever slip past the lock, it is refused rather than lost.
    updated = Measure.objects.filter(pk=measure.pk, version=measure.version).update(
        **values, version=F("version") + 1, updated_at=when
    )
    if updated != 1:
        current = Measure.objects.get(pk=measure.pk)
        raise StaleMeasureError(current=current, changed_fields=_changes_since(current, measure.version, None))
    measure.version += 1
    measure.updated_at = when
    record_history(Measure, [measure.pk], user=user, when=when, reason=reason)


def _announce(measure_ids: Sequence[int]) -> None:
    ids = list(measure_ids)
    transaction.on_commit(lambda: ledger_changed.send(sender=Measure, measure_ids=ids))


# --- Status ----------------------------------------------------------------------------------

# What the owner (or the office) may move a measure to. Review and sign-off have their own
# services; reviewed and signed-off measures are frozen by the permissions module.
_STATUS_TRANSITIONS: dict[str, tuple[str, ...]] = {
    MeasureStatus.NOT_STARTED: (MeasureStatus.IN_PROGRESS, MeasureStatus.COMPLETED),
    MeasureStatus.IN_PROGRESS: (MeasureStatus.COMPLETED,),
    MeasureStatus.RETURNED: (MeasureStatus.IN_PROGRESS, MeasureStatus.COMPLETED),
    MeasureStatus.COMPLETED: (MeasureStatus.IN_PROGRESS,),  # withdrawn before the leader reviews it
}


def _status_label(value: str) -> str:
    return str(dict(MeasureStatus.choices).get(value, value))


@transaction.atomic
def measure_set_status(
    *,
    measure_id: int,
    user: Actor,
    new_status: str,
    expected_version: int,
    result: str = "",
    seen: dict[str, object] | None = None,
) -> Measure:
    measure = _locked_measure(
        measure_id, user=user, action=Action.UPDATE_STATUS, expected_version=expected_version, seen=seen
    )
    old_status = measure.status
    if new_status not in _STATUS_TRANSITIONS.get(old_status, ()):
        raise ValidationError(
            {
                "status": _("不能把状态从「%(old)s」改为「%(new)s」。")
                % {"old": _status_label(old_status), "new": _status_label(new_status)}
            }
        )
    now = timezone.now()
    fields = ["status"]
    if new_status == MeasureStatus.COMPLETED:
        result = result.strip() or measure.result.strip()
        errors: dict[str, str] = {}
        if not result:
            errors["result"] = _("标记为已完成前请填写整改成效。")
        if not measure.evidence.exists():
            errors[NON_FIELD_ERRORS] = _("标记为已完成前请至少上传一份佐证材料。")
        if errors:
            raise ValidationError(errors)
        measure.result = result
        measure.completed_at = now
        fields += ["result", "completed_at"]
    elif measure.completed_at is not None:
        measure.completed_at = None
        fields.append("completed_at")
    measure.status = new_status
    reason = _("撤回已完成") if old_status == MeasureStatus.COMPLETED else ""
    _save_measure(measure, user=user, fields=fields, when=now, reason=reason)
    _announce([measure.pk])
    return measure


# --- Ledger edits by the office ------------------------------------------------------------------

_LEDGER_FIELDS = ("text", "target", "kind", "responsible_leader", "lead_department", "owner", "deadline")


@transaction.atomic
def measure_update(
    *,
    measure_id: int,
    user: Actor,
    expected_version: int,
    seen: dict[str, object] | None = None,
    **fields: object,
) -> Measure:
    """Edit a measure's ledger columns; `fields` names any of _LEDGER_FIELDS and assisting_departments."""
    unknown = set(fields) - {*_LEDGER_FIELDS, "assisting_departments"}
    if unknown:
        raise TypeError(f"measure_update() cannot change {sorted(unknown)}")
    measure = _locked_measure(
        measure_id, user=user, action=Action.EDIT_LEDGER, expected_version=expected_version, seen=seen
    )
    changed: list[str] = []
    for name in _LEDGER_FIELDS:
        if name not in fields:
            continue
        value = fields[name]
        if isinstance(value, str):
            value = value.strip()
        model_field = Measure._meta.get_field(name)
        if model_field.is_relation:
            # Accepts an instance (from a form) or a primary key.
            new_id = value.pk if isinstance(value, models.Model) else value
            if getattr(measure, model_field.attname) != new_id:
                setattr(measure, model_field.attname, new_id)
                changed.append(name)
        elif getattr(measure, name) != value:
            setattr(measure, name, value)
            changed.append(name)

    errors: dict[str, list[str]] = {}
    if "deadline" in changed:
        too_early = early_deadline_message(deadline=measure.deadline, feedback_date=measure.inspection.feedback_date)
        if too_early:
            errors["deadline"] = [too_early]
    if (
        "responsible_leader" in changed
        and measure.responsible_leader is not None
        and not is_leader(measure.responsible_leader)
    ):
        errors["responsible_leader"] = [_("责任领导必须是领导角色的用户。")]
    try:
        measure.full_clean()
    except ValidationError as invalid:
        for key, messages in invalid.message_dict.items():
            errors.setdefault(key, []).extend(messages)
    if errors:
        raise ValidationError(errors)

    current_assisting = set(measure.assisting_departments.values_list("pk", flat=True))
    wanted_assisting = current_assisting
    if "assisting_departments" in fields:
        given = fields["assisting_departments"] or ()
        wanted_assisting = {d.pk if isinstance(d, models.Model) else d for d in given}  # type: ignore[attr-defined]
    wanted_assisting = set(assisting_without_lead(wanted_assisting, lead=measure.lead_department_id))

    if not changed and wanted_assisting == current_assisting:
        return measure
    now = timezone.now()
    if wanted_assisting != current_assisting:
        with _no_automatic_history(measure):
            measure.assisting_departments.set(wanted_assisting)
    # Even when only assisting departments changed: the version moves, so a concurrent editor
    # learns something changed, and the history row records the new set.
    _save_measure(measure, user=user, fields=changed, when=now)
    # Department, leader and deadline feed the dashboards' breakdowns, so any edit counts.
    _announce([measure.pk])
    return measure


# --- Progress and evidence -----------------------------------------------------------------------


@transaction.atomic
def progress_report_add(*, measure: Measure, user: Actor, text: str, reported_on: date | None = None) -> ProgressReport:
    locked = _locked_measure(measure.pk, user=user, action=Action.ADD_PROGRESS)
    text = text.strip()
    today = timezone.localdate()
    reported_on = reported_on or today
    errors: dict[str, str] = {}
    if not text:
        errors["text"] = _("请填写进展情况。")
    if reported_on > today:
        errors["reported_on"] = _("汇报日期不能晚于今天。")
    if errors:
        raise ValidationError(errors)
    report = ProgressReport(measure=locked, reported_on=reported_on, text=text, author=user)
    report._history_user = user  # type: ignore[attr-defined]
    report.full_clean()
    report.save()
    # Not a user-edited column, so no version bump: a one-column UPDATE leaves a concurrent
    # editor's pending save valid and overwrites nothing they wrote.
    Measure.objects.filter(pk=locked.pk).update(last_progress_at=report.created_at)
    measure.last_progress_at = report.created_at
    # 本期未汇报 counts measures without a report this period: this one just left it.
    _announce([locked.pk])
    return report


def _original_name(name: str) -> str:
    return os.path.basename(name.replace("\\", "/"))[-255:]


@transaction.atomic
def evidence_add(
    *,
    measure: Measure,
    user: Actor,
    title: str,
    document_number: str = "",
    uploaded_file: UploadedFile | None = None,
) -> Evidence:
    locked = _locked_measure(measure.pk, user=user, action=Action.ADD_EVIDENCE)
    title = title.strip()
    document_number = document_number.strip()
    errors: dict[str, str] = {}
    if not title:
        errors["title"] = _("请填写材料名称。")
    if uploaded_file is None and not document_number:
        errors[NON_FIELD_ERRORS] = _("请上传文件或填写文号。")
    file_type = None
    if uploaded_file is not None:
        try:
            file_type = evidence_type_of(
                filename=uploaded_file.name or "", fileobj=uploaded_file, size=uploaded_file.size or 0
            )
        except EvidenceFileError as refused:
            errors["file"] = str(refused)
    if errors:
        raise ValidationError(errors)

    evidence = Evidence(measure=locked, title=title, document_number=document_number, uploaded_by=user)
    evidence._history_user = user  # type: ignore[attr-defined]
    if uploaded_file is not None and file_type is not None:
        evidence.original_name = _original_name(uploaded_file.name or "")
        evidence.size = uploaded_file.size or 0
        evidence.content_type = file_type.content_type
        # The stored name never comes from the user: no path tricks, no guessable URLs.
        uploaded_file.seek(0)
        evidence.file.save(f"{secrets.token_urlsafe(16)}.{file_type.extension}", uploaded_file, save=False)
    try:
        evidence.full_clean()
        evidence.save()
    except BaseException:
        # The file is on disk before the row exists; do not leave it behind a failed save.
        if evidence.file:
            evidence.file.delete(save=False)
        raise
    return evidence


# --- Extensions ----------------------------------------------------------------------------------


@transaction.atomic
def extension_request(*, measure: Measure, user: Actor, new_deadline: date, reason: str) -> Extension:
    locked = _locked_measure(measure.pk, user=user, action=Action.REQUEST_EXTENSION)
    reason = reason.strip()
    errors: dict[str, str] = {}
    if not reason:
        errors["reason"] = _("请填写延期理由。")
    if new_deadline <= locked.deadline:
        errors["new_deadline"] = _("申请的新时限必须晚于当前整改时限(%(date)s)。") % {
            "date": locked.deadline.isoformat()
        }
    if errors:
        raise ValidationError(errors)
    # The measure's row lock serialises requests, so two cannot both find none pending.
    if locked.extensions.filter(status=ExtensionStatus.PENDING).exists():
        raise ValidationError(_("该措施已有一份待审批的延期申请,请等待审批结果后再申请。"))
    extension = Extension(
        measure=locked, old_deadline=locked.deadline, new_deadline=new_deadline, reason=reason, requested_by=user
    )
    extension._history_user = user  # type: ignore[attr-defined]
    extension.full_clean()
    extension.save()
    _announce([locked.pk])
    return extension


@transaction.atomic
def extension_decide(*, extension_id: int, user: Actor, approve: bool, comment: str = "") -> Extension:
    measure_id = Extension.objects.values_list("measure_id", flat=True).get(pk=extension_id)
    # Measure row first, then the extension: the order extension_request locks in, so the two
    # cannot deadlock.
    measure = _locked_measure(measure_id, user=user, action=Action.DECIDE_EXTENSION)
    extension = Extension.objects.select_for_update().get(pk=extension_id)
    if extension.status != ExtensionStatus.PENDING:
        raise ValidationError(_("该延期申请已审批,不能重复审批。"))
    now = timezone.now()
    if approve:
        if extension.new_deadline <= measure.deadline:
            raise ValidationError(
                _("当前整改时限(%(date)s)已不早于申请的时限,无需批准延期。") % {"date": measure.deadline.isoformat()}
            )
        old_deadline = measure.deadline
        measure.deadline = extension.new_deadline
        reason = _("批准延期:%(old)s → %(new)s") % {
            "old": old_deadline.isoformat(),
            "new": extension.new_deadline.isoformat(),
        }
        _save_measure(measure, user=user, fields=["deadline"], when=now, reason=reason)
        extension.status = ExtensionStatus.APPROVED
    else:
        extension.status = ExtensionStatus.REFUSED
    extension.decided_by = user  # type: ignore[assignment]
    extension.decided_at = now
    extension.decision_comment = comment.strip()
    extension._history_user = user  # type: ignore[attr-defined]
    extension.save(update_fields=["status", "decided_by", "decided_at", "decision_comment"])
    _announce([measure.pk])
    return extension


# --- Review (审核) and sign-off (销号) -------------------------------------------------------------


def _return_fields(measure: Measure) -> list[str]:
    """Send a measure back to its owner: no longer complete, nor reviewed."""
    measure.status = MeasureStatus.RETURNED
    measure.completed_at = None
    measure.reviewed_by = None
    measure.reviewed_at = None
    return ["status", "completed_at", "reviewed_by", "reviewed_at"]


def _decide(
    *,
    measure_id: int,
    user: Actor,
    action: Action,
    passed: bool,
    comment: str,
    expected_version: int | None,
    seen: dict[str, object] | None,
) -> Measure:
    measure = _locked_measure(measure_id, user=user, action=action, expected_version=expected_version, seen=seen)
    comment = comment.strip()
    now = timezone.now()
    if not passed and not comment:
        raise ValidationError({"comment": _("退回必须填写理由。")})
    if action == Action.REVIEW and passed:
        measure.status = MeasureStatus.REVIEWED
        measure.reviewed_by = user  # type: ignore[assignment]
        measure.reviewed_at = now
        fields, decision, reason = ["status", "reviewed_by", "reviewed_at"], DecisionAction.REVIEW_PASS, _("审核通过")
    elif action == Action.SIGN_OFF and passed:
        measure.status = MeasureStatus.SIGNED_OFF
        measure.signed_off_by = user  # type: ignore[assignment]
        measure.signed_off_at = now
        fields, decision, reason = ["status", "signed_off_by", "signed_off_at"], DecisionAction.SIGN_OFF, _("销号")
    else:
        fields = _return_fields(measure)
        if action == Action.REVIEW:
            decision, reason = DecisionAction.REVIEW_RETURN, _("审核退回:%(reason)s") % {"reason": comment}
        else:
            decision, reason = DecisionAction.SIGN_OFF_RETURN, _("销号退回:%(reason)s") % {"reason": comment}
    _save_measure(measure, user=user, fields=fields, when=now, reason=reason)
    MeasureDecision.objects.create(measure=measure, action=decision, comment=comment, decided_by=user)
    _announce([measure.pk])
    return measure


@transaction.atomic
def measure_review(
    *,
    measure_id: int,
    user: Actor,
    passed: bool,
    comment: str = "",
    expected_version: int | None = None,
    seen: dict[str, object] | None = None,
) -> Measure:
    """The responsible leader passes a completed measure (已审核) or returns it (退回, with a reason)."""
    return _decide(
        measure_id=measure_id,
        user=user,
        action=Action.REVIEW,
        passed=passed,
        comment=comment,
        expected_version=expected_version,
        seen=seen,
    )


@transaction.atomic
def measure_sign_off(
    *,
    measure_id: int,
    user: Actor,
    passed: bool,
    comment: str = "",
    expected_version: int | None = None,
    seen: dict[str, object] | None = None,
) -> Measure:
    """The office signs a reviewed measure off (销号) or returns it to its owner (退回, with a reason)."""
    return _decide(
        measure_id=measure_id,
        user=user,
        action=Action.SIGN_OFF,
        passed=passed,
        comment=comment,
        expected_version=expected_version,
        seen=seen,
    )


@transaction.atomic
def measure_return_signed_off(
    *,
    measure_id: int,
    user: Actor,
    comment: str,
    expected_version: int,
    seen: dict[str, object] | None = None,
) -> Measure:
    """The office sends a signed-off measure back to its owner (退回已销号), with a reason.

    The one way a sign-off is undone, and always on record: a decision row with the full
    reason, a history row with the status change. The measure is then returned like any
    other, so it is completed, reviewed and signed off again before it counts as rectified.
    """
    measure = _locked_measure(
        measure_id, user=user, action=Action.RETURN_SIGNED_OFF, expected_version=expected_version, seen=seen
    )
    comment = comment.strip()
    if not comment:
        raise ValidationError({"comment": _("退回必须填写理由。")})
    fields = _return_fields(measure)
    # measure_signed_off_has_signer only binds signed-off rows; a returned one names no signer.
    measure.signed_off_by = None
    measure.signed_off_at = None
    fields += ["signed_off_by", "signed_off_at"]
    reason = _("退回已销号:%(reason)s") % {"reason": comment}
    _save_measure(measure, user=user, fields=fields, when=timezone.now(), reason=reason)
    MeasureDecision.objects.create(
        measure=measure, action=DecisionAction.SIGN_OFF_REVOKE, comment=comment, decided_by=user
    )
    _announce([measure.pk])
    return measure


@dataclass
class BatchOutcome:
    done: list[int] = field(default_factory=list)
    refused: dict[int, str] = field(default_factory=dict)  # measure id → why


def _refusal(user: Actor, measure: Measure, verb: str) -> str:
    if not can(user, Action.VIEW, measure):
        return _("您没有权限查看该措施。")
    if measure.status == MeasureStatus.SIGNED_OFF:
        return _("该措施已销号。")
    return _("该措施当前状态为「%(status)s」,您不能%(verb)s。") % {
        "status": measure.get_status_display(),
        "verb": verb,
    }


def _pass_many(*, measure_ids: list[int], user: Actor, action: Action, comment: str) -> BatchOutcome:
    wanted = list(dict.fromkeys(measure_ids))
    # Locked in primary-key order so two overlapping batches queue instead of deadlocking.
    measures = {
        m.pk: m
        for m in Measure.objects.select_for_update()
        .filter(pk__in=wanted)
        .order_by("pk")
        .prefetch_related("assisting_departments")
    }
    verb = _("审核") if action == Action.REVIEW else _("销号")
    outcome = BatchOutcome()
    for measure_id in wanted:
        measure = measures.get(measure_id)
        if measure is None:
            outcome.refused[measure_id] = _("该措施不存在。")
        elif can(user, action, measure):
            outcome.done.append(measure_id)
        else:
            outcome.refused[measure_id] = _refusal(user, measure, verb)
    if not outcome.done:
        return outcome

    now = timezone.now()
    comment = comment.strip()
    if action == Action.REVIEW:
        values: dict[str, object] = {"status": MeasureStatus.REVIEWED, "reviewed_by": user, "reviewed_at": now}
        decision, reason = DecisionAction.REVIEW_PASS, _("批量审核通过")
    else:
        values = {"status": MeasureStatus.SIGNED_OFF, "signed_off_by": user, "signed_off_at": now}
        decision, reason = DecisionAction.SIGN_OFF, _("批量销号")
    # The rows are locked above, so each still has the status that made it permitted.
    # No version is compared: the ledger's checkboxes carry ids only, and a batch only passes
    # (a return needs a reason each, so it is not offered). A row edited since the ledger was
    # shown is still passed if it is still in the status a pass needs; the page's single
    # review and sign-off forms are the version-checked path.
    Measure.objects.filter(pk__in=outcome.done).update(**values, version=F("version") + 1, updated_at=now)
    MeasureDecision.objects.bulk_create(
        MeasureDecision(measure_id=measure_id, action=decision, comment=comment, decided_by=user)
        for measure_id in outcome.done
    )
    record_history(Measure, outcome.done, user=user, when=now, reason=reason)
    _announce(outcome.done)
    return outcome


@transaction.atomic
def measures_review_many(*, measure_ids: list[int], user: Actor, comment: str = "") -> BatchOutcome:
    """Pass several completed measures at once (batch return is not offered: it needs a reason each)."""
    return _pass_many(measure_ids=measure_ids, user=user, action=Action.REVIEW, comment=comment)


@transaction.atomic
def measures_sign_off_many(*, measure_ids: list[int], user: Actor, comment: str = "") -> BatchOutcome:
    """Sign several reviewed measures off at once."""
    return _pass_many(measure_ids=measure_ids, user=user, action=Action.SIGN_OFF, comment=comment)
