"""The workflow's notion of "now", and the one home of "the local day".

Normally the wall clock. ``clock_at(moment)`` pins it for a block of code so that
the demo data and the load generator can replay weeks of work through the real
workflow functions, with every timestamp, deadline and timeline entry where it
would have been.

Days are the hotline's local days (``settings.TIME_ZONE``, Asia/Shanghai), never
the timezone a request happened to activate: "today" on the workbench, a date
filter, a callback batch and a report period all cut the day at the same
midnight."""

from contextlib import contextmanager
from contextvars import ContextVar
from datetime import UTC, date, datetime, time, timedelta

from django.utils import timezone

_pinned: ContextVar[datetime | None] = ContextVar("hotline_pinned_now", default=None)


def as_utc(moment: datetime) -> datetime:
    """An aware instant from outside (an API or Open311 parameter) as UTC, the form
    every database takes: ISO 8601 allows offsets up to ±23:59, PostgreSQL only
    ±15:59. ``ValueError`` when the instant lies outside what a datetime holds."""
    try:
        return moment.astimezone(UTC)
    except OverflowError as exc:
        raise ValueError(f"{moment.isoformat()} is out of range") from exc


def now() -> datetime:
    pinned = _pinned.get()
    return pinned if pinned is not None else timezone.now()


@contextmanager
def clock_at(moment: datetime):
    token = _pinned.set(moment)
    try:
        yield
    finally:
        _pinned.reset(token)


def local_time(moment: datetime | None = None) -> datetime:
    """``moment`` (default: now) on the hotline's local clock (Asia/Shanghai),
    whatever timezone a request or a worker has active: what every export prints."""
    return timezone.localtime(moment or now(), timezone.get_default_timezone())


def local_stamp(moment: datetime | None, fmt: str = "%Y-%m-%d %H:%M") -> str:
    """A local time written out for a file (a ledger cell, a 生成时间, a file
    name); ``""`` for no time."""
    return local_time(moment).strftime(fmt) if moment else ""


def local_day(moment: datetime | None = None) -> date:
    """The local calendar day of ``moment`` (default: now)."""
    return timezone.localtime(moment or now(), timezone.get_default_timezone()).date()


def day_complete(day: date, moment: datetime | None = None) -> bool:
    """Whether the local ``day`` is over at ``moment`` (default: now). Counts of a
    day that is not over are partial: today's responses, closes and callbacks are
    still to come, so a chart draws today as partial, never as a fall."""
    return day < local_day(moment)


def day_start(day: date) -> datetime:
    """Local midnight at the start of ``day``, as an aware datetime."""
    return datetime.combine(day, time.min, tzinfo=timezone.get_default_timezone())


def day_bounds(day: date) -> tuple[datetime, datetime]:
    """``[start, end)`` of the local ``day``."""
    return period_bounds(day, day)


def period_bounds(first: date, last: date) -> tuple[datetime, datetime]:
    """``[start, end)`` of the whole local days ``first`` to ``last`` inclusive."""
    return day_start(first), day_start(last + timedelta(days=1))
