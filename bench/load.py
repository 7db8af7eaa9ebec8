"""Load test: gunicorn with production settings on PostgreSQL and Redis, 50 people at once.

    python bench/load.py                     # 50 users for 60 s on a 10,000-measure ledger
    python bench/load.py --duration 20 --measures 2000

It builds a fresh database (rectify_load on 127.0.0.1 by default; dropped and made again
each run), generates a ledger, starts gunicorn (DEBUG=0, WhiteNoise, plain HTTP on the
loopback) and one Celery worker (so every change queues a real recompute), and plays:

- staff (32): open one of their department's measures through the API, change its status
  (not started → in progress → completed → withdrawn …) and add progress reports;
- leadership (12): open the bureau dashboard and an inspection's dashboard, review
  completed measures they are responsible for;
- the office (5): open the dashboard and the ledger, sign reviewed measures off;
- an auditor (1): export the whole ledger as CSV.

Each person waits a random 1–5 s between actions (--think; a person reads a page before
the next click, and `--think 0.5 2` makes a harsher run), starts after one such pause (so
the fifty arrive over the first seconds rather than in one burst), logs in through the login form
first, and sends every write with the version it read (optimistic locking), so two
people acting on one measure get 409 for the second: counted as conflicts, not errors.

Then it prints requests per second and median / p95 latency per action, and checks the
database: every accepted progress report is there exactly once with its unique text, every
accepted status change, review and sign-off is one history row (and one decision) with the
version it created, no version of any measure was written twice, and no write the server
refused left anything behind. Target on a 2-core machine: no errors, p95 < 300 ms for the
updates and the dashboards. Exit status 1 when there were errors or the check failed.

Everything stays on this machine: the script refuses any host outside 127.0.0.0/8, its
loops end at the deadline, and it stops the servers it started.
"""

from __future__ import annotations

import argparse
import ipaddress
import os
import random
import re
import secrets
import signal
import socket
import statistics
import subprocess
import sys
import tempfile
import threading
import time
from collections import Counter, defaultdict
from dataclasses import dataclass, field
from pathlib import Path
from urllib.parse import urlparse

import requests

BASE_DIR = Path(__file__).resolve().parent.parent
sys.path.insert(0, str(BASE_DIR))
VENV_BIN = Path(sys.executable).parent
PASSWORD = "load-bench-" + secrets.token_hex(8)

ROLES = {"staff": 32, "leadership": 12, "office": 5, "auditor": 1}
# The actions whose p95 the target applies to.
TARGETED = {"status", "progress", "dashboard", "inspection dashboard", "review", "sign off"}
TARGET_P95_MS = 300.0


def loopback_only(url: str) -> None:
    host = urlparse(url).hostname or ""
    if host == "localhost":
        return
    if not ipaddress.ip_address(host).is_loopback:
        raise SystemExit(f"refusing {url}: this bench only talks to the loopback (127.0.0.0/8)")


# --- Setting up ------------------------------------------------------------------------------


def production_env(args: argparse.Namespace, var_dir: Path) -> dict[str, str]:
    env = dict(os.environ)
    env.update(
        DEBUG="0",
        SECRET_KEY=secrets.token_urlsafe(50),
        ALLOWED_HOSTS="127.0.0.1,localhost",
        # Plain HTTP on the loopback: no TLS here, so no redirect and no Secure-only cookies.
        SECURE_SSL_REDIRECT="0",
        SESSION_COOKIE_SECURE="0",
        CSRF_COOKIE_SECURE="0",
        DATABASE_URL=args.database_url,
        REDIS_URL=args.redis_url,
        RECTIFY_VAR_DIR=str(var_dir),
        STATIC_ROOT=str(var_dir / "static"),
        MEDIA_ROOT=str(var_dir / "media"),
        LOG_LEVEL="WARNING",
        DJANGO_SETTINGS_MODULE="rectify.settings",
        # A change queues its recompute a few seconds later, as in production.
        RECOMPUTE_DEBOUNCE_SECONDS="5",
    )
    return env


