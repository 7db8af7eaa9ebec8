"""A real Celery worker consuming from Redis runs the recompute and writes the figures.

The worker runs in a thread of this process (celery.contrib.testing), so it uses pytest's
test database on SQLite and PostgreSQL alike; transaction=True makes the ledger visible
to the worker's own database connection. It listens on a queue of its own, so a developer's
worker on the same Redis cannot take the test's task, nor the test a real one.
"""

import datetime as dt
import os
import queue
import uuid

import pytest
from celery.contrib.testing.worker import start_worker
from celery.signals import task_postrun
from django.core.cache import cache
from django.db import transaction

from dashboards import tasks
from dashboards.models import Figure, ScopeKind
from dashboards.tasks import RECOMPUTE_QUEUED_KEY
from measures.models import Measure
from measures.signals import ledger_changed
from rectify.celery import app

pytestmark = [
    pytest.mark.usefixtures("isolated_cache", "fast_passwords"),
    pytest.mark.redis,
    pytest.mark.skipif(not os.environ.get("REDIS_URL"), reason="needs a Redis server (REDIS_URL)"),
]


@pytest.fixture
def worker_queue():
    name = f"rectify-test-{uuid.uuid4().hex[:12]}"
    routes = app.conf.task_routes
    # Triggered runs are queued by code that names no queue; route them to ours. (Only
    # conf.update rebuilds Celery's cached router; plain assignment would not.)
    app.conf.update(task_routes={"dashboards.tasks.*": {"queue": name}})
    try:
        with start_worker(app, queues=[name], perform_ping_check=False, shutdown_timeout=30):
            yield name
    finally:
        app.conf.update(task_routes=routes)


@pytest.fixture
def finished_runs():
    """What each recompute the worker finished returned. Waiting on this rather than polling
    the figures keeps the test's reads out of the worker's transaction (SQLite's shared
    in-memory test database locks whole tables)."""
    runs: queue.Queue = queue.Queue()

    def finished(sender=None, retval=None, **kwargs):
        if sender is not None and sender.name == tasks.recompute_figures.name:
            runs.put(retval)

    task_postrun.connect(finished, weak=False)
    yield runs
    task_postrun.disconnect(finished)


@pytest.mark.django_db(transaction=True)
def test_worker_recomputes_the_figures_from_redis(ledger, worker_queue, finished_runs):
    # Deadlines around 2024-05-15 are all past today, so the open measures turn overdue.
    ledger.add_measures(50)
    assert not Figure.objects.exists()
    assert not Measure.objects.filter(is_overdue=True).exists()

    tasks.recompute_figures.apply_async(queue=worker_queue)

    assert finished_runs.get(timeout=60)["skipped"] is False
    overall = Figure.objects.get(scope_kind=ScopeKind.OVERALL)
    assert overall.measures == 50
    open_measures = Measure.objects.exclude(status__in=["completed", "reviewed", "signed_off"])
    assert overall.overdue == open_measures.count() > 0
    assert Measure.objects.filter(is_overdue=True).count() == overall.overdue


@pytest.mark.django_db(transaction=True)
def test_a_committed_change_reaches_the_worker_once(ledger, worker_queue, finished_runs, settings):
    settings.RECOMPUTE_DEBOUNCE_SECONDS = 1
    ledger.add_measures(20)
    # Creating the ledger's findings queued a run (and set the debounce key) before this
    # test's queue was routed: that run waits on the default queue, which no worker here reads.
    cache.delete(RECOMPUTE_QUEUED_KEY)

    with transaction.atomic():
        measure = Measure.objects.order_by("id").first()
        Measure.objects.filter(pk=measure.pk).update(deadline=dt.date(2000, 1, 1), status="in_progress")
        for _ in range(100):
            ledger_changed.send(sender=None, measure_ids=[measure.pk])

    assert finished_runs.get(timeout=60)["skipped"] is False
    assert Measure.objects.get(pk=measure.pk).is_overdue
    assert Figure.objects.filter(scope_kind=ScopeKind.OVERALL).count() == 1
    # The hundred changes queued one run.
    with pytest.raises(queue.Empty):
        finished_runs.get(timeout=settings.RECOMPUTE_DEBOUNCE_SECONDS + 3)
