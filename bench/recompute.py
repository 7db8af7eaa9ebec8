"""Benchmark the recompute job against the floor: the same work as hand-written SQL in psql.

    DATABASE_URL=postgres://postgres@127.0.0.1:5432/rectify_bench \\
        .venv/bin/python bench/recompute.py --measures 1000000

The database should be empty (a fresh one): the script migrates it and builds a ledger
with `manage.py generate_ledger --measures N --seed S`. With --reuse it times the ledger
already there (to rerun without building a million measures again).

generate_ledger stamps every progress report with the moment it ran; a real ledger's
reports were filed over months. Before timing, the reports' created_at is moved to the
day they report on (10:00), so that a routine tick sees a real day's new reports, not a
million of them.

Times, each as the job (dashboards.services.figures_recompute in this process) and as
two floors run by psql (the server time of their statements, summed from \\timing):
  (a) the first recompute, where every flag is new (the three flags are reset to their
      defaults and the job's state row deleted first), and
  (b) a routine tick, where about 1% of the measures change a flag: 1% of the open,
      undisturbed measures get their deadline moved into the past, then back, tick by
      tick, the job and the floors taking turns so each starts from the same state.
The floors: one UPDATE … WHERE flag IS DISTINCT FROM … per flag, then one GROUP BY per
scope, in one transaction with the job's work_mem; "floor" computes the same columns as
the job (findings and rectified findings too), "counts floor" only the measure counts.
Neither stores its rows nor maintains last_progress_at, which the job does.
"""

import argparse
import contextlib
import datetime as dt
import os
import re
import statistics
import subprocess
import sys
import time
from pathlib import Path

BASE_DIR = Path(__file__).resolve().parent.parent
PYTHON = sys.executable
# The routine tick moves deadlines this far into the past, and back.
SHIFT_DAYS = 10_000
SIDES = ("job", "floor", "counts floor")


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--measures", type=int, default=1_000_000, help="ledger size (default 1,000,000)")
    parser.add_argument("--seed", type=int, default=1, help="generate_ledger seed (default 1)")
    parser.add_argument("--ticks", type=int, default=3, help="routine ticks timed for each side (median shown)")
    parser.add_argument("--reuse", action="store_true", help="time the ledger already in the database")
    parser.add_argument("--firsts", type=int, default=1, help="first recomputes timed for each side (default 1)")
    parser.add_argument("--skip-first", action="store_true", help="time the routine tick only")
    args = parser.parse_args()

    url = os.environ.get("DATABASE_URL", "")
    if not url.startswith(("postgres://", "postgresql://")):
        sys.exit("Set DATABASE_URL to a PostgreSQL database (the floor runs in psql).")
    sys.path.insert(0, str(BASE_DIR))
    os.environ.setdefault("DJANGO_SETTINGS_MODULE", "rectify.settings")

    manage(["migrate", "--noinput", "-v", "0"])
    import django

    django.setup()
    from measures.models import Measure

    existing = Measure.objects.count()
    if existing and not args.reuse:
        sys.exit(f"The database already holds {existing:,} measures: use a fresh database, or --reuse.")
    if not existing:
        started = time.perf_counter()
        manage(["generate_ledger", "--measures", str(args.measures), "--seed", str(args.seed)])
        print(f"generate_ledger --measures {args.measures:,}: {time.perf_counter() - started:.1f} s")

    bench = Bench(url)
    bench.prepare()
    if not args.skip_first:
        bench.first_recompute(args.firsts)
    bench.routine_ticks(args.ticks)
    bench.report()


def manage(arguments: list[str]) -> None:
    subprocess.run([PYTHON, str(BASE_DIR / "manage.py"), *arguments], check=True, cwd=BASE_DIR)


