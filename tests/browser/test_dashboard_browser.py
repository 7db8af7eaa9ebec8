"""A leader opens the dashboard before a meeting and clicks through to the ledger."""

import datetime as dt

import pytest
from django.db.models import Count, Q
from django.utils import timezone

from accounts.models import User
from dashboards.models import DailySnapshot, ScopeKind
from dashboards.services import figures_recompute
from devdata.generator import ledger_generate
from measures.models import Measure
from tests.browser.conftest import DOCS, login, save_screenshots

pytestmark = pytest.mark.browser

PASSWORD = "browser-test-password"
TREND_DAYS = 60


def backfill_trend(today: dt.date, days: int) -> None:
    """Overall snapshots for the past `days`, as a daily job would have written them: a
    measure counts as completed (signed off) on a day once its completed_at (signed_off_at)
    lies before that day's end. Only the screenshot needs a history; the count checked
    below comes from today's recompute."""
    tz = timezone.get_current_timezone()
    rows = []
    for back in range(days, 0, -1):
        day = today - dt.timedelta(days=back)
        end = dt.datetime.combine(day + dt.timedelta(days=1), dt.time(), tzinfo=tz)
        counts = Measure.objects.aggregate(
            measures=Count("id"),
            completed=Count("id", filter=Q(completed_at__lt=end)),
            signed_off=Count("id", filter=Q(signed_off_at__lt=end)),
        )
        rows.append(DailySnapshot(scope_kind=ScopeKind.OVERALL, scope_id=0, day=day, computed_at=end, **counts))
    DailySnapshot.objects.bulk_create(rows)


@pytest.fixture
def leader(role_groups) -> User:
    today = timezone.localdate()
    ledger_generate(measures=1500, seed=6, today=today)
    figures_recompute(today=today)
    backfill_trend(today, TREND_DAYS)
    # The generator's bureau head, who signs in with a password set here.
    head = User.objects.get(username="ledger_leader_01")
    head.set_password(PASSWORD)
    head.save(update_fields=["password"])
    return head


def test_leader_follows_a_dashboard_figure_to_a_ledger_of_the_same_count(browser_page, live_server, leader):
    page = browser_page
    login(page, live_server, leader.username, PASSWORD)
    # "/" opens the dashboard.
    assert page.url.rstrip("/").endswith("/dashboard")
    page.get_by_test_id("computed-at").wait_for()
    assert "数据更新于" in page.get_by_test_id("computed-at").inner_text()
    # The charts are drawn on the server: an image to assistive technology, with a name.
    trend = page.locator("svg#chart-trend")
    assert trend.get_attribute("role") == "img"
    assert "整改完成率趋势" in trend.locator("title").first.text_content()

    if save_screenshots():
        DOCS.mkdir(exist_ok=True)
        page.set_viewport_size({"width": 1366, "height": 1300})
        page.screenshot(path=str(DOCS / "dashboard.png"))
        page.set_viewport_size({"width": 1366, "height": 900})

    # The overdue tile: the number shown, then the ledger it leads to.
    tile = page.get_by_test_id("tile-overdue").locator("a.num")
    overdue = int(tile.get_attribute("data-count"))
    assert overdue > 0
    assert tile.inner_text().replace(",", "") == str(overdue)
    tile.click()
    page.wait_for_url("**/ledger/?*overdue=true*")
    assert page.get_by_test_id("ledger-count").inner_text() == f"共 {overdue} 条措施"

    # Back on the dashboard, a department's row of the ranking: its unfinished measures.
    page.go_back()
    row = page.locator("#table-departments tbody tr").first
    department = row.locator("th").inner_text()
    cell = row.locator("a.num").nth(3)  # the linked counts: measures, completed, signed off, open …
    count = int(cell.get_attribute("data-count"))
    cell.click()
    page.wait_for_url("**/ledger/?*department=*")
    assert page.get_by_test_id("ledger-count").inner_text() == f"共 {count} 条措施"
    # The ledger's department filter shows the department the row named.
    assert page.locator("select[name=department] option:checked").inner_text() == department
