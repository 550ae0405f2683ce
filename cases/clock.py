"""The workflow's notion of "now".

Normally the wall clock. ``clock_at(moment)`` pins it for a block of code so that
the demo data and the load generator can replay weeks of work through the real
workflow functions, with every timestamp, deadline and timeline entry where it
would have been."""

from contextlib import contextmanager
from contextvars import ContextVar
from datetime import datetime

from django.utils import timezone

_pinned: ContextVar[datetime | None] = ContextVar("hotline_pinned_now", default=None)


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
