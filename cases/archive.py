"""Archiving closed years of the timeline and the tickets' history (issue 22).

``manage.py archive_history --before YEAR`` moves every row of the partitioned
tables (``cases.partitions.TABLES``) dated before local 1 January of ``YEAR`` to
the archive tables (``T_archive``), month by month, each month in one transaction:

- PostgreSQL, a month that has its own partition: DETACH it from the live table and
  ATTACH it to the archive parent, rows and indexes as they are (the month's bound is
  proved first by a CHECK constraint validated without blocking the desk, so the
  attach reads nothing and the live table is locked only for the detach).
- a month still inside the legacy or the DEFAULT partition, and every month on
  SQLite: INSERT … SELECT into the archive, DELETE from the live table.

A closed year (the one definition): the year is over (before the hotline's local
1 January now), every ticket with a row in it is in a final state (not in
``OPEN_STATES``) and had no step in the last ``HOTLINE_ARCHIVE_QUIET_DAYS`` (a
callback's 重办 reads the ticket's live dispatch), and no ticket received on or
after the boundary has a row before it. The last clause is what lets a reader know where to look: a ticket received
before the boundary (``archive_boundary()``) may have rows in the archive; any other
ticket has none. The boundary is written (``HistoryArchive``) and announced to every
process before the first row moves, so a reader never misses a moved row.

Readers of one ticket's record go through ``ticket_timeline`` (cases.selectors) and
``history_archived``; the metrics refuse a period before the boundary
(``archive_guard``) rather than count fewer facts."""

import time
from dataclasses import dataclass
from datetime import UTC, date, datetime, timedelta

from django.conf import settings
from django.db import connection, transaction
from django.utils import timezone
from django.utils.dateparse import parse_datetime
from django.utils.translation import gettext_lazy as _

from . import clock, partitions
from .models import OPEN_STATES, HistoryArchive, Ticket, TicketEvent
from .partitions import Partitioned
from .reference import reference, reference_changed

YEAR_NOT_OVER = "the year {year} is not over yet (local time): only closed years can be archived"
OPEN_TICKETS = (
    "{count} ticket(s) received before {before:%Y-%m-%d} are still open (e.g. {numbers}): the years are not closed"
)
LATE_ROWS = (
    "{table} has rows before {before:%Y-%m-%d} of ticket(s) received after it (e.g. ticket id {ids}): "
    "repair their timestamps first"
)
RECENT_STEPS = (
    "ticket(s) received before {before:%Y-%m-%d} had a step in the last {days} days (e.g. ticket id {ids}): "
    "a callback or a 重办 may still come; try again later"
)
SHAPE_DIFFERS = "{archive} and {table} have different columns ({columns}): add them to the archive table first"
ARCHIVED_PERIOD = _("%(start)s 之前的办理记录已归档，该统计期间不能按实时数据计算，请改用已生成的报表或日汇总。")


class ArchiveRefused(Exception):
    """The years asked for are not closed, or the archive cannot take the rows."""


class ArchivedPeriod(ValueError):
    """A live count over a period whose facts are (partly) in the archive."""


def year_start(year: int) -> datetime:
    """Local midnight of 1 January ``year``: the archive's boundaries."""
    return clock.day_start(date(year, 1, 1))


def _boundary_load() -> datetime | None:
    return HistoryArchive.objects.order_by("-before").values_list("before", flat=True).first()


def archive_boundary() -> datetime | None:
    """The archive's boundary: rows before it may be in the archive tables
    (``None``: nothing was ever archived). Cached like reference data."""
    return reference("archive_boundary", _boundary_load)


def ticket_archived(ticket) -> bool:
    """Whether ``ticket``'s record may have rows in the archive tables."""
    boundary = archive_boundary()
    return boundary is not None and ticket.received_at < boundary


def archive_guard(start: datetime) -> None:
    """Refuse (``ArchivedPeriod``) a live count over a period starting before the
    archive's boundary: its facts are no longer all in the live tables."""
    boundary = archive_boundary()
    if boundary is not None and start < boundary:
        raise ArchivedPeriod(ARCHIVED_PERIOD % {"start": clock.local_time(boundary).strftime("%Y-%m-%d")})


def archived_rows(spec: Partitioned, model, ticket_id: int) -> list:
    """The archived rows of one ticket in ``spec``'s archive table, as ``model``
    instances (the live model: the archive has its columns)."""
    table = connection.ops.quote_name(spec.archive)
    return list(model.objects.raw(f"SELECT * FROM {table} WHERE {spec.ticket} = %s", [ticket_id]))


