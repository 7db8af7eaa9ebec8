"""The permission matrix: every role × every action × own / other department × every status.

EXPECTED below is the specification, written out by hand; `permissions.can` must agree with it
everywhere, and every service must raise PermissionDenied exactly where `can` says no.
"""

import datetime as dt
from collections.abc import Callable

import pytest
from django.contrib.auth.models import AnonymousUser
from django.core.exceptions import PermissionDenied, ValidationError
from django.db import transaction
from django.utils import timezone

from accounts.models import Role
from measures import services
from measures.models import Extension, Measure, MeasureStatus
from measures.permissions import Action, can, visible_measures
from tests.factories import DepartmentFactory, MeasureFactory, make_user

pytestmark = pytest.mark.django_db

S = MeasureStatus
A = Action

ALL = frozenset(S)
NONE: frozenset[str] = frozenset()
OPEN = frozenset({S.NOT_STARTED, S.IN_PROGRESS, S.RETURNED})
WORKING = OPEN | {S.COMPLETED}  # the owner's until the leader has reviewed it
NOT_SIGNED_OFF = ALL - {S.SIGNED_OFF}

# Rows are keyed by Action value. Who is asking, and how they stand to the measure:
#   staff/own       staff of the lead department
#   staff/assisting staff of an assisting department
#   staff/other     staff of an unrelated department
#   staff/none      staff with no department at all
#   leader/leads    the measure's responsible leader
#   leader/unnamed  a leader, on a measure with no responsible leader
#   leader/other    a leader, on a measure another leader is responsible for
#   office, auditor, anonymous: the same whatever the measure
STAFF_OWN = {
    "view": ALL,
    "update_status": WORKING,
    "add_progress": WORKING,
    "add_evidence": WORKING,
    "request_extension": OPEN,
}
LEADER_RESPONSIBLE = {
    "view": ALL,
    "review": {S.COMPLETED},
    "decide_extension": NOT_SIGNED_OFF,
}
EXPECTED: dict[str, dict[str, frozenset[str] | set[str]]] = {
    "staff/own": STAFF_OWN,
    "staff/assisting": STAFF_OWN,
    "staff/other": {},
    "staff/none": {},
    "leader/leads": LEADER_RESPONSIBLE,
    "leader/unnamed": LEADER_RESPONSIBLE,
    "leader/other": {"view": ALL},
    "office": {
        "view": ALL,
        "edit_ledger": NOT_SIGNED_OFF,
        "update_status": WORKING,
        "add_progress": WORKING,
        "add_evidence": WORKING,
        "request_extension": OPEN,
        "sign_off": {S.REVIEWED},
        # The one thing anyone may do to a signed-off measure: the office's recorded return.
        "return_signed_off": {S.SIGNED_OFF},
        "recompute_figures": ALL,  # not about one measure: the dashboards' recompute job
    },
    "auditor": {"view": ALL},
    "anonymous": {},
}
# Without a measure only these mean something: create inspections, findings and measures;
# run the recompute job.
EXPECTED_WITHOUT_MEASURE = {"office": {"edit_ledger", "recompute_figures"}}
# Every action this specification speaks about, granted to someone or to no one.
SPECIFIED_ACTIONS = {
    "view",
    "update_status",
    "add_progress",
    "add_evidence",
    "request_extension",
    "decide_extension",
    "review",
    "sign_off",
    "return_signed_off",
    "edit_ledger",
    "recompute_figures",
}


