from django.core.management.base import BaseCommand
from django.utils import timezone

from cases.deadlines.retiming import retime_preview, retime_request, retime_run, retime_unfinished
from cases.models import RetimeRun


class Command(BaseCommand):
    help = (
        "Recompute the deadlines of every open ticket from the moment each clock started, under the current "
        "calendar and deadline policies (what a holiday or policy change queues), and resume unfinished runs."
    )

    def add_arguments(self, parser):
        parser.add_argument("--dry-run", action="store_true", help="print what would change, change nothing")

    def handle(self, *args, **options):
        if options["dry_run"]:
            result = retime_preview()
            self.stdout.write(f"{result.tickets} open tickets looked at, {result.changed} would change")
            for change in result.changes:
                for clock, (old, new) in change.clocks.items():
                    self.stdout.write(
                        f"  {change.number} {clock:<8} {timezone.localtime(old):%Y-%m-%d %H:%M} -> "
                        f"{timezone.localtime(new):%Y-%m-%d %H:%M}"
                    )
            return
        retime_request(reason=RetimeRun.Reason.HOURS)
        for pk in retime_unfinished():
            result = retime_run(run_id=pk)
            self.stdout.write(f"run {pk}: {result.tickets} open tickets looked at, {result.changed} changed")
