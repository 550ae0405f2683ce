"""Deadline policy: the limits of each clock and the times they give (DESIGN §5)."""

from dataclasses import dataclass
from datetime import datetime

from ..models import CLOCK_RULES, DeadlinePolicy, TimeUnit
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


def policy_rows() -> list[DeadlinePolicy]:
    """The active policy rows, read once for a batch of :func:`deadline_limits` calls."""
    return list(DeadlinePolicy.objects.filter(is_active=True))


def deadline_limits(*, category, urgency: str, nature: str, rows: list[DeadlinePolicy] | None = None) -> Limits:
    """The limits of the three clocks for a ticket (see ``DeadlinePolicy``);
    ``rows``: the active rows already read (:func:`policy_rows`)."""
    lineage = category.lineage_ids if category is not None else []
    depth_of = {pk: depth for depth, pk in enumerate(lineage, start=1)}
    rows = [
        row
        for row in (policy_rows() if rows is None else rows)
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


def ticket_clock_times(
    ticket, *, limits: Limits, calendar: WorkCalendar, extension_days: int, reopen_limit: tuple[int, str]
) -> dict[str, ClockTimes]:
    """The times of the ticket's running clocks, computed afresh from the moment
    each started (what the workflow stored when it started them, under today's
    calendar and policy): sign from the latest (sub-)dispatch, contact from the sign, resolve
    from the dispatch — or the reopen, if later, with the reopen limit — plus the
    approved extensions (``extension_days``, granted since that start) in working
    days. An escalation is not recomputed here: it only ever shortens, so the
    caller keeps an escalated deadline that is earlier."""
    times = {}
    running = {rule.name for rule in CLOCK_RULES if rule.runs(ticket)}
    sign_start = sign_clock_start(ticket)
    if "sign" in running and sign_start:
        times["sign"] = clock_times(sign_start, limits.sign, calendar)
    if "contact" in running and ticket.signed_at:
        times["contact"] = clock_times(ticket.signed_at, limits.contact, calendar)
    if "resolve" in running:
        start, limit = resolve_start(ticket, limits=limits, reopen_limit=reopen_limit)
        if start is not None:
            base = clock_times(start, limit, calendar)
            if extension_days:
                due = calendar.add_limit(base.due_at, extension_days, TimeUnit.WORKING_DAY)
                base = ClockTimes(due, calendar.warn_time(start, due, TimeUnit.WORKING_DAY))
            times["resolve"] = base
    return times


def sign_clock_start(ticket):
    """When the running sign clock started: the sub-dispatch to a child unit that
    has still to sign, else the dispatch (a dispatch clears ``subdispatched_at``)."""
    return ticket.subdispatched_at or ticket.dispatched_at


def resolve_start(ticket, *, limits: Limits, reopen_limit: tuple[int, str]):
    """When the resolve clock started and on which limit: the later of the
    dispatch and the reopen."""
    dispatched, reopened = ticket.dispatched_at, ticket.reopened_at
    if reopened is not None and (dispatched is None or reopened >= dispatched):
        return reopened, reopen_limit
    return dispatched, limits.resolve
