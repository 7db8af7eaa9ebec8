"""What happens when things break: Redis down, a worker killed mid-recompute, the database
connection lost in the middle of an import.

The faults are real where this machine allows: Redis is "down" by pointing every client at
a closed loopback port; on PostgreSQL the worker is a separate process killed with SIGKILL
and the import's database connection is terminated by the server. Where a fault cannot be
real (SQLite has no server to drop us), it is raised at the same point from inside the
database layer.
"""

from __future__ import annotations

import contextlib
import datetime as dt
import logging
import os
import random
import select
import signal
import subprocess
import sys
import time
from collections.abc import Iterator

import pytest
from django.conf import settings
from django.core.cache import cache
from django.db import InterfaceError, OperationalError, connection
from django.urls import reverse
from django.utils import timezone
from kombu import pools

from accounts.models import Role
from dashboards import tasks
from dashboards.models import Figure, RecomputeState
from dashboards.services import figures_recompute
from findings.models import Category, Finding, Inspection
from measures.models import Measure, MeasureStatus, PendingImport, ProgressReport
from rectify.celery import app as celery_app
from tests.dashboards.conftest import TODAY, LedgerBuilder, hand_count
from tests.dashboards.test_recompute import stored_figures
from tests.factories import (
    CategoryFactory,
    DepartmentFactory,
    FindingFactory,
    InspectionFactory,
    MeasureFactory,
    make_user,
)
from tests.ledgerio.test_imports import confirm, upload


@pytest.fixture
def ledger(db) -> LedgerBuilder:
    """The dashboards tests' ledger builder: random measures around TODAY, every status."""
    office = make_user(Role.OFFICE, username="faults_office")
    departments = [DepartmentFactory(name=name) for name in ("社会救助科", "养老服务科", "办公室")]
    leaders = [make_user(Role.LEADERSHIP, username=f"faults_leader{i}") for i in range(2)] + [None]
    findings = []
    for inspection in InspectionFactory.create_batch(2):
        for category in CategoryFactory.create_batch(3, inspection=inspection):
            findings += FindingFactory.create_batch(4, category=category)
    return LedgerBuilder(office, departments, leaders, findings, random.Random(20240515))


on_postgresql = pytest.mark.skipif(connection.vendor != "postgresql", reason="needs a PostgreSQL server")

# Nothing listens on port 1 of the loopback: every connection is refused at once.
CLOSED_PORT = "redis://127.0.0.1:1/0"


# --- Redis down ------------------------------------------------------------------------------


def _reset_celery_connections() -> None:
    # The app keeps its producer pool and result backend once made; drop them so the next
    # call connects to whatever the configuration now says.
    pools.reset()  # kombu's shared connection and producer pools, keyed by broker URL
    celery_app._pool = None
    celery_app.amqp._producer_pool = None
    if getattr(celery_app._local, "backend", None) is not None:
        del celery_app._local.backend


@contextlib.contextmanager
def redis_down(settings) -> Iterator[None]:
    """Cache, broker and result backend all at a port where nothing listens."""
    keys = ("broker_url", "result_backend", "broker_transport_options")
    saved = {key: celery_app.conf[key] for key in keys}
    saved_settings = (settings.REDIS_URL, settings.CACHES)
    settings.REDIS_URL = CLOSED_PORT
    settings.CACHES = {
        "default": {
            "BACKEND": "django.core.cache.backends.redis.RedisCache",
            "LOCATION": CLOSED_PORT,
            "KEY_PREFIX": "rectify-faults",
        }
    }
    celery_app.conf.update(broker_url=CLOSED_PORT, result_backend=CLOSED_PORT, broker_transport_options={})
    _reset_celery_connections()
    try:
        yield
    finally:
        celery_app.conf.update(saved)
        _reset_celery_connections()
        settings.REDIS_URL, settings.CACHES = saved_settings


def _timed(call):
    started = time.monotonic()
    response = call()
    return response, time.monotonic() - started


