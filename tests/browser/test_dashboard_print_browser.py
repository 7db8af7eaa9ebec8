"""A leader prints the dashboard on A4 for the meeting: the figures go on paper, the
screen's controls do not, and nothing runs off the page or splits across two."""

import re

import pytest
from django.conf import settings
from django.utils import timezone

from accounts.models import User
from dashboards.services import figures_recompute
from devdata.demo import demo_load
from measures.models import Measure, MeasureStatus
from measures.services import progress_report_add
from tests.browser.conftest import login

pytestmark = pytest.mark.browser

# A4 portrait less the stylesheet's 10 mm side margins (@page), in CSS pixels (96 per inch):
# the width the print layout has for the page's content.
A4_CONTENT_WIDTH = round((210 - 2 * 10) / 25.4 * 96)
# Present on a leader's dashboard of the whole bureau.
TABLES = ("#table-trend", "#table-not-reported", "#table-inspections", "#table-categories", "#table-departments")
TABLES += ("#table-leaders", "#table-overdue", "#table-due-soon")


@pytest.fixture
def demo(role_groups) -> None:
    # The five published reports, as `make demo` loads them: one day of snapshots.
    today = timezone.localdate()
    demo_load(today=today)
    figures_recompute(today=today)


def pdf_pages(pdf: bytes) -> int:
    # Page objects, not the /Pages tree node; Chromium writes them uncompressed.
    return len(re.findall(rb"/Type\s*/Page\b(?!s)", pdf))


def test_leader_prints_the_dashboard_on_a4_without_the_screen_controls(browser_page, live_server, demo):
    page = browser_page
    login(page, live_server, "leader", settings.DEMO_PASSWORD)
    page.goto(f"{live_server.url}/dashboard/")
    screen_only = {
        "navigation bar": page.locator("header.topbar"),
        "scope switcher": page.locator("form.scope-form"),
        "section links": page.locator("nav.dash-nav"),
    }
    for name, locator in screen_only.items():
        assert locator.is_visible(), f"{name} should show on screen"
    # On screen the trend's table is for screen readers only (clipped out of sight).
    trend_table = page.locator("#table-trend")
    assert trend_table.evaluate("e => getComputedStyle(e).position") == "absolute"

    page.emulate_media(media="print")
    page.set_viewport_size({"width": A4_CONTENT_WIDTH, "height": 1000})
    for name, locator in screen_only.items():
        assert locator.is_hidden(), f"{name} should not be printed"
    assert page.get_by_test_id("tile-completion_rate").is_visible()
    assert trend_table.evaluate("e => getComputedStyle(e).position") == "static"
    for table in TABLES:
        box = page.locator(table).bounding_box()
        assert box is not None and box["width"] > 100 and box["height"] > 20, table
    # A fresh installation has one day of snapshots: the paper says when the trend comes.
    assert page.get_by_test_id("trend-note").is_visible()

    # Nothing wider than the sheet: charts and tables fit A4 portrait.
    too_wide = page.evaluate(
        """(width) => [...document.querySelectorAll('main svg, main table, main figure, .tiles')]
            .filter(e => e.getBoundingClientRect().right > width + 0.5)
            .map(e => e.id || e.className.baseVal || e.className)""",
        A4_CONTENT_WIDTH,
    )
    assert too_wide == []
    # Tiles, charts and table rows stay whole; a heading and its line stay with what follows.
    breaks = page.evaluate(
        """() => {
            const style = (selector, property) => [...document.querySelectorAll(selector)]
                .map(e => getComputedStyle(e)[property]);
            return {
                inside: [...style('.tile', 'breakInside'), ...style('.chart-box', 'breakInside'),
                         ...style('table.ledger tbody tr', 'breakInside')],
                after: [...style('.dash-section > h2', 'breakAfter'), ...style('.dash-section > h2 + p', 'breakAfter')],
            };
        }"""
    )
    assert breaks["inside"] and set(breaks["inside"]) == {"avoid"}
    assert breaks["after"] and set(breaks["after"]) == {"avoid"}

    pdf = page.pdf(format="A4")
    assert pdf.startswith(b"%PDF")
    # The demo's figures fill a few sheets; dozens would mean the layout ran away.
    assert 1 <= pdf_pages(pdf) <= 12


def test_office_printout_keeps_the_stale_figures_note_but_not_the_recompute_button(
    browser_page, live_server, demo, settings
):
    settings.FIGURES_STALE_AFTER_SECONDS = 0
    # A report filed while the worker is down: the figures are behind the ledger.
    measure = Measure.objects.filter(status=MeasureStatus.IN_PROGRESS).first()
    progress_report_add(measure=measure, user=User.objects.get(username="office"), text="已召开专题推进会")
    page = browser_page
    login(page, live_server, "office", settings.DEMO_PASSWORD)
    page.goto(f"{live_server.url}/dashboard/")
    button = page.get_by_role("button", name="立即重新计算")
    note = page.get_by_test_id("figures-stale")
    assert button.is_visible() and note.is_visible()

    page.emulate_media(media="print")
    assert button.is_hidden()
    # Paper that may carry old figures says so.
    assert note.is_visible()
