import time

from django.core.management.base import BaseCommand, CommandError, CommandParser
from django.db import connection

from devdata.generator import DEFAULT_BATCH_SIZE, ledger_generate


class Command(BaseCommand):
    help = (
        "Add a realistic generated ledger of N measures (with inspections, categories, findings, "
        "assisting departments and progress reports) to the current database, for tests and "
        "benchmarks. Deterministic for a given --seed and day. Run the recompute job afterwards "
        "to fill the overdue, due-soon and reported flags."
    )

    def add_arguments(self, parser: CommandParser) -> None:
        parser.add_argument("--measures", type=int, required=True, help="how many measures to add")
        parser.add_argument("--seed", type=int, default=1, help="random seed (default 1)")
        parser.add_argument(
            "--batch-size",
            type=int,
            default=DEFAULT_BATCH_SIZE,
            help=f"measures per COPY / bulk_create batch (default {DEFAULT_BATCH_SIZE})",
        )

    def handle(self, *args: object, measures: int, seed: int, batch_size: int, **options: object) -> None:
        if measures < 1:
            raise CommandError("--measures must be at least 1")
        if batch_size < 1:
            raise CommandError("--batch-size must be at least 1")
        method = "COPY" if connection.vendor == "postgresql" else "bulk_create"
        self.stdout.write(
            f"Generating {measures:,} measures (seed {seed}, batch {batch_size:,}) "
            f"on {connection.vendor} with {method}…"
        )
        started = time.perf_counter()
        step = max(batch_size, measures // 20)  # about twenty progress lines for a big run
        shown = 0

        def report(done: int, total: int) -> None:
            nonlocal shown
            if done - shown >= step or (done == total and shown != total):
                shown = done
                elapsed = time.perf_counter() - started
                self.stdout.write(f"  {done:>12,} / {total:,} measures  {done * 100 // total:3d}%  {elapsed:8.1f} s")
                if done == total and connection.vendor == "postgresql":
                    self.stdout.write("  committing: PostgreSQL checks the deferred foreign keys of every new row…")

        result = ledger_generate(measures=measures, seed=seed, batch_size=batch_size, on_progress=report)
        seconds = max(result.seconds, 1e-9)
        self.stdout.write(
            f"Added {result.inspections:,} inspections, {result.categories:,} categories, "
            f"{result.findings:,} findings, {result.measures:,} measures, "
            f"{result.assisting_links:,} assisting-department links, {result.progress_reports:,} progress reports."
        )
        self.stdout.write(
            self.style.SUCCESS(
                f"Done in {result.seconds:.1f} s: {result.measures / seconds:,.0f} measures/s, "
                f"{result.rows:,} rows at {result.rows / seconds:,.0f} rows/s."
            )
        )
