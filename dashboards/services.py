"""The recompute job: per-measure flags and the figures the dashboards read.

`figures_recompute` runs a fixed list of SQL statements whatever the ledger's size
(zulip analytics style: aggregate in the database, never loop over measures in Python):

1. one UPDATE per flag (超期, 临期, 本期已汇报), each writing only the measures whose
   flag changes, and one catching up last_progress_at with reports filed since the
   previous run;
2. one pass over the measures into a temporary table of counts per finding, department
   and leader, rolled up per finding into a second one, then one INSERT … SELECT …
   GROUP BY per scope kind (overall, inspection, category, department, leader) upserting
   the Figure rows from those counts;
3. today's DailySnapshot rows upserted from the fresh figures, so a second run the same
   day updates them and never adds rows.

All of it happens in one transaction, so a reader sees either the old figures or the new
ones. Two runs never overlap: PostgreSQL gives us a transaction-scoped advisory lock;
elsewhere (SQLite in development) the RecomputeState row is claimed with a conditional
UPDATE. A run that cannot get the lock skips rather than waits: another run is already
computing the same figures.

At a province's scale (a million measures, two hundred thousand findings) a run's cost is
reading the wide measures table four times (three flags, one count) and hashing half a
million (finding, department, leader) groups; bench/recompute.py measures it.
"""

import time
from collections.abc import Callable
from dataclasses import asdict, dataclass
from datetime import UTC, date, datetime, timedelta
from functools import cache

from django.conf import settings
from django.db import OperationalError, connection, transaction
from django.db.models import Q
from django.utils import timezone

from dashboards.models import DailySnapshot, Figure, RecomputeState, ScopeKind
from findings.models import Category, Finding, Inspection
from measures.models import COMPLETED_STATUSES, Measure, MeasureStatus, ProgressReport

# pg_try_advisory_xact_lock takes a bigint; any constant no other code uses will do.
RECOMPUTE_LOCK_ID = 7_302_915_041
# last_progress_at catches up with reports created since the previous run started, less
# this margin for reports whose transaction committed after that run had read them.
PROGRESS_CATCH_UP_MARGIN = timedelta(days=1)
# Before any run, every report is new.
EPOCH = datetime(1970, 1, 1, tzinfo=UTC)


class ReportingPeriod:
    WEEKLY = "weekly"
    MONTHLY = "monthly"
    QUARTERLY = "quarterly"


@dataclass(frozen=True)
class RecomputeResult:
    today: date
    skipped: bool = False
    seconds: float = 0.0
    statements: int = 0
    overdue_changed: int = 0
    due_soon_changed: int = 0
    reported_changed: int = 0
    last_progress_changed: int = 0
    figures: int = 0
    snapshots: int = 0

    @property
    def flags_changed(self) -> int:
        return self.overdue_changed + self.due_soon_changed + self.reported_changed

    def as_dict(self) -> dict[str, object]:
        return {**asdict(self), "today": self.today.isoformat(), "flags_changed": self.flags_changed}


