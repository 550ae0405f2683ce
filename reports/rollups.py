"""Daily rollups: the counters of reports.metrics per day and unit.

Exact for any period: besides the recent days, every rebuild also rebuilds each
day a change since the last rebuild can touch — all the days of every ticket with
a timeline event after the watermark (``RollupMark``) or a callback recorded or
overruled since the last rebuild (its received, event, deadline and callback
days), however old."""

from datetime import date, timedelta

from django.conf import settings
from django.db import transaction
from django.db.models import Max, Min, Q
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
    """Every local day whose counters a change after the watermark may move. The
    tickets changed are found by subqueries, never a list of ids in Python: a large
    backlog (a bulk import, a long-stopped beat) costs rows streamed, not a
    statement with millions of parameters."""
    changed = Q(pk__in=TicketEvent.objects.filter(pk__gt=after_event_id).values("ticket_id"))
    if since is not None:
        changed |= Q(
            pk__in=Callback.objects.filter(Q(completed_at__gte=since) | Q(overruled_at__gte=since)).values("ticket_id")
        )
    tickets = Ticket.objects.filter(changed)
    streams = (
        tickets.values_list("received_at", "resolve_due_at"),
        TicketEvent.objects.filter(ticket__in=tickets.values("pk")).values_list("created_at", "due_at"),
        Callback.objects.filter(ticket__in=tickets.values("pk")).values_list("completed_at"),
    )
    days = set()
    for stream in streams:
        for moments in stream.iterator(chunk_size=20_000):
            days.update(clock.local_day(moment) for moment in moments if moment is not None)
    return days


def rollup_days_all(today: date) -> set[date]:
    """Every local day of the record, from the first ticket's to ``today`` or the
    latest resolve deadline still ahead (an open ticket is counted due on its
    deadline's day): what a first build (no watermark yet) touches, without reading
    the record row by row."""
    span = Ticket.objects.aggregate(first=Min("received_at"), last_due=Max("resolve_due_at"))
    if span["first"] is None:
        return set()
    start = clock.local_day(span["first"])
    end = max(today, clock.local_day(span["last_due"])) if span["last_due"] is not None else today
    return {start + timedelta(days=n) for n in range((end - start).days + 1)}


def rollups_rebuild(*, days: int | None = None, today: date | None = None) -> int:
    """Rebuild the recent days, whose counters move with time (a deadline passes),
    and every older day a late event touched; returns the rows written."""
    days = days or settings.HOTLINE_ROLLUP_REBUILD_DAYS
    today = today or clock.local_day()
    now = timezone.now()
    mark = RollupMark.objects.filter(name=MARK).first()
    last_event = TicketEvent.objects.aggregate(last=Max("pk"))["last"] or 0
    recent = {today - timedelta(days=offset) for offset in range(days + 1)}
    if mark is None:  # no mark yet: every day of the record is touched (once)
        touched = rollup_days_all(today)
    else:
        touched = rollup_days_touched(after_event_id=mark.event_id, since=mark.built_at)
    # Days before the archive's boundary keep the rollups built from their full
    # record: their facts are archived (cases.archive), and every ticket of them final.
    boundary = archive_boundary()
    rebuilt = sorted(day for day in recent | touched if boundary is None or clock.day_start(day) >= boundary)
    written = sum(rollup_build(day) for day in rebuilt)
    RollupMark.objects.update_or_create(name=MARK, defaults={"event_id": last_event, "built_at": now})
    return written
