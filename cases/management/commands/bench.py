import os
import platform

from django.conf import settings
from django.core.management.base import BaseCommand, CommandError
from django.db import connection

from cases.models import Ticket, TicketState
from cases.tooling import bench_gate
from cases.tooling.bench import HEADER, OPERATIONS, PORTABLE, UNGATED, run


class Command(BaseCommand):
    help = (
        "Time the operations that must stay fast at scale (after generate_load) and print one table: "
        "wall and CPU ms per operation (median, p95) over several runs, statements, rows, and the same "
        "answer by raw SQL. --write-baseline records a baseline; --check gates a run against one."
    )

    def add_arguments(self, parser):
        parser.add_argument("--runs", type=int, default=5)
        parser.add_argument("--only", nargs="*", choices=OPERATIONS)
        parser.add_argument("--skip", nargs="*", choices=OPERATIONS, default=[])
        parser.add_argument(
            "--write-baseline",
            metavar="FILE",
            help=f"write the run's statements and CPU medians as a baseline (skips {', '.join(sorted(UNGATED))} "
            "unless --only names them)",
        )
        parser.add_argument(
            "--check",
            metavar="FILE",
            help="run the baseline's operations and fail if statements go up, CPU more than doubles, "
            "or a row is missing",
        )

    def handle(self, *args, runs, only, skip, write_baseline, check, **options):
        if runs < 1:
            raise CommandError("--runs must be at least 1")
        if write_baseline and check:
            raise CommandError("--write-baseline and --check do not go together")
        if (write_baseline or check) and runs < 2:
            # A row's statements are its runs' fewest: with one run, caches are cold.
            raise CommandError("--write-baseline and --check need --runs 2 or more (statements of a warm run)")
        baseline = None
        if check:
            try:
                baseline = bench_gate.load(check)
            except (OSError, ValueError) as error:
                raise CommandError(f"cannot read the baseline {check}: {error}") from error
            if only is None:
                only = sorted(bench_gate.operations(baseline))
        if write_baseline and only is None:
            only = [op for op in OPERATIONS if op not in UNGATED]
        selected = set(only) if only else set(OPERATIONS)
        selected -= set(skip)
        if not selected:
            raise CommandError("nothing to run: --only and --skip leave no operation")
        # seed: its own database in a child process; locate: an index built in memory. This one may be empty.
        seed_only = selected <= {"seed", "locate"}
        if not seed_only and not Ticket.objects.exists():
            raise CommandError("no tickets: run manage.py generate_load --tickets N first")
        if selected == {"suggest"}:
            # The model's accuracy needs no raw-SQL baseline: any database will do.
            run(runs=runs, only={"suggest"}, out=self.stdout.write)
            return
        if connection.vendor != "postgresql" and not selected <= PORTABLE:
            raise CommandError(
                "bench measures PostgreSQL (set DATABASE_URL); the raw SQL baselines are PostgreSQL's "
                f"(on SQLite only --only {' '.join(sorted(PORTABLE))})"
            )
        if seed_only:
            total = 0
            self.stdout.write(f"{' + '.join(sorted(selected))} only · {platform.machine()} {_cpus()} cores")
        else:
            total = Ticket.objects.count()
            open_ = Ticket.objects.filter(state__in=TicketState.values[:4]).count()
            self.stdout.write(
                f"{total:,} tickets, {open_:,} open · {_database()} · {platform.machine()} "
                f"{_cpus()} cores · {runs} runs each"
            )
        if settings.DEBUG:
            self.stdout.write("  (DEBUG is on: templates are not cached, so page times are pessimistic)")
        self.stdout.write("  " + " | ".join(HEADER))
        calibration, calibration_db = bench_gate.calibration_samples(), bench_gate.calibration_db_samples()
        rows = run(runs=runs, only=selected, out=self.stdout.write)
        # the machine's speed before and after the rows
        calibration += bench_gate.calibration_samples()
        calibration_db += bench_gate.calibration_db_samples()
        result = bench_gate.summary(
            rows, tickets=total, backend=connection.vendor, calibration=calibration, calibration_db=calibration_db
        )
        self.stdout.write(
            f"  calibration: {result['calibration_ms']:.1f} ms CPU (fixed Python workload, median); "
            f"{result['calibration_db_ms']:.1f} ms CPU ({bench_gate.DB_ROUND_TRIPS} round trips and "
            f"{bench_gate.DB_ROWS:,} rows fetched, median)"
        )
        if write_baseline:
            bench_gate.write(write_baseline, result)
            self.stdout.write(f"baseline written to {write_baseline}: {len(result['rows'])} rows")
        if baseline is not None:
            failures = bench_gate.gate(baseline, result)
            if failures:
                for failure in failures:
                    self.stderr.write(f"bench gate: {failure}")
                raise CommandError(f"bench gate failed against {check}: {len(failures)} problem(s)")
            self.stdout.write(self.style.SUCCESS(f"bench gate passed against {check}: {len(baseline['rows'])} rows"))


def _database() -> str:
    if connection.vendor != "postgresql":
        return f"{connection.display_name} {connection.Database.sqlite_version}"
    with connection.cursor() as cursor:
        cursor.execute("SHOW server_version")
        return f"PostgreSQL {cursor.fetchone()[0]}"


def _cpus():
    return len(os.sched_getaffinity(0))