def manage(env: dict[str, str], *command: str) -> None:
    subprocess.run(
        [sys.executable, "manage.py", *command], cwd=BASE_DIR, env=env, check=True, stdout=subprocess.DEVNULL
    )


def fresh_database(database_url: str) -> None:
    import psycopg2
    from psycopg2 import sql

    url = urlparse(database_url)
    name = url.path.lstrip("/")
    if not name.startswith("rectify_load"):
        raise SystemExit(f"refusing to drop {name!r}: the bench only recreates databases named rectify_load*")
    admin = psycopg2.connect(
        host=url.hostname,
        port=url.port or 5432,
        user=url.username or "postgres",
        password=url.password or "",
        dbname="postgres",
    )
    admin.autocommit = True
    with admin.cursor() as cursor:
        cursor.execute(sql.SQL("DROP DATABASE IF EXISTS {} WITH (FORCE)").format(sql.Identifier(name)))
        cursor.execute(sql.SQL("CREATE DATABASE {}").format(sql.Identifier(name)))
    admin.close()


def flush_redis(redis_url: str) -> None:
    import redis

    redis.Redis.from_url(redis_url, socket_connect_timeout=2).flushdb()


@dataclass
class Cast:
    """Who plays, and the measures each may act on."""

    users: dict[str, list[str]]  # role → usernames
    staff_measures: dict[str, list[int]]  # staff username → measures of their department
    inspections: list[int]


def build_cast(args: argparse.Namespace) -> Cast:
    """Users for every role, one password hash for all, and a pool of measures per department.

    Runs in this process after django.setup(), against the fresh database.
    """
    from django.contrib.auth.hashers import make_password
    from django.contrib.auth.models import Group

    from accounts.models import Department, Role, User
    from findings.models import Inspection
    from measures.models import Evidence, Measure, MeasureStatus

    rng = random.Random(args.seed)
    hashed = make_password(PASSWORD)
    groups = {role: Group.objects.get_or_create(name=role.value)[0] for role in Role}
    departments = list(Department.objects.order_by("id"))
    office_signer = User.objects.filter(groups__name=Role.OFFICE).first()

    users: dict[str, list[str]] = defaultdict(list)
    staff_measures: dict[str, list[int]] = {}
    for role_name, count in ROLES.items():
        role = Role(role_name)
        for i in range(count):
            department = departments[i % len(departments)] if role == Role.STAFF else None
            user = User.objects.create(
                username=f"load_{role_name}_{i:02d}",
                full_name=f"压测{role.label}{i}",
                department=department,
                password=hashed,
            )
            user.groups.add(groups[role])
            users[role_name].append(user.username)
            if role == Role.STAFF:
                staff_measures[user.username] = []

    # Each department's clerks share a pool of its open measures (so they sometimes collide,
    # as colleagues do); leaders are made responsible for some so they have reviews to do.
    leaders = list(User.objects.filter(username__in=users["leadership"]))
    for d_index, department in enumerate(departments):
        clerks = [u for i, u in enumerate(users["staff"]) if i % len(departments) == d_index]
        if not clerks:
            continue
        pool = list(
            Measure.objects.filter(lead_department=department, status=MeasureStatus.IN_PROGRESS)
            .order_by("id")
            .values_list("id", flat=True)[: args.pool]
        )
        Measure.objects.filter(id__in=pool).update(responsible_leader=rng.choice(leaders))
        # Completing needs evidence: a document number is enough.
        Evidence.objects.bulk_create(
            [
                Evidence(
                    measure_id=m, title="压测佐证", document_number=f"压测〔2024〕{m}号", uploaded_by=office_signer
                )
                for m in pool
            ]
        )
        for clerk in clerks:
            staff_measures[clerk] = pool
    inspections = list(Inspection.objects.order_by("id").values_list("id", flat=True)[:20])
    return Cast(dict(users), staff_measures, inspections)


