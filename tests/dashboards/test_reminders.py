import datetime as dt

import pytest
from django.db import connection
from django.test.utils import CaptureQueriesContext

from accounts.models import Role
from dashboards.reminders import reminders_send
from dashboards.services import reporting_period
from measures.models import Measure, MeasureStatus, ProgressReport
from tests.dashboards.conftest import TODAY, status_fields
from tests.factories import DepartmentFactory, FindingFactory, make_user

pytestmark = pytest.mark.usefixtures("isolated_cache", "fast_passwords")

SITE = "https://rectify.example.cn"


@pytest.fixture
def site(settings):
    settings.SITE_URL = SITE + "/"


class Ledger:
    """Two departments: one with something in every section, one with nothing to report."""

    def __init__(self) -> None:
        self.office = make_user(Role.OFFICE, username="rem_office", email="office@example.cn")
        self.busy = DepartmentFactory(name="社会救助科")
        self.quiet = DepartmentFactory(name="养老服务科")
        self.finding = FindingFactory()
        self.number = 0

    def measure(self, department, *, days: int, status: str = MeasureStatus.IN_PROGRESS, reported: bool = False):
        self.number += 1
        measure = Measure.objects.create(
            finding=self.finding,
            inspection=self.finding.inspection,
            category=self.finding.category,
            number=self.number,
            text=f"整改措施{self.number}",
            lead_department=department,
            deadline=TODAY + dt.timedelta(days=days),
            **status_fields(status, self.office),
        )
        if reported:
            ProgressReport.objects.create(
                measure=measure, reported_on=reporting_period(TODAY)[0], text="进展", author=self.office
            )
        return measure


@pytest.fixture
def ledger_with_news(db, site):
    ledger = Ledger()
    ledger.overdue = ledger.measure(ledger.busy, days=-3, reported=True)
    ledger.due_soon = ledger.measure(ledger.busy, days=2, reported=True)
    ledger.unreported = ledger.measure(ledger.busy, days=90)
    ledger.measure(ledger.busy, days=-10, status=MeasureStatus.SIGNED_OFF)
    # The quiet department's measures are all done or reported and far from their deadlines.
    ledger.measure(ledger.quiet, days=-10, status=MeasureStatus.SIGNED_OFF)
    ledger.measure(ledger.quiet, days=60, reported=True)
    ledger.busy_staff = [
        make_user(Role.STAFF, ledger.busy, username=f"busy{i}", email=f"busy{i}@example.cn") for i in range(2)
    ]
    make_user(Role.STAFF, ledger.busy, username="busy_no_email", email="")
    make_user(Role.STAFF, ledger.busy, username="busy_inactive", email="gone@example.cn", is_active=False)
    make_user(Role.STAFF, ledger.quiet, username="quiet0", email="quiet0@example.cn")
    make_user(Role.LEADERSHIP, username="rem_leader", email="leader@example.cn")
    make_user(Role.AUDITOR, username="rem_auditor", email="auditor@example.cn")
    return ledger


def test_each_staff_member_of_a_department_with_news_gets_one_digest(ledger_with_news, mailoutbox):
    result = reminders_send(today=TODAY)

    recipients = sorted(address for message in mailoutbox for address in message.to)
    assert recipients == ["busy0@example.cn", "busy1@example.cn", "leader@example.cn"]
    assert (result.departments, result.department_emails, result.leadership_emails) == (1, 2, 1)


def test_digest_lists_red_yellow_and_unreported_measures_with_links(ledger_with_news, mailoutbox):
    reminders_send(today=TODAY)

    ledger = ledger_with_news
    digest = next(m for m in mailoutbox if m.to == ["busy0@example.cn"])
    assert "社会救助科" in digest.subject
    assert "超期 1 条" in digest.subject and "临期 1 条" in digest.subject and "本期未汇报 1 条" in digest.subject
    html, _ = digest.alternatives[0]
    for body in (digest.body, html):
        for measure in (ledger.overdue, ledger.due_soon, ledger.unreported):
            assert f"{SITE}/measures/{measure.pk}/" in body
        assert "【超期】" in body and "【临期】" in body and "【本期未汇报进展】" in body
    signed_off = Measure.objects.get(lead_department=ledger.busy, status=MeasureStatus.SIGNED_OFF)
    assert f"/measures/{signed_off.pk}/" not in digest.body
    # Red and yellow in the HTML version.
    assert "#c0392b" in html and "#9a7d0a" in html


def test_leadership_gets_the_overall_summary(ledger_with_news, mailoutbox):
    reminders_send(today=TODAY)

    summary = next(m for m in mailoutbox if m.to == ["leader@example.cn"])
    measures = Measure.objects.count()
    completed = Measure.objects.filter(status=MeasureStatus.SIGNED_OFF).count()
    rate = f"{completed * 100 / measures:.2f}"
    assert rate in summary.subject
    assert f"整改措施 {measures} 条,已完成 {completed} 条,整改完成率 {rate}%" in summary.body
    assert "社会救助科:超期 1,临期 1,未汇报 1" in summary.body
    assert "/measures/" not in summary.body


@pytest.mark.django_db
def test_no_email_when_no_department_has_anything_to_report(site, mailoutbox):
    ledger = Ledger()
    ledger.measure(ledger.quiet, days=60, reported=True)
    make_user(Role.STAFF, ledger.quiet, username="quiet1", email="quiet1@example.cn")

    result = reminders_send(today=TODAY)

    assert [m.to for m in mailoutbox] == []
    assert result.department_emails == 0


def test_long_sections_are_cut_and_the_rest_counted(ledger_with_news, mailoutbox, settings):
    settings.REMINDER_MAX_ITEMS = 2
    for _ in range(4):
        ledger_with_news.measure(ledger_with_news.busy, days=-1, reported=True)

    reminders_send(today=TODAY)

    digest = next(m for m in mailoutbox if m.to == ["busy0@example.cn"])
    assert "超期 5 条" in digest.subject
    assert "另有 3 条" in digest.body


def _queries_for_reminders(today: dt.date) -> int:
    with CaptureQueriesContext(connection) as ctx:
        reminders_send(today=today)
    return len(ctx.captured_queries)


def test_query_count_does_not_grow_with_the_ledger(ledger_with_news, mailoutbox):
    small = _queries_for_reminders(TODAY)
    ledger = ledger_with_news
    other = DepartmentFactory(name="办公室")
    make_user(Role.STAFF, other, username="office_staff", email="o@example.cn")
    for days in range(-20, 20):
        ledger.measure(ledger.busy, days=days)
        ledger.measure(other, days=days)
    mailoutbox.clear()

    large = _queries_for_reminders(TODAY)

    assert large == small
    assert len(mailoutbox) == 4
