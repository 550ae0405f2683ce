"""Deadline policy: the limits of each clock and the times they give (DESIGN §5)."""

from dataclasses import dataclass
from datetime import datetime

from .. import reference
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
    """The active policy rows (cached with the reference data: do not change them)."""
    return reference.policy_rows()


def deadline_limits(
    *, category, urgency: str, nature: str, department=None, rows: list[DeadlinePolicy] | None = None
) -> Limits:
    """The limits of the three clocks for a ticket (see ``DeadlinePolicy``);
    ``department``: the unit the clocks measure (None: only rows for every unit
    apply); ``rows``: the active rows already read (:func:`policy_rows`)."""
    chosen = {
        clock: (row_limit(row, clock) if row is not None else DEFAULT_LIMITS[clock])
        for clock, row in _chosen_rows(category, urgency, nature, department, rows).items()
    }
    return Limits(**chosen)


def row_limit(row: DeadlinePolicy, clock: str) -> tuple[int, str] | None:
    amount, unit = getattr(row, f"{clock}_limit"), getattr(row, f"{clock}_unit")
    return (amount, unit) if amount is not None and unit else None


def _chosen_rows(category, urgency, nature, department, rows) -> dict[str, DeadlinePolicy | None]:
    """Clock → the most specific active row that sets its limit (None: the default).

    Precedence, most specific first: a row naming the ticket's urgency; then a row
    for the unit itself, then for a nearer ancestor unit or territory, then a
    farther one, then a row for every unit; then a deeper category of the ticket's
    category path, then any category; then a row naming the nature."""
    category_depth = {pk: d for d, pk in enumerate(category.lineage_ids if category else [], start=1)}
    unit_depth = {pk: d for d, pk in enumerate(department.lineage_ids if department else [], start=1)}
    rows = [
        row
        for row in (policy_rows() if rows is None else rows)
        if (row.category_id is None or row.category_id in category_depth)
        and (row.department_id is None or row.department_id in unit_depth)
        and row.urgency in ("", urgency)
        and row.nature in ("", nature)
    ]
    rows.sort(
        key=lambda r: (
            bool(r.urgency),
            unit_depth.get(r.department_id, 0),
            category_depth.get(r.category_id, 0),
            bool(r.nature),
        ),
        reverse=True,
    )
    return {
        clock: next((row for row in rows if row_limit(row, clock) is not None), None)
        for clock in ("sign", "contact", "resolve")
    }


@dataclass(frozen=True)
class PolicyChoice:
    clock: str
    limit: tuple[int, str]
    row: DeadlinePolicy | None
    department: object  # the unit the clock measures


def ticket_policy_explain(ticket) -> list[PolicyChoice]:
    """Which row gives each clock of ``ticket`` its limit (the policy page's
    "which rule applies" box): sign on the unit it lies with, contact and resolve
    on the lead unit — the same units the workflow times them on."""
    result = []
    for clock in ("sign", "contact", "resolve"):
        unit = ticket.assignee_department if clock == "sign" else ticket.lead_department
        row = _chosen_rows(ticket.category, ticket.urgency, ticket.nature, unit, None)[clock]
        limit = row_limit(row, clock) if row is not None else DEFAULT_LIMITS[clock]
        result.append(PolicyChoice(clock, limit, row, unit))
    return result


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
    ticket,
    *,
    limits: Limits,
    calendar: WorkCalendar,
    extension_days: int,
    reopen_limit: tuple[int, str],
    sign_limits: Limits | None = None,
    sign_calendar: WorkCalendar | None = None,
) -> dict[str, ClockTimes]:
    """The times of the ticket's running clocks, computed afresh from the moment
    each started (what the workflow stored when it started them, under today's
    calendar and policy): sign from the latest (sub-)dispatch, contact from the sign, resolve
    from the dispatch — or the reopen, if later, with the reopen limit — plus the
    approved extensions (``extension_days``, granted since that start) in working
    days. An escalation is not recomputed here: it only ever shortens, so the
    caller keeps an escalated deadline that is earlier. ``limits`` and
    ``calendar`` are the lead unit's; ``sign_limits`` and ``sign_calendar`` those of
    the unit that must sign (a sub-dispatched child), if another."""
    times = {}
    running = {rule.name for rule in CLOCK_RULES if rule.runs(ticket)}
    sign_start = sign_clock_start(ticket)
    if "sign" in running and sign_start:
        times["sign"] = clock_times(sign_start, (sign_limits or limits).sign, sign_calendar or calendar)
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
