import csv
import datetime as dt
import io

import pytest
from django.urls import reverse
from django.utils import timezone
from rest_framework.authtoken.models import Token

from dashboards.models import Figure, ScopeKind
from measures.models import Evidence, Measure, MeasureStatus, ProgressReport
from tests.factories import CategoryFactory, FindingFactory, InspectionFactory, MeasureFactory, UserFactory

pytestmark = pytest.mark.django_db


def build_ledger(n: int, department, other_department, author) -> list[Measure]:
    inspection = InspectionFactory()
    category = CategoryFactory(inspection=inspection)
    measures = []
    for i in range(n):
        finding = FindingFactory(category=category, inspection=inspection, number=i + 1)
        measure = MeasureFactory(
            finding=finding,
            number=1,
            text=f"整改措施{i}",
            lead_department=department if i % 2 == 0 else other_department,
            is_overdue=i % 3 == 0,
            status=MeasureStatus.IN_PROGRESS if i % 4 == 0 else MeasureStatus.NOT_STARTED,
        )
        ProgressReport.objects.create(measure=measure, reported_on=dt.date(2022, 3, 1), text=f"进展{i}", author=author)
        Evidence.objects.create(
            measure=measure, title="会议纪要", document_number=f"民办〔2022〕{i}号", uploaded_by=author
        )
        measures.append(measure)
    return measures


def test_anonymous_requests_are_refused_and_tokens_work(client, auditor_user, department, other_department):
    build_ledger(2, department, other_department, auditor_user)
    assert client.get("/api/measures/").status_code in (401, 403)
    assert client.get("/api/schema/").status_code in (401, 403)
    # Session authentication comes first, so DRF answers 403 rather than 401.
    assert client.get("/api/measures/", HTTP_AUTHORIZATION="Token not-a-token").status_code in (401, 403)
    token = Token.objects.create(user=auditor_user)
    response = client.get("/api/measures/", HTTP_AUTHORIZATION=f"Token {token.key}")
    assert response.status_code == 200
    assert response.json()["count"] == 2


def test_session_users_get_paginated_measures_with_ledger_fields(client, office_user, department, other_department):
    measures = build_ledger(3, department, other_department, office_user)
    client.force_login(office_user)
    data = client.get("/api/measures/").json()
    assert data["count"] == 3
    first = data["results"][0]
    assert first["id"] == measures[0].pk
    assert first["latest_progress"] == "进展0"
    assert first["evidence_count"] == 1
    assert first["status_display"] == "整改中"
    assert first["lead_department_name"] == department.name


@pytest.mark.parametrize(
    "query",
    [
        {},
        {"status": "in_progress"},
        {"status": ["in_progress", "not_started"], "overdue": "true"},
        {"q": "措施1"},
        {"department": "DEPT"},
        {"overdue": "false", "ordering": "-deadline"},
        {"deadline_after": "2022-01-01", "deadline_before": "2022-12-31"},
    ],
)
def test_api_filters_count_the_same_rows_as_the_ledger_page(
    client, office_user, staff_user, department, other_department, query
):
    build_ledger(12, department, other_department, office_user)
    query = {k: (department.pk if v == "DEPT" else v) for k, v in query.items()}
    for user in (office_user, staff_user):
        client.force_login(user)
        page = client.get(reverse("measures:ledger"), query).context["page"].paginator.count
        api = client.get("/api/measures/", query).json()["count"]
        assert api == page


def test_staff_of_another_department_cannot_reach_a_measure_through_any_endpoint(
    client, other_staff_user, department, office_user
):
    (measure,) = build_ledger(1, department, department, office_user)
    client.force_login(other_staff_user)
    assert client.get("/api/measures/").json()["count"] == 0
    for query in ({"department": department.pk}, {"inspection": measure.inspection_id}, {"q": measure.text}):
        assert client.get("/api/measures/", query).json()["count"] == 0
    assert client.get(f"/api/measures/{measure.pk}/").status_code == 404
    assert client.get("/api/progress-reports/", {"measure": measure.pk}).json()["count"] == 0
    assert client.get("/api/evidence/", {"measure": measure.pk}).json()["count"] == 0
    report = measure.progress_reports.get()
    assert client.get(f"/api/progress-reports/{report.pk}/").status_code == 404
    assert client.get(f"/api/evidence/{measure.evidence.get().pk}/").status_code == 404


