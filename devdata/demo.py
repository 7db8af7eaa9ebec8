"""The demo ledgers: five published civil-affairs reports loaded as rectification ledgers.

The data lives in fixtures/demo/ (format in its README.md): one JSON file per report plus
people.json for departments and users. Loading is idempotent: every row is matched by its
natural key (department name, username, inspection title, category order, finding number,
measure number, outcome kind and note, evidence title and number, progress text) and only
missing rows are created, so a second run changes nothing. Existing rows are never edited,
so a demo that people have clicked through keeps their changes; `reset=True` deletes the
demo inspections first, which also moves the deadlines given relative to today.

The loader never touches `is_overdue` / `is_due_soon`: the recompute job owns them, and the
load_demo command runs it right after loading.
"""

import json
from collections.abc import Iterable
from dataclasses import dataclass, field
from datetime import date, datetime, time, timedelta
from pathlib import Path
from typing import Any

from django.conf import settings
from django.contrib.auth.hashers import check_password, make_password
from django.contrib.auth.models import Group
from django.db import models, transaction
from django.db.models import Count, Max, OuterRef, Subquery
from django.utils import timezone

from accounts.models import Department, Role, User
from accounts.services import user_sync_admin_access
from findings.models import Finding, Inspection, InspectionOutcome
from findings.services import category_create, finding_create, inspection_create
from measures.models import (
    OPEN_STATUSES,
    DecisionAction,
    Evidence,
    Measure,
    MeasureDecision,
    MeasureStatus,
    ProgressReport,
)
from measures.services import measure_create

DEMO_DIR = Path(settings.BASE_DIR) / "fixtures" / "demo"
DEMO_LOGINS = ("office", "staff", "leader", "auditor")
# people.json may ask for the department to be chosen after loading, so the demo staff
# login always lands where the most open work is.
MOST_OPEN_DEPARTMENT = "most_open_demo_measures"
# Progress reports written "on" a day are stamped at the end of that working day.
REPORT_TIME = time(18, 0)

INSPECTION_FIELDS = (
    "kind",
    "title",
    "round",
    "document_number",
    "source_body",
    "inspected_unit",
    "deployment",
    "summary",
    "source_note",
)


class DemoDataError(ValueError):
    """A demo data file that does not say what the loader needs."""


@dataclass
class DemoLoadResult:
    created: dict[str, int] = field(default_factory=dict)
    staff_department: Department | None = None

    def add(self, what: str, n: int) -> None:
        self.created[what] = self.created.get(what, 0) + n


@dataclass
class DemoFiles:
    people: dict[str, Any]
    ledgers: list[dict[str, Any]]

    @property
    def titles(self) -> list[str]:
        return [ledger["inspection"]["title"] for ledger in self.ledgers]


def demo_files_read(directory: Path = DEMO_DIR) -> DemoFiles:
    """people.json and the report ledgers (files named NNN_*.json), in file-name order."""
    try:
        people = json.loads((directory / "people.json").read_text(encoding="utf-8"))
        ledgers = [json.loads(p.read_text(encoding="utf-8")) for p in sorted(directory.glob("[0-9][0-9][0-9]_*.json"))]
    except (OSError, json.JSONDecodeError) as exc:
        raise DemoDataError(f"cannot read demo data in {directory}: {exc}") from exc
    if not ledgers:
        raise DemoDataError(f"no ledger files (NNN_*.json) in {directory}")
    titles = [ledger["inspection"]["title"] for ledger in ledgers]
    if len(set(titles)) != len(titles):
        raise DemoDataError("inspection titles must be unique: they are the key that makes loading idempotent")
    return DemoFiles(people=people, ledgers=ledgers)


@transaction.atomic
def demo_load(*, today: date | None = None, directory: Path = DEMO_DIR, reset: bool = False) -> DemoLoadResult:
    """Create whatever of the demo data is missing; see the module docstring."""
    today = today or timezone.localdate()
    files = demo_files_read(directory)
    result = DemoLoadResult()
    if reset:
        # Cascades to categories, findings, measures and everything hanging off them.
        Inspection.objects.filter(title__in=files.titles).delete()
    departments = _departments_ensure(files.people["departments"], result)
    users = _users_ensure(files.people["users"], departments, result)
    for ledger in files.ledgers:
        _ledger_load(ledger, today=today, departments=departments, users=users, result=result)
    result.staff_department = _staff_departments_assign(files, users)
    return result