class Bench:
    def __init__(self, url: str) -> None:
        from django.conf import settings
        from django.db import connection
        from django.utils import timezone

        from dashboards.services import reporting_period

        self.url = url
        self.connection = connection
        self.today = timezone.localdate()
        self.period = reporting_period(self.today)
        self.work_mem = settings.RECOMPUTE_WORK_MEM
        self.due_soon_days = settings.DUE_SOON_DAYS
        # name → side → list of (seconds, statements, rows changed)
        self.results: dict[str, dict[str, list[tuple[float, int, int]]]] = {}

    # -- helpers ---------------------------------------------------------------------------

    def sql(self, statement: str, params: list | None = None) -> list[tuple]:
        with self.connection.cursor() as cursor:
            cursor.execute(statement, params)
            return cursor.fetchall() if cursor.description else []

    def vacuum(self) -> None:
        # Every side starts from tables without the dead rows the previous step left, and
        # without its dirty pages to write out (CHECKPOINT needs a superuser; else skipped).
        for table in ("measures_measure", "measures_progressreport", "findings_finding", "dashboards_figure"):
            self.sql(f"VACUUM ANALYZE {table}")
        from django.db import DatabaseError

        with contextlib.suppress(DatabaseError):
            self.sql("CHECKPOINT")

    def run(self, side: str) -> tuple[float, int, int]:
        """One recompute by `side`: seconds, statements, flags changed."""
        if side == "job":
            from dashboards.services import figures_recompute

            result = figures_recompute(today=self.today)
            assert not result.skipped, "another recompute holds the lock"
            return result.seconds, result.statements, result.flags_changed
        script = floor_sql(
            today=self.today,
            due_soon_until=self.today + dt.timedelta(days=self.due_soon_days),
            period=self.period,
            work_mem=self.work_mem,
            with_findings=side == "floor",
        )
        out = subprocess.run(
            ["psql", self.url, "-X", "-v", "ON_ERROR_STOP=1", "-c", "\\timing on", "-f", "-"],
            input=script,
            capture_output=True,
            text=True,
            check=True,
        ).stdout
        times = [float(ms) for ms in re.findall(r"^Time: ([\d.]+) ms", out, re.MULTILINE)]
        changed = sum(int(n) for n in re.findall(r"^UPDATE (\d+)$", out, re.MULTILINE))
        statements = len(times) - 2  # BEGIN and COMMIT are not sent by the job either
        return sum(times) / 1000, statements, changed

    def record(self, name: str, side: str, outcome: tuple[float, int, int]) -> None:
        self.results.setdefault(name, {}).setdefault(side, []).append(outcome)
        print(f"  {name:<24} {side:<13} {outcome[0]:8.3f} s  {outcome[1]:3d} statements  {outcome[2]:,} changed")

    # -- the runs --------------------------------------------------------------------------

    def prepare(self) -> None:
        aged = self.sql(
            "UPDATE measures_progressreport"
            " SET created_at = (reported_on + time '10:00') AT TIME ZONE 'Asia/Shanghai'"
            " WHERE created_at > (reported_on + 2) AT TIME ZONE 'Asia/Shanghai' RETURNING 1"
        )
        self.vacuum()
        ((measures, findings, reports),) = self.sql(
            "SELECT (SELECT count(*) FROM measures_measure), (SELECT count(*) FROM findings_finding),"
            " (SELECT count(*) FROM measures_progressreport)"
        )
        self.measures = measures
        print(
            f"ledger: {measures:,} measures, {findings:,} findings, {reports:,} progress reports"
            f" ({len(aged):,} moved to the day they report on); today {self.today},"
            f" period {self.period[0]} – {self.period[1]}, work_mem {self.work_mem}"
        )

    def reset_flags(self) -> None:
        self.sql("UPDATE measures_measure SET is_overdue = false, is_due_soon = false, reported_this_period = false")
        # No previous run: the job checks last_progress_at against every report.
        self.sql("DELETE FROM dashboards_recomputestate")
        self.vacuum()

    def first_recompute(self, repeats: int) -> None:
        for _ in range(repeats):
            for side in SIDES:
                self.reset_flags()
                self.record("(a) first recompute", side, self.run(side))
        # Leave the flags and the figures as the job computes them, for the ticks.
        self.run("job")

    def routine_ticks(self, ticks: int) -> None:
        # 1% of the measures: open, not overdue, not due soon, deadline well ahead.
        ids = [
            row[0]
            for row in self.sql(
                "SELECT id FROM measures_measure WHERE status IN ('not_started', 'in_progress', 'returned')"
                " AND deadline > %s ORDER BY id LIMIT %s",
                [self.today + dt.timedelta(days=self.due_soon_days + 1), max(1, self.measures // 100)],
            )
        ]
        self.sql("CREATE TEMPORARY TABLE bench_tick (id bigint PRIMARY KEY)")
        self.sql("INSERT INTO bench_tick SELECT unnest(%s::bigint[])", [ids])
        self.run("job")  # a tick with nothing to change, so the first timed one is routine
        forward = True
        for _ in range(ticks):
            for side in SIDES:
                # Forward: the chosen measures' deadlines pass; backward: they come back.
                sign = "-" if forward else "+"
                forward = not forward
                self.sql(
                    f"UPDATE measures_measure SET deadline = deadline {sign} {SHIFT_DAYS}"
                    " WHERE id IN (SELECT id FROM bench_tick)"
                )
                self.vacuum()
                self.record("(b) routine tick (1%)", side, self.run(side))
        self.sql("DROP TABLE bench_tick")

    def report(self) -> None:
        print(f"\n{'':24} {'job s':>8} {'stmts':>5} {'floor s':>8} {'stmts':>5} {'ratio':>6}", end="")
        print(f" {'counts floor s':>14} {'stmts':>5} {'ratio':>6}  flags changed")
        for name, sides in self.results.items():
            job, floor, counts = (self.median(sides[side]) for side in SIDES)
            print(
                f"{name:24} {job[0]:8.3f} {job[1]:5d} {floor[0]:8.3f} {floor[1]:5d} {job[0] / floor[0]:6.2f}"
                f" {counts[0]:14.3f} {counts[1]:5d} {job[0] / counts[0]:6.2f}  {job[2]:,}"
            )
        print(
            "\njob: figures_recompute() wall time in this process: one transaction with the advisory lock,"
            " the flags, last_progress_at, the figure rows and the daily snapshot.\nfloors: psql, server time"
            " of the statements summed (\\timing); their GROUP BYs return rows instead of storing them."
            "\nratio: job / floor (median of the runs)."
        )

    @staticmethod
    def median(runs: list[tuple[float, int, int]]) -> tuple[float, int, int]:
        return statistics.median(r[0] for r in runs), runs[0][1], runs[0][2]


def floor_sql(
    *, today: dt.date, due_soon_until: dt.date, period: tuple[dt.date, dt.date], work_mem: str, with_findings: bool
) -> str:
    """The same work written by hand: one UPDATE per flag, one GROUP BY per scope."""
    completed = "('completed', 'reviewed', 'signed_off')"
    counts = f"""
        count(*) AS measures,
        count(*) FILTER (WHERE status IN {completed}) AS completed,
        count(*) FILTER (WHERE status = 'signed_off') AS signed_off,
        count(*) FILTER (WHERE is_overdue) AS overdue,
        count(*) FILTER (WHERE is_due_soon) AS due_soon,
        count(*) FILTER (WHERE status NOT IN {completed} AND NOT reported_this_period) AS not_reported
    """
    findings = """,
        count(DISTINCT m.finding_id) AS findings,
        count(DISTINCT m.finding_id) FILTER (WHERE fs.rectified) AS rectified_findings
    """
    finding_status = (
        " JOIN (SELECT finding_id, bool_and(status = 'signed_off') AS rectified"
        " FROM measures_measure GROUP BY finding_id) fs ON fs.finding_id = m.finding_id"
    )

    def per_scope(key: str, where: str = "") -> str:
        select = f"{key}, " if key else ""
        group = f"GROUP BY {key}" if key else ""
        if with_findings:
            return f"SELECT {select}{counts}{findings} FROM measures_measure m{finding_status} {where} {group};"
        return f"SELECT {select}{counts} FROM measures_measure m {where} {group};"

    reported = (
        "id IN (SELECT measure_id FROM measures_progressreport"
        f" WHERE reported_on BETWEEN '{period[0]}' AND '{period[1]}')"
    )
    return f"""
BEGIN;
SET LOCAL work_mem = '{work_mem}';
SET LOCAL jit = off;
UPDATE measures_measure SET is_overdue = (deadline < '{today}' AND status NOT IN {completed})
WHERE is_overdue IS DISTINCT FROM (deadline < '{today}' AND status NOT IN {completed});
UPDATE measures_measure
SET is_due_soon = (deadline BETWEEN '{today}' AND '{due_soon_until}' AND status NOT IN {completed})
WHERE is_due_soon IS DISTINCT FROM (deadline BETWEEN '{today}' AND '{due_soon_until}' AND status NOT IN {completed});
UPDATE measures_measure SET reported_this_period = ({reported})
WHERE reported_this_period IS DISTINCT FROM ({reported});
\\o /dev/null
{per_scope("")}
{per_scope("m.inspection_id")}
{per_scope("m.category_id")}
{per_scope("m.lead_department_id")}
{per_scope("m.responsible_leader_id", "WHERE m.responsible_leader_id IS NOT NULL")}
\\o
COMMIT;
"""


if __name__ == "__main__":
    main()