@pytest.mark.django_db(transaction=True)
def test_with_redis_down_pages_serve_changes_save_and_the_dashboard_says_figures_may_be_stale(client, settings, caplog):
    # Transactional: each change really commits, so the receiver's on_commit hook runs
    # inside the request, as in production, and its failure would reach the response.
    department = DepartmentFactory(name="社会救助科")
    staff = make_user(Role.STAFF, department, username="clerk_redis")
    office = make_user(Role.OFFICE, username="office_redis")
    measure = MeasureFactory(lead_department=department, status=MeasureStatus.NOT_STARTED, text="建立救助台账")
    figures_recompute()  # the last run before Redis went away
    settings.FIGURES_STALE_AFTER_SECONDS = 0

    with redis_down(settings):
        with pytest.raises(Exception):  # noqa: B017 (whatever redis-py raises: it is down)
            cache.get("anything")
        client.force_login(staff)
        for url in (
            reverse("dashboards:dashboard"),
            reverse("measures:ledger"),
            reverse("measures:detail", args=[measure.pk]),
        ):
            assert client.get(url).status_code == 200, url
        assert 'data-testid="figures-stale"' not in client.get(reverse("dashboards:dashboard")).content.decode()

        with caplog.at_level(logging.WARNING, logger="dashboards.tasks"):
            response, seconds = _timed(
                lambda: client.post(
                    reverse("measures:set_status", args=[measure.pk]),
                    {"new_status": "in_progress", "result": "", "version": measure.version},
                )
            )
        assert response.status_code == 302 and seconds < 2
        assert "Recompute not queued" in caplog.text
        progress, seconds = _timed(
            lambda: client.post(
                reverse("measures:progress_add", args=[measure.pk]),
                {"reported_on": dt.date.today().isoformat(), "text": "已起草救助台账"},
            )
        )
        assert progress.status_code == 302 and seconds < 2

        measure.refresh_from_db()
        assert measure.status == MeasureStatus.IN_PROGRESS and measure.version == 2
        assert measure.history.filter(status=MeasureStatus.IN_PROGRESS, history_user=staff).exists()
        assert ProgressReport.objects.filter(measure=measure, text="已起草救助台账").count() == 1

        # A person logs in through the form meanwhile: sessions and the login throttle are
        # in the database, not in Redis.
        client.logout()
        login = client.post(reverse("login"), {"username": office.username, "password": "pw-for-tests-only"})
        assert login.status_code == 302
        page = client.get(reverse("dashboards:dashboard"))
        assert page.status_code == 200
        assert 'data-testid="figures-stale"' in page.content.decode()
        overall = Figure.objects.get(scope_kind="overall")
        assert overall.measures == 1 and overall.completed == 0  # the old figures, still served

    # Redis is back; the next beat tick runs the recompute the change could not queue.
    tasks.recompute_figures.run()
    assert stored_figures() == hand_count(timezone.localdate())
    assert 'data-testid="figures-stale"' not in client.get(reverse("dashboards:dashboard")).content.decode()


@pytest.mark.django_db(transaction=True)
def test_with_redis_down_the_office_recompute_button_computes_in_the_request(client, settings):
    office = make_user(Role.OFFICE, username="office_button")
    MeasureFactory(status=MeasureStatus.IN_PROGRESS)
    client.force_login(office)
    with redis_down(settings):
        response, seconds = _timed(lambda: client.post(reverse("dashboards:recompute"), {"next": "/dashboard/"}))
    assert response.status_code == 302 and seconds < 5
    assert Figure.objects.get(scope_kind="overall").measures == 1


def test_a_failed_enqueue_does_not_block_the_next_change(settings, caplog):
    # The debounce key must not outlive a publish that failed, or later changes would trust
    # a queued run that does not exist.
    settings.CACHES = {"default": {"BACKEND": "django.core.cache.backends.locmem.LocMemCache"}}
    cache.delete(tasks.RECOMPUTE_QUEUED_KEY)
    saved = {key: celery_app.conf[key] for key in ("broker_url", "broker_transport_options")}
    celery_app.conf.update(broker_url=CLOSED_PORT, broker_transport_options={})
    _reset_celery_connections()
    try:
        with caplog.at_level(logging.WARNING, logger="dashboards.tasks"):
            assert tasks.recompute_figures_soon() is False
        assert cache.get(tasks.RECOMPUTE_QUEUED_KEY) is None
    finally:
        celery_app.conf.update(saved)
        _reset_celery_connections()


# --- The worker killed in the middle of a recompute ------------------------------------------


class WorkerKilled(BaseException):
    """Not an Exception: like the SystemExit a terminated worker gets, no handler eats it."""


def _dies_at(marker: str):
    def wrapper(execute, sql, params, many, context):
        if marker in sql:
            raise WorkerKilled(marker)
        return execute(sql, params, many, context)

    return wrapper