class Ledger:
    """One measure per (status, how it relates to the asking users), and the users."""

    def __init__(self) -> None:
        own, assisting, unrelated, elsewhere = (
            DepartmentFactory(name=n) for n in ("救助科", "养老科", "事务科", "财务科")
        )
        self.users = {
            "staff": make_user(Role.STAFF, own, username="m_staff"),
            "staff_other": make_user(Role.STAFF, unrelated, username="m_staff_other"),
            "staff_none": make_user(Role.STAFF, None, username="m_staff_none"),
            "leader": make_user(Role.LEADERSHIP, username="m_leader"),
            "office": make_user(Role.OFFICE, username="m_office"),
            "auditor": make_user(Role.AUDITOR, username="m_auditor"),
            "anonymous": AnonymousUser(),
        }
        another_leader = make_user(Role.LEADERSHIP, username="m_leader2")
        signer = self.users["office"]
        self.measures: dict[tuple[str, str], Measure] = {}
        for status in S:
            self.measures[status, "led"] = self._measure(status, signer, own, self.users["leader"])
            assisted = self._measure(status, signer, elsewhere, None)
            assisted.assisting_departments.add(assisting, own)
            self.measures[status, "assisted"] = assisted
            self.measures[status, "foreign"] = self._measure(status, signer, unrelated, another_leader)
        # A pending extension on every measure, for DECIDE_EXTENSION through the service.
        self.extensions = {
            key: Extension.objects.create(
                measure=m,
                old_deadline=m.deadline,
                new_deadline=m.deadline + dt.timedelta(days=30),
                reason="需要更多时间",
                requested_by=self.users["staff"],
            )
            for key, m in self.measures.items()
        }

    @staticmethod
    def _measure(status, signer, department, leader) -> Measure:
        now = timezone.now()
        fields: dict[str, object] = {"status": status}
        if status in (S.COMPLETED, S.REVIEWED, S.SIGNED_OFF):
            fields.update(completed_at=now, result="已整改")
        if status in (S.REVIEWED, S.SIGNED_OFF):
            fields.update(reviewed_at=now, reviewed_by=signer)
        if status == S.SIGNED_OFF:
            fields.update(signed_off_at=now, signed_off_by=signer)
        return MeasureFactory(lead_department=department, responsible_leader=leader, **fields)

    def relation(self, who: str, placement: str) -> str:
        """The row of EXPECTED for this user on a measure placed as `placement`."""
        if who == "staff":
            return {"led": "staff/own", "assisted": "staff/assisting", "foreign": "staff/other"}[placement]
        if who == "staff_other":
            # This department leads the "foreign" measures and has nothing to do with the rest.
            return "staff/own" if placement == "foreign" else "staff/other"
        if who == "staff_none":
            return "staff/none"
        if who == "leader":
            return {"led": "leader/leads", "assisted": "leader/unnamed", "foreign": "leader/other"}[placement]
        return who

    def cases(self):
        for who, user in self.users.items():
            for (status, placement), measure in self.measures.items():
                row = EXPECTED[self.relation(who, placement)]
                for action in Action:
                    yield who, user, placement, measure, action, status in row.get(action.value, NONE)


@pytest.fixture
def ledger(settings):
    settings.PASSWORD_HASHERS = ["django.contrib.auth.hashers.MD5PasswordHasher"]
    return Ledger()


def test_every_action_is_specified():
    # A new Action needs its row in EXPECTED before it can pass the matrix.
    assert {a.value for a in Action} <= SPECIFIED_ACTIONS
    for row in EXPECTED.values():
        assert set(row) <= SPECIFIED_ACTIONS


def test_can_follows_the_matrix(ledger):
    mismatches = [
        f"{who} {action} {placement} {measure.status}: expected {expected}"
        for who, user, placement, measure, action, expected in ledger.cases()
        if can(user, action, measure) != expected
    ]
    assert mismatches == []


def test_can_without_a_measure(ledger):
    for who, user in ledger.users.items():
        for action in Action:
            expected = action.value in EXPECTED_WITHOUT_MEASURE.get(who, set())
            assert can(user, action, None) == expected, (who, action)


def test_visible_measures_agree_with_view(ledger):
    all_measures = Measure.objects.all()
    for who, user in ledger.users.items():
        visible = set(visible_measures(user, all_measures).values_list("pk", flat=True))
        expected = {
            m.pk
            for (status, placement), m in ledger.measures.items()
            if "view" in EXPECTED[ledger.relation(who, placement)]
        }
        assert visible == expected, who