def free_port() -> int:
    # Another developer's server may hold any fixed port; the kernel hands out an unused one.
    with socket.socket(socket.AF_INET, socket.SOCK_STREAM) as probe:
        probe.bind(("127.0.0.1", 0))
        return probe.getsockname()[1]


def wait_healthy(base: str, seconds: float, server: subprocess.Popen) -> None:
    deadline = time.monotonic() + seconds
    while time.monotonic() < deadline:
        if server.poll() is not None:
            raise SystemExit(f"gunicorn exited with status {server.returncode}")
        try:
            if requests.get(f"{base}/healthz", timeout=2).status_code == 200:
                return
        except requests.RequestException:
            pass
        time.sleep(0.3)
    raise SystemExit(f"{base}/healthz did not answer 200 in {seconds:.0f} s")


# --- Playing -----------------------------------------------------------------------------------


@dataclass
class Results:
    lock: threading.Lock = field(default_factory=threading.Lock)
    timings: dict[str, list[float]] = field(default_factory=lambda: defaultdict(list))
    statuses: dict[str, Counter] = field(default_factory=lambda: defaultdict(Counter))
    errors: list[str] = field(default_factory=list)
    # What the server accepted (302), for the database check afterwards.
    progress: list[tuple[int, str]] = field(default_factory=list)
    status_changes: list[tuple[int, int, str, str]] = field(default_factory=list)  # measure, new version, status, user
    decisions: list[tuple[int, int, str, str]] = field(default_factory=list)  # measure, new version, action, user
    refused_writes: list[tuple[str, int, str]] = field(default_factory=list)  # kind, measure, unique text

    def record(self, action: str, seconds: float, status: int) -> None:
        with self.lock:
            self.timings[action].append(seconds)
            self.statuses[action][status] += 1


VERSION = re.compile(r'name="version" value="(\d+)"')
CSRF_INPUT = re.compile(r'name="csrfmiddlewaretoken" value="([^"]+)"')