def test_staff_see_their_own_and_assisted_measures(client, staff_user, department, other_department, office_user):
    build_ledger(4, department, other_department, office_user)
    assisted = MeasureFactory(lead_department=other_department)
    assisted.assisting_departments.add(department)
    client.force_login(staff_user)
    ids = {m["id"] for m in client.get("/api/measures/").json()["results"]}
    expected = set(Measure.objects.filter(lead_department=department).values_list("id", flat=True)) | {assisted.pk}
    assert ids == expected
    assert client.get(f"/api/measures/{assisted.pk}/").status_code == 200


def test_evidence_gives_metadata_not_files(client, auditor_user, department, other_department):
    build_ledger(1, department, other_department, auditor_user)
    client.force_login(auditor_user)
    (item,) = client.get("/api/evidence/").json()["results"]
    assert item["document_number"] == "民办〔2022〕0号"
    assert item["has_file"] is False
    assert "file" not in item


def test_the_api_is_read_only(client, office_user, department, other_department):
    (measure,) = build_ledger(1, department, other_department, office_user)
    client.force_login(office_user)
    assert client.post("/api/measures/", {"text": "x"}).status_code == 405
    assert (
        client.patch(f"/api/measures/{measure.pk}/", {"text": "x"}, content_type="application/json").status_code == 405
    )


def test_staff_read_only_their_departments_figures(client, staff_user, auditor_user, department, other_department):
    now = timezone.now()
    for kind, scope in (
        (ScopeKind.OVERALL, 0),
        (ScopeKind.DEPARTMENT, department.pk),
        (ScopeKind.DEPARTMENT, other_department.pk),
    ):
        Figure.objects.create(scope_kind=kind, scope_id=scope, measures=10, completed=7, computed_at=now)
    client.force_login(staff_user)
    results = client.get("/api/figures/").json()["results"]
    assert [(f["scope_kind"], f["scope_id"]) for f in results] == [("department", department.pk)]
    assert results[0]["completion_rate"] == "70.00"
    client.force_login(auditor_user)
    assert client.get("/api/figures/").json()["count"] == 3


def test_inspections_categories_and_findings_are_listed(client, staff_user, department, other_department, office_user):
    measures = build_ledger(2, department, other_department, office_user)
    client.force_login(staff_user)
    inspection = measures[0].inspection
    assert client.get("/api/inspections/").json()["results"][0]["title"] == inspection.title
    assert client.get("/api/categories/", {"inspection": inspection.pk}).json()["count"] == 1
    assert client.get("/api/findings/", {"inspection": inspection.pk}).json()["count"] == 2


def test_schema_and_docs_are_served_without_a_cdn(client, auditor_user):
    client.force_login(auditor_user)
    schema = client.get("/api/schema/", HTTP_ACCEPT="application/vnd.oai.openapi+json")
    assert schema.status_code == 200
    assert "/api/measures/" in schema.json()["paths"]
    docs = client.get("/api/docs/").content.decode()
    assert "drf_spectacular_sidecar/swagger-ui-dist/swagger-ui-bundle.js" in docs
    for cdn in ("cdn.jsdelivr", "unpkg.com", "cdnjs"):
        assert cdn not in docs


# session, user, role groups, count, page rows (joins and subqueries), and for measure rows
# their assisting departments (one prefetch).
LIST_QUERIES = {
    "/api/measures/": 6,
    "/api/progress-reports/": 6,
    "/api/evidence/": 6,
    "/api/findings/": 5,
    "/api/inspections/": 5,
    "/api/categories/": 5,
    "/api/figures/": 5,
}


@pytest.mark.parametrize("rows", [3, 30])
def test_list_query_counts_do_not_grow_with_rows(
    client, staff_user, department, other_department, office_user, rows, django_assert_max_num_queries
):
    measures = build_ledger(rows, department, other_department, office_user)
    for measure in measures:
        measure.assisting_departments.add(other_department)
    client.force_login(staff_user)
    for url, queries in LIST_QUERIES.items():
        with django_assert_max_num_queries(queries):
            response = client.get(url)
        assert response.status_code == 200, url


# --- The ledger as CSV ---------------------------------------------------------------------

EXPORT_URL = "/api/measures/export.csv"


def token_header(user) -> dict[str, str]:
    return {"HTTP_AUTHORIZATION": f"Token {Token.objects.get_or_create(user=user)[0].key}"}