# -- the command's plan and its steps ---------------------------------------------------


@dataclass
class Step:
    spec: Partitioned
    start: datetime
    end: datetime
    rows: int
    how: str  # "detach" (PostgreSQL partition) or "move" (INSERT … SELECT + DELETE)

    @property
    def name(self) -> str:
        return self.spec.month(self.start)


def _at(moment: datetime):
    """A datetime as a raw query's parameter (SQLite: UTC text, as Django stores it)."""
    return connection.ops.adapt_datetimefield_value(moment)


def _moment(value) -> datetime:
    """A datetime a raw query returned (SQLite: UTC text)."""
    if isinstance(value, str):
        value = parse_datetime(value)
    return value if timezone.is_aware(value) else timezone.make_aware(value, UTC)


def _count(cursor, table: str, spec: Partitioned, start=None, end=None) -> int:
    where, params = [], []
    if start is not None:
        where.append(f'"{spec.key}" >= %s')
        params.append(_at(start))
    if end is not None:
        where.append(f'"{spec.key}" < %s')
        params.append(_at(end))
    cursor.execute(f'SELECT count(*) FROM "{table}"' + (" WHERE " + " AND ".join(where) if where else ""), params)
    return cursor.fetchone()[0]


def archive_check(before: datetime, *, now: datetime | None = None) -> None:
    """Raise ``ArchiveRefused`` unless every year before ``before`` is closed
    (see the module docstring) and the archive tables have the live columns."""
    now = now or clock.now()
    if before > now:
        raise ArchiveRefused(YEAR_NOT_OVER.format(year=clock.local_time(before).year - 1))
    still_open = Ticket.objects.filter(received_at__lt=before, state__in=OPEN_STATES)
    count = still_open.count()
    if count:
        numbers = ", ".join(still_open.order_by("received_at").values_list("number", flat=True)[:5])
        raise ArchiveRefused(OPEN_TICKETS.format(count=count, before=clock.local_time(before), numbers=numbers))
    days = settings.HOTLINE_ARCHIVE_QUIET_DAYS
    recent = TicketEvent.objects.filter(created_at__gte=now - timedelta(days=days), ticket__received_at__lt=before)
    ids = list(recent.order_by().values_list("ticket_id", flat=True).distinct()[:5])
    if ids:
        raise ArchiveRefused(
            RECENT_STEPS.format(before=clock.local_time(before), days=days, ids=", ".join(map(str, ids)))
        )
    with connection.cursor() as cursor:
        for spec in partitions.TABLES:
            cursor.execute(
                f'SELECT DISTINCT r."{spec.ticket}" FROM "{spec.table}" r '
                f'JOIN cases_ticket t ON t.id = r."{spec.ticket}" '
                f'WHERE r."{spec.key}" < %s AND t.received_at >= %s LIMIT 5',
                [_at(before), _at(before)],
            )
            late = [row[0] for row in cursor.fetchall()]
            if late:
                raise ArchiveRefused(
                    LATE_ROWS.format(table=spec.table, before=clock.local_time(before), ids=", ".join(map(str, late)))
                )
            live, archive = set(partitions.columns(cursor, spec.table)), set(partitions.columns(cursor, spec.archive))
            if live != archive:
                differ = ", ".join(sorted(live ^ archive))
                raise ArchiveRefused(SHAPE_DIFFERS.format(archive=spec.archive, table=spec.table, columns=differ))


def archive_plan(before: datetime) -> list[Step]:
    """What ``archive_history`` would move: one step per table and month with rows
    before ``before`` still in the live table (months already archived are left
    out, so a second run plans nothing)."""
    first = Ticket.objects.order_by("received_at").values_list("received_at", flat=True).first()
    with connection.cursor() as cursor:
        firsts = [first] if first else []
        for spec in partitions.TABLES:
            cursor.execute(f'SELECT min("{spec.key}") FROM "{spec.table}" WHERE "{spec.key}" < %s', [_at(before)])
            firsts += [_moment(value) for (value,) in cursor.fetchall() if value is not None]
        if not firsts or min(firsts) >= before:
            return []
        starts = partitions.months(min(firsts), before - timedelta(microseconds=1))
        steps = []
        for spec in partitions.TABLES:
            own = partitions.attached(cursor, spec.table) if partitions.on_postgres() else {}
            for start in starts:
                end = partitions.month_after(start)
                if spec.month(start) in own:
                    steps.append(Step(spec, start, end, _count(cursor, spec.month(start), spec), "detach"))
                    continue
                rows = _count(cursor, spec.table, spec, start, end)
                if rows:
                    steps.append(Step(spec, start, end, rows, "move"))
    return steps


