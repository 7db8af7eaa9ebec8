"""No department reads or changes another department's measures, through any URL.

Every URL pattern the resolver knows is listed in ROUTES with what it is; a pattern added
without a line here fails `test_every_url_pattern_is_classified`, so a new page or API
endpoint cannot slip past these checks. Each pattern is then requested by a clerk of
department A with its ids filled in with department B's measure, progress report,
evidence, extension, finding, inspection, figure and import: GET (lists also with every
filter pointed at B's rows), POST, and PUT/PATCH/DELETE on the API. Nothing B wrote may
come back, and nothing of B's may change.

B's records carry marker strings; a positive control checks that B's own clerk does see
them on the same URLs, so a marker missing from A's response means something.
"""

from __future__ import annotations

import io
import re
import zipfile
from dataclasses import dataclass, field
from datetime import date, timedelta
from urllib.parse import urlencode

import pytest
from django.core.files.uploadedfile import SimpleUploadedFile
from django.urls import URLPattern, URLResolver, get_resolver, reverse

from accounts.models import Role
from dashboards.models import Figure, ScopeKind
from dashboards.services import figures_recompute
from findings.models import Category, Finding, Inspection
from measures import services
from measures.models import (
    Evidence,
    Extension,
    Measure,
    MeasureDecision,
    MeasureStatus,
    PendingImport,
    ProgressReport,
)
from tests.factories import DepartmentFactory, MeasureFactory, make_user
from tests.measures.test_evidence_types import SAMPLES

pytestmark = pytest.mark.django_db

# --- What every URL pattern is ---------------------------------------------------------

# Addresses one of department B's records (or one of the office's imports): another
# department's clerk gets 403, 404 or 405 for every method.
RECORD = "record"
# Rectification office only (editing the ledger, imports, recompute): 403, 404 or 405.
OFFICE = "office"
# Lists, exports and dashboards cut by measures.permissions: any status, none of B's text.
LIST = "list"
# Pages every role reads that carry no measure data (inspections, findings, API schema).
SHARED = "shared"
# Reached without logging in.
PUBLIC = "public"
# An inspection's notice (整改落实情况通报) is written to be published and every role reads
# it (measures.permissions.can_read_notice): it may quote measure texts and results, never
# progress, evidence, extensions or decisions; only the office changes it.
PUBLISHED = "published"


@dataclass(frozen=True)
class Route:
    kind: str
    # For API detail routes: which of B's records fills <pk>.
    pk: str | None = None
    # The markers B's own clerk finds in a GET of this URL (the positive control).
    owner_sees: tuple[str, ...] = ()
    # Routes that only accept POST have nothing to show on GET.
    methods: tuple[str, ...] = field(default=("GET", "POST"))


# What a published notice may quote of a measure: its own row, as the ledger prints it.
MEASURE_ROW = ("measure_text", "measure_target", "measure_result", "measure_owner")
MEASURE_PAGE = ("measure_text", "progress_text", "evidence_title", "extension_reason", "decision_comment")
API = ("GET", "POST", "PUT", "PATCH", "DELETE")