class Person(threading.Thread):
    def __init__(self, base: str, username: str, role: str, cast: Cast, results: Results, args, deadline: float):
        super().__init__(daemon=True, name=username)
        self.base, self.username, self.role, self.cast = base, username, role, cast
        self.results, self.args, self.deadline = results, args, deadline
        self.http = requests.Session()
        self.rng = random.Random(f"{args.seed}-{username}")
        self.counter = 0
        self.user_id = 0  # set by main() from the database

    # Requests, timed --------------------------------------------------------------------

    def call(
        self, action: str, method: str, path: str, *, expect: tuple[int, ...], **kwargs
    ) -> requests.Response | None:
        started = time.perf_counter()
        try:
            response = self.http.request(method, self.base + path, timeout=30, allow_redirects=False, **kwargs)
            if action == "export CSV":
                for _chunk in response.iter_content(65536):
                    pass
        except requests.RequestException as exc:
            with self.results.lock:
                self.results.errors.append(f"{action} {path}: {exc.__class__.__name__}: {exc}")
            return None
        self.results.record(action, time.perf_counter() - started, response.status_code)
        if response.status_code not in expect:
            with self.results.lock:
                self.results.errors.append(f"{action} {method} {path} → {response.status_code}")
        return response

    def post(self, action: str, path: str, data: dict, *, expect: tuple[int, ...]) -> requests.Response | None:
        data = {**data, "csrfmiddlewaretoken": self.http.cookies.get("csrftoken", "")}
        return self.call(action, "POST", path, data=data, expect=expect, headers={"Referer": self.base + path})

    def login(self) -> None:
        page = self.http.get(f"{self.base}/login/", timeout=30)
        token = CSRF_INPUT.search(page.text).group(1)
        response = self.http.post(
            f"{self.base}/login/",
            data={"username": self.username, "password": PASSWORD, "csrfmiddlewaretoken": token},
            headers={"Referer": f"{self.base}/login/"},
            timeout=60,
            allow_redirects=False,
        )
        if response.status_code != 302:
            raise RuntimeError(f"{self.username} could not log in: {response.status_code}")

    def unique(self, what: str) -> str:
        self.counter += 1
        return f"load-{what}-{self.username}-{self.counter}-{secrets.token_hex(3)}"

    # What each role does ----------------------------------------------------------------

    def staff_turn(self) -> None:
        pool = self.cast.staff_measures[self.username]
        if not pool:
            return
        measure_id = self.rng.choice(pool)
        response = self.call("open measure (API)", "GET", f"/api/measures/{measure_id}/", expect=(200,))
        if response is None or response.status_code != 200:
            return
        row = response.json()
        if self.rng.random() < 0.5:
            text = self.unique("progress")
            answer = self.post(
                "progress",
                f"/measures/{measure_id}/progress/",
                {"reported_on": time.strftime("%Y-%m-%d"), "text": text},
                expect=(302, 403),
            )
            if answer is not None:
                with self.results.lock:
                    if answer.status_code == 302:
                        self.results.progress.append((measure_id, text))
                    else:
                        self.results.refused_writes.append(("progress", measure_id, text))
            return
        target = {
            "not_started": "in_progress",
            "returned": "in_progress",
            "in_progress": "completed",
            "completed": "in_progress",
        }.get(row["status"])
        if target is None:  # reviewed or signed off meanwhile: nothing for a clerk to do
            return
        version = row["version"]
        answer = self.post(
            "status",
            f"/measures/{measure_id}/status/",
            {"new_status": target, "result": "已按要求完成整改(压测)", "version": version},
            expect=(302, 409),
        )
        if answer is not None and answer.status_code == 302:
            with self.results.lock:
                self.results.status_changes.append((measure_id, version + 1, target, self.username))

    def leadership_turn(self) -> None:
        roll = self.rng.random()
        if roll < 0.45:
            self.call("dashboard", "GET", "/dashboard/", expect=(200,))
        elif roll < 0.75:
            inspection = self.rng.choice(self.cast.inspections)
            self.call("inspection dashboard", "GET", f"/dashboard/inspections/{inspection}/", expect=(200,))
        else:
            self.decide("review", "completed", "/review/")

    def office_turn(self) -> None:
        roll = self.rng.random()
        if roll < 0.3:
            self.call("dashboard", "GET", "/dashboard/", expect=(200,))
        elif roll < 0.5:
            self.call("ledger", "GET", "/ledger/?status=in_progress&overdue=true", expect=(200,))
        else:
            self.decide("sign off", "reviewed", "/sign-off/")

    def decide(self, action: str, status: str, suffix: str) -> None:
        # A leader reviews the measures they are responsible for; the office signs off any.
        query = f"status={status}" + (f"&leader={self.user_id}" if action == "review" else "")
        listing = self.call(f"find {status}", "GET", f"/api/measures/?{query}", expect=(200,))
        if listing is None or listing.status_code != 200:
            return
        rows = listing.json()["results"]
        if not rows:
            return
        row = self.rng.choice(rows)
        answer = self.post(
            action,
            f"/measures/{row['id']}{suffix}",
            {"decision": "pass", "comment": "", "version": row["version"]},
            expect=(302, 409, 403),
        )
        if answer is not None and answer.status_code == 302:
            kind = "review_pass" if action == "review" else "sign_off"
            with self.results.lock:
                self.results.decisions.append((row["id"], row["version"] + 1, kind, self.username))

    def auditor_turn(self) -> None:
        self.call("export CSV", "GET", "/ledger/export.csv", expect=(200,))

    def log_in(self) -> None:
        try:
            self.login()
        except Exception as exc:  # noqa: BLE001 (reported, not raised: the other people go on)
            with self.results.lock:
                self.results.errors.append(f"login {self.username}: {exc}")
            self.deadline = 0.0  # sits out the run

    def run(self) -> None:
        turn = getattr(self, f"{self.role}_turn")
        # Arrive like people do, over the first pause, not all fifty in the same millisecond:
        # without this the run's first half second (every staff member's first status change
        # at once, on workers that have not served those pages yet) was most of the p95.
        time.sleep(self.rng.uniform(0.0, self.args.think[1]))
        while time.monotonic() < self.deadline:
            turn()
            pause = self.rng.uniform(*self.args.think)
            time.sleep(max(0.0, min(pause, self.deadline - time.monotonic())))


