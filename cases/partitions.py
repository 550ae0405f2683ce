"""History that can grow (issue 22): the timeline (``cases_ticketevent``) and the
tickets' history (``cases_historicalticket``) are partitioned by month on PostgreSQL.

The one home of the partitioning rules: which tables, their partition key, a
partition's name and its month bounds. Months are the hotline's local months
(``settings.TIME_ZONE``, the same midnight ``cases.clock`` cuts days at), so an
archived year ends exactly where a yearly report's period ends.

Shape of a partitioned table ``T`` (PostgreSQL only; SQLite keeps plain tables and
every function here is a no-op there):

- ``T`` the parent, ``PARTITION BY RANGE (key)``; no primary key of its own (a
  parent's primary key must include the partition key, and building one over an
  existing table means a new unique index over every row). Ids come from one
  sequence owned by the parent; each partition has its own primary key on the id.
- ``T_legacy``: the table as it was before the conversion, attached as one
  partition ``FROM (MINVALUE) TO (<the month after its last row>)``, not copied.
- ``T_pYYYY_MM``: one partition per local month, created ahead by the beat task
  ``cases.tasks.ensure_partitions`` (``HOTLINE_PARTITION_MONTHS_AHEAD`` months).
- ``T_default``: the DEFAULT partition: a row outside every month created lands
  here, so no insert ever fails; creating its month moves such rows out.

The archive (``cases.archive``) moves closed years to ``T_archive``."""

from dataclasses import dataclass
from datetime import datetime

from django.conf import settings
from django.db import IntegrityError, connection, transaction
from django.utils import timezone

from . import clock


@dataclass(frozen=True)
class Partitioned:
    table: str
    key: str  # the partition key, a timestamptz column
    pk: str  # the id column (a sequence)
    ticket: str  # the column holding the ticket's id

    @property
    def legacy(self) -> str:
        return f"{self.table}_legacy"

    @property
    def default(self) -> str:
        return f"{self.table}_default"

    @property
    def archive(self) -> str:
        return f"{self.table}_archive"

    def month(self, start: datetime) -> str:
        """The name of the partition of the local month starting at ``start``."""
        return f"{self.table}_p{clock.local_time(start):%Y_%m}"


#: The partitioned tables. The other history tables hold reference data (units,
#: categories, articles) and stay plain; reminders and deliveries are pruned by
#: state, not kept for years, so they stay plain too.
EVENTS = Partitioned("cases_ticketevent", "created_at", "id", "ticket_id")
HISTORY = Partitioned("cases_historicalticket", "history_date", "history_id", "id")
TABLES = (EVENTS, HISTORY)


def month_start(moment: datetime) -> datetime:
    """Local midnight of the first day of ``moment``'s local month."""
    local = clock.local_time(moment)
    return clock.day_start(local.date().replace(day=1))


def month_after(start: datetime) -> datetime:
    """The start of the local month after the one starting at ``start``."""
    day = clock.local_time(start).date()
    if day.month == 12:
        return clock.day_start(day.replace(year=day.year + 1, month=1, day=1))
    return clock.day_start(day.replace(month=day.month + 1, day=1))


def months(first: datetime, last: datetime) -> list[datetime]:
    """The starts of the local months from ``first``'s to ``last``'s, inclusive."""
    out, start = [], month_start(first)
    while start <= last:
        out.append(start)
        start = month_after(start)
    return out


def on_postgres() -> bool:
    return connection.vendor == "postgresql"


def is_partitioned(cursor, table: str) -> bool:
    cursor.execute(
        "SELECT 1 FROM pg_partitioned_table p JOIN pg_class c ON c.oid = p.partrelid "
        "WHERE c.relname = %s AND c.relnamespace = current_schema()::regnamespace",
        [table],
    )
    return cursor.fetchone() is not None


def exists(cursor, name: str) -> bool:
    cursor.execute("SELECT to_regclass(%s) IS NOT NULL", [name])
    return cursor.fetchone()[0]


def attached(cursor, parent: str) -> dict[str, tuple[datetime | None, datetime | None]]:
    """The partitions of ``parent``: name -> (lower, upper) bound, ``None`` for
    MINVALUE / the DEFAULT partition's missing bounds."""
    cursor.execute(
        "SELECT c.relname, pg_get_expr(c.relpartbound, c.oid) FROM pg_inherits i "
        "JOIN pg_class c ON c.oid = i.inhrelid WHERE i.inhparent = to_regclass(%s) ORDER BY c.relname",
        [parent],
    )
    rows = cursor.fetchall()
    out = {}
    for name, bound in rows:
        lower = upper = None
        if bound != "DEFAULT":
            # FOR VALUES FROM ('...') TO ('...'); MINVALUE unquoted.
            parts = bound.split("'")
            values = [parts[i] for i in range(1, len(parts), 2)]
            if "MINVALUE" in bound.split(" TO ")[0]:
                values.insert(0, None)
            cursor.execute("SELECT %s::timestamptz, %s::timestamptz", values)
            lower, upper = cursor.fetchone()
        out[name] = (lower, upper)
    return out


