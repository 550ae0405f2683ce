"""Daily rollups: the counters of reports.metrics per day and unit.

Exact for any period: besides the recent days, every rebuild also rebuilds each
day a change since the last rebuild can touch — all the days of every ticket with
a timeline event after the watermark (``RollupMark``) or a callback recorded or
overruled since the last rebuild (its received, event, deadline and callback
days), however old."""

from datetime import date, timedelta

from django.conf import settings
from django.db import transaction
from django.db.models import Max, Q
from django.utils import timezone

from cases import clock
from cases.archive import archive_boundary
from cases.models import Callback, Ticket, TicketEvent

from .metrics import COUNTER_NAMES, Period, counters_live
from .models import DailyUnitStat, RollupMark

MARK = "rollups"


def rollup_build(day: date) -> int:
    """Recompute one day's rows (all units) from the live data; returns the row count."""
    per_unit = counters_live(Period.day(day), group_by="department")
    now = timezone.now()
    rows = [
        DailyUnitStat(day=day, department_id=unit, built_at=now, **{n: getattr(c, n) for n in COUNTER_NAMES})
        for unit, c in per_unit.items()
        if any(getattr(c, n) for n in COUNTER_NAMES)
    ]
    with transaction.atomic():
        DailyUnitStat.objects.filter(day=day).delete()
        DailyUnitStat.objects.bulk_create(rows, batch_size=1000)
    return len(rows)


def rollup_days_touched(*, after_event_id: int, since) -> set[date]:
    """Every local day whose counters a change after the watermark may move."""
    ticket_ids = set(TicketEvent.objects.filter(pk__gt=after_event_id).values_list("ticket_id", flat=True))
    if since is not None:
        ticket_ids |= set(
            Callback.objects.filter(Q(completed_at__gte=since) | Q(overruled_at__gte=since)).values_list(
                "ticket_id", flat=True
            )
        )
    moments = set()
    for received, due in Ticket.objects.filter(pk__in=ticket_ids).values_list("received_at", "resolve_due_at"):
        moments |= {received, due}
    for created, due in TicketEvent.objects.filter(ticket_id__in=ticket_ids).values_list("created_at", "due_at"):
        moments |= {created, due}
    moments |= set(Callback.objects.filter(ticket_id__in=ticket_ids).values_list("completed_at", flat=True))
    return {clock.local_day(moment) for moment in moments if moment is not None}


def rollups_rebuild(*, days: int | None = None, today: date | None = None) -> int:
    """Rebuild the recent days, whose counters move with time (a deadline passes),
    and every older day a late event touched; returns the rows written."""
    days = days or settings.HOTLINE_ROLLUP_REBUILD_DAYS
    today = today or clock.local_day()
    now = timezone.now()
    mark = RollupMark.objects.filter(name=MARK).first()
    last_event = TicketEvent.objects.aggregate(last=Max("pk"))["last"] or 0
    recent = {today - timedelta(days=offset) for offset in range(days + 1)}
    # No mark yet: every day of the record is touched (once).
    touched = rollup_days_touched(after_event_id=mark.event_id if mark else 0, since=mark.built_at if mark else None)
    # Days before the archive's boundary keep the rollups built from their full
    # record: their facts are archived (cases.archive), and every ticket of them final.
    boundary = archive_boundary()
    rebuilt = sorted(day for day in recent | touched if boundary is None or clock.day_start(day) >= boundary)
    written = sum(rollup_build(day) for day in rebuilt)
    RollupMark.objects.update_or_create(name=MARK, defaults={"event_id": last_event, "built_at": now})
    return written
