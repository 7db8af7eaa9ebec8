"""The permission matrix over HTTP: what each role is shown on the measure page, and what it
gets when it posts an action anyway.

The expectation is EXPECTED in tests/measures/test_permissions.py, the rules documented in
measures.permissions written out by hand (and checked against `can()` there); it is not
read from the page, nor from `can()`, so a page that shows a form to the wrong role, or a
view that lets a refused action through, fails here.
"""

import datetime as dt

import pytest
from django.db import transaction
from django.urls import reverse
from django.utils import timezone

from accounts.models import Role
from measures.models import Evidence, Extension, Measure, MeasureDecision, MeasureStatus, ProgressReport
from measures.permissions import Action
from tests.factories import DepartmentFactory, MeasureFactory, make_user
from tests.measures.test_permissions import EXPECTED

pytestmark = pytest.mark.django_db

S = MeasureStatus

# Who is asking → their row of EXPECTED, on a measure led by "own" department with
# "leader" as its responsible leader.
ROLES = {
    "office": "office",
    "own_staff": "staff/own",
    "other_staff": "staff/other",
    "responsible_leader": "leader/leads",
    "another_leader": "leader/other",
    "auditor": "auditor",
}

# The measure page's actions and the URL each form posts to.
PAGE_ACTIONS = {
    Action.UPDATE_STATUS: "measures:set_status",
    Action.ADD_PROGRESS: "measures:progress_add",
    Action.ADD_EVIDENCE: "measures:evidence_add",
    Action.REQUEST_EXTENSION: "measures:extension_request",
    Action.DECIDE_EXTENSION: "measures:extension_decide",
    Action.REVIEW: "measures:review",
    Action.SIGN_OFF: "measures:sign_off",
    Action.RETURN_SIGNED_OFF: "measures:return_signed_off",
}

# A status each form could move the measure to from each status (all valid for the form).
NEXT_STATUS = {
    S.NOT_STARTED: S.IN_PROGRESS,
    S.IN_PROGRESS: S.COMPLETED,
    S.COMPLETED: S.IN_PROGRESS,
    S.REVIEWED: S.IN_PROGRESS,
    S.SIGNED_OFF: S.IN_PROGRESS,
    S.RETURNED: S.IN_PROGRESS,
}


def may(role: str, action: Action, status: str) -> bool:
    return status in EXPECTED[ROLES[role]].get(action.value, ())


