"""A schema-driven check of the REST API: schemathesis generates requests from our own
OpenAPI schema and sends them to the WSGI application itself, authenticated with a token,
on a small ledger. Every response must be below 500 and match the schema.

The schema is generated in-process when the module loads (the endpoint needs a logged-in
user, so a database, which collection does not have); a test checks that /api/schema/
serves exactly that document.
"""

import datetime as dt
import json

import pytest
import schemathesis
from django.core import signals
from django.core.wsgi import get_wsgi_application
from django.db import close_old_connections
from hypothesis import HealthCheck, settings
from rest_framework.authtoken.models import Token
from schemathesis.checks import not_a_server_error, response_schema_conformance

from accounts.models import Role
from dashboards.models import Figure, ScopeKind
from measures.models import Evidence, ProgressReport
from tests.factories import DepartmentFactory, MeasureFactory, make_user

pytestmark = pytest.mark.django_db(transaction=False)


@pytest.fixture
def api_token(db):
    office = make_user(Role.OFFICE, username="schema_office")
    department = DepartmentFactory(name="社会事务科")
    for i in range(3):
        measure = MeasureFactory(lead_department=department, is_overdue=i == 0)
        ProgressReport.objects.create(measure=measure, reported_on=dt.date(2022, 3, 1), text=f"进展{i}", author=office)
        Evidence.objects.create(measure=measure, title="纪要", document_number=f"民办〔2022〕{i}号", uploaded_by=office)
    Figure.objects.create(
        scope_kind=ScopeKind.OVERALL, scope_id=0, measures=3, completed=1, computed_at=measure.created_at
    )
    return Token.objects.create(user=office).key


def generated_schema() -> dict:
    import django

    django.setup()
    from drf_spectacular.generators import SchemaGenerator

    return SchemaGenerator().get_schema(request=None, public=True)


RAW_SCHEMA = generated_schema()
schema = schemathesis.openapi.from_dict(RAW_SCHEMA)
schema.app = get_wsgi_application()


@pytest.fixture(autouse=True)
def keep_test_connection():
    # Outside Django's test client a WSGI request ends by closing "old" connections, which
    # would drop the test's transaction; the test client disconnects the same handlers.
    signals.request_started.disconnect(close_old_connections)
    signals.request_finished.disconnect(close_old_connections)
    yield
    signals.request_started.connect(close_old_connections)
    signals.request_finished.connect(close_old_connections)


def test_the_served_schema_is_the_one_checked(client, api_token):
    response = client.get("/api/schema/?format=json", HTTP_AUTHORIZATION=f"Token {api_token}")
    assert response.status_code == 200
    assert json.loads(response.content) == json.loads(json.dumps(RAW_SCHEMA, default=str))


@schema.parametrize()
@settings(
    max_examples=15,
    deadline=None,
    suppress_health_check=[HealthCheck.function_scoped_fixture, HealthCheck.too_slow, HealthCheck.filter_too_much],
)
def test_api_conforms_to_its_schema(case, api_token):
    case.call_and_validate(
        headers={"Authorization": f"Token {api_token}"},
        checks=[not_a_server_error, response_schema_conformance],
    )


def test_the_ledger_export_is_documented_as_csv_with_the_ledger_filters():
    operation = RAW_SCHEMA["paths"]["/api/measures/export.csv"]["get"]
    assert list(operation["responses"]["200"]["content"]) == ["text/csv"]
    documented = {p["name"] for p in operation["parameters"]}
    listed = {p["name"] for p in RAW_SCHEMA["paths"]["/api/measures/"]["get"]["parameters"]}
    assert documented == listed - {"page"}