ROUTES: dict[str, Route] = {
    "home": Route(PUBLIC),
    "healthz": Route(PUBLIC),
    "login": Route(PUBLIC),
    "logout": Route(PUBLIC, methods=("POST",)),  # a GET would not log out either: 405
    "set_language": Route(PUBLIC),
    # measures
    "measures:ledger": Route(LIST, owner_sees=("measure_text",)),
    "measures:ledger_batch": Route(LIST),
    "measures:detail": Route(RECORD, owner_sees=MEASURE_PAGE),
    "measures:set_status": Route(RECORD),
    "measures:progress_add": Route(RECORD),
    "measures:evidence_add": Route(RECORD),
    "measures:extension_request": Route(RECORD),
    "measures:review": Route(RECORD),
    "measures:sign_off": Route(RECORD),
    "measures:return_signed_off": Route(RECORD),
    "measures:edit": Route(RECORD),
    "measures:extension_decide": Route(RECORD),
    "measures:evidence_download": Route(RECORD, owner_sees=("evidence_file",)),
    "measures:create": Route(OFFICE),
    # exports and imports
    "ledgerio:ledger_export_csv": Route(LIST, owner_sees=("measure_text",)),
    "ledgerio:ledger_export_xlsx": Route(LIST, owner_sees=("measure_text",)),
    "ledgerio:history_export": Route(SHARED),  # the history export's form: inspections only
    "ledgerio:history_export_csv": Route(LIST, owner_sees=("measure_text",)),
    "ledgerio:import_start": Route(OFFICE),
    "ledgerio:import_preview": Route(OFFICE),
    "ledgerio:import_confirm": Route(OFFICE),
    "ledgerio:import_cancel": Route(OFFICE),
    # dashboards
    "dashboards:dashboard": Route(LIST),
    "dashboards:inspection": Route(LIST),
    "dashboards:recompute": Route(OFFICE),
    # inspections, categories, findings
    "findings:inspection_list": Route(SHARED),
    "findings:inspection_detail": Route(SHARED),
    "findings:inspection_create": Route(OFFICE),
    "findings:inspection_edit": Route(OFFICE),
    "findings:category_create": Route(OFFICE),
    "findings:finding_create": Route(OFFICE),
    "findings:category_edit": Route(OFFICE),
    "findings:finding_edit": Route(OFFICE),
    # drafts from pasted text, look-backs (回头看)
    "drafts:start": Route(OFFICE),
    "drafts:confirm": Route(OFFICE),
    "lookbacks:new": Route(OFFICE),
    "lookbacks:lookback": Route(OFFICE),
    "lookbacks:reopen": Route(OFFICE),
    # notices
    "notices:notice": Route(PUBLISHED),
    "notices:notice_docx": Route(PUBLISHED),
    "notices:notice_txt": Route(PUBLISHED),
    # REST API
    "api:api-root": Route(SHARED, methods=API),
    "api:schema": Route(SHARED, methods=API),
    "api:docs": Route(SHARED, methods=API),
    "api:inspection-list": Route(SHARED, methods=API),
    "api:inspection-detail": Route(SHARED, pk="inspection", methods=API),
    "api:category-list": Route(SHARED, methods=API),
    "api:category-detail": Route(SHARED, pk="category", methods=API),
    "api:finding-list": Route(SHARED, methods=API),
    "api:finding-detail": Route(SHARED, pk="finding", methods=API),
    "api:measure-list": Route(LIST, owner_sees=("measure_text",), methods=API),
    "api:measure-detail": Route(RECORD, pk="measure", owner_sees=("measure_text",), methods=API),
    "api:measure-export-csv": Route(LIST, owner_sees=("measure_text",), methods=API),
    "api:progress-report-list": Route(LIST, owner_sees=("progress_text",), methods=API),
    "api:progress-report-detail": Route(RECORD, pk="progress", owner_sees=("progress_text",), methods=API),
    "api:evidence-list": Route(LIST, owner_sees=("evidence_title",), methods=API),
    "api:evidence-detail": Route(RECORD, pk="evidence", owner_sees=("evidence_title",), methods=API),
    "api:figure-list": Route(LIST, methods=API),
    "api:figure-detail": Route(RECORD, pk="figure", methods=API),
}
# The admin site's URLs come from its registry and all require is_staff, which no clerk,
# leader or auditor has (tests/test_security.py checks what the admin lets a superuser do).
ADMIN_PREFIX = "admin/"


@dataclass(frozen=True)
class Pattern:
    route: str  # the full route text, for messages
    name: str | None  # "namespace:name", None for the admin's unnamed patterns
    kwargs: tuple[str, ...]


def _kwargs_of(pattern: URLPattern | URLResolver) -> tuple[str, ...]:
    return tuple(pattern.pattern.regex.groupindex)


