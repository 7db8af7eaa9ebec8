"""Ledgers for the recompute tests, built with bulk_create so 1,000 measures take a moment,
and the hand count the figures are checked against, written in plain Python."""

import datetime as dt
import random
import uuid
from collections import defaultdict
from dataclasses import dataclass

import pytest
from django.core.cache import cache
from django.utils import timezone

from accounts.models import Department, Role, User
from dashboards.models import ScopeKind
from dashboards.services import reporting_period
from dashboards.tasks import RECOMPUTE_QUEUED_KEY
from findings.models import Category, Finding, Inspection
from measures.models import COMPLETED_STATUSES, Measure, MeasureKind, MeasureStatus, ProgressReport
from tests.factories import CategoryFactory, DepartmentFactory, FindingFactory, InspectionFactory, make_user

TODAY = dt.date(2024, 5, 15)


# Not autouse: other test modules share this directory. The recompute modules name them
# in their pytestmark.
@pytest.fixture
def fast_passwords(settings):
    # The ledgers create several users; PBKDF2 would make every test wait for them.
    settings.PASSWORD_HASHERS = ["django.contrib.auth.hashers.MD5PasswordHasher"]


@pytest.fixture
def isolated_cache(settings):
    """A cache namespace of this test's own: the cache is shared (file system or Redis) with
    a developer's demo and with other test runs, whose debounce key must not leak in."""
    settings.CACHES = {
        alias: {**config, "KEY_PREFIX": f"rectify-test-{uuid.uuid4().hex[:12]}"}
        for alias, config in settings.CACHES.items()
    }
    yield
    cache.delete(RECOMPUTE_QUEUED_KEY)


def status_fields(status: str, user: User) -> dict[str, object]:
    """What the database constraints require of a measure in `status`."""
    now = timezone.now()
    fields: dict[str, object] = {"status": status}
    if status in COMPLETED_STATUSES:
        fields["completed_at"] = now
    if status in (MeasureStatus.REVIEWED, MeasureStatus.SIGNED_OFF):
        fields.update(reviewed_at=now, reviewed_by=user)
    if status == MeasureStatus.SIGNED_OFF:
        fields.update(signed_off_at=now, signed_off_by=user)
    return fields


@dataclass
class LedgerBuilder:
    """Adds random measures to a few inspections; every call adds to the same ledger."""

    office: User
    departments: list[Department]
    leaders: list[User | None]
    findings: list[Finding]
    rng: random.Random

    def add_measures(self, count: int, *, today: dt.date = TODAY, with_reports: bool = True) -> list[Measure]:
        next_number: dict[int, int] = defaultdict(int)
        for finding_id, number in Measure.objects.values_list("finding_id", "number"):
            next_number[finding_id] = max(next_number[finding_id], number)
        statuses = list(MeasureStatus.values)
        measures = []
        for _ in range(count):
            finding = self.rng.choice(self.findings)
            next_number[finding.id] += 1
            status = self.rng.choice(statuses)
            measures.append(
                Measure(
                    finding=finding,
                    inspection_id=finding.inspection_id,
                    category_id=finding.category_id,
                    number=next_number[finding.id],
                    text=f"措施{next_number[finding.id]}",
                    kind=self.rng.choice(MeasureKind.values),
                    lead_department=self.rng.choice(self.departments),
                    responsible_leader=self.rng.choice(self.leaders),
                    # Around today, so that every flag takes both values, boundaries included.
                    deadline=today + dt.timedelta(days=self.rng.randint(-20, 20)),
                    **status_fields(status, self.office),
                )
            )
        measures = Measure.objects.bulk_create(measures)
        if with_reports:
            reports = [
                ProgressReport(
                    measure=measure,
                    reported_on=today - dt.timedelta(days=self.rng.randint(0, 45)),
                    text="进展",
                    author=self.office,
                )
                for measure in measures
                for _ in range(self.rng.randint(0, 2))
            ]
            ProgressReport.objects.bulk_create(reports)
        return measures