def demo_staff_department(titles: Iterable[str]) -> Department | None:
    """The department leading the most open measures of the given inspections."""
    row = (
        Measure.objects.filter(inspection__title__in=list(titles), status__in=OPEN_STATUSES)
        .values("lead_department")
        .annotate(n=Count("id"))
        .order_by("-n", "lead_department__order", "lead_department__name")
        .first()
    )
    return Department.objects.get(pk=row["lead_department"]) if row else None


# --- people --------------------------------------------------------------------------------


def _departments_ensure(specs: list[dict[str, Any]], result: DemoLoadResult) -> dict[str, Department]:
    existing = {d.name: d for d in Department.objects.filter(name__in=[s["name"] for s in specs])}
    missing = [Department(name=s["name"], order=s.get("order", 0)) for s in specs if s["name"] not in existing]
    for department in missing:
        department.full_clean()
    Department.objects.bulk_create(missing)
    result.add("departments", len(missing))
    return {**existing, **{d.name: Department.objects.get(name=d.name) for d in missing}}


def _users_ensure(
    specs: list[dict[str, Any]], departments: dict[str, Department], result: DemoLoadResult
) -> dict[str, User]:
    groups = {g.name: g for g in Group.objects.filter(name__in=Role.values)}
    password = settings.DEMO_PASSWORD
    # Hashing is deliberately slow (about half a second each): all demo users share one hash of
    # the one demo password, and each distinct stored hash is checked once, so a second run
    # costs a single check instead of one per user.
    demo_hash = make_password(password)
    verified: dict[str, bool] = {}
    users: dict[str, User] = {}
    for spec in specs:
        role = spec["role"]
        if role not in groups:
            raise DemoDataError(f"user {spec['username']}: unknown role {role!r}")
        department = _department(departments, spec.get("department"))
        user = User.objects.filter(username=spec["username"]).first()
        if user is None:
            user = User(
                username=spec["username"],
                full_name=spec.get("full_name", ""),
                title=spec.get("title", ""),
                department=department,
                password=demo_hash,
            )
            user.full_clean()
            user.save()
            result.add("users", 1)
        else:
            if user.password not in verified:
                verified[user.password] = check_password(password, user.password)
            if not verified[user.password]:
                # The command prints the demo password; make sure it is the one that works.
                user.password = demo_hash
                user.save(update_fields=["password"])
        user.groups.add(groups[role])
        # The demo's office user can try the admin site too.
        user_sync_admin_access(user=user)
        users[user.username] = user
    return users


def _staff_departments_assign(files: DemoFiles, users: dict[str, User]) -> Department | None:
    wanted = [s["username"] for s in files.people["users"] if s.get("department_from") == MOST_OPEN_DEPARTMENT]
    department = demo_staff_department(files.titles)
    if wanted and department is not None:
        User.objects.filter(username__in=wanted).exclude(department=department).update(department=department)
        for username in wanted:
            users[username].department = department
    return department


# --- ledgers -------------------------------------------------------------------------------


def _ledger_load(
    ledger: dict[str, Any],
    *,
    today: date,
    departments: dict[str, Department],
    users: dict[str, User],
    result: DemoLoadResult,
) -> None:
    inspection = _inspection_ensure(ledger["inspection"], today=today, result=result)
    _outcomes_ensure(inspection, ledger.get("outcomes", []), today=today, result=result)

    categories = {c.order: c for c in inspection.categories.all()}
    findings = {f.number: f for f in inspection.findings.all()}
    measure_keys = set(inspection.measures.values_list("finding__number", "number"))
    created_measures: list[tuple[Measure, dict[str, Any]]] = []
    all_measures: list[tuple[tuple[int, int], dict[str, Any]]] = []
    office = users.get("office")

    for category_spec in ledger["categories"]:
        category = categories.get(category_spec["order"])
        if category is None:
            category = category_create(
                inspection=inspection, title=category_spec["title"], order=category_spec["order"]
            )
            result.add("categories", 1)
        for finding_spec in category_spec["findings"]:
            finding = findings.get(finding_spec["number"])
            if finding is None:
                finding = finding_create(
                    category=category,
                    description=finding_spec["description"],
                    number=finding_spec["number"],
                    created_by=office,
                )
                finding.inspection = inspection  # keeps measure_create from fetching it again
                findings[finding.number] = finding
                result.add("findings", 1)
            for measure_spec in finding_spec["measures"]:
                key = (finding.number, measure_spec["number"])
                all_measures.append((key, measure_spec))
                if key in measure_keys:
                    continue
                measure = _measure_create(finding, measure_spec, today=today, departments=departments, users=users)
                created_measures.append((measure, measure_spec))
                result.add("measures", 1)

    _decisions_create(created_measures, result)
    measures_by_key = {(m.finding.number, m.number): m for m in inspection.measures.select_related("finding")}
    specs_by_measure = [(measures_by_key[key], spec) for key, spec in all_measures]
    _evidence_ensure(specs_by_measure, users, result)
    _progress_ensure(specs_by_measure, today=today, users=users, result=result)