def all_patterns() -> list[Pattern]:
    found: list[Pattern] = []

    def walk(patterns: list, prefix: str, namespace: str | None, kwargs: tuple[str, ...]) -> None:
        for p in patterns:
            if isinstance(p, URLResolver):
                ns = namespace
                if p.namespace:
                    ns = f"{namespace}:{p.namespace}" if namespace else p.namespace
                walk(p.url_patterns, prefix + str(p.pattern), ns, kwargs + _kwargs_of(p))
            else:
                name = f"{namespace}:{p.name}" if namespace and p.name else p.name
                found.append(Pattern(prefix + str(p.pattern), name, kwargs + _kwargs_of(p)))

    walk(get_resolver().url_patterns, "", None, ())
    return found


def app_patterns() -> list[Pattern]:
    return [p for p in all_patterns() if not p.route.startswith(ADMIN_PREFIX)]


def test_every_url_pattern_is_classified():
    patterns = app_patterns()
    unnamed = [p.route for p in patterns if p.name is None]
    assert not unnamed, f"URL patterns without a name cannot be classified here: {unnamed}"
    names = {p.name for p in patterns}
    unclassified = sorted(names - set(ROUTES))
    assert not unclassified, (
        f"New URL patterns {unclassified}: add each to ROUTES in {__file__} with what it is "
        "(RECORD, OFFICE, LIST, SHARED, PUBLIC, PUBLISHED) so the permission sweep covers it."
    )
    gone = sorted(set(ROUTES) - names)
    assert not gone, f"ROUTES lists patterns that no longer exist: {gone}"


# --- Two departments ---------------------------------------------------------------------


MARKERS = {
    "measure_text": "ZQX-MEASURE-TEXT-B",
    "measure_target": "ZQX-MEASURE-TARGET-B",
    "measure_result": "ZQX-MEASURE-RESULT-B",
    "measure_owner": "ZQX-OWNER-B",
    "progress_text": "ZQX-PROGRESS-B",
    "evidence_title": "ZQX-EVIDENCE-TITLE-B",
    "evidence_number": "ZQX-DOCNUM-B",
    "extension_reason": "ZQX-EXTENSION-REASON-B",
    "decision_comment": "ZQX-DECISION-COMMENT-B",
}
# What a write by someone else would leave behind if it got through.
INTRUSION = "ZQX-INTRUDER"
# The PNG sample's bytes identify B's evidence file in a download.
EVIDENCE_FILE = SAMPLES["png"]()


@dataclass
class World:
    attacker: object
    owner: object
    office: object
    auditor: object
    measure: Measure
    progress: ProgressReport
    evidence: Evidence
    extension: Extension
    figure: Figure
    pending: PendingImport
    ids: dict[str, object]


