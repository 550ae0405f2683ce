import os
import platform

from django.conf import settings
from django.core.management.base import BaseCommand, CommandError
from django.db import connection

from cases.models import Ticket, TicketState
from cases.tooling.bench import HEADER, OPERATIONS, run


class Command(BaseCommand):
    help = (
        "Time the operations that must stay fast at scale (after generate_load) and print one table: "
        "median and p95 over several runs, queries, rows, and the same answer by raw SQL."
    )

    def add_arguments(self, parser):
        parser.add_argument("--runs", type=int, default=5)
        parser.add_argument(
            "--only",
            nargs="*",
            choices=OPERATIONS,
        )

    def handle(self, *args, runs, only, **options):
        if only and set(only) == {"suggest"}:
            # The model's accuracy needs no raw-SQL baseline: any database will do.
            if not Ticket.objects.exists():
                raise CommandError("no tickets: run manage.py generate_load --tickets N first")
            run(runs=runs, only={"suggest"}, out=self.stdout.write)
            return
        if connection.vendor != "postgresql":
            raise CommandError("bench measures PostgreSQL (set DATABASE_URL); the raw SQL baselines are PostgreSQL's")
        if not Ticket.objects.exists():
            raise CommandError("no tickets: run manage.py generate_load --tickets N first")
        total = Ticket.objects.count()
        open_ = Ticket.objects.filter(state__in=TicketState.values[:4]).count()
        with connection.cursor() as cursor:
            cursor.execute("SHOW server_version")
            version = cursor.fetchone()[0]
        self.stdout.write(
            f"{total:,} tickets, {open_:,} open · PostgreSQL {version} · {platform.machine()} "
            f"{_cpus()} cores · {runs} runs each"
        )
        if settings.DEBUG:
            self.stdout.write("  (DEBUG is on: templates are not cached, so page times are pessimistic)")
        self.stdout.write("  " + " | ".join(HEADER))
        run(runs=runs, only=set(only) if only else None, out=self.stdout.write)


def _cpus():
    return len(os.sched_getaffinity(0))