@pytest.fixture
def ledger(db, fast_passwords) -> LedgerBuilder:
    office = make_user(Role.OFFICE, username="ledger_office")
    departments = [DepartmentFactory(name=name) for name in ("社会救助科", "养老服务科", "办公室")]
    leaders = [make_user(Role.LEADERSHIP, username=f"ledger_leader{i}") for i in range(2)] + [None]
    findings = []
    for inspection in InspectionFactory.create_batch(2):
        for category in CategoryFactory.create_batch(3, inspection=inspection):
            findings += FindingFactory.create_batch(4, category=category)
    # A finding whose measures are not written yet still counts as a finding.
    FindingFactory(category=Category.objects.first())
    return LedgerBuilder(office, departments, leaders, findings, random.Random(20240515))


def hand_count(today: dt.date, due_soon_days: int = 7) -> dict[tuple[str, int], dict[str, int]]:
    """The figures, counted one measure at a time in Python from the rules in DOMAIN.md."""
    period_start, period_end = reporting_period(today)
    reported = set(
        ProgressReport.objects.filter(reported_on__range=(period_start, period_end)).values_list(
            "measure_id", flat=True
        )
    )
    rows = list(
        Measure.objects.values(
            "id",
            "finding_id",
            "inspection_id",
            "category_id",
            "lead_department_id",
            "responsible_leader_id",
            "status",
            "deadline",
        )
    )
    measures_of_finding: dict[int, list[dict]] = defaultdict(list)
    for row in rows:
        measures_of_finding[row["finding_id"]].append(row)
    rectified = {
        finding_id
        for finding_id, ms in measures_of_finding.items()
        if all(m["status"] == MeasureStatus.SIGNED_OFF for m in ms)
    }

    empty = dict.fromkeys(
        (
            "measures",
            "completed",
            "signed_off",
            "overdue",
            "due_soon",
            "not_reported",
            "findings",
            "rectified_findings",
        ),
        0,
    )
    figures: dict[tuple[str, int], dict[str, int]] = defaultdict(lambda: dict(empty))
    findings_of: dict[tuple[str, int], set[int]] = defaultdict(set)
    # Inspections, categories and the overall scope show every finding, with measures or not.
    figures[(ScopeKind.OVERALL, 0)] = dict(empty)
    for inspection_id in Inspection.objects.values_list("id", flat=True):
        figures[(ScopeKind.INSPECTION, inspection_id)] = dict(empty)
    for category_id in Category.objects.values_list("id", flat=True):
        figures[(ScopeKind.CATEGORY, category_id)] = dict(empty)
    for finding_id, inspection_id, category_id in Finding.objects.values_list("id", "inspection_id", "category_id"):
        for scope in ((ScopeKind.OVERALL, 0), (ScopeKind.INSPECTION, inspection_id), (ScopeKind.CATEGORY, category_id)):
            findings_of[scope].add(finding_id)

    for m in rows:
        completed = m["status"] in COMPLETED_STATUSES
        scopes = [
            (ScopeKind.OVERALL, 0),
            (ScopeKind.INSPECTION, m["inspection_id"]),
            (ScopeKind.CATEGORY, m["category_id"]),
            (ScopeKind.DEPARTMENT, m["lead_department_id"]),
        ]
        if m["responsible_leader_id"] is not None:
            scopes.append((ScopeKind.LEADER, m["responsible_leader_id"]))
        for scope in scopes:
            f = figures[scope]
            f["measures"] += 1
            f["completed"] += completed
            f["signed_off"] += m["status"] == MeasureStatus.SIGNED_OFF
            f["overdue"] += m["deadline"] < today and not completed
            f["due_soon"] += today <= m["deadline"] <= today + dt.timedelta(days=due_soon_days) and not completed
            f["not_reported"] += not completed and m["id"] not in reported
            findings_of[scope].add(m["finding_id"])
    for scope, finding_ids in findings_of.items():
        figures[scope]["findings"] = len(finding_ids)
        figures[scope]["rectified_findings"] = len(finding_ids & rectified)
    return dict(figures)
