from django.core.management.base import BaseCommand, CommandError
from django.utils import timezone
from django.utils.dateparse import parse_datetime

from cases.clock import clock_at
from cases.deadlines.scan import deadline_scan


class Command(BaseCommand):
    help = "Scan deadlines now: remind about every newly crossed warning level (what beat runs every few minutes)."

    def add_arguments(self, parser):
        parser.add_argument("--at", help="pretend it is this moment (ISO 8601, local time if no offset)")
        parser.add_argument(
            "--full", action="store_true", help="check every running clock, not only what crossed since the last pass"
        )

    def handle(self, *args, **options):
        now = timezone.now()
        if options["at"]:
            parsed = parse_datetime(options["at"])
            if parsed is None:
                raise CommandError(f"--at: cannot read {options['at']!r}; use e.g. 2026-11-23T09:00")
            now = timezone.make_aware(parsed) if timezone.is_naive(parsed) else parsed
        with clock_at(now):
            result = deadline_scan(now=now, full=options["full"] or None)
        local = timezone.localtime(result.scanned_at)
        if result.full:
            scope = "full pass"
        else:
            scope = f"crossed since {timezone.localtime(result.since):%Y-%m-%d %H:%M}"
        self.stdout.write(f"Deadline scan at {local:%Y-%m-%d %H:%M:%S} ({local.tzname()}), {scope}")
        if not result.reminders:
            self.stdout.write("  nothing newly crossed")
        for (clock, level), n in sorted(result.reminders.items()):
            self.stdout.write(f"  {clock:<8} {['', 'yellow', 'red', 'escalated'][level]:<9} {n:>6} new reminders")
        self.stdout.write(f"  notifications: {result.notifications}   urge notices: {result.urges}")
        self.stdout.write(f"  {result.seconds * 1000:.0f} ms, {result.queries} queries")