# --- Checking the database ------------------------------------------------------------------------


def check_database(results: Results) -> list[str]:
    from django.db.models import Count

    from measures.models import Measure, MeasureDecision, ProgressReport

    problems: list[str] = []
    accepted_texts = Counter(text for _m, text in results.progress)
    stored = Counter(
        dict(
            ProgressReport.objects.filter(text__startswith="load-progress-")
            .values("text")
            .annotate(n=Count("id"))
            .values_list("text", "n")
        )
    )
    lost = [t for t in accepted_texts if stored[t] == 0]
    duplicated = [t for t, n in stored.items() if n > 1]
    unexpected = [t for t in stored if t not in accepted_texts]
    if lost:
        problems.append(f"{len(lost)} accepted progress reports are missing, e.g. {lost[:3]}")
    if duplicated:
        problems.append(f"{len(duplicated)} progress reports were stored more than once")
    if unexpected:
        problems.append(f"{len(unexpected)} progress reports were stored without an accepted request")
    for _kind, _m, text in results.refused_writes:
        if stored[text]:
            problems.append(f"a refused progress report was stored: {text}")

    history = Measure.history.model.objects
    for measure_id, version, status, username in results.status_changes:
        n = history.filter(id=measure_id, version=version, status=status, history_user__username=username).count()
        if n != 1:
            problems.append(f"status change of measure {measure_id} to {status} (v{version}) has {n} history rows")
    for measure_id, version, action, username in results.decisions:
        rows = history.filter(id=measure_id, version=version, history_user__username=username).count()
        decided = MeasureDecision.objects.filter(measure_id=measure_id, action=action, decided_by__username=username)
        if rows != 1 or not decided.exists():
            problems.append(
                f"{action} of measure {measure_id} (v{version}): {rows} history rows, decision {decided.exists()}"
            )
    touched = {m for m, *_rest in results.status_changes} | {m for m, *_rest in results.decisions}
    doubled = (
        history.filter(id__in=touched, history_type="~")
        .values("id", "version")
        .annotate(n=Count("history_id"))
        .filter(n__gt=1)
    )
    if doubled.exists():
        problems.append(f"{doubled.count()} measure versions were written twice (lost update)")
    for measure in Measure.objects.filter(id__in=touched).only("id", "version"):
        top = history.filter(id=measure.id).order_by("-version").values_list("version", flat=True).first()
        if top != measure.version:
            problems.append(f"measure {measure.id} is at v{measure.version} but its history ends at v{top}")
    return problems


# --- Main ----------------------------------------------------------------------------------------


def percentile(values: list[float], q: float) -> float:
    ordered = sorted(values)
    return ordered[min(len(ordered) - 1, max(0, round(q * (len(ordered) - 1))))]


SERVER_ACTIONS = [
    ("status", re.compile(r"^POST /measures/\d+/status/$")),
    ("progress", re.compile(r"^POST /measures/\d+/progress/$")),
    ("review", re.compile(r"^POST /measures/\d+/review/$")),
    ("sign off", re.compile(r"^POST /measures/\d+/sign-off/$")),
    ("dashboard", re.compile(r"^GET /dashboard/$")),
    ("inspection dashboard", re.compile(r"^GET /dashboard/inspections/\d+/$")),
    ("open measure (API)", re.compile(r"^GET /api/measures/\d+/$")),
    ("export CSV", re.compile(r"^GET /ledger/export.csv$")),
]


def server_times(access_log: Path) -> dict[str, list[float]]:
    """Milliseconds each request spent inside gunicorn, by action, from its access log."""
    times: dict[str, list[float]] = defaultdict(list)
    with access_log.open() as log:
        for line in log:
            parts = line.split()
            if len(parts) != 4:
                continue
            method, path, _status, micros = parts
            for action, pattern in SERVER_ACTIONS:
                if pattern.match(f"{method} {path}"):
                    times[action].append(int(micros) / 1000)
                    break
    return times


