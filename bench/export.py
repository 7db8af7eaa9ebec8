"""Benchmark: /ledger/export.csv end to end against PostgreSQL's own COPY.

    DATABASE_URL=postgres://postgres@127.0.0.1:5432/rectify_bench \\
        .venv/bin/python bench/export.py --measures 1000000

On a database holding fewer than --measures measures it first runs
`manage.py generate_ledger` (in a child process, so its memory is not counted) for the
difference. Then, in this process, it alternates --rounds times:
- plain COPY, the reference: `COPY (SELECT <the 18 ledger columns>) TO STDOUT WITH CSV`
  with the export's joins, subqueries and order but raw values (status codes, booleans,
  timestamps, NULLs; the 销号时间 / 销号人 column as its two raw values): no labels, date
  formats, name fallbacks or formula guard. The ratio to it is what those cost;
- `COPY (<the export's own SELECT>) TO STDOUT WITH CSV` through psycopg2 into a hash,
  which must give the export's very bytes;
- the export through Django's test client (the whole stack: middleware, session, the
  view, StreamingHttpResponse), its stream consumed and hashed chunk by chunk.
Both COPYs run with the export's session settings (exports.copy_into). It prints rows per
second (best round), export / plain COPY, the peak resident memory of this process (the
exporting one) and whether the export and its own COPY produced the same bytes. With
--python-path it also times the portable csv.writer path and checks its bytes too.

Targets (issue 7): export ≥ half of plain COPY's rows/s, peak memory < 150 MB, same file.
"""

from __future__ import annotations

import argparse
import hashlib
import os
import resource
import subprocess
import sys
import time
from pathlib import Path
from typing import Any

ROOT = Path(__file__).resolve().parent.parent
sys.path.insert(0, str(ROOT))
os.environ.setdefault("DJANGO_SETTINGS_MODULE", "rectify.settings")


def peak_rss_mb() -> float:
    # ru_maxrss is in kilobytes on Linux: the high-water mark of this process so far.
    return resource.getrusage(resource.RUSAGE_SELF).ru_maxrss / 1024


class HashSink:
    def __init__(self) -> None:
        self.hash = hashlib.sha256()
        self.size = 0

    def write(self, data: bytes) -> int:
        self.hash.update(data)
        self.size += len(data)
        return len(data)