def _flags() -> list[tuple[int, bool, bool, bool]]:
    return list(Measure.objects.order_by("id").values_list("id", "is_overdue", "is_due_soon", "reported_this_period"))


def _change_the_ledger(ledger) -> None:
    ledger.add_measures(40)
    # Some open measures are completed and others' deadlines move, so every flag and
    # figure has something to catch up with.
    open_ids = list(Measure.objects.filter(status=MeasureStatus.IN_PROGRESS).values_list("id", flat=True)[:10])
    Measure.objects.filter(id__in=open_ids[:5]).update(status=MeasureStatus.COMPLETED, completed_at=timezone.now())
    Measure.objects.filter(id__in=open_ids[5:]).update(deadline=TODAY - dt.timedelta(days=3))


@pytest.mark.django_db
@pytest.mark.parametrize(
    "dies_at",
    [
        "CREATE TEMPORARY TABLE",  # right after the three flag UPDATEs
        "INSERT INTO dashboards_figure",  # after the figures were deleted, before all are back
        "INSERT INTO dashboards_dailysnapshot",  # with the figures written, before the snapshot
    ],
)
def test_a_recompute_killed_midway_leaves_the_old_figures_and_the_next_run_is_right(ledger, settings, dies_at):
    ledger.add_measures(60)
    figures_recompute(today=TODAY)
    _change_the_ledger(ledger)
    before, flags_before = stored_figures(), _flags()

    with connection.execute_wrapper(_dies_at(dies_at)), pytest.raises(WorkerKilled):
        figures_recompute(today=TODAY)
    # One transaction: nothing of the killed run is visible, neither flags nor figures.
    assert stored_figures() == before
    assert _flags() == flags_before

    if connection.vendor != "postgresql":
        # Where the run claims the state row (SQLite) a killed process leaves its claim;
        # the next beat tick after the claim went stale takes over.
        killed_at = dt.datetime.now(dt.UTC) - dt.timedelta(seconds=settings.RECOMPUTE_LOCK_STALE_SECONDS + 1)
        RecomputeState.objects.filter(id=1).update(running_since=killed_at)
    result = figures_recompute(today=TODAY)
    assert not result.skipped
    assert stored_figures() == hand_count(TODAY)
    for measure in Measure.objects.all():
        completed = measure.status in (MeasureStatus.COMPLETED, MeasureStatus.REVIEWED, MeasureStatus.SIGNED_OFF)
        assert measure.is_overdue == (measure.deadline < TODAY and not completed), measure.pk


WORKER = """
import datetime, sys, time
import django
django.setup()
from django.db import connection
from dashboards.services import figures_recompute

def hang_after_the_flags(execute, sql, params, many, context):
    if "CREATE TEMPORARY TABLE" in sql:
        print("flags-updated", flush=True)
        time.sleep(120)
    return execute(sql, params, many, context)

with connection.execute_wrapper(hang_after_the_flags):
    figures_recompute(today=datetime.date.fromisoformat(sys.argv[1]))
"""


def _database_url() -> str:
    db = connection.settings_dict
    return (
        f"postgres://{db['USER']}:{db['PASSWORD'] or ''}@{db['HOST'] or '127.0.0.1'}:{db['PORT'] or 5432}/{db['NAME']}"
    )


@on_postgresql
@pytest.mark.django_db(transaction=True)
def test_a_worker_process_killed_with_sigkill_mid_recompute_and_the_next_run_is_right(ledger):
    ledger.add_measures(60)
    figures_recompute(today=TODAY)
    before = stored_figures()
    _change_the_ledger(ledger)

    env = {**os.environ, "DATABASE_URL": _database_url(), "DJANGO_SETTINGS_MODULE": "rectify.settings"}
    worker = subprocess.Popen(  # noqa: S603 (this interpreter and our own code)
        [sys.executable, "-c", WORKER, TODAY.isoformat()],
        cwd=settings.BASE_DIR,
        env=env,
        stdout=subprocess.PIPE,
        stderr=subprocess.PIPE,
        text=True,
    )
    try:
        ready, _w, _x = select.select([worker.stdout], [], [], 60)
        assert ready and worker.stdout.readline().strip() == "flags-updated", worker.stderr.read()
        # The worker holds the advisory lock now: a run meanwhile skips rather than waits.
        assert figures_recompute(today=TODAY).skipped
        os.kill(worker.pid, signal.SIGKILL)
        worker.wait(timeout=30)
    finally:
        if worker.poll() is None:
            worker.kill()
            worker.wait(timeout=30)
    assert worker.returncode == -signal.SIGKILL
    assert stored_figures() == before

    # PostgreSQL rolls the dead worker's transaction back and frees its lock as soon as it
    # sees the connection gone; the next run (the next beat tick) computes everything.
    deadline = time.monotonic() + 10
    while (result := figures_recompute(today=TODAY)).skipped and time.monotonic() < deadline:
        time.sleep(0.2)
    assert not result.skipped
    assert stored_figures() == hand_count(TODAY)