def _inspection_ensure(spec: dict[str, Any], *, today: date, result: DemoLoadResult) -> Inspection:
    inspection = Inspection.objects.filter(title=spec["title"]).first()
    if inspection is not None:
        return inspection
    fields = {name: spec.get(name) or "" for name in INSPECTION_FIELDS}
    for name in ("onsite_start", "onsite_end", "feedback_date", "deadline"):
        fields[name] = _date(spec, name, today)
    result.add("inspections", 1)
    return inspection_create(**fields)


def _outcomes_ensure(
    inspection: Inspection, specs: list[dict[str, Any]], *, today: date, result: DemoLoadResult
) -> None:
    existing = set(inspection.outcomes.values_list("kind", "note"))
    missing = []
    for spec in specs:
        if (spec["kind"], spec.get("note", "")) in existing:
            continue
        outcome = InspectionOutcome(
            inspection=inspection,
            kind=spec["kind"],
            count=spec["count"],
            note=spec.get("note", ""),
            recorded_on=_date(spec, "recorded_on", today),
        )
        outcome.full_clean()
        missing.append(outcome)
    InspectionOutcome.objects.bulk_create(missing)
    result.add("outcomes", len(missing))


def _measure_create(
    finding: Finding,
    spec: dict[str, Any],
    *,
    today: date,
    departments: dict[str, Department],
    users: dict[str, User],
) -> Measure:
    deadline = _date(spec, "deadline", today)
    if deadline is None:
        raise DemoDataError(f"measure {finding.number}-{spec['number']}: needs deadline or deadline_in_days")
    lead = _department(departments, spec["lead_department"])
    assert lead is not None
    return measure_create(
        finding=finding,
        number=spec["number"],
        text=spec["text"],
        target=spec.get("target", ""),
        result=spec.get("result", ""),
        kind=spec.get("kind", "by_deadline"),
        lead_department=lead,
        assisting_departments=[_department(departments, name) for name in spec.get("assisting_departments", [])],
        responsible_leader=_user(users, spec.get("leader")),
        owner=spec.get("owner", ""),
        deadline=deadline,
        status=spec.get("status", MeasureStatus.NOT_STARTED),
        completed_at=_datetime(spec.get("completed_at")),
        reviewed_at=_datetime(spec.get("reviewed_at")),
        reviewed_by=_user(users, spec.get("reviewed_by")),
        signed_off_at=_datetime(spec.get("signed_off_at")),
        signed_off_by=_user(users, spec.get("signed_off_by")),
    )


def _decisions_create(created: list[tuple[Measure, dict[str, Any]]], result: DemoLoadResult) -> None:
    """The review and sign-off steps behind each measure that arrives already reviewed or signed off."""
    rows: list[tuple[MeasureDecision, datetime | None, User | None]] = []
    for measure, _spec in created:
        if measure.reviewed_by_id:
            decision = MeasureDecision(
                measure=measure, action=DecisionAction.REVIEW_PASS, decided_by=measure.reviewed_by
            )
            rows.append((decision, measure.reviewed_at, None))
        if measure.signed_off_by_id:
            decision = MeasureDecision(
                measure=measure, action=DecisionAction.SIGN_OFF, decided_by=measure.signed_off_by
            )
            rows.append((decision, measure.signed_off_at, None))
    _bulk_create_backdated(MeasureDecision, rows, stamp_field="decided_at")
    result.add("decisions", len(rows))


