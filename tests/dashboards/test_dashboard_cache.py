"""The whole-bureau dashboard keeps its breakdowns rendered until the figures or the names
they show change (dashboards.fragments); it must never show what changed since."""

import pytest
from django.core.cache import cache
from django.db import connection
from django.test.utils import CaptureQueriesContext
from django.urls import reverse

from dashboards import tasks
from dashboards.fragments import NAMES_VERSION_KEY, fragment_key, names_changed
from dashboards.models import Figure, ScopeKind
from dashboards.services import figures_recompute
from measures.models import Measure, MeasureStatus
from tests.dashboards.conftest import status_fields
from tests.dashboards.test_dashboard_views import LARGE, SMALL, build_ledger, ledger_count, number_links

pytestmark = pytest.mark.django_db

DASHBOARD = "/dashboard/"


def breakdowns(html: str) -> str:
    """The cached part of the page: from the trend to the leaders, before the live lists."""
    start = html.index('<div class="dash-grid">')
    return html[start : html.index('id="overdue"', start)]


def get(client, url=DASHBOARD, **kwargs):
    with CaptureQueriesContext(connection) as queries:
        response = client.get(url, **kwargs)
    assert response.status_code == 200
    return response.content.decode(), len(queries.captured_queries)


def test_the_second_view_reads_the_breakdowns_from_the_cache_and_shows_the_same(client, leader_user):
    build_ledger(**LARGE)
    client.force_login(leader_user)
    first, first_queries = get(client)
    second, second_queries = get(client)
    assert breakdowns(second) == breakdowns(first)
    # Inspections and their count, top categories and their names, departments, leaders,
    # the trend: seven queries the cached page does not make.
    assert second_queries <= first_queries - 7
    for href, count, scope in number_links(second):
        assert ledger_count(client, href) == count, (scope, href)


def test_after_a_recompute_the_page_shows_the_new_figures_not_the_cached_ones(client, leader_user):
    ledger = build_ledger(**LARGE)
    client.force_login(leader_user)
    before, _ = get(client)
    inspection = ledger.inspections[0]
    changed = Measure.objects.filter(inspection=inspection, status=MeasureStatus.NOT_STARTED)
    assert changed.exists()
    changed.update(**status_fields(MeasureStatus.COMPLETED, ledger.office))
    figures_recompute()
    after, _ = get(client)
    assert breakdowns(after) != breakdowns(before)
    for href, count, scope in number_links(after):
        assert ledger_count(client, href) == count, (scope, href)


def test_a_renamed_inspection_shows_at_once_without_a_recompute(
    client, leader_user, office_user, django_capture_on_commit_callbacks
):
    ledger = build_ledger(**SMALL)
    inspection = ledger.inspections[0]
    client.force_login(leader_user)
    assert inspection.title in breakdowns(get(client)[0])

    client.force_login(office_user)
    with django_capture_on_commit_callbacks(execute=True):
        response = client.post(
            reverse("findings:inspection_edit", args=[inspection.pk]),
            {
                "kind": inspection.kind,
                "title": "2026年市委第二轮巡察反馈意见",
                "feedback_date": inspection.feedback_date.isoformat(),
                "deadline": inspection.deadline.isoformat(),
            },
        )
    assert response.status_code == 302, response.context["form"].errors

    client.force_login(leader_user)
    html = breakdowns(get(client)[0])
    assert "2026年市委第二轮巡察反馈意见" in html
    assert inspection.title not in html


def test_a_login_keeps_the_cache_but_a_leaders_new_title_retires_it(
    client, leader_user, django_capture_on_commit_callbacks
):
    ledger = build_ledger(**SMALL)
    client.force_login(leader_user)
    get(client)
    version = cache.get(NAMES_VERSION_KEY)
    with django_capture_on_commit_callbacks(execute=True):
        client.force_login(ledger.office)  # writes last_login only
    assert cache.get(NAMES_VERSION_KEY) == version

    leader = ledger.leaders[0]
    with django_capture_on_commit_callbacks(execute=True):
        leader.title = "党组成员、副局长"
        leader.save()
    assert cache.get(NAMES_VERSION_KEY) != version
    assert "党组成员、副局长" in breakdowns(get(client)[0])


def test_each_language_keeps_its_own_page(client, leader_user):
    build_ledger(**SMALL)
    client.force_login(leader_user)
    assert "责任单位排名" in breakdowns(get(client)[0])
    client.post(reverse("set_language"), {"language": "en", "next": DASHBOARD})
    english = breakdowns(get(client)[0])
    assert "责任单位排名" not in english
    assert "Department ranking" in english
    client.post(reverse("set_language"), {"language": "zh-hans", "next": DASHBOARD})
    assert "责任单位排名" in breakdowns(get(client)[0])


def test_with_the_cache_unreachable_the_page_renders_everything_itself(client, leader_user, settings):
    build_ledger(**SMALL)
    client.force_login(leader_user)
    cached, _ = get(client)
    settings.CACHES = {
        "default": {"BACKEND": "django.core.cache.backends.redis.RedisCache", "LOCATION": "redis://127.0.0.1:1/0"}
    }
    html, _ = get(client)
    assert breakdowns(html) == breakdowns(cached)


def test_the_recompute_job_renders_the_page_in_every_language_before_anyone_asks(client, leader_user):
    build_ledger(**SMALL)
    tasks.recompute_figures.run()
    client.force_login(leader_user)
    warm = {}
    for language in ("zh-hans", "en"):
        client.post(reverse("set_language"), {"language": language, "next": DASHBOARD})
        warm[language] = get(client)
    names_changed()  # the same views with nothing kept
    for language in ("zh-hans", "en"):
        client.post(reverse("set_language"), {"language": language, "next": DASHBOARD})
        cold, cold_queries = get(client)
        html, queries = warm[language]
        assert breakdowns(html) == breakdowns(cold)
        assert queries <= cold_queries - 7, language


def test_each_rendering_replaces_the_last_so_the_cache_holds_one_per_page(client, leader_user):
    # Recomputes come every few seconds on a busy day; a key per computed_at would pile up
    # a rendering per run until the timeout.
    build_ledger(**SMALL)
    client.force_login(leader_user)
    key = fragment_key(("dashboard", "all", "zh-hans"))
    get(client)
    first_stamp, _html = cache.get(key)
    figures_recompute()
    get(client)
    stamp, _html = cache.get(key)
    assert stamp != first_stamp
    headline = Figure.objects.get(scope_kind=ScopeKind.OVERALL, scope_id=0)
    assert headline.computed_at.isoformat() in stamp