@pytest.fixture
def world(settings, tmp_path) -> World:
    settings.MEDIA_ROOT = tmp_path / "media"
    dept_a = DepartmentFactory(name="养老服务科")
    dept_b = DepartmentFactory(name="社会救助科")
    attacker = make_user(Role.STAFF, dept_a, username="clerk_a")
    owner = make_user(Role.STAFF, dept_b, username="clerk_b")
    leader = make_user(Role.LEADERSHIP, username="leader")
    office = make_user(Role.OFFICE, username="office")
    auditor = make_user(Role.AUDITOR, username="auditor")

    # A's own measure, so A's lists are not empty, on the same finding as B's.
    measure = MeasureFactory(
        text=MARKERS["measure_text"],
        target=MARKERS["measure_target"],
        owner=MARKERS["measure_owner"],
        lead_department=dept_b,
        responsible_leader=leader,
        status=MeasureStatus.IN_PROGRESS,
        deadline=date.today() + timedelta(days=3),
    )
    MeasureFactory(finding=measure.finding, text="A 科自己的措施", lead_department=dept_a, status="in_progress")
    progress = services.progress_report_add(measure=measure, user=owner, text=MARKERS["progress_text"])
    evidence = services.evidence_add(
        measure=measure,
        user=owner,
        title=MARKERS["evidence_title"],
        document_number=MARKERS["evidence_number"],
        uploaded_file=SimpleUploadedFile("photo.png", EVIDENCE_FILE, content_type="image/png"),
    )
    measure.refresh_from_db()
    services.measure_set_status(
        measure_id=measure.pk,
        user=owner,
        new_status=MeasureStatus.COMPLETED,
        expected_version=measure.version,
        result=MARKERS["measure_result"],
    )
    measure.refresh_from_db()
    services.measure_review(
        measure_id=measure.pk,
        user=leader,
        passed=False,
        comment=MARKERS["decision_comment"],
        expected_version=measure.version,
    )
    measure.refresh_from_db()
    extension = services.extension_request(
        measure=measure,
        user=owner,
        new_deadline=measure.deadline + timedelta(days=30),
        reason=MARKERS["extension_reason"],
    )
    figures_recompute()
    figure = Figure.objects.get(scope_kind=ScopeKind.DEPARTMENT, scope_id=dept_b.pk)
    pending = PendingImport.objects.create(
        token="tok-" + "b" * 40, user=office, filename="台账.csv", content=b"a,b\n", size=4
    )
    measure.refresh_from_db()
    finding = measure.finding
    ids = {
        "measure_id": measure.pk,
        "evidence_id": evidence.pk,
        "extension_id": extension.pk,
        "finding_id": finding.pk,
        "inspection_id": measure.inspection_id,
        "category_id": measure.category_id,
        "token": pending.token,
        "format": "json",
        # API <pk> by record (Route.pk)
        "measure": measure.pk,
        "progress": progress.pk,
        "evidence": evidence.pk,
        "finding": finding.pk,
        "inspection": measure.inspection_id,
        "category": measure.category_id,
        "figure": figure.pk,
        "department": dept_b.pk,
    }
    return World(attacker, owner, office, auditor, measure, progress, evidence, extension, figure, pending, ids)


def url_for(pattern: Pattern, world: World) -> str:
    route = ROUTES[pattern.name]
    kwargs = {}
    for name in pattern.kwargs:
        if name == "pk":
            assert route.pk, f"{pattern.name} takes <pk>: say in ROUTES which record fills it"
            kwargs[name] = world.ids[route.pk]
        else:
            assert name in world.ids, f"{pattern.name} takes <{name}>: add a record of B's for it to world.ids"
            kwargs[name] = world.ids[name]
    return reverse(pattern.name, kwargs=kwargs)


def filter_queries(world: World) -> list[str]:
    """Every way a list might be asked for B's rows: each filter alone, then all together."""
    ids = world.ids
    params = [
        ("id", ids["measure"]),
        ("pk", ids["measure"]),
        ("measure", ids["measure"]),
        ("department", ids["department"]),
        ("lead_department", ids["department"]),
        ("inspection", ids["inspection"]),
        ("category", ids["category"]),
        ("finding", ids["finding"]),
        # Parts of the markers: a page that echoes the query must not count as a leak.
        ("q", "MEASURE-TEXT"),
        ("owner", "OWNER-B"),
        ("status", MeasureStatus.RETURNED.value),
        ("scope_kind", ScopeKind.DEPARTMENT.value),
        ("scope_id", ids["department"]),
        ("ordering", "-id"),
    ]
    return ["", *(urlencode([p]) for p in params), urlencode(params)]


def body_text(response) -> str:
    """Everything a response carries, as text: streamed, zipped (xlsx, docx) or plain."""
    raw = b"".join(response.streaming_content) if getattr(response, "streaming", False) else response.content
    parts = [raw.decode("utf-8", errors="replace")]
    if raw.startswith(b"PK\x03\x04"):
        with zipfile.ZipFile(io.BytesIO(raw)) as archive:
            parts += [archive.read(name).decode("utf-8", errors="replace") for name in archive.namelist()]
    if raw.startswith(EVIDENCE_FILE[:16]) and EVIDENCE_FILE in raw:
        parts.append("evidence_file")
    return "\n".join(parts)