def report(results: Results, seconds: float) -> bool:
    total = sum(len(v) for v in results.timings.values())
    print(f"\n{total:,} requests in {seconds:.1f} s: {total / seconds:.1f} requests/s")
    print(f"{'action':<24}{'count':>7}{'req/s':>8}{'median ms':>11}{'p95 ms':>9}{'max ms':>9}  statuses")
    ok = True
    for action in sorted(results.timings):
        ms = [t * 1000 for t in results.timings[action]]
        p95 = percentile(ms, 0.95)
        flag = ""
        if action in TARGETED and p95 >= TARGET_P95_MS:
            flag, ok = "  ← over target", False
        statuses = " ".join(f"{code}×{n}" for code, n in sorted(results.statuses[action].items()))
        print(
            f"{action:<24}{len(ms):>7}{len(ms) / seconds:>8.1f}{statistics.median(ms):>11.1f}{p95:>9.1f}"
            f"{max(ms):>9.1f}  {statuses}{flag}"
        )
    conflicts = sum(c[409] for c in results.statuses.values())
    print(f"\nconflicts (409, optimistic locking, expected): {conflicts}")
    print(f"errors: {len(results.errors)}")
    for error in results.errors[:20]:
        print(f"  {error}")
    print(
        f"accepted writes: {len(results.progress)} progress reports, {len(results.status_changes)} status changes, "
        f"{sum(1 for d in results.decisions if d[2] == 'review_pass')} reviews, "
        f"{sum(1 for d in results.decisions if d[2] == 'sign_off')} sign-offs"
    )
    return ok and not results.errors


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--duration", type=float, default=60.0, help="seconds of load (default 60)")
    parser.add_argument("--users", type=int, default=50, help="people at once (default 50, split as in ROLES)")
    parser.add_argument("--measures", type=int, default=10_000, help="ledger size (default 10,000)")
    parser.add_argument("--pool", type=int, default=12, help="measures in play per department (default 12)")
    parser.add_argument("--think", type=float, nargs=2, default=(1.0, 5.0), help="pause between actions, s")
    parser.add_argument("--workers", type=int, default=4, help="gunicorn worker processes (default 4)")
    parser.add_argument("--threads", type=int, default=4, help="threads per gthread worker (default 4)")
    parser.add_argument("--worker-class", default="gthread", choices=["sync", "gthread"])
    parser.add_argument("--port", type=int, default=0, help="loopback port for gunicorn (default: a free one)")
    parser.add_argument("--database-url", default="postgres://postgres@127.0.0.1:5432/rectify_load")
    parser.add_argument("--redis-url", default="redis://127.0.0.1:6379/15")
    parser.add_argument("--seed", type=int, default=1)
    parser.add_argument(
        "--no-worker", action="store_true", help="no Celery worker: changes queue recomputes that never run"
    )
    args = parser.parse_args()
    args.port = args.port or free_port()
    base = f"http://127.0.0.1:{args.port}"
    for url in (base, args.database_url, args.redis_url):
        loopback_only(url)
    if args.users != sum(ROLES.values()):
        scale = args.users / sum(ROLES.values())
        for role in ROLES:
            ROLES[role] = max(1, round(ROLES[role] * scale))

    var_dir = Path(tempfile.mkdtemp(prefix="rectify-load-"))
    env = production_env(args, var_dir)
    os.environ.update(env)
    print(f"database {args.database_url}, Redis {args.redis_url}, files in {var_dir}")
    fresh_database(args.database_url)
    flush_redis(args.redis_url)
    manage(env, "migrate", "--noinput")
    manage(env, "collectstatic", "--noinput")
    manage(env, "generate_ledger", "--measures", str(args.measures), "--seed", str(args.seed))
    manage(env, "recompute")

    import django

    django.setup()
    cast = build_cast(args)
    from accounts.models import User

    ids = dict(User.objects.values_list("username", "id"))

    # The servers' own logs (the refused writes' warnings among them) go to a file.
    server_log = (var_dir / "servers.log").open("w")
    print(f"gunicorn and celery log to {var_dir / 'servers.log'}")
    servers = [
        subprocess.Popen(
            [
                str(VENV_BIN / "gunicorn"),
                "rectify.wsgi:application",
                "--bind",
                f"127.0.0.1:{args.port}",
                "--workers",
                str(args.workers),
                "--threads",
                str(args.threads),
                "--worker-class",
                args.worker_class,
                # Longer than the longest pause between two requests of one person: otherwise
                # the server may close an idle kept-alive connection just as it is reused.
                "--keep-alive",
                str(int(args.think[1]) + 5),
                "--log-level",
                "warning",
                # Time spent in gunicorn per request (µs), to tell server time from queueing.
                "--access-logfile",
                str(var_dir / "access.log"),
                "--access-logformat",
                "%(m)s %(U)s %(s)s %(D)s",
            ],
            cwd=BASE_DIR,
            env=env,
            stdout=server_log,
            stderr=subprocess.STDOUT,
        ),
    ]
    if not args.no_worker:
        # Started only when wanted: a worker built and then left out of `servers` would
        # outlive the run (it did, once: a --no-worker run left one behind).
        servers.append(
            subprocess.Popen(
                [
                    str(VENV_BIN / "celery"),
                    "-A",
                    "rectify",
                    "worker",
                    "--concurrency",
                    "1",
                    "--loglevel",
                    "WARNING",
                    "--without-heartbeat",
                    "--without-gossip",
                    "--without-mingle",
                ],
                cwd=BASE_DIR,
                env=env,
                stdout=server_log,
                stderr=subprocess.STDOUT,
            )
        )
    ok = False
    results = Results()
    try:
        wait_healthy(base, 30, servers[0])
        print(f"logging {args.users} people in through the login form…")
        deadline_placeholder = time.monotonic() + 3600
        people = [
            Person(base, username, role, cast, results, args, deadline_placeholder)
            for role, usernames in cast.users.items()
            for username in usernames[: ROLES[role]]
        ]
        for person in people:
            person.user_id = ids[person.username]
        # Log in first (PBKDF2 is slow on purpose); the clock starts when everyone is in.
        logins = [threading.Thread(target=p.log_in) for p in people]
        for t in logins:
            t.start()
        for t in logins:
            t.join()
        print(f"load average before: {' '.join(f'{x:.2f}' for x in os.getloadavg())} ({os.cpu_count()} cores)")
        started = time.monotonic()
        deadline = started + args.duration
        print(f"playing {len(people)} people for {args.duration:.0f} s…")
        for person in people:
            if person.deadline:
                person.deadline = deadline
            person.start()
        for person in people:
            person.join(timeout=args.duration + 60)
        elapsed = time.monotonic() - started
        print(f"load average after: {' '.join(f'{x:.2f}' for x in os.getloadavg())}")
        ok = report(results, elapsed)
        inside = server_times(var_dir / "access.log")
        print(f"\n{'inside gunicorn':<24}{'count':>7}{'':>8}{'median ms':>11}{'p95 ms':>9}{'max ms':>9}")
        for action, ms in sorted(inside.items()):
            print(
                f"{action:<24}{len(ms):>7}{'':>8}{statistics.median(ms):>11.1f}"
                f"{percentile(ms, 0.95):>9.1f}{max(ms):>9.1f}"
            )
    finally:
        for server in servers:
            server.send_signal(signal.SIGTERM)
        for server in servers:
            try:
                server.wait(timeout=30)
            except subprocess.TimeoutExpired:
                server.kill()
                server.wait()

    problems = check_database(results)
    if problems:
        print("\ndatabase check FAILED:")
        for problem in problems[:30]:
            print(f"  {problem}")
    else:
        print("\ndatabase check: every accepted write is stored exactly once; no lost or duplicated update")
    flush_redis(args.redis_url)
    return 0 if ok and not problems else 1


if __name__ == "__main__":
    sys.exit(main())