def _constraint_defs(cursor, table: str, kinds: str) -> list[str]:
    cursor.execute(
        "SELECT pg_get_constraintdef(oid) FROM pg_constraint WHERE conrelid = to_regclass(%s) "
        "AND contype = ANY(%s) ORDER BY conname",
        [table, list(kinds)],
    )
    return [row[0] for row in cursor.fetchall()]


def _own_keys(cursor, spec: Partitioned, name: str) -> None:
    """A new partition's own primary key on the id and the foreign keys the
    DEFAULT partition carries (the template: it is never archived)."""
    cursor.execute(f'ALTER TABLE "{name}" ADD CONSTRAINT "{name}_pkey" PRIMARY KEY ("{spec.pk}")')
    for definition in _constraint_defs(cursor, spec.default, "f"):
        cursor.execute(f'ALTER TABLE "{name}" ADD {definition}')


def month_create(cursor, spec: Partitioned, start: datetime) -> str | None:
    """Create the partition of the local month starting at ``start`` unless it
    exists; rows of that month waiting in the DEFAULT partition move into it, in
    the same transaction. Returns the name created, or ``None``."""
    name = spec.month(start)
    if exists(cursor, name):
        return None
    end = month_after(start)
    with transaction.atomic():
        # The lock CREATE TABLE … PARTITION OF takes anyway, up front (no upgrade).
        cursor.execute(f'LOCK TABLE "{spec.table}" IN ACCESS EXCLUSIVE MODE')
        cursor.execute(
            f'SELECT EXISTS (SELECT 1 FROM "{spec.default}" WHERE "{spec.key}" >= %s AND "{spec.key}" < %s)',
            [start, end],
        )
        waiting = cursor.fetchone()[0]
        if waiting:
            cursor.execute(f'ALTER TABLE "{spec.table}" DETACH PARTITION "{spec.default}"')
        cursor.execute(f'CREATE TABLE "{name}" PARTITION OF "{spec.table}" FOR VALUES FROM (%s) TO (%s)', [start, end])
        _own_keys(cursor, spec, name)
        if waiting:
            cursor.execute(
                f'WITH moved AS (DELETE FROM "{spec.default}" WHERE "{spec.key}" >= %s AND "{spec.key}" < %s '
                f'RETURNING *) INSERT INTO "{name}" SELECT * FROM moved',
                [start, end],
            )
            cursor.execute(f'ALTER TABLE "{spec.table}" ATTACH PARTITION "{spec.default}" DEFAULT')
    return name


def partitions_ensure(*, months_ahead: int | None = None, now: datetime | None = None) -> list[str]:
    """Create the monthly partitions of every partitioned table from this month to
    ``months_ahead`` months ahead (default ``HOTLINE_PARTITION_MONTHS_AHEAD``),
    months the legacy partition covers left out. Idempotent; returns the names
    created. A no-op on SQLite or before the conversion migration."""
    if not on_postgres():
        return []
    ahead = settings.HOTLINE_PARTITION_MONTHS_AHEAD if months_ahead is None else months_ahead
    now = now or clock.now()
    last = month_start(now)
    for _ in range(ahead):
        last = month_after(last)
    created = []
    with connection.cursor() as cursor:
        for spec in TABLES:
            if not is_partitioned(cursor, spec.table):
                continue
            covered = attached(cursor, spec.table).get(spec.legacy, (None, None))[1]
            for start in months(now, last):
                if covered is not None and start < covered:
                    continue
                name = month_create(cursor, spec, start)
                if name:
                    created.append(name)
    return created


def _legacy_bound(cursor, spec: Partitioned, now: datetime) -> datetime:
    """The legacy partition's upper bound, proven by a CHECK constraint on it (so
    that ATTACH need not read the table again): the start of next month, which one
    read of the table validates; a later row (a clock in the future) costs a second
    read for the table's last month."""
    upper = month_after(month_start(now))
    check = (
        f'ALTER TABLE "{spec.legacy}" ADD CONSTRAINT "{spec.legacy}_bound" '
        f'CHECK ("{spec.key}" IS NOT NULL AND "{spec.key}" < %s)'
    )
    try:
        with transaction.atomic():
            cursor.execute(check, [upper])
    except IntegrityError:
        cursor.execute(f'SELECT max("{spec.key}") FROM "{spec.legacy}"')
        upper = month_after(month_start(cursor.fetchone()[0]))
        cursor.execute(check, [upper])
    return upper