def reporting_period(today: date, period: str | None = None) -> tuple[date, date]:
    """First and last day of the reporting period (一月一汇报 by default) containing `today`."""
    period = period or settings.REPORTING_PERIOD
    if period == ReportingPeriod.WEEKLY:
        start = today - timedelta(days=today.weekday())
        return start, start + timedelta(days=6)
    if period == ReportingPeriod.QUARTERLY:
        first_month = 3 * ((today.month - 1) // 3) + 1
        months = 3
    elif period == ReportingPeriod.MONTHLY:
        first_month = today.month
        months = 1
    else:
        raise ValueError(f"REPORTING_PERIOD must be weekly, monthly or quarterly, not {period!r}")
    start = today.replace(month=first_month, day=1)
    after = first_month + months  # 13 is January next year
    next_start = date(start.year + (after - 1) // 12, (after - 1) % 12 + 1, 1)
    return start, next_start - timedelta(days=1)


def figures_recompute(*, today: date | None = None) -> RecomputeResult:
    """Refresh the per-measure flags, the figures and today's snapshot; see the module doc.

    `today` is the bureau's date (Asia/Shanghai) unless a caller fixes it (tests, the bench).
    """
    today = today or timezone.localdate()
    counter = _StatementCounter()
    started = time.monotonic()
    with connection.execute_wrapper(counter):
        if connection.vendor == "postgresql":
            changes = _recompute_under_advisory_lock(today)
        else:
            changes = _recompute_under_claimed_row(today)
    if changes is None:
        return RecomputeResult(today=today, skipped=True, statements=counter.count)
    return RecomputeResult(
        today=today, seconds=round(time.monotonic() - started, 3), statements=counter.count, **changes
    )


# --- Locking ------------------------------------------------------------------------------


class _StatementCounter:
    """Counts the statements a run sends, so the result (and the bench) can report them."""

    def __init__(self) -> None:
        self.count = 0

    def __call__(self, execute: Callable, sql: str, params: object, many: bool, context: dict) -> object:
        self.count += 1
        return execute(sql, params, many, context)


@transaction.atomic
def _recompute_under_advisory_lock(today: date) -> dict[str, int] | None:
    # The xact variant is released by COMMIT or ROLLBACK, so a crashed worker never leaves
    # the figures locked; "try" so that an overlapping tick skips instead of queueing behind.
    with connection.cursor() as cursor:
        cursor.execute("SELECT pg_try_advisory_xact_lock(%s)", [RECOMPUTE_LOCK_ID])
        if not cursor.fetchone()[0]:
            return None
        # For this transaction only: the GROUP BYs hash every finding of a province, which
        # the default 4MB work_mem would spill to disk; and JIT compiling each statement
        # costs more than it saves on plans this simple.
        cursor.execute(
            "SELECT set_config('work_mem', %s, true), set_config('jit', 'off', true)",
            [settings.RECOMPUTE_WORK_MEM],
        )
    return _recompute(today)


def _recompute_under_claimed_row(today: date) -> dict[str, int] | None:
    now = timezone.now()
    stale = now - timedelta(seconds=settings.RECOMPUTE_LOCK_STALE_SECONDS)
    try:
        RecomputeState.objects.bulk_create([RecomputeState(id=1)], ignore_conflicts=True)
        claimed = RecomputeState.objects.filter(
            Q(running_since__isnull=True) | Q(running_since__lt=stale), id=1
        ).update(running_since=now)
    except OperationalError:
        # SQLite answers "database is locked" while another run holds the write lock.
        return None
    if not claimed:
        return None
    try:
        with transaction.atomic():
            return _recompute(today)
    finally:
        RecomputeState.objects.filter(id=1, running_since=now).update(running_since=None)


# --- The job ------------------------------------------------------------------------------


def _recompute(today: date) -> dict[str, int]:
    now = timezone.now()
    started = time.monotonic()
    ops = connection.ops
    day = ops.adapt_datefield_value
    moment = ops.adapt_datetimefield_value
    period_start, period_end = reporting_period(today)
    due_soon_until = today + timedelta(days=settings.DUE_SOON_DAYS)
    previous_start = RecomputeState.objects.filter(id=1).values_list("last_started_at", flat=True).first()
    progress_since = previous_start - PROGRESS_CATCH_UP_MARGIN if previous_start else EPOCH
    sql = _statements(connection.vendor)

    with connection.cursor() as cursor:
        cursor.execute(sql["overdue"], [day(today)] * 2)
        overdue_changed = cursor.rowcount
        cursor.execute(sql["due_soon"], [day(today), day(due_soon_until)] * 2)
        due_soon_changed = cursor.rowcount
        cursor.execute(sql["reported"], [day(period_start), day(period_end)])
        reported_changed = cursor.rowcount
        cursor.execute(sql["last_progress"], [moment(progress_since)])
        last_progress_changed = cursor.rowcount

        cursor.execute(sql["counts_create"])
        cursor.execute(sql["finding_counts_create"])
        figures = 0
        for kind in ScopeKind.values:
            cursor.execute(sql[f"figures_{kind}"], [moment(now)])
            figures += cursor.rowcount
        # Every scope that still exists was just written with computed_at = now; the rest
        # (a deleted inspection, a department that no longer leads anything) go.
        cursor.execute(sql["figures_clear_stale"], [moment(now)])
        # Dropped here rather than ON COMMIT: a caller's outer transaction (load_demo, the
        # tests) may run the job twice before it commits.
        cursor.execute(sql["counts_drop"])
        cursor.execute(sql["finding_counts_drop"])

        cursor.execute(sql["snapshot_upsert"], [day(today)])
        snapshots = cursor.rowcount
        # Today's rows of scopes gone since the day's earlier runs: today's trend point
        # must not show them.
        cursor.execute(sql["snapshot_clear_stale"], [day(today)])

    RecomputeState.objects.bulk_create(
        [
            RecomputeState(
                id=1,
                last_started_at=now,
                last_finished_at=timezone.now(),
                last_duration_ms=int((time.monotonic() - started) * 1000),
                measures_changed=overdue_changed + due_soon_changed + reported_changed,
            )
        ],
        update_conflicts=True,
        unique_fields=["id"],
        update_fields=["last_started_at", "last_finished_at", "last_duration_ms", "measures_changed"],
    )
    return {
        "overdue_changed": overdue_changed,
        "due_soon_changed": due_soon_changed,
        "reported_changed": reported_changed,
        "last_progress_changed": last_progress_changed,
        "figures": figures,
        "snapshots": snapshots,
    }


# --- SQL ----------------------------------------------------------------------------------
#
# Raw SQL because the ORM cannot say "UPDATE … FROM", "CREATE TABLE … AS", "INSERT …
# SELECT" or "ON CONFLICT DO UPDATE" from a SELECT. Everything here runs on PostgreSQL and
# SQLite ≥ 3.33 (FILTER, UPDATE … FROM, upsert … WHERE) alike. Status values and table
# names are constants from the models, never user input.

COUNTS = ("measures", "completed", "signed_off", "overdue", "due_soon", "not_reported")
FIGURE_COLUMNS = (*COUNTS, "findings", "rectified_findings")


@cache
def _statements(vendor: str) -> dict[str, str]:
    # Keyed by vendor although the text is the same today: the cache must not hand one
    # database's SQL to another if they ever differ.
    t = {
        "measure": Measure._meta.db_table,
        "progress": ProgressReport._meta.db_table,
        "finding": Finding._meta.db_table,
        "inspection": Inspection._meta.db_table,
        "category": Category._meta.db_table,
        "figure": Figure._meta.db_table,
        "snapshot": DailySnapshot._meta.db_table,
        "counts": "recompute_counts",
        "finding_counts": "recompute_finding_counts",
        "completed": "(" + ", ".join(f"'{s.value}'" for s in COMPLETED_STATUSES) + ")",
        "signed_off": f"'{MeasureStatus.SIGNED_OFF.value}'",
    }
    columns = ", ".join(FIGURE_COLUMNS)
    statements = {
        # 超期: deadline passed and not completed; long-term (长期坚持) measures count by
        # their deadline like the others. The WHERE writes only rows whose flag changes,
        # so a routine tick touches a handful of rows, not the ledger.
        "overdue": """
            UPDATE {measure}
            SET is_overdue = (deadline < %s AND status NOT IN {completed})
            WHERE is_overdue <> (deadline < %s AND status NOT IN {completed})
        """,
        # 临期: due within DUE_SOON_DAYS from today (today included) and not completed.
        "due_soon": """
            UPDATE {measure}
            SET is_due_soon = (deadline BETWEEN %s AND %s AND status NOT IN {completed})
            WHERE is_due_soon <> (deadline BETWEEN %s AND %s AND status NOT IN {completed})
        """,
        # 本期已汇报: a report dated within the current period. The WHERE picks the rows
        # whose flag is wrong, so flipping it is the fix, and the subquery (one hashed set
        # of this period's reports, read from the (measure, reported_on) index) runs once.
        # A deleted report clears its measure's flag like any other change.
        "reported": """
            UPDATE {measure}
            SET reported_this_period = NOT reported_this_period
            WHERE reported_this_period <> (
                id IN (SELECT measure_id FROM {progress} WHERE reported_on BETWEEN %s AND %s)
            )
        """,
        # The services set last_progress_at when they file a report; this catches up with
        # reports that arrived another way (admin) since the previous run. It never moves
        # the time back: a deleted report leaves the time of the last report ever filed.
        # Rebuilding it from every report would aggregate the whole reports table each tick.
        "last_progress": """
            UPDATE {measure}
            SET last_progress_at = latest.created_at
            FROM (
                SELECT measure_id, MAX(created_at) AS created_at
                FROM {progress}
                WHERE created_at >= %s
                GROUP BY measure_id
            ) latest
            WHERE latest.measure_id = {measure}.id
              AND (last_progress_at IS NULL OR last_progress_at < latest.created_at)
        """,
        # The counts of each finding's measures per department and leader: the only read
        # of the measures for the figures, the scopes are summed from these narrower
        # tables. INTEGER, because PostgreSQL sums bigints as numeric, several times slower.
        "counts_create": """
            CREATE TEMPORARY TABLE {counts} AS
            SELECT m.finding_id, m.inspection_id, m.category_id, m.lead_department_id, m.responsible_leader_id,
                   CAST(COUNT(*) AS INTEGER) AS measures,
                   CAST(COUNT(*) FILTER (WHERE m.status IN {completed}) AS INTEGER) AS completed,
                   CAST(COUNT(*) FILTER (WHERE m.status = {signed_off}) AS INTEGER) AS signed_off,
                   CAST(COUNT(*) FILTER (WHERE m.is_overdue) AS INTEGER) AS overdue,
                   CAST(COUNT(*) FILTER (WHERE m.is_due_soon) AS INTEGER) AS due_soon,
                   CAST(COUNT(*) FILTER (WHERE m.status NOT IN {completed} AND NOT m.reported_this_period)
                       AS INTEGER) AS not_reported
            FROM {measure} m
            GROUP BY m.finding_id, m.inspection_id, m.category_id, m.lead_department_id, m.responsible_leader_id
        """,
        # The same per finding: a finding is rectified (整改到位) when ALL its measures are
        # signed off, whoever leads them.
        "finding_counts_create": f"""
            CREATE TEMPORARY TABLE {{finding_counts}} AS
            SELECT finding_id, inspection_id, category_id, {_sums()},
                   SUM(measures) = SUM(signed_off) AS rectified
            FROM {{counts}}
            GROUP BY finding_id, inspection_id, category_id
        """,  # noqa: S608 (table and column names are model constants)
        "counts_drop": "DROP TABLE {counts}",
        "finding_counts_drop": "DROP TABLE {finding_counts}",
        "figures_overall": _figures_sql(ScopeKind.OVERALL, key=None, scope_rows="(SELECT 0 AS id)"),
        "figures_inspection": _figures_sql(ScopeKind.INSPECTION, key="inspection_id", scope_rows="{inspection}"),
        "figures_category": _figures_sql(ScopeKind.CATEGORY, key="category_id", scope_rows="{category}"),
        "figures_department": _figures_sql(ScopeKind.DEPARTMENT, key="lead_department_id"),
        "figures_leader": _figures_sql(ScopeKind.LEADER, key="responsible_leader_id"),
        "figures_clear_stale": "DELETE FROM {figure} WHERE computed_at < %s",
        # Only the rows whose counts changed are written: a day holds one row per scope
        # and most scopes do not move between two ticks. "WHERE TRUE" is SQLite's
        # required disambiguation of INSERT … SELECT … ON CONFLICT.
        "snapshot_upsert": f"""
            INSERT INTO {{snapshot}} (scope_kind, scope_id, day, {columns}, computed_at)
            SELECT scope_kind, scope_id, %s, {columns}, computed_at
            FROM {{figure}}
            WHERE TRUE
            ON CONFLICT (scope_kind, scope_id, day) DO UPDATE SET
                {", ".join(f"{c} = excluded.{c}" for c in FIGURE_COLUMNS)},
                computed_at = excluded.computed_at
            WHERE {" OR ".join(f"{{snapshot}}.{c} <> excluded.{c}" for c in FIGURE_COLUMNS)}
        """,  # noqa: S608 (table and column names are model constants)
        "snapshot_clear_stale": """
            DELETE FROM {snapshot}
            WHERE day = %s
              AND NOT EXISTS (
                  SELECT 1 FROM {figure} f
                  WHERE f.scope_kind = {snapshot}.scope_kind AND f.scope_id = {snapshot}.scope_id
              )
        """,
    }
    return {name: " ".join(sql.format(**t).split()) for name, sql in statements.items()}


def _sums(prefix: str = "") -> str:
    return ", ".join(f"CAST(SUM({prefix}{c}) AS INTEGER) AS {c}" for c in COUNTS)


def _figures_sql(kind: str, *, key: str | None, scope_rows: str | None = None) -> str:
    """One INSERT … SELECT … GROUP BY upserting the figures of one scope kind.

    An upsert rather than DELETE + INSERT: updating a row in place leaves the unique index
    alone (HOT, see the migration setting Figure's fillfactor), where a refill would add an
    index entry per scope (fifty thousand categories at a province's scale) and leave as
    many dead ones for the next run to step over.
    """
    upsert = f"""
        ON CONFLICT (scope_kind, scope_id) DO UPDATE SET
            {", ".join(f"{c} = excluded.{c}" for c in FIGURE_COLUMNS)}, computed_at = excluded.computed_at
    """
    insert = f"INSERT INTO {{figure}} (scope_kind, scope_id, {', '.join(FIGURE_COLUMNS)}, computed_at)"
    if scope_rows is None:
        # Departments and leaders cut across findings: a department's findings are those it
        # leads at least one measure of, gathered by the inner GROUP BY so the outer one
        # counts them with COUNT(*) rather than COUNT(DISTINCT); whether one is rectified
        # comes from the finding as a whole. A row for each one that leads a measure.
        return f"""
            {insert}
            SELECT '{kind}', pf.scope_id, {_sums("pf.")},
                   COUNT(*), COUNT(*) FILTER (WHERE fc.rectified), %s
            FROM (
                SELECT {key} AS scope_id, finding_id, {_sums()}
                FROM {{counts}}
                WHERE {key} IS NOT NULL
                GROUP BY {key}, finding_id
            ) pf
            JOIN {{finding_counts}} fc ON fc.finding_id = pf.finding_id
            WHERE TRUE
            GROUP BY pf.scope_id
            {upsert}
        """  # noqa: S608 (table and column names are model constants)
    # Overall, inspections and categories hold whole findings: summed from the findings'
    # counts. Every inspection and category gets a row, even one whose findings have no
    # measures yet; those findings count too, from the findings table. The overall scope
    # (key None) is the single id 0; "GROUP BY 0" would mean a column position.
    scope_key, group = (key, f"GROUP BY {key}") if key else ("0", "")
    return f"""
        {insert}
        SELECT '{kind}', s.id,
               {", ".join(f"COALESCE(agg.{c}, 0)" for c in COUNTS)},
               COALESCE(f.findings, 0), COALESCE(agg.rectified_findings, 0), %s
        FROM {scope_rows} s
        LEFT JOIN (
            SELECT {scope_key} AS scope_id, {_sums()}, COUNT(*) FILTER (WHERE rectified) AS rectified_findings
            FROM {{finding_counts}}
            {group}
        ) agg ON agg.scope_id = s.id
        LEFT JOIN (
            SELECT {scope_key} AS scope_id, COUNT(*) AS findings FROM {{finding}} {group}
        ) f ON f.scope_id = s.id
        WHERE TRUE
        {upsert}
    """  # noqa: S608 (table and column names are model constants)
