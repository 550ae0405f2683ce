"""Daily rollups: the counters of reports.metrics per day and unit
(``DailyUnitStat``) and per day and category (``DailyCategoryStat``), and the
counts of 派单准确率 per day, dispatcher, dispatching unit and category
(``DailyDispatchStat``).

Exact for any period: besides the recent days, every rebuild also rebuilds each
day a change since the last rebuild can touch — all the days of every ticket with
a timeline event after the watermark (``RollupMark``) or a callback recorded or
overruled since the last rebuild (its received, event, deadline and callback
days), however old. A change committed just after the watermark was read, by a
transaction that began before it, is caught by its time: whatever was recorded
since the last rebuild began, less ``FACT_CLOCK_SLACK``, counts as new too.

A report reads the rollups after :func:`rollups_refresh` has made its period's days
equal the record: each day of it last built before the day ended, or touched since
the watermark, is rebuilt then."""

from datetime import date, datetime, timedelta

from django.conf import settings
from django.db import transaction
from django.db.models import Max, Min, Sum
from django.utils import timezone

from cases import clock
from cases.archive import archive_boundary
from cases.models import Callback, Ticket, TicketEvent

from .accuracy import COUNTS, ROLLUP_COLUMNS, ROLLUP_KEYS, dispatch_counts
from .metrics import COUNTER_NAMES, FACT_CLOCK_SLACK, Period, counters_live
from .models import DailyCategoryStat, DailyDispatchStat, DailyUnitStat, RollupDay, RollupMark

MARK = "rollups"


#: The most days one pass reads together (one set of grouped queries for them all).
BUILD_RUN_DAYS = 31


def _runs(days) -> list[list[date]]:
    """``days`` in order, cut into runs of consecutive days, each at most ``BUILD_RUN_DAYS`` long."""
    runs: list[list[date]] = []
    for day in sorted(set(days)):
        if runs and day - runs[-1][-1] == timedelta(days=1) and len(runs[-1]) < BUILD_RUN_DAYS:
            runs[-1].append(day)
        else:
            runs.append([day])
    return runs


def rollups_build(days) -> int:
    """Recompute ``days``' rows (every unit, category and dispatcher) from the live
    data; returns the row count. Consecutive days are read together, a run of up
    to ``BUILD_RUN_DAYS`` by one set of grouped queries (each fact counted on the
    day it is dated by: the counters of a one-day period). Each run's
    ``RollupDay`` rows are locked, in day order, before the record is read: two
    rebuilds of one day (a report's refresh, a scheduled one) run in turn, and the
    later one reads what the earlier wrote around — an older read never overwrites
    a newer one."""
    return sum(_build_run(run) for run in _runs(days))


def rollup_build(day: date) -> int:
    """:func:`rollups_build` of one day."""
    return rollups_build([day])


def _build_run(run: list[date]) -> int:
    period = Period(run[0], run[-1])
    now = timezone.now()  # before the locks and the reads: a day is never taken as newer than it is
    with transaction.atomic():
        # one upsert, in day order: it locks the run's rows as update_or_create would
        RollupDay.objects.bulk_create(
            [RollupDay(day=day, built_at=now) for day in run],
            update_conflicts=True,
            unique_fields=["day"],
            update_fields=["built_at"],
        )

        def counter_rows(model, group_by, key):
            return [
                model(day=day, built_at=now, **{key: pk}, **{n: getattr(c, n) for n in COUNTER_NAMES})
                for (day, pk), c in counters_live(period, group_by=("day", group_by)).items()
                if any(getattr(c, n) for n in COUNTER_NAMES)
            ]

        units = counter_rows(DailyUnitStat, "department", "department_id")
        categories = counter_rows(DailyCategoryStat, "category", "category_id")
        dispatched = [
            DailyDispatchStat(day=key[0], **dict(zip(ROLLUP_COLUMNS, key[1:], strict=True)), **counts)
            for key, counts in dispatch_counts(period, keys=ROLLUP_KEYS, by_day=True).items()
        ]
        for model, rows in ((DailyUnitStat, units), (DailyCategoryStat, categories), (DailyDispatchStat, dispatched)):
            model.objects.filter(day__gte=period.start, day__lte=period.end).delete()
            model.objects.bulk_create(rows, batch_size=1000)
    return len(units) + len(categories) + len(dispatched)


def dispatch_counts_rolled(period: Period, *, units: list[int] | None = None) -> dict:
    """``reports.accuracy.dispatch_counts`` on ``ROLLUP_KEYS``, summed from the rollups."""
    rows = DailyDispatchStat.objects.filter(day__gte=period.start, day__lte=period.end)
    if units is not None:
        rows = rows.filter(actor_department_id__in=units)
    sums = {name: Sum(name) for name in COUNTS}
    return {
        tuple(row[f] for f in ROLLUP_COLUMNS): {name: row[name] or 0 for name in COUNTS}
        for row in rows.values(*ROLLUP_COLUMNS).annotate(**sums).order_by()
    }


