from datetime import date, timedelta

from django.core.management.base import BaseCommand, CommandError

from cases import clock
from cases.callbacks import callback_batch


class Command(BaseCommand):
    help = "Create the callbacks (回访) for the tickets closed on a day (yesterday by default); safe to re-run."

    def add_arguments(self, parser):
        parser.add_argument("--date", help="the day the tickets were closed, YYYY-MM-DD")

    def handle(self, *args, **options):
        if options["date"]:
            try:
                day = date.fromisoformat(options["date"])
            except ValueError:
                raise CommandError(f"--date: {options['date']!r} is not a date like 2026-11-22") from None
        else:
            day = clock.local_day() - timedelta(days=1)
        result = callback_batch(day=day)
        self.stdout.write(f"Callback batch for tickets closed on {day}:")
        self.stdout.write(f"  new callbacks: {result.created} (no callback possible: {result.impossible})")
        self.stdout.write(f"  already there: {result.existing}")
        for agent, n in sorted(result.per_agent.items()):
            self.stdout.write(f"  agent #{agent}: {n}")
        self.stdout.write(f"  {result.seconds * 1000:.0f} ms, {result.queries} queries")
