"""Ticket numbers (``YYYYMMDD-NNNNN``, a per-day counter in local time) and urge-notice
numbers (``催办〔YYYY〕NNNN号``, a per-year counter).

Each counter is advanced by one atomic upsert (``INSERT … ON CONFLICT DO UPDATE …
RETURNING``, on PostgreSQL and SQLite alike), so parallel intake never hands out a
number twice. It is advanced in its own short statement, outside the ticket's
transaction: a ticket that fails to save leaves a gap rather than holding a lock
on the day's counter for the whole intake."""

from datetime import date

from django.db import connection

from . import clock
from .models import TicketNumberSequence, UrgeNumberSequence


def ticket_number_next(day: date | None = None) -> str:
    day = day or clock.local_day()
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


def urge_number_next(year: int) -> str:
    return urge_numbers_next(year, 1)[0]


def urge_numbers_next(year: int, count: int) -> list[str]:
    """``count`` consecutive notice numbers of ``year`` in one statement."""
    table = connection.ops.quote_name(UrgeNumberSequence._meta.db_table)
    with connection.cursor() as cursor:
        cursor.execute(
            f"INSERT INTO {table} (year, last_value) VALUES (%s, %s) "
            f"ON CONFLICT (year) DO UPDATE SET last_value = {table}.last_value + %s RETURNING last_value",
            [year, count, count],
        )
        (last,) = cursor.fetchone()
    # A document number, the same whatever language anyone reads it in.
    return [f"催办〔{year}〕{value:04d}号" for value in range(last - count + 1, last + 1)]
