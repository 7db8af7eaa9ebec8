import datetime as dt
from unittest import mock

import pytest
from celery.exceptions import Retry
from celery.schedules import crontab
from django.core.cache import cache
from django.core.management import CommandError, call_command
from django.db import transaction

from dashboards import tasks
from dashboards.models import Figure, ScopeKind
from dashboards.services import RecomputeResult
from measures.signals import ledger_changed
from rectify.celery import app
from tests.dashboards.conftest import TODAY

pytestmark = pytest.mark.usefixtures("isolated_cache", "fast_passwords")


@pytest.fixture
def queued():
    with mock.patch.object(tasks.recompute_figures, "apply_async") as apply_async:
        yield apply_async


@pytest.mark.django_db
def test_a_batch_of_100_changes_queues_one_recompute(queued, django_capture_on_commit_callbacks, settings):
    settings.RECOMPUTE_DEBOUNCE_SECONDS = 7
    with django_capture_on_commit_callbacks(execute=True) as callbacks:
        with transaction.atomic():
            for measure_id in range(1, 101):
                ledger_changed.send(sender=None, measure_ids=[measure_id])
        assert not queued.called  # nothing before the commit

    assert len(callbacks) == 100
    queued.assert_called_once_with(kwargs={"triggered": True}, countdown=7, retry=False)


@pytest.mark.django_db
def test_changes_in_separate_commits_share_the_waiting_run(queued, django_capture_on_commit_callbacks):
    for measure_id in range(1, 101):
        with django_capture_on_commit_callbacks(execute=True):
            ledger_changed.send(sender=None, measure_ids=[measure_id])

    assert queued.call_count == 1


@pytest.mark.django_db
def test_a_change_after_the_run_started_queues_the_next_run(queued, django_capture_on_commit_callbacks):
    with django_capture_on_commit_callbacks(execute=True):
        ledger_changed.send(sender=None, measure_ids=[1])
    with mock.patch.object(tasks, "figures_recompute", return_value=RecomputeResult(today=TODAY)):
        tasks.recompute_figures.run(triggered=True)
    with django_capture_on_commit_callbacks(execute=True):
        ledger_changed.send(sender=None, measure_ids=[2])

    assert queued.call_count == 2


@pytest.mark.django_db
def test_a_rolled_back_change_queues_nothing(queued, django_capture_on_commit_callbacks):
    with django_capture_on_commit_callbacks(execute=True):
        try:
            with transaction.atomic():
                ledger_changed.send(sender=None, measure_ids=[1])
                raise RuntimeError("the save failed")
        except RuntimeError:
            pass

    assert not queued.called
    assert cache.get(tasks.RECOMPUTE_QUEUED_KEY) is None


@pytest.mark.django_db
def test_a_broker_that_is_down_costs_the_change_nothing_and_blocks_no_later_change(
    queued, django_capture_on_commit_callbacks, caplog
):
    queued.side_effect = OSError("connection refused")
    with caplog.at_level("WARNING", logger="dashboards.tasks"), django_capture_on_commit_callbacks(execute=True):
        ledger_changed.send(sender=None, measure_ids=[1])

    assert "Recompute not queued" in caplog.text
    assert cache.get(tasks.RECOMPUTE_QUEUED_KEY) is None
    queued.side_effect = None
    with django_capture_on_commit_callbacks(execute=True):
        ledger_changed.send(sender=None, measure_ids=[2])
    assert queued.call_count == 2


@pytest.mark.django_db
def test_recompute_task_runs_the_job(ledger):
    ledger.add_measures(30)

    result = tasks.recompute_figures.run()

    assert result["skipped"] is False
    assert Figure.objects.filter(scope_kind=ScopeKind.OVERALL).get().measures == 30


def test_triggered_run_that_finds_the_lock_taken_retries():
    skipped = RecomputeResult(today=TODAY, skipped=True)
    with (
        mock.patch.object(tasks, "figures_recompute", return_value=skipped),
        mock.patch.object(tasks.recompute_figures, "retry", side_effect=Retry) as retry,
    ):
        with pytest.raises(Retry):
            tasks.recompute_figures.run(triggered=True)
        retry.assert_called_once()
        # A beat tick that skips just waits for the next tick.
        assert tasks.recompute_figures.run(triggered=False)["skipped"] is True


@pytest.mark.django_db
def test_recompute_command_runs_the_job_and_prints_the_result(ledger, capsys):
    ledger.add_measures(30)

    call_command("recompute", today=TODAY)

    out = capsys.readouterr().out
    assert str(TODAY) in out
    assert "条 SQL 语句" in out
    overall = Figure.objects.get(scope_kind=ScopeKind.OVERALL)
    assert overall.measures == 30


def test_recompute_command_fails_when_another_run_holds_the_lock():
    skipped = RecomputeResult(today=TODAY, skipped=True)
    with (
        mock.patch("dashboards.management.commands.recompute.figures_recompute", return_value=skipped),
        pytest.raises(CommandError, match="正在运行"),
    ):
        call_command("recompute")


@pytest.mark.django_db
def test_recompute_command_accepts_a_date_argument(ledger):
    ledger.add_measures(30)
    call_command("recompute", "--today", (TODAY + dt.timedelta(days=1)).isoformat())
    assert Figure.objects.exists()


def test_beat_runs_recompute_every_few_minutes_after_midnight_and_reminders_in_the_morning(settings):
    schedule = app.conf.beat_schedule
    by_task: dict[str, list] = {}
    for entry in schedule.values():
        by_task.setdefault(entry["task"], []).append(entry["schedule"])

    recompute = by_task["dashboards.tasks.recompute_figures"]
    assert dt.timedelta(minutes=settings.RECOMPUTE_EVERY_MINUTES) in recompute
    (after_midnight,) = [s for s in recompute if isinstance(s, crontab)]
    assert after_midnight.hour == {0} and after_midnight.minute == {1}
    (reminders,) = by_task["dashboards.tasks.send_daily_reminders"]
    assert reminders.hour == {settings.REMINDER_HOUR}
    assert str(app.conf.timezone) == "Asia/Shanghai"
    assert set(by_task) <= set(app.tasks)


@pytest.mark.django_db
def test_moving_a_finding_to_another_category_queues_a_recompute_but_editing_its_text_does_not(
    queued, django_capture_on_commit_callbacks
):
    from findings.services import finding_update
    from tests.factories import CategoryFactory, FindingFactory

    finding = FindingFactory()
    elsewhere = CategoryFactory(inspection=finding.inspection)
    cache.clear()  # creating the finding queued one already
    queued.reset_mock()

    with django_capture_on_commit_callbacks(execute=True):
        finding_update(finding=finding, description="改写后的问题描述")
    assert not queued.called

    with django_capture_on_commit_callbacks(execute=True):
        finding_update(finding=finding, category=elsewhere)
    assert queued.call_count == 1