# --- The database connection lost during an import -----------------------------------------

IMPORT_CSV = (
    "检查名称,问题类别,问题描述,整改措施,责任单位,整改时限,最新进展\n"
    "断线测试巡察,工作机制,断线测试问题一,断线测试措施一,{dept},2022-06-30,断线测试进展一\n"
    "断线测试巡察,工作机制,断线测试问题一,断线测试措施二,{dept},2022-07-31,断线测试进展二\n"
    "断线测试巡察,作风建设,断线测试问题二,断线测试措施三,{dept},2022-08-31,\n"
)


def _imported_rows() -> dict[str, int]:
    return {
        "inspections": Inspection.objects.filter(title__startswith="断线测试").count(),
        "categories": Category.objects.filter(inspection__title__startswith="断线测试").count(),
        "findings": Finding.objects.filter(description__startswith="断线测试").count(),
        "measures": Measure.objects.filter(text__startswith="断线测试").count(),
        "progress": ProgressReport.objects.filter(text__startswith="断线测试").count(),
        "measure_history": Measure.history.filter(text__startswith="断线测试").count(),
        "progress_history": ProgressReport.history.filter(text__startswith="断线测试").count(),
    }


NOTHING = dict.fromkeys(
    ("inspections", "categories", "findings", "measures", "progress", "measure_history", "progress_history"), 0
)
EVERYTHING = {
    "inspections": 1,
    "categories": 2,
    "findings": 2,
    "measures": 3,
    "progress": 2,
    "measure_history": 3,
    "progress_history": 2,
}


def _drops_at_the_progress_insert(drop):
    """Let the inspections, findings and measures go in, then lose the connection."""

    def wrapper(execute, sql, params, many, context):
        if sql.startswith(f'INSERT INTO "{ProgressReport._meta.db_table}"'):
            assert Measure.objects.filter(text__startswith="断线测试").count() == 3  # half written so far
            drop()
        return execute(sql, params, many, context)

    return wrapper


def _start_import(client) -> PendingImport:
    department = DepartmentFactory(name="社会救助科")
    office = make_user(Role.OFFICE, username="office_import")
    client.force_login(office)
    plan, pending = upload(client, "台账.csv", IMPORT_CSV.format(dept=department.name).encode())
    assert plan.problems == [] and plan.counts["measures_created"] == 3
    return pending


@pytest.mark.django_db
def test_a_connection_error_midway_through_an_import_writes_nothing(client):
    pending = _start_import(client)

    def drop() -> None:
        raise OperationalError("server closed the connection unexpectedly")

    with connection.execute_wrapper(_drops_at_the_progress_insert(drop)), pytest.raises(OperationalError):
        confirm(client, pending)
    assert _imported_rows() == NOTHING
    assert PendingImport.objects.filter(pk=pending.pk).exists()  # the office can simply confirm again

    assert confirm(client, pending).status_code == 302
    assert _imported_rows() == EVERYTHING


@on_postgresql
@pytest.mark.django_db(transaction=True)
def test_the_server_dropping_the_connection_midway_through_an_import_writes_nothing(client):
    import psycopg2

    pending = _start_import(client)
    params = connection.get_connection_params()

    def drop() -> None:
        # Another session has the server end ours, as a restart or a network cut would.
        pid = connection.connection.get_backend_pid()
        with contextlib.closing(psycopg2.connect(**params)) as admin:
            admin.autocommit = True
            with admin.cursor() as cursor:
                cursor.execute("SELECT pg_terminate_backend(%s)", [pid])

    with (
        connection.execute_wrapper(_drops_at_the_progress_insert(drop)),
        pytest.raises((OperationalError, InterfaceError)),
    ):
        confirm(client, pending)
    connection.close()  # the dead connection; the next query opens a fresh one
    assert _imported_rows() == NOTHING
    assert PendingImport.objects.filter(pk=pending.pk).exists()

    assert confirm(client, pending).status_code == 302
    assert _imported_rows() == EVERYTHING