def _evidence_ensure(
    measures: list[tuple[Measure, dict[str, Any]]], users: dict[str, User], result: DemoLoadResult
) -> None:
    ids = [m.pk for m, _ in measures]
    existing = set(Evidence.objects.filter(measure_id__in=ids).values_list("measure_id", "title", "document_number"))
    rows: list[tuple[Evidence, datetime | None, User | None]] = []
    for measure, spec in measures:
        for item in spec.get("evidence", []):
            if (measure.pk, item["title"], item.get("document_number", "")) in existing:
                continue
            uploader = _user(users, item.get("uploaded_by", "office"))
            evidence = Evidence(
                measure=measure,
                title=item["title"],
                document_number=item.get("document_number", ""),
                uploaded_by=uploader,
            )
            evidence.full_clean()
            # Issued documents are filed when the measure is completed.
            rows.append((evidence, measure.completed_at, uploader))
    _bulk_create_backdated(Evidence, rows, stamp_field="uploaded_at")
    result.add("evidence", len(rows))


def _progress_ensure(
    measures: list[tuple[Measure, dict[str, Any]]], *, today: date, users: dict[str, User], result: DemoLoadResult
) -> None:
    ids = [m.pk for m, _ in measures]
    existing = set(ProgressReport.objects.filter(measure_id__in=ids).values_list("measure_id", "text"))
    tz = timezone.get_current_timezone()
    rows: list[tuple[ProgressReport, datetime | None, User | None]] = []
    for measure, spec in measures:
        for item in spec.get("progress", []):
            if (measure.pk, item["text"]) in existing:
                continue
            reported_on = _date(item, "reported_on", today, relative="reported_in_days")
            if reported_on is None:
                raise DemoDataError(f"progress on measure {measure}: needs reported_on or reported_in_days")
            author = _user(users, item["author"])
            report = ProgressReport(measure=measure, reported_on=reported_on, text=item["text"], author=author)
            report.full_clean()
            rows.append((report, datetime.combine(reported_on, REPORT_TIME, tzinfo=tz), author))
    _bulk_create_backdated(ProgressReport, rows, stamp_field="created_at")
    result.add("progress_reports", len(rows))
    if rows:
        # Only the measures that just got reports: a second run with nothing new updates nothing.
        latest = ProgressReport.objects.filter(measure=OuterRef("pk")).values("measure").annotate(at=Max("created_at"))
        Measure.objects.filter(pk__in={r.measure_id for r, _, _ in rows}).update(
            last_progress_at=Subquery(latest.values("at"))
        )


def _bulk_create_backdated(
    model: type[models.Model],
    rows: list[tuple[Any, datetime | None, User | None]],
    *,
    stamp_field: str,
) -> None:
    """bulk_create rows whose auto_now_add stamp lies in the past, with history dated to match.

    auto_now_add overwrites any value on insert, so the stamp is written by a bulk_update
    afterwards; the history rows are created last so they carry the backdated stamp too.
    """
    if not rows:
        return
    objs = model._default_manager.bulk_create([obj for obj, _, _ in rows])
    backdated = []
    for obj, (_, when, who) in zip(objs, rows, strict=True):
        if when is not None:
            setattr(obj, stamp_field, when)
            backdated.append(obj)
        obj._history_date = getattr(obj, stamp_field)
        obj._history_user = who
    if backdated:
        model._default_manager.bulk_update(backdated, [stamp_field])
    history = getattr(model, "history", None)
    if history is not None:
        history.bulk_history_create(objs)


# --- small readers -------------------------------------------------------------------------


def _date(spec: dict[str, Any], name: str, today: date, relative: str | None = None) -> date | None:
    """`name` as an ISO date, or a number of days from today under `relative` (default
    `<name>_in_days`; negative is in the past)."""
    if spec.get(name):
        return date.fromisoformat(spec[name])
    days = spec.get(relative or f"{name}_in_days")
    if days is not None:
        return today + timedelta(days=int(days))
    return None


def _datetime(value: str | None) -> datetime | None:
    return datetime.fromisoformat(value) if value else None


def _department(departments: dict[str, Department], name: str | None) -> Department | None:
    if name is None:
        return None
    try:
        return departments[name]
    except KeyError:
        raise DemoDataError(f"unknown department {name!r}: add it to people.json")


def _user(users: dict[str, User], username: str | None) -> User | None:
    if username is None:
        return None
    try:
        return users[username]
    except KeyError:
        raise DemoDataError(f"unknown user {username!r}: add it to people.json")