def table_convert(cursor, spec: Partitioned, *, now: datetime | None = None) -> None:
    """Turn the populated plain table ``spec.table`` into a partitioned parent
    without copying a row (see the module docstring). Runs inside the migration's
    transaction; the one full read is the validation of the legacy partition's
    bound (a CHECK constraint, so that ATTACH does not scan again)."""
    table, legacy, key, pk = spec.table, spec.legacy, spec.key, spec.pk
    if is_partitioned(cursor, table):
        return
    cursor.execute(f'SELECT max("{pk}") FROM "{table}"')  # the primary key's index
    top = cursor.fetchone()[0]
    cursor.execute(
        "SELECT i.relname, pg_get_indexdef(i.oid), x.indisunique, x.indisprimary FROM pg_index x "
        "JOIN pg_class i ON i.oid = x.indexrelid WHERE x.indrelid = to_regclass(%s)",
        [table],
    )
    indexes = cursor.fetchall()
    fks = _constraint_defs(cursor, table, "f")
    cursor.execute(f'ALTER TABLE "{table}" RENAME TO "{legacy}"')
    for name, _definition, _unique, _primary in indexes:
        cursor.execute(f'ALTER INDEX "{name}" RENAME TO "{name[:56]}_legacy"')
    cursor.execute(
        "SELECT attidentity FROM pg_attribute WHERE attrelid = to_regclass(%s) AND attname = %s", [legacy, pk]
    )
    if cursor.fetchone()[0]:
        cursor.execute(f'ALTER TABLE "{legacy}" ALTER COLUMN "{pk}" DROP IDENTITY')
    else:
        cursor.execute(f'ALTER TABLE "{legacy}" ALTER COLUMN "{pk}" DROP DEFAULT')
        cursor.execute(f'DROP SEQUENCE IF EXISTS "{table}_{pk}_seq"')
    cursor.execute(
        f'CREATE TABLE "{table}" (LIKE "{legacy}" INCLUDING DEFAULTS INCLUDING CONSTRAINTS) '
        f'PARTITION BY RANGE ("{key}")'
    )
    sequence = f"{table}_{pk}_seq"
    cursor.execute(f'CREATE SEQUENCE "{sequence}" OWNED BY "{table}"."{pk}"')
    cursor.execute("SELECT setval(%s, %s, false)", [sequence, (top or 0) + 1])
    cursor.execute(f'ALTER TABLE "{table}" ALTER COLUMN "{pk}" SET DEFAULT nextval(\'"{sequence}"\')')
    for _name, definition, unique, _primary in indexes:
        if unique:
            continue  # the primary key stays the legacy partition's own
        # "CREATE INDEX name ON public.table USING ..." as it read before the rename.
        cursor.execute(definition)
    upper = _legacy_bound(cursor, spec, now or timezone.now())
    cursor.execute(f'ALTER TABLE "{table}" ATTACH PARTITION "{legacy}" FOR VALUES FROM (MINVALUE) TO (%s)', [upper])
    cursor.execute(f'ALTER TABLE "{legacy}" DROP CONSTRAINT "{legacy}_bound"')
    cursor.execute(f'CREATE TABLE "{spec.default}" PARTITION OF "{table}" DEFAULT')
    cursor.execute(f'ALTER TABLE "{spec.default}" ADD CONSTRAINT "{spec.default}_pkey" PRIMARY KEY ("{pk}")')
    for definition in fks:
        cursor.execute(f'ALTER TABLE "{spec.default}" ADD {definition}')


def archive_create(cursor, spec: Partitioned) -> None:
    """The archive table of ``spec`` (``T_archive``), same columns as the live one.
    PostgreSQL: a partitioned parent with the live parent's indexes, so that a
    month's partition detached from the live table attaches here as it is (its
    indexes adopted, nothing copied). SQLite: a plain table with the ticket index."""
    if on_postgres():
        if exists(cursor, spec.archive):
            return
        cursor.execute(
            f'CREATE TABLE "{spec.archive}" (LIKE "{spec.table}" INCLUDING CONSTRAINTS INCLUDING INDEXES) '
            f'PARTITION BY RANGE ("{spec.key}")'
        )
        return
    cursor.execute(f'CREATE TABLE IF NOT EXISTS "{spec.archive}" AS SELECT * FROM "{spec.table}" WHERE 0')
    cursor.execute(
        f'CREATE INDEX IF NOT EXISTS "{spec.archive}_ticket" ON "{spec.archive}" ("{spec.ticket}", "{spec.key}")'
    )


def columns(cursor, table: str) -> list[str]:
    """The column names of ``table``, in order."""
    return [column.name for column in connection.introspection.get_table_description(cursor, table)]
