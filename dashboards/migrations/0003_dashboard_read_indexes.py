"""Indexes for the dashboard pages and the ledger filters they link to.

Chosen with EXPLAIN ANALYZE on a generated ledger of 1,000,000 measures (bench/pages.py
--explain). They live in raw SQL here, not in the models' Meta, because Django cannot
express the partial (deadline, id) lists, the expression index on the figures or the
trigram indexes portably, and because they serve these pages' queries rather than the
models' own rules. Each one, and what it turned from what into what on that ledger:

- measure_overdue_deadline_idx, measure_due_soon_deadline_idx: the dashboard's overdue
  and due-soon lists (WHERE flag ORDER BY deadline, id LIMIT 20) and the ledger's
  "overdue, by deadline": the planner walked the whole deadline index filtering on the
  flag (1.3 s); now it reads 20 index entries.
- measure_dept_overdue_deadline_idx, measure_dept_due_soon_deadline_idx: the same lists
  on a department's dashboard and the ledger filtered by department and overdue.
- measure_dept_inspection_idx (lead_department_id, inspection_id): a department's most
  recent inspections (an EXISTS probe per inspection, index only) and the ledger filtered
  by department, whose default order (inspection, finding, number) then needs only an
  incremental sort of the first inspection's rows instead of sorting 75,000 rows.
- figure_kind_open_idx: "categories with the most unfinished measures" orders 50,000
  category figures by (measures - completed); 16 ms of sorting becomes an index walk.
- inspection_recent_idx: the recent-first inspection lists (dashboard, ledger filter).
- PostgreSQL only, with the pg_trgm extension: trigram GIN indexes on UPPER(text) of
  measures and UPPER(description) of findings, the expressions Django's icontains
  produces, so the ledger's text search reads matching rows instead of scanning and
  joining the whole ledger (3.3 s for any search before). SQLite has no trigram indexes;
  a development ledger is small enough to scan.

Created CONCURRENTLY on PostgreSQL (hence atomic = False) so that adding them to a live
ledger of a million rows never blocks the staff's writes.
"""

from django.contrib.postgres.operations import TrigramExtension
from django.db import migrations

# (name, table, definition) — the definition is the part after ON <table>.
PORTABLE_INDEXES = [
    ("measure_overdue_deadline_idx", "measures_measure", "(deadline, id) WHERE is_overdue"),
    ("measure_due_soon_deadline_idx", "measures_measure", "(deadline, id) WHERE is_due_soon"),
    ("measure_dept_overdue_deadline_idx", "measures_measure", "(lead_department_id, deadline, id) WHERE is_overdue"),
    ("measure_dept_due_soon_deadline_idx", "measures_measure", "(lead_department_id, deadline, id) WHERE is_due_soon"),
    ("measure_dept_inspection_idx", "measures_measure", "(lead_department_id, inspection_id)"),
    ("figure_kind_open_idx", "dashboards_figure", "(scope_kind, (measures - completed) DESC, scope_id)"),
    ("inspection_recent_idx", "findings_inspection", "(feedback_date DESC, id DESC)"),
]
POSTGRESQL_INDEXES = [
    ("measure_text_trgm_idx", "measures_measure", "USING gin (UPPER(text) gin_trgm_ops)"),
    ("finding_description_trgm_idx", "findings_finding", "USING gin (UPPER(description) gin_trgm_ops)"),
]


def create_indexes(apps, schema_editor):
    connection = schema_editor.connection
    postgresql = connection.vendor == "postgresql"
    indexes = PORTABLE_INDEXES + (POSTGRESQL_INDEXES if postgresql else [])
    concurrently = "CONCURRENTLY " if postgresql else ""
    qn = connection.ops.quote_name
    for name, table, definition in indexes:
        schema_editor.execute(f"CREATE INDEX {concurrently}IF NOT EXISTS {qn(name)} ON {qn(table)} {definition}")


def drop_indexes(apps, schema_editor):
    connection = schema_editor.connection
    postgresql = connection.vendor == "postgresql"
    indexes = PORTABLE_INDEXES + (POSTGRESQL_INDEXES if postgresql else [])
    concurrently = "CONCURRENTLY " if postgresql else ""
    for name, _table, _definition in indexes:
        schema_editor.execute(f"DROP INDEX {concurrently}IF EXISTS {connection.ops.quote_name(name)}")


class Migration(migrations.Migration):
    atomic = False

    dependencies = [
        ("dashboards", "0002_recompute_claim_and_snapshot_day_index"),
        ("findings", "0001_initial"),
        ("measures", "0001_initial"),
    ]

    operations = [
        # A no-op on other databases (CreateExtension checks the vendor itself).
        TrigramExtension(),
        migrations.RunPython(create_indexes, drop_indexes, elidable=False),
    ]