class Page:
    """One measure in `status`, with evidence and a pending extension, and a user per role."""

    def __init__(self, status: str) -> None:
        own, other = DepartmentFactory(name="社会救助科"), DepartmentFactory(name="养老服务科")
        leader = make_user(Role.LEADERSHIP, username="v_leader")
        office = make_user(Role.OFFICE, username="v_office")
        self.users = {
            "office": office,
            "own_staff": make_user(Role.STAFF, own, username="v_staff"),
            "other_staff": make_user(Role.STAFF, other, username="v_other_staff"),
            "responsible_leader": leader,
            "another_leader": make_user(Role.LEADERSHIP, username="v_leader2"),
            "auditor": make_user(Role.AUDITOR, username="v_auditor"),
        }
        now = timezone.now()
        fields: dict[str, object] = {"status": status}
        if status in (S.COMPLETED, S.REVIEWED, S.SIGNED_OFF):
            fields.update(completed_at=now, result="已建立工作机制")
        if status in (S.REVIEWED, S.SIGNED_OFF):
            fields.update(reviewed_at=now, reviewed_by=leader)
        if status == S.SIGNED_OFF:
            fields.update(signed_off_at=now, signed_off_by=office)
        self.measure = MeasureFactory(lead_department=own, responsible_leader=leader, **fields)
        Evidence.objects.create(
            measure=self.measure, title="通知", document_number="温民办〔2022〕27号", uploaded_by=office
        )
        self.extension = Extension.objects.create(
            measure=self.measure,
            old_deadline=self.measure.deadline,
            new_deadline=self.measure.deadline + dt.timedelta(days=30),
            reason="涉及多部门协调",
            requested_by=self.users["own_staff"],
        )

    def url(self, action: Action) -> str:
        target = self.extension.pk if action == Action.DECIDE_EXTENSION else self.measure.pk
        return reverse(PAGE_ACTIONS[action], args=[target])

    def payload(self, action: Action) -> dict[str, object]:
        """A body each form accepts, so a refusal is the permission's, not the form's."""
        m = self.measure
        return {
            Action.UPDATE_STATUS: {"new_status": NEXT_STATUS[m.status], "result": "已整改", "version": m.version},
            Action.ADD_PROGRESS: {"reported_on": timezone.localdate().isoformat(), "text": "已召开专题会议"},
            Action.ADD_EVIDENCE: {"title": "会议纪要", "document_number": "温民办〔2022〕30号"},
            Action.REQUEST_EXTENSION: {
                "new_deadline": (m.deadline + dt.timedelta(days=60)).isoformat(),
                "reason": "涉及改制",
            },
            Action.DECIDE_EXTENSION: {"decision": "approve", "comment": "同意"},
            Action.REVIEW: {"decision": "pass", "comment": "", "version": m.version},
            Action.SIGN_OFF: {"decision": "pass", "comment": "", "version": m.version},
            Action.RETURN_SIGNED_OFF: {"comment": "回头看发现问题反弹", "version": m.version},
        }[action]

    def state(self) -> dict[str, object]:
        m = self.measure
        return {
            "measure": Measure.objects.filter(pk=m.pk).values().get(),
            "assisting": list(m.assisting_departments.values_list("pk", flat=True)),
            "history": m.history.count(),
            "decisions": list(MeasureDecision.objects.filter(measure=m).values()),
            "progress": list(ProgressReport.objects.filter(measure=m).values()),
            "evidence": list(Evidence.objects.filter(measure=m).values()),
            "extensions": list(Extension.objects.filter(measure=m).values()),
        }


@pytest.fixture(params=list(S), ids=[s.value for s in S])
def page(request, settings, tmp_path) -> Page:
    settings.MEDIA_ROOT = tmp_path
    return Page(request.param)


def test_every_action_on_the_measure_page_is_covered():
    # A new per-measure action belongs either here or to another page on purpose.
    elsewhere = {Action.VIEW, Action.EDIT_LEDGER, Action.RECOMPUTE_FIGURES}
    assert set(PAGE_ACTIONS) == set(Action) - elsewhere


@pytest.mark.parametrize("role", ROLES)
def test_the_page_shows_exactly_the_forms_the_role_may_use(client, page, role):
    client.force_login(page.users[role])
    response = client.get(reverse("measures:detail", args=[page.measure.pk]))
    if not may(role, Action.VIEW, page.measure.status):
        assert response.status_code == 403
        return
    assert response.status_code == 200
    html = response.content.decode()
    shown = {action for action in PAGE_ACTIONS if f'action="{page.url(action)}"' in html}
    expected = {action for action in PAGE_ACTIONS if may(role, action, page.measure.status)}
    assert shown == expected


@pytest.mark.parametrize("role", ROLES)
def test_posting_a_refused_action_is_403_and_changes_nothing(client, page, role):
    client.force_login(page.users[role])
    before = page.state()
    refused = [action for action in PAGE_ACTIONS if not may(role, action, page.measure.status)]
    answers = {action: client.post(page.url(action), page.payload(action)).status_code for action in refused}
    assert answers == dict.fromkeys(refused, 403)
    assert page.state() == before


@pytest.mark.parametrize("role", ROLES)
def test_posting_a_permitted_action_is_not_refused(client, page, role):
    # The other half: the 403s above are the rules at work, not views refusing everyone.
    client.force_login(page.users[role])
    permitted = [action for action in PAGE_ACTIONS if may(role, action, page.measure.status)]
    for action in permitted:
        with transaction.atomic():
            status = client.post(page.url(action), page.payload(action)).status_code
            transaction.set_rollback(True)  # every action starts from the same measure
        # The page's measure has a pending extension, and one is allowed at a time: the
        # workflow's own answer (400), not a refusal.
        expected = 400 if action == Action.REQUEST_EXTENSION else 302
        assert status == expected, action