def leaked(text: str, *, allow: tuple[str, ...] = ()) -> list[str]:
    return [key for key, marker in MARKERS.items() if marker in text and key not in allow]


def fresh_payload(world: World) -> dict[str, object]:
    """One POST body that would be accepted by any of the forms, aimed at B's records."""
    measure = world.measure
    return {
        "version": measure.version,
        "new_status": MeasureStatus.IN_PROGRESS.value,
        "result": INTRUSION,
        "text": INTRUSION,
        "target": INTRUSION,
        "reported_on": date.today().isoformat(),
        "title": INTRUSION,
        "document_number": INTRUSION,
        "file": SimpleUploadedFile("x.png", EVIDENCE_FILE, content_type="image/png"),
        "new_deadline": (measure.deadline + timedelta(days=400)).isoformat(),
        "deadline": (measure.deadline + timedelta(days=400)).isoformat(),
        "reason": INTRUSION,
        "decision": "pass",
        "comment": INTRUSION,
        "action": "sign_off",
        "measure_ids": [measure.pk],
        "lead_department": measure.lead_department_id,
        "description": INTRUSION,
        "number": 99,
        "kind": "by_deadline",
        "owner": INTRUSION,
        "next": "/",
    }


def state_of(world: World) -> dict[str, object]:
    """B's records as they stand, and whether any write of the sweep got through anywhere."""
    m = Measure.objects.filter(pk=world.measure.pk).values().get()
    return {
        "measure": m,
        "assisting": list(world.measure.assisting_departments.values_list("id", flat=True)),
        "progress": list(ProgressReport.objects.filter(measure=world.measure).values()),
        "evidence": list(Evidence.objects.filter(measure=world.measure).values()),
        "extensions": list(Extension.objects.filter(measure=world.measure).values()),
        "decisions": list(MeasureDecision.objects.filter(measure=world.measure).values()),
        "history": world.measure.history.count(),
        "finding": Finding.objects.filter(pk=world.measure.finding_id).values().get(),
        "inspection": Inspection.objects.filter(pk=world.measure.inspection_id).values().get(),
        "category": Category.objects.filter(pk=world.measure.category_id).values().get(),
        "pending": PendingImport.objects.filter(pk=world.pending.pk).exists(),
        "measures": Measure.objects.count(),
    }


def intrusions() -> list[str]:
    found = []
    checks = [
        (Measure, ["text", "target", "result", "owner"]),
        (ProgressReport, ["text"]),
        (Evidence, ["title", "document_number"]),
        (Extension, ["reason", "decision_comment"]),
        (MeasureDecision, ["comment"]),
        (Finding, ["description"]),
        (Inspection, ["title"]),
        (Category, ["title"]),
    ]
    for model, fields in checks:
        for name in fields:
            if model.objects.filter(**{f"{name}__contains": INTRUSION}).exists():
                found.append(f"{model.__name__}.{name}")
    return found


def request(client, method: str, url: str, world: World):
    if method == "GET":
        return client.get(url)
    if method == "POST":
        return client.post(url, fresh_payload(world))
    body = {"text": INTRUSION, "title": INTRUSION, "status": "signed_off", "measure": world.measure.pk}
    return getattr(client, method.lower())(url, body, content_type="application/json")


DENIED = {403, 404, 405}


# --- The sweeps ----------------------------------------------------------------------------