def plain_copy_sql(measures: Any) -> str:
    """PostgreSQL's own COPY of the ledger's columns, raw: the reference the export is held to."""
    from django.db import connection
    from django.db.models import Count, F, IntegerField, OuterRef, Subquery, Window
    from django.db.models.functions import RowNumber

    from ledgerio import exports
    from measures.models import Evidence, ProgressReport

    ordering = exports.export_order(measures)
    latest = ProgressReport.objects.filter(measure=OuterRef("pk")).order_by("-reported_on", "-id").values("text")[:1]
    evidence_count = (
        Evidence.objects.filter(measure=OuterRef("pk")).order_by().values("measure").annotate(n=Count("id")).values("n")
    )
    rows = (
        measures.order_by(*ordering)
        .annotate(
            p_no=Window(
                RowNumber(),
                order_by=[F(name[1:]).desc() if name.startswith("-") else F(name).asc() for name in ordering],
            ),
            p_progress=Subquery(latest),
            p_evidence=Subquery(evidence_count, output_field=IntegerField()),
        )
        .values_list(
            "p_no",
            "inspection__title",
            "category__title",
            "finding__number",
            "finding__description",
            "number",
            "text",
            "target",
            "responsible_leader__full_name",
            "lead_department__name",
            "owner",
            "deadline",
            "status",
            "completed_at",
            "is_overdue",
            "p_progress",
            "p_evidence",
            "signed_off_at",
            "signed_off_by__full_name",
        )
    )
    sql, params = rows.query.sql_with_params()
    return f"COPY ({connection.ops.compose_sql(sql, params)}) TO STDOUT WITH (FORMAT csv)"


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--measures", type=int, default=1_000_000)
    parser.add_argument("--seed", type=int, default=1)
    parser.add_argument("--rounds", type=int, default=2)
    parser.add_argument("--python-path", action="store_true", help="also time the portable csv.writer path")
    args = parser.parse_args()

    if not os.environ.get("DATABASE_URL", "").startswith("postgres"):
        print("Set DATABASE_URL to a PostgreSQL database.", file=sys.stderr)
        return 2

    import django

    django.setup()
    from django.contrib.auth.models import Group
    from django.db import connection
    from django.test import Client

    from accounts.models import Role, User
    from ledgerio import exports
    from measures.models import Measure
    from measures.selectors import ledger_default_order

    existing = Measure.objects.count()
    if existing < args.measures:
        missing = args.measures - existing
        print(f"Generating {missing:,} measures (database has {existing:,}) …", flush=True)
        subprocess.run(
            [
                sys.executable,
                str(ROOT / "manage.py"),
                "generate_ledger",
                "--measures",
                str(missing),
                "--seed",
                str(args.seed),
            ],
            check=True,
        )
        subprocess.run([sys.executable, str(ROOT / "manage.py"), "recompute"], check=False)
    rows = Measure.objects.count()
    auditor, _created = User.objects.get_or_create(username="bench_auditor", defaults={"full_name": "基准审计"})
    auditor.groups.add(Group.objects.get(name=Role.AUDITOR.value))
    client = Client()
    client.force_login(auditor)
    baseline = peak_rss_mb()

    copy_sql = exports.ledger_copy_sql(ledger_default_order(Measure.objects.all()))
    plain_sql = plain_copy_sql(ledger_default_order(Measure.objects.all()))
    header = b"".join([exports._header_line()])

    def run_export() -> tuple[float, str, int]:
        digest = hashlib.sha256()
        size = 0
        started = time.perf_counter()
        response = client.get("/ledger/export.csv")
        assert response.status_code == 200, response.status_code
        for chunk in response.streaming_content:
            digest.update(chunk)
            size += len(chunk)
        response.close()
        return time.perf_counter() - started, digest.hexdigest(), size

    def run_copy() -> tuple[float, str, int]:
        sink = HashSink()
        sink.write(header)
        started = time.perf_counter()
        with connection.cursor() as cursor:
            # The very statement the export runs, with the same session settings.
            exports.copy_into(cursor.cursor, copy_sql, sink)
        return time.perf_counter() - started, sink.hash.hexdigest(), sink.size

    def run_plain_copy() -> tuple[float, str, int]:
        sink = HashSink()
        started = time.perf_counter()
        with connection.cursor() as cursor:
            exports.copy_into(cursor.cursor, plain_sql, sink)
        return time.perf_counter() - started, sink.hash.hexdigest(), sink.size

    def run_python() -> tuple[float, str, int]:
        digest = hashlib.sha256()
        size = 0
        started = time.perf_counter()
        for chunk in exports.ledger_csv_python(ledger_default_order(Measure.objects.all())):
            digest.update(chunk)
            size += len(chunk)
        return time.perf_counter() - started, digest.hexdigest(), size

    print(f"Ledger: {rows:,} measures on PostgreSQL {connection.pg_version // 10000}.", flush=True)
    results: dict[str, list[tuple[float, str, int]]] = {"plain": [], "copy": [], "export": [], "python": []}
    export_peak = baseline
    for round_no in range(1, args.rounds + 1):
        results["plain"].append(run_plain_copy())
        results["copy"].append(run_copy())
        results["export"].append(run_export())
        export_peak = max(export_peak, peak_rss_mb())
        print(
            f"  round {round_no}: plain COPY {results['plain'][-1][0]:.2f} s, "
            f"export's own COPY {results['copy'][-1][0]:.2f} s, export {results['export'][-1][0]:.2f} s",
            flush=True,
        )
    if args.python_path:
        results["python"].append(run_python())
        print(f"  python csv.writer path: {results['python'][-1][0]:.2f} s", flush=True)

    def best(key: str) -> float:
        return min(r[0] for r in results[key])

    plain_rate = rows / best("plain")
    copy_rate = rows / best("copy")
    export_rate = rows / best("export")
    # The plain COPY writes other bytes by design; the export, its own COPY and the
    # Python path must all write the same file.
    hashes = {r[1] for key in ("copy", "export", "python") for r in results[key]}
    same = len(hashes) == 1
    print()
    print(f"rows                        {rows:>14,}")
    print(f"file size                   {results['export'][0][2] / 1e6:>14.1f} MB")
    print(f"plain COPY (raw columns)    {results['plain'][0][2] / 1e6:>14.1f} MB")
    print(f"export rows/s               {export_rate:>14,.0f}   ({best('export'):.2f} s, /ledger/export.csv)")
    print(f"plain COPY rows/s           {plain_rate:>14,.0f}   ({best('plain'):.2f} s)")
    print(f"ratio export / plain COPY   {export_rate / plain_rate:>14.2f}   (target ≥ 0.50)")
    own = f"({best('copy'):.2f} s; export / it {export_rate / copy_rate:.2f})"
    print(f"  export's own COPY rows/s  {copy_rate:>14,.0f}   {own}")
    if results["python"]:
        python_time = results["python"][0][0]
        print(f"  portable csv.writer path  {rows / python_time:>14,.0f} rows/s  ({python_time:.2f} s)")
    print(f"peak RSS MB                 {export_peak:>14.1f}   (baseline {baseline:.1f} MB; target < 150 MB)")
    compared = "export, its own COPY" + (", csv.writer path" if results["python"] else "")
    print(f"same bytes                  {'yes' if same else 'NO':>14}   ({compared})")
    ok = same and export_rate >= plain_rate / 2 and export_peak < 150
    return 0 if ok else 1


if __name__ == "__main__":
    sys.exit(main())
