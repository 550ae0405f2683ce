"""Ticket numbers: ``YYYYMMDD-NNNNN``, a per-day counter in local time.

The counter is advanced by one atomic upsert (``INSERT … ON CONFLICT DO UPDATE …
RETURNING``, on PostgreSQL and SQLite alike), so parallel intake never hands out a
number twice. It is advanced in its own short statement, outside the ticket's
transaction: a ticket that fails to save leaves a gap rather than holding a lock
on the day's counter for the whole intake."""

from datetime import date

from django.db import connection
from django.utils import timezone

from .models import TicketNumberSequence


def ticket_number_next(day: date | None = None) -> str:
    day = day or timezone.localdate()
    table = connection.ops.quote_name(TicketNumberSequence._meta.db_table)
    sql = (
        f"INSERT INTO {table} (day, last_value) VALUES (%s, 1) "
        f"ON CONFLICT (day) DO UPDATE SET last_value = {table}.last_value + 1 "
        f"RETURNING last_value"
    )
    with connection.cursor() as cursor:
        cursor.execute(sql, [day])
        (value,) = cursor.fetchone()
    return f"{day:%Y%m%d}-{value:05d}"
