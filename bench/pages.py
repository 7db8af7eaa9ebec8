"""Server-side rendering time of the dashboard and ledger pages on a big ledger.

    createdb rectify_bench
    export DATABASE_URL=postgres://postgres@127.0.0.1:5432/rectify_bench
    python manage.py migrate
    python manage.py generate_ledger --measures 1000000 --seed 1
    python manage.py recompute
    python bench/pages.py [--runs 30] [--warmup 3] [--explain]

Each page is requested in-process through django.test.Client as a leadership user (all
middleware, session, permissions, templates; no network, no browser), after a few
warm-up requests. Printed per page: median and p95 wall-clock milliseconds, the median
milliseconds spent in the database, the number of queries, and the response size.
Targets (issue 6): dashboard median < 50 ms, ledger with filters median < 150 ms.

--explain prints EXPLAIN (ANALYZE, BUFFERS) of the slowest query of every page, which is
how the indexes of dashboards/migrations/0003_dashboard_read_indexes.py were chosen.
"""

import argparse
import os
import statistics
import sys
import time
from pathlib import Path
from urllib.parse import urlencode

sys.path.insert(0, str(Path(__file__).resolve().parent.parent))
# Production-like: no DEBUG query log or template debug info in the timings.
os.environ.setdefault("DJANGO_SETTINGS_MODULE", "rectify.settings")
os.environ.setdefault("DEBUG", "0")
os.environ.setdefault("SECRET_KEY", "bench-only-not-a-secret")
os.environ.setdefault("LOG_LEVEL", "WARNING")

import django  # noqa: E402

django.setup()

from django.conf import settings  # noqa: E402
from django.contrib.auth.models import Group  # noqa: E402
from django.db import connection  # noqa: E402
from django.db.models import Count  # noqa: E402
from django.test import Client  # noqa: E402
from django.test.utils import CaptureQueriesContext, override_settings  # noqa: E402

from accounts.models import Role, User  # noqa: E402
from dashboards.fragments import names_changed  # noqa: E402
from dashboards.models import Figure, ScopeKind  # noqa: E402
from findings.models import Inspection  # noqa: E402
from measures.models import Measure  # noqa: E402

TARGETS_MS = {"dashboard": 50.0, "ledger": 150.0}
# The whole-bureau dashboard keeps its breakdowns rendered until the figures change, and the
# recompute job renders them for the new figures (dashboards.breakdowns); this row times a
# view that finds nothing kept: the first after a rename, or with the cache unreachable.
FIRST_VIEW_LABEL = "dashboard (bureau, nothing cached)"


class DatabaseTimer:
    """execute_wrapper that adds up the time spent inside the database driver."""

    def __init__(self) -> None:
        self.seconds = 0.0

    def __call__(self, execute, sql, params, many, context):  # type: ignore[no-untyped-def]
        started = time.perf_counter()
        try:
            return execute(sql, params, many, context)
        finally:
            self.seconds += time.perf_counter() - started


def percentile(values: list[float], share: float) -> float:
    ordered = sorted(values)
    index = min(len(ordered) - 1, max(0, round(share * (len(ordered) - 1))))
    return ordered[index]


def bench_user() -> User:
    user = User.objects.filter(groups__name=Role.LEADERSHIP.value, is_active=True).order_by("id").first()
    if user is None:
        user = User.objects.create_user(username="bench_leader", full_name="基准测试领导")
        user.groups.add(Group.objects.get(name=Role.LEADERSHIP.value))
    return user


