"""The one place that decides who may see or do what to which measure.

Views, APIs, exports and templates all ask `can()` or `visible_measures()`; nothing
re-implements a check inline. Who holds which role, and what a role may do with no measure
in question, is `accounts.roles`; this module adds the measure: its department, status and
responsible leader.
"""

from enum import StrEnum

from django.contrib.auth.models import AnonymousUser
from django.core.exceptions import PermissionDenied
from django.db.models import Q, QuerySet

from accounts.models import Role, User
from accounts.roles import Capability, has_capability, is_leader, role_of
from measures.models import COMPLETED_STATUSES, OPEN_STATUSES, Measure, MeasureStatus


class Action(StrEnum):
    VIEW = "view"
    UPDATE_STATUS = "update_status"
    ADD_PROGRESS = "add_progress"
    ADD_EVIDENCE = "add_evidence"
    REQUEST_EXTENSION = "request_extension"
    DECIDE_EXTENSION = "decide_extension"
    REVIEW = "review"
    SIGN_OFF = "sign_off"
    RETURN_SIGNED_OFF = "return_signed_off"  # 退回已销号: the office undoes a sign-off, with a reason
    EDIT_LEDGER = "edit_ledger"  # create and edit inspections, categories, findings, measures
    RECOMPUTE_FIGURES = "recompute_figures"  # run the dashboards' recompute job now


def _department_ids_of(measure: Measure) -> set[int]:
    # Uses the prefetch cache when the selector prefetched assisting departments.
    return {measure.lead_department_id, *(d.id for d in measure.assisting_departments.all())}


def is_own_department(user: User, measure: Measure) -> bool:
    return user.department_id is not None and user.department_id in _department_ids_of(measure)


def _is_responsible_leader(user: User, measure: Measure) -> bool:
    # A measure with no named leader may be reviewed by any member of the leadership.
    return measure.responsible_leader_id in (None, user.id)


def can(user: User | AnonymousUser, action: Action, measure: Measure | None = None) -> bool:
    """Whether `user` may do `action` to `measure` (or, without a measure, at all).

    - view: everyone with a role; staff only their department's measures (lead or assisting).
    - update_status, add_progress, add_evidence: the office, and own-department staff, while
      the measure is open or completed (not yet reviewed).
    - request_extension: the office and own-department staff, while the measure is open.
    - decide_extension: the responsible leader (any leader if none is named).
    - review: the responsible leader (any leader if none is named), of a completed measure.
    - sign_off: the office, of a reviewed measure.
    - return_signed_off: the office, of a signed-off measure.
    - edit_ledger: the office.
    - Nothing else is allowed on a signed-off measure; auditors only read.
    """
    role = role_of(user)
    if role is None:
        return False
    if action == Action.RECOMPUTE_FIGURES:
        return has_capability(user, Capability.RECOMPUTE_FIGURES)
    if action == Action.EDIT_LEDGER and measure is None:
        return has_capability(user, Capability.EDIT_LEDGER)
    if measure is None:
        return False
    if action == Action.VIEW:
        return role != Role.STAFF or is_own_department(user, measure)  # type: ignore[arg-type]

    status = measure.status
    if action == Action.RETURN_SIGNED_OFF:
        # "A sign-off is undone only by an explicit, recorded return": the office signed it
        # off, so the office alone sends it back.
        return role == Role.OFFICE and status == MeasureStatus.SIGNED_OFF
    # 销号 is final otherwise: no edit, status change, deadline move or decision after it.
    if status == MeasureStatus.SIGNED_OFF:
        return False
    if action == Action.EDIT_LEDGER:
        return role == Role.OFFICE
    if action in (Action.UPDATE_STATUS, Action.ADD_PROGRESS, Action.ADD_EVIDENCE):
        # Once reviewed, the measure is frozen until someone returns it.
        editable = status in OPEN_STATUSES or status == MeasureStatus.COMPLETED
        if role == Role.OFFICE:
            return editable
        return role == Role.STAFF and editable and is_own_department(user, measure)  # type: ignore[arg-type]
    if action == Action.REQUEST_EXTENSION:
        if status not in OPEN_STATUSES:
            return False
        return role == Role.OFFICE or (role == Role.STAFF and is_own_department(user, measure))  # type: ignore[arg-type]
    if action == Action.DECIDE_EXTENSION:
        return is_leader(user) and _is_responsible_leader(user, measure)  # type: ignore[arg-type]
    if action == Action.REVIEW:
        return (
            is_leader(user) and status == MeasureStatus.COMPLETED and _is_responsible_leader(user, measure)  # type: ignore[arg-type]
        )
    if action == Action.SIGN_OFF:
        return role == Role.OFFICE and status == MeasureStatus.REVIEWED
    return False


def visible_measures(user: User | AnonymousUser, measures: QuerySet[Measure]) -> QuerySet[Measure]:
    """The measures this user may see: staff see their department's (lead or assisting)."""
    role = role_of(user)
    if role is None:
        return measures.none()
    if role != Role.STAFF:
        return measures
    if user.department_id is None:  # type: ignore[union-attr]
        return measures.none()
    dept = user.department_id  # type: ignore[union-attr]
    assisted = Measure.assisting_departments.through.objects.filter(department_id=dept).values("measure_id")
    return measures.filter(Q(lead_department_id=dept) | Q(id__in=assisted))


def sees_everything(user: User | AnonymousUser) -> bool:
    return has_capability(user, Capability.SEE_EVERYTHING)


def dashboard_department(user: User | AnonymousUser, requested: int | None) -> int | None:
    """Whose figures a dashboard shows: None for the whole bureau, else a department id.

    Staff get their own department's figures whatever they ask for, so a figure never
    counts rows their ledger would hide; the other roles see everything and may narrow to
    any department. Anyone without a role, or staff without a department, gets nothing.
    """
    if sees_everything(user):
        return requested
    if role_of(user) == Role.STAFF and user.department_id is not None:  # type: ignore[union-attr]
        return user.department_id  # type: ignore[union-attr]
    raise PermissionDenied


def can_export(user: User | AnonymousUser) -> bool:
    """Ledger and history exports: every role; what a user gets is cut by `visible_measures`,
    so staff export their own department's rows only."""
    return has_capability(user, Capability.EXPORT_LEDGER)


def can_import(user: User | AnonymousUser) -> bool:
    """Importing a ledger creates and rewrites measures wholesale: the rectification office only."""
    return has_capability(user, Capability.IMPORT_LEDGER)


def can_read_notice(user: User | AnonymousUser) -> bool:
    """An inspection's notice (整改落实情况通报) is written to be published: every role reads
    and downloads it."""
    return has_capability(user, Capability.READ_NOTICE)


def can_edit_notice(user: User | AnonymousUser) -> bool:
    """Rewording a notice before it goes out is the rectification office's; the figures in it
    come from the ledger whoever edits."""
    return has_capability(user, Capability.EDIT_NOTICE)


__all__ = [
    "Action",
    "COMPLETED_STATUSES",
    "can",
    "can_edit_notice",
    "can_export",
    "can_import",
    "can_read_notice",
    "dashboard_department",
    "sees_everything",
    "visible_measures",
]
