from django.core.management.base import BaseCommand
from django.db import transaction
from django.db.models import Max, Min

from cases import clock
from cases.models import Ticket, TicketEvent
from cases.workflow.facts import facts_repair
from departments.models import Department
from reports.metrics import COUNTER_NAMES, Period, counters_live
from reports.rollups import rollups_forget


class _DryRun(Exception):
    """Raised to roll the repair back after measuring it."""


class Command(BaseCommand):
    help = "Fill the fact columns of the timeline events (and callbacks' units) from each ticket's timeline."

    def add_arguments(self, parser):
        parser.add_argument("--dry-run", action="store_true", help="print what would change, change nothing")

    def handle(self, *args, **options):
        period = _whole_record()
        before = counters_live(period, group_by="department") if period else {}
        try:
            with transaction.atomic():
                changed = facts_repair()
                after = counters_live(period, group_by="department") if period else {}
                if options["dry_run"]:
                    raise _DryRun
                if changed["events"] or changed["callbacks"]:
                    rollups_forget()  # the repaired columns were written without an event
        except _DryRun:
            pass
        verb = "Would change" if options["dry_run"] else "Changed"
        self.stdout.write(f"{verb} {changed['events']} events and {changed['callbacks']} callbacks.")
        names = dict(Department.objects.values_list("pk", "name"))
        for unit in sorted(set(before) | set(after), key=lambda pk: (pk is None, names.get(pk, ""))):
            old, new = before.get(unit), after.get(unit)
            diffs = [
                f"{name} {getattr(old, name, 0):g}→{getattr(new, name, 0):g}"
                for name in COUNTER_NAMES
                if getattr(old, name, 0) != getattr(new, name, 0)
            ]
            if diffs:
                self.stdout.write(f"  {names.get(unit, '(no unit)')}: {', '.join(diffs)}")


def _whole_record() -> Period | None:
    """Every day the record touches, from the first ticket to the last deadline."""
    span = Ticket.objects.aggregate(first=Min("received_at"), last=Max("resolve_due_at"))
    last_event = TicketEvent.objects.aggregate(last=Max("created_at"), due=Max("due_at"))
    if span["first"] is None:
        return None
    ends = [moment for moment in (span["last"], last_event["last"], last_event["due"], clock.now()) if moment]
    return Period(clock.local_day(span["first"]), clock.local_day(max(ends)))
