"""The Content-Security-Policy as a browser enforces it: nothing on the main pages is
blocked, the API docs still run, and the language switch still works without inline script.

A unit test can check the header; only a browser says whether the pages still work under it.
"""

import pytest

from accounts.models import Role
from tests.browser.conftest import login
from tests.factories import DepartmentFactory, MeasureFactory, make_user

pytestmark = pytest.mark.browser


def _watch(page) -> list[str]:
    problems: list[str] = []
    page.on("console", lambda msg: problems.append(msg.text) if msg.type == "error" else None)
    page.on("pageerror", lambda exc: problems.append(str(exc)))
    return problems


def test_the_main_pages_and_the_api_docs_run_under_the_policy(browser_page, live_server):
    department = DepartmentFactory(name="社会救助科")
    office = make_user(Role.OFFICE, username="csp_office")
    measure = MeasureFactory(lead_department=department, text="建立困难群众救助台账")
    page = browser_page
    problems = _watch(page)
    login(page, live_server, office.username, "pw-for-tests-only")

    for path in ("/dashboard/", "/ledger/", f"/measures/{measure.pk}/", "/inspections/", "/imports/"):
        response = page.goto(live_server.url + path)
        assert response.status == 200, path
        assert "default-src 'self'" in response.headers["content-security-policy"]
    page.goto(live_server.url + "/api/docs/")
    # Swagger UI builds the page from our schema: its scripts ran under the strict policy.
    page.wait_for_selector(".swagger-ui .info .title")
    assert [p for p in problems if "Content Security Policy" in p or "Refused to" in p] == []


def test_the_language_switch_submits_itself_without_inline_script(browser_page, live_server):
    office = make_user(Role.OFFICE, username="csp_language")
    page = browser_page
    problems = _watch(page)
    login(page, live_server, office.username, "pw-for-tests-only")
    page.goto(live_server.url + "/ledger/")
    assert page.get_attribute("html", "lang") == "zh-hans"
    with page.expect_navigation():
        page.select_option("select[name=language]", "en")
    assert page.get_attribute("html", "lang") == "en"
    assert problems == []