def pages() -> list[tuple[str, str, str]]:
    """(kind, label, url): the pages and the common ledger filters."""
    busiest = Measure.objects.order_by().values("lead_department_id").annotate(n=Count("id")).order_by("-n").first()
    department = busiest["lead_department_id"] if busiest else 0
    inspection = Inspection.objects.order_by("-feedback_date", "-id").values_list("id", flat=True).first() or 0
    return [
        ("dashboard", "dashboard (whole bureau)", "/dashboard/"),
        ("dashboard", FIRST_VIEW_LABEL, "/dashboard/"),
        ("dashboard", "dashboard (one department)", f"/dashboard/?department={department}"),
        ("dashboard", "dashboard of one inspection", f"/dashboard/inspections/{inspection}/"),
        ("ledger", "ledger, no filter", "/ledger/"),
        ("ledger", "ledger, a department", f"/ledger/?department={department}"),
        ("ledger", "ledger, overdue only", "/ledger/?overdue=true"),
        ("ledger", "ledger, overdue by deadline", "/ledger/?overdue=true&ordering=deadline"),
        ("ledger", "ledger, broad text (3% of rows)", "/ledger/?" + urlencode({"q": "养老服务"})),
        ("ledger", "ledger, specific text", "/ledger/?" + urlencode({"q": "婚姻登记档案管理不到位"})),
        (
            "ledger",
            "ledger, department + overdue + text",
            "/ledger/?" + urlencode({"department": department, "overdue": "true", "q": "专项排查"}),
        ),
    ]


def measure(client: Client, url: str, runs: int, warmup: int, *, uncached: bool = False) -> dict[str, float]:
    for _ in range(warmup):
        response = client.get(url, secure=True)
        if response.status_code != 200:
            raise SystemExit(f"{url}: HTTP {response.status_code}")
    wall, db = [], []
    for _ in range(runs):
        if uncached:
            # What a view finds after a rename retired the kept breakdowns: nothing.
            names_changed()
        timer = DatabaseTimer()
        with connection.execute_wrapper(timer):
            started = time.perf_counter()
            response = client.get(url, secure=True)
            wall.append((time.perf_counter() - started) * 1000)
        db.append(timer.seconds * 1000)
    if uncached:
        names_changed()
    with CaptureQueriesContext(connection) as queries:
        response = client.get(url, secure=True)
    return {
        "median": statistics.median(wall),
        "p95": percentile(wall, 0.95),
        "db": statistics.median(db),
        "queries": len(queries.captured_queries),
        "kb": len(response.content) / 1024,
        "slowest_sql": max(queries.captured_queries, key=lambda q: float(q["time"]))["sql"],
    }


def explain(sql: str) -> str:
    with connection.cursor() as cursor:
        cursor.execute("EXPLAIN (ANALYZE, BUFFERS) " + sql)
        return "\n".join(row[0] for row in cursor.fetchall())


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--runs", type=int, default=30)
    parser.add_argument("--warmup", type=int, default=3)
    parser.add_argument("--explain", action="store_true", help="EXPLAIN ANALYZE each page's slowest query")
    parser.add_argument("--only", default="", help="time only the pages whose label contains this")
    args = parser.parse_args()

    measures = Measure.objects.count()
    figures = Figure.objects.filter(scope_kind=ScopeKind.OVERALL).exists()
    print(
        f"{connection.vendor} {connection.settings_dict.get('NAME')}: {measures:,} measures, "
        f"{Inspection.objects.count():,} inspections; figures {'present' if figures else 'MISSING: run recompute'}"
    )
    # Production serves hashed static files from collectstatic's manifest; the bench has
    # none and needs no static files served, only their URLs.
    override_settings(
        STORAGES={**settings.STORAGES, "staticfiles": {"BACKEND": "django.core.files.storage.FileSystemStorage"}}
    ).enable()
    client = Client()
    client.force_login(bench_user())
    header = f"{'page':38} {'median ms':>10} {'p95 ms':>8} {'db ms':>7} {'queries':>8} {'KB':>7}  target"
    print(header)
    print("-" * len(header))
    failed = False
    explains = []
    for kind, label, url in pages():
        if args.only not in label:
            continue
        result = measure(client, url, args.runs, args.warmup, uncached=label == FIRST_VIEW_LABEL)
        target = TARGETS_MS[kind]
        ok = result["median"] < target
        failed |= not ok
        print(
            f"{label:38} {result['median']:10.1f} {result['p95']:8.1f} {result['db']:7.1f} "
            f"{result['queries']:8d} {result['kb']:7.0f}  {'<' if ok else '>='} {target:.0f} {'ok' if ok else 'SLOW'}"
        )
        if args.explain and connection.vendor == "postgresql":
            explains.append((label, result["slowest_sql"]))
    for label, sql in explains:
        print(f"\n=== {label}: slowest query\n{sql}\n{explain(sql)}")
    sys.exit(1 if failed else 0)


if __name__ == "__main__":
    main()
