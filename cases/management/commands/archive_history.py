from django.core.management.base import BaseCommand, CommandError

from cases import clock
from cases.archive import ArchiveRefused, history_archive


class Command(BaseCommand):
    help = (
        "Move the timeline and ticket history of closed years (before local 1 January of --before) "
        "to the archive tables; every ticket's record stays readable. Month by month, resumable."
    )

    def add_arguments(self, parser):
        parser.add_argument("--before", type=int, required=True, help="archive every year before this one")
        parser.add_argument("--dry-run", action="store_true", help="show what would move; change nothing")

    def handle(self, *args, before, dry_run, **options):
        if not 2000 <= before <= clock.local_day().year + 1:
            raise CommandError(f"--before {before}: not a plausible year")

        def report(step):
            how = "detach + attach" if step.how == "detach" else "insert + delete"
            self.stdout.write(f"{step.spec.table} {clock.local_time(step.start):%Y-%m}: {step.rows:,} rows ({how})")

        try:
            steps = history_archive(year=before, dry_run=dry_run, report=report)
        except ArchiveRefused as refused:
            raise CommandError(f"refused: {refused}") from refused
        rows = sum(step.rows for step in steps)
        verb = "would move" if dry_run else "moved"
        self.stdout.write(f"{verb} {rows:,} rows in {len(steps)} month(s) of tables before {before}-01-01")