def rollup_days_touched(*, after_event_id: int, since) -> set[date]:
    """Every local day whose counters a change after the watermark may move. The
    tickets changed are found by subqueries, never a list of ids in Python: a large
    backlog (a bulk import, a long-stopped beat) costs rows streamed, not a
    statement with millions of parameters."""
    # One UNION of small index reads (event ids, event times, callbacks done and
    # overruled): the tickets are then found by their keys. An OR of IN-subqueries
    # would test every ticket of the table against each.
    changed = TicketEvent.objects.filter(pk__gt=after_event_id).values("ticket_id").order_by()
    if since is not None:
        since -= FACT_CLOCK_SLACK  # what a transaction open at the last rebuild committed after it
        changed = changed.union(
            TicketEvent.objects.filter(created_at__gte=since).values("ticket_id").order_by(),
            Callback.objects.filter(status=Callback.Status.DONE, completed_at__gte=since)
            .values("ticket_id")
            .order_by(),
            Callback.objects.filter(overruled_at__gte=since).values("ticket_id").order_by(),
        )
    tickets = Ticket.objects.filter(pk__in=changed)
    streams = (
        tickets.values_list("received_at", "resolve_due_at"),
        TicketEvent.objects.filter(ticket__in=tickets.values("pk")).values_list("created_at", "due_at"),
        Callback.objects.filter(ticket__in=tickets.values("pk")).values_list("completed_at"),
    )
    days = set()
    for stream in streams:
        for moments in stream.iterator(chunk_size=20_000):
            days.update(clock.local_day(moment) for moment in moments if moment is not None)
    # Every resolve deadline the ticket ever had: one a step moved away from (an
    # extension, an escalation, a re-timing, a return) leaves a day that counted the
    # open round as due. The events' payloads keep them.
    moved = TicketEvent.objects.filter(ticket__in=tickets.values("pk"), kind__in=DEADLINE_KINDS)
    for (data,) in moved.values_list("data").iterator(chunk_size=20_000):
        days.update(clock.local_day(moment) for moment in _deadlines_in(data or {}))
    return days


#: The events whose payload names a resolve deadline set, or moved away from.
DEADLINE_KINDS = (
    TicketEvent.Kind.DISPATCHED,
    TicketEvent.Kind.EXTENSION_APPROVED,
    TicketEvent.Kind.ESCALATED,
    TicketEvent.Kind.REOPENED,
    TicketEvent.Kind.DEADLINES_RETIMED,
)


def _deadlines_in(data: dict):
    resolve = (data.get("clocks") or {}).get("resolve") or {}
    for value in (data.get("resolve_due_at"), data.get("previous_due_at"), resolve.get("from"), resolve.get("to")):
        if value:
            yield datetime.fromisoformat(value)


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


def _live(days) -> list[date]:
    """``days`` in order, less those before the archive's boundary: they keep the
    rollups built from their full record (their facts are archived, cases.archive,
    and every ticket of them final)."""
    boundary = archive_boundary()
    return sorted(day for day in days if boundary is None or clock.day_start(day) >= boundary)


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
    rebuilt = _live(recent | touched)
    written = rollups_build(rebuilt)
    RollupMark.objects.update_or_create(name=MARK, defaults={"event_id": last_event, "built_at": now})
    return written


def rollups_refresh(period: Period) -> list[date]:
    """Make the rollups of ``period``'s days equal the record now (a report reads
    them next): rebuild each day of it not built since it ended, or touched since
    the watermark. The watermark stays where it is — the scheduled rebuilds move it,
    having rebuilt every day touched. Returns the days rebuilt."""
    days = {period.start + timedelta(days=n) for n in range(period.days)}
    built = dict(RollupDay.objects.filter(day__gte=period.start, day__lte=period.end).values_list("day", "built_at"))
    # a day is final once built after it ended (a fact of it is recorded by then,
    # by a clock up to FACT_CLOCK_SLACK behind)
    stale = {day for day in days if day not in built or built[day] < clock.day_bounds(day)[1] + FACT_CLOCK_SLACK}
    mark = RollupMark.objects.filter(name=MARK).first()
    touched = days if mark is None else rollup_days_touched(after_event_id=mark.event_id, since=mark.built_at) & days
    rebuilt = _live(stale | touched)
    rollups_build(rebuilt)
    return rebuilt


def rollups_forget() -> None:
    """The facts changed under the rollups without a new event (``repair_facts``):
    every day is rebuilt by the next scheduled rebuild, and by a report's refresh."""
    with transaction.atomic():
        RollupMark.objects.filter(name=MARK).delete()
        RollupDay.objects.all().delete()