def _step_prove(cursor, step: Step) -> None:
    """Before a month's partition moves: a CHECK constraint proving its bound,
    validated while the desk keeps reading and writing (``NOT VALID`` then
    ``VALIDATE`` take no lock that blocks them), so that the ATTACH to the archive
    reads nothing and the live table is locked only for the DETACH. Idempotent."""
    name = step.name
    # Foreign-key checks still deferred in this transaction would forbid the ALTER.
    cursor.execute("SET CONSTRAINTS ALL IMMEDIATE")
    cursor.execute(
        "SELECT 1 FROM pg_constraint WHERE conrelid = to_regclass(%s) AND conname = %s", [name, f"{name}_bound"]
    )
    if cursor.fetchone() is None:
        cursor.execute(
            f'ALTER TABLE "{name}" ADD CONSTRAINT "{name}_bound" CHECK ("{step.spec.key}" IS NOT NULL AND '
            f'"{step.spec.key}" >= %s AND "{step.spec.key}" < %s) NOT VALID',
            [_at(step.start), _at(step.end)],
        )
    cursor.execute(f'ALTER TABLE "{name}" VALIDATE CONSTRAINT "{name}_bound"')


def _step_run(cursor, step: Step) -> None:
    spec, name = step.spec, step.name
    if step.how == "detach":
        cursor.execute(f'ALTER TABLE "{spec.table}" DETACH PARTITION "{name}"')
        cursor.execute(
            f'ALTER TABLE "{spec.archive}" ATTACH PARTITION "{name}" FOR VALUES FROM (%s) TO (%s)',
            [_at(step.start), _at(step.end)],
        )
        cursor.execute(f'ALTER TABLE "{name}" DROP CONSTRAINT "{name}_bound"')
        return
    if partitions.on_postgres() and not partitions.exists(cursor, name):
        cursor.execute(
            f'CREATE TABLE "{name}" PARTITION OF "{spec.archive}" FOR VALUES FROM (%s) TO (%s)',
            [_at(step.start), _at(step.end)],
        )
    names = ", ".join(f'"{column}"' for column in partitions.columns(cursor, spec.table))
    where = f'"{spec.key}" >= %s AND "{spec.key}" < %s'
    cursor.execute(
        f'INSERT INTO "{spec.archive}" ({names}) SELECT {names} FROM "{spec.table}" WHERE {where}',
        [_at(step.start), _at(step.end)],
    )
    cursor.execute(f'DELETE FROM "{spec.table}" WHERE {where}', [_at(step.start), _at(step.end)])


def history_archive(*, year: int, dry_run: bool = False, report=None, now: datetime | None = None) -> list[Step]:
    """Archive every row before local 1 January ``year`` (see the module
    docstring); ``ArchiveRefused`` unless those years are closed. Each month moves
    in its own transaction, so a run stopped half-way resumes where it stopped.
    ``report(step)`` is called before each step; returns the steps (planned only,
    with ``dry_run``)."""
    before = year_start(year)
    archive_check(before, now=now)
    steps = archive_plan(before)
    if dry_run:
        for step in steps:
            report and report(step)
        return steps
    record, created = HistoryArchive.objects.get_or_create(before=before)
    if created:
        reference_changed()
        # Every process re-reads the boundary within this interval; only then may
        # a row move, so no reader looks in the live table alone for it.
        time.sleep(settings.HOTLINE_ARCHIVE_WAIT_SECONDS)
    for step in steps:
        report and report(step)
        if step.how == "detach":
            with transaction.atomic(), connection.cursor() as cursor:
                _step_prove(cursor, step)
        with transaction.atomic(), connection.cursor() as cursor:
            _step_run(cursor, step)
    with connection.cursor() as cursor:
        record.events = _count(cursor, partitions.EVENTS.archive, partitions.EVENTS)
        record.history = _count(cursor, partitions.HISTORY.archive, partitions.HISTORY)
    record.finished_at = timezone.now()
    record.save(update_fields=["events", "history", "finished_at"])
    return steps