def body_of(response) -> bytes:
    assert response.status_code == 200, response.status_code
    assert response["Content-Type"] == "text/csv; charset=utf-8"
    return b"".join(response.streaming_content)


def exported_texts(body: bytes) -> list[str]:
    return [row[6] for row in csv.reader(io.StringIO(body.decode("utf-8-sig"), newline=""))][1:]


@pytest.mark.parametrize(
    "query",
    [
        {},
        {"overdue": "true", "department": "DEPT"},
        {"status": ["in_progress", "not_started"], "ordering": "-deadline"},
        {"q": "措施1"},
    ],
)
def test_token_clients_export_the_ledger_pages_bytes(
    client, auditor_user, staff_user, department, other_department, query
):
    build_ledger(12, department, other_department, auditor_user)
    query = {k: (department.pk if v == "DEPT" else v) for k, v in query.items()}
    assert reverse("api:measure-export-csv") == EXPORT_URL
    for user in (auditor_user, staff_user):
        client.force_login(user)
        page = client.get(reverse("ledgerio:ledger_export_csv"), query)
        client.logout()
        api = client.get(EXPORT_URL, query, **token_header(user))
        assert body_of(api) == body_of(page)
        assert api["Content-Disposition"] == page["Content-Disposition"]
    assert exported_texts(body_of(client.get(EXPORT_URL, query, **token_header(auditor_user))))


def test_api_export_gives_staff_only_their_departments_rows(
    client, staff_user, other_staff_user, department, other_department, office_user
):
    build_ledger(6, department, other_department, office_user)
    assisted = MeasureFactory(lead_department=other_department, text="协办措施")
    assisted.assisting_departments.add(department)
    mine = set(Measure.objects.filter(lead_department=department).values_list("text", flat=True))
    texts = exported_texts(body_of(client.get(EXPORT_URL, **token_header(staff_user))))
    assert set(texts) == mine | {assisted.text}
    # Pointing the filters at the other department's rows reaches only the assisted one.
    texts = exported_texts(
        body_of(client.get(EXPORT_URL, {"department": other_department.pk}, **token_header(staff_user)))
    )
    assert texts == [assisted.text]
    texts = exported_texts(body_of(client.get(EXPORT_URL, **token_header(other_staff_user))))
    assert not set(texts) & mine


def test_api_export_refuses_anonymous_bad_tokens_and_users_without_a_role(
    client, department, other_department, office_user
):
    build_ledger(2, department, other_department, office_user)
    assert client.get(EXPORT_URL).status_code in (401, 403)
    assert client.get(EXPORT_URL, HTTP_AUTHORIZATION="Token not-a-token").status_code in (401, 403)
    roleless = UserFactory()
    response = client.get(EXPORT_URL, **token_header(roleless))
    assert response.status_code == 403
    assert "整改措施" not in response.content.decode()
    assert client.post(EXPORT_URL, **token_header(office_user)).status_code == 405


def test_api_export_answers_text_csv_and_refuses_filters_that_do_not_validate(
    client, auditor_user, department, other_department
):
    build_ledger(2, department, other_department, auditor_user)
    response = client.get(EXPORT_URL, HTTP_ACCEPT="text/csv", **token_header(auditor_user))
    assert len(exported_texts(body_of(response))) == 2
    # The page ignores a filter it cannot read; the API says so, as /api/measures/ does.
    response = client.get(EXPORT_URL, {"deadline_after": "not a date"}, **token_header(auditor_user))
    assert response.status_code == 400
    assert "deadline_after" in response.json()
    response = client.get(EXPORT_URL, {"deadline_after": "x"}, HTTP_ACCEPT="text/csv", **token_header(auditor_user))
    assert response.status_code == 400
    assert response["Content-Type"].startswith("text/csv")
    assert response.content.decode().startswith("deadline_after,")


@pytest.mark.parametrize("rows", [3, 30])
def test_api_export_query_count_does_not_grow_with_rows(
    client, auditor_user, department, other_department, rows, django_assert_max_num_queries
):
    build_ledger(rows, department, other_department, auditor_user)
    headers = token_header(auditor_user)
    # token and its user (one join), role groups, then the rows in one query (on
    # PostgreSQL by COPY, which the counter does not see).
    with django_assert_max_num_queries(3):
        body = body_of(client.get(EXPORT_URL, **headers))
    assert body.count(b"\n") == rows + 1
