"""Deadline policy: the limits of each clock and the times they give (DESIGN §5)."""

from dataclasses import dataclass
from datetime import datetime

from ..models import DeadlinePolicy, TimeUnit
from .calendar import WorkCalendar, get_calendar

# -- policy ------------------------------------------------------------------------

#: Used for a clock no active policy row sets.
DEFAULT_LIMITS = {
    "sign": (2, TimeUnit.WORKING_HOUR),
    "contact": (1, TimeUnit.WORKING_DAY),
    "resolve": (5, TimeUnit.WORKING_DAY),
}


@dataclass(frozen=True)
class Limits:
    sign: tuple[int, str]
    contact: tuple[int, str]
    resolve: tuple[int, str]


def deadline_limits(*, category, urgency: str, nature: str) -> Limits:
    """The limits of the three clocks for a ticket (see ``DeadlinePolicy``)."""
    lineage = category.lineage_ids if category is not None else []
    depth_of = {pk: depth for depth, pk in enumerate(lineage, start=1)}
    rows = [
        row
        for row in DeadlinePolicy.objects.filter(is_active=True)
        if (row.category_id is None or row.category_id in depth_of)
        and row.urgency in ("", urgency)
        and row.nature in ("", nature)
    ]
    rows.sort(
        key=lambda r: (bool(r.urgency), depth_of.get(r.category_id, 0), bool(r.nature)),
        reverse=True,
    )
    chosen = {}
    for clock in ("sign", "contact", "resolve"):
        for row in rows:
            amount, unit = getattr(row, f"{clock}_limit"), getattr(row, f"{clock}_unit")
            if amount is not None and unit:
                chosen[clock] = (amount, unit)
                break
        else:
            chosen[clock] = DEFAULT_LIMITS[clock]
    return Limits(**chosen)


@dataclass(frozen=True)
class ClockTimes:
    due_at: datetime
    warn_at: datetime


def clock_times(start: datetime, limit: tuple[int, str], calendar: WorkCalendar | None = None) -> ClockTimes:
    cal = calendar or get_calendar()
    amount, unit = limit
    due = cal.add_limit(start, amount, unit)
    return ClockTimes(due, cal.warn_time(start, due, unit))