class _Undo(Exception):
    """Raised inside a savepoint to undo a permitted call, so every case starts from the same ledger."""


def _service_call(
    ledger: Ledger, action: Action, measure: Measure, placement: str, user
) -> Callable[[], object] | None:
    later = measure.deadline + dt.timedelta(days=60)
    calls: dict[Action, Callable[[], object]] = {
        A.UPDATE_STATUS: lambda: services.measure_set_status(
            measure_id=measure.pk,
            user=user,
            new_status=S.COMPLETED if measure.status == S.IN_PROGRESS else S.IN_PROGRESS,
            expected_version=measure.version,
            result="已整改",
        ),
        A.ADD_PROGRESS: lambda: services.progress_report_add(measure=measure, user=user, text="已部署"),
        A.ADD_EVIDENCE: lambda: services.evidence_add(
            measure=measure, user=user, title="通知", document_number="温民办〔2022〕27号"
        ),
        A.REQUEST_EXTENSION: lambda: services.extension_request(
            measure=measure, user=user, new_deadline=later, reason="涉及改制"
        ),
        A.DECIDE_EXTENSION: lambda: services.extension_decide(
            extension_id=ledger.extensions[measure.status, placement].pk, user=user, approve=True
        ),
        A.REVIEW: lambda: services.measure_review(
            measure_id=measure.pk, user=user, passed=True, expected_version=measure.version
        ),
        A.SIGN_OFF: lambda: services.measure_sign_off(
            measure_id=measure.pk, user=user, passed=True, expected_version=measure.version
        ),
        A.RETURN_SIGNED_OFF: lambda: services.measure_return_signed_off(
            measure_id=measure.pk, user=user, comment="佐证材料存疑", expected_version=measure.version
        ),
        A.EDIT_LEDGER: lambda: services.measure_update(
            measure_id=measure.pk, user=user, expected_version=measure.version, owner="张三"
        ),
    }
    # VIEW has no service (views ask can(), selectors filter); nor has recomputing figures.
    return calls.get(action)


def _denied(call: Callable[[], object]) -> bool:
    try:
        with transaction.atomic():
            call()
            raise _Undo
    except PermissionDenied:
        return True
    except (_Undo, ValidationError):
        # Allowed through the permission check; a ValidationError is the workflow talking
        # (one pending extension at a time, evidence needed to complete), not permissions.
        return False


def test_services_refuse_exactly_what_can_refuses(ledger):
    mismatches = []
    checked = set()
    for who, user, placement, measure, action, _expected in ledger.cases():
        call = _service_call(ledger, action, measure, placement, user)
        if call is None:
            continue
        allowed = can(user, action, measure)
        checked.add(action)
        if _denied(call) == allowed:
            mismatches.append(f"{who} {action} {placement} {measure.status}: can() says {allowed}")
    assert mismatches == []
    # Every action that changes a measure went through its service.
    assert checked == {
        A.UPDATE_STATUS,
        A.ADD_PROGRESS,
        A.ADD_EVIDENCE,
        A.REQUEST_EXTENSION,
        A.DECIDE_EXTENSION,
        A.REVIEW,
        A.SIGN_OFF,
        A.RETURN_SIGNED_OFF,
        A.EDIT_LEDGER,
    }


@pytest.mark.parametrize(
    ("action", "batch"), [(A.REVIEW, services.measures_review_many), (A.SIGN_OFF, services.measures_sign_off_many)]
)
def test_batches_refuse_exactly_what_can_refuses(ledger, action, batch):
    ids = [m.pk for m in ledger.measures.values()]
    for who, user in ledger.users.items():
        permitted = [m.pk for m in ledger.measures.values() if can(user, action, m)]
        try:
            with transaction.atomic():
                outcome = batch(measure_ids=ids, user=user)
                raise _Undo
        except _Undo:
            pass
        assert outcome.done == permitted, who
        assert set(outcome.refused) == set(ids) - set(permitted), who