@pytest.mark.parametrize("role", ["other_department_staff", "auditor"])
def test_no_url_changes_another_departments_records(client, world, role):
    actor = world.attacker if role == "other_department_staff" else world.auditor
    before = state_of(world)
    refused = []
    for pattern in app_patterns():
        route = ROUTES[pattern.name]
        url = url_for(pattern, world)
        for method in route.methods:
            if method == "GET":
                continue
            client.force_login(actor)  # again each time: one of the URLs is logout
            response = request(client, method, url, world)
            denied = response.status_code in DENIED
            if role == "other_department_staff" and route.kind in (RECORD, OFFICE) and not denied:
                refused.append(f"{method} {url} → {response.status_code}")
            if role == "other_department_staff":
                # (An auditor reads every department's measures; for them only writes matter.)
                allow = MEASURE_ROW if route.kind == PUBLISHED else ()
                assert not leaked(body_text(response), allow=allow), (method, url)
    assert not refused, "expected 403/404/405:\n" + "\n".join(refused)
    assert intrusions() == []
    assert state_of(world) == before


def test_no_url_shows_another_departments_records(client, world):
    problems = []
    for pattern in app_patterns():
        route = ROUTES[pattern.name]
        if "GET" not in route.methods:
            continue
        url = url_for(pattern, world)
        queries = filter_queries(world) if route.kind in (LIST, SHARED, PUBLISHED) else [""]
        for query in queries:
            client.force_login(world.attacker)
            response = client.get(f"{url}?{query}" if query else url)
            if route.kind in (RECORD, OFFICE) and response.status_code not in DENIED:
                problems.append(f"GET {url} → {response.status_code}, expected 403/404/405")
            allow = MEASURE_ROW if route.kind == PUBLISHED else ()
            found = leaked(body_text(response), allow=allow)
            if found:
                problems.append(f"GET {url}?{query} → {response.status_code} shows {found}")
    assert not problems, "\n".join(problems)


def test_the_owning_department_sees_what_the_others_cannot(client, world):
    # The positive control: the markers are on these pages for those who may see them, so
    # their absence above is the permission check at work, not a page that shows nothing.
    client.force_login(world.owner)
    missing = []
    for pattern in app_patterns():
        route = ROUTES[pattern.name]
        if not route.owner_sees or "format" in pattern.kwargs:
            continue
        url = url_for(pattern, world)
        response = client.get(url)
        text = body_text(response)
        absent = [key for key in route.owner_sees if key not in text and MARKERS.get(key, "\0") not in text]
        if response.status_code != 200 or absent:
            missing.append(f"GET {url} → {response.status_code}, missing {absent}")
    assert not missing, "\n".join(missing)


def test_api_filters_and_formats_never_reach_another_departments_rows(client, world):
    client.force_login(world.attacker)
    for name, key in [
        ("api:measure-list", "measure"),
        ("api:progress-report-list", "progress"),
        ("api:evidence-list", "evidence"),
        ("api:figure-list", "figure"),
    ]:
        for query in filter_queries(world):
            for url in (reverse(name), reverse(name, kwargs={"format": "json"})):
                response = client.get(f"{url}?{query}")
                assert response.status_code in (200, 400), (url, query, response.status_code)
                if response.status_code == 200:
                    rows = response.json()["results"]
                    assert world.ids[key] not in [row["id"] for row in rows], (url, query)
                assert not leaked(body_text(response)), (url, query)


def test_staff_are_kept_out_of_every_admin_url(client, world):
    client.force_login(world.attacker)
    admin_login = reverse("admin:login")
    for pattern in all_patterns():
        if not pattern.route.startswith(ADMIN_PREFIX) or pattern.name in ("admin:login", "admin:logout"):
            continue
        url = "/" + re.sub(r"<(?:\w+:)?(\w+)>", lambda m: str(world.measure.pk), pattern.route)
        url = url.replace("(?P<url>.*)$", "measures/measure/")
        for method in ("GET", "POST"):
            response = client.get(url) if method == "GET" else client.post(url, {"text": INTRUSION})
            assert response.status_code in (302, 404), (method, url, response.status_code)
            if response.status_code == 302:
                assert response["Location"].startswith(admin_login), (method, url)
            assert not leaked(body_text(response))
    assert intrusions() == []
