"""Re-timing: the stored deadlines of running clocks, recomputed after the
calendar or a deadline policy changed (DESIGN §5).

Each running clock is computed afresh from the moment it started
(``cases.deadlines.policy.ticket_clock_times``); a ticket whose times differ is
saved in bulk with one ``deadlines_retimed`` timeline event and a history
version. The reminders already sent for a moved clock follow it to its new due
time, so the scan does not send the same level of the same clock twice; a level
the moved clock newly crosses has no reminder yet and is sent. The per-batch
inbox message is the caller's (``cases.deadlines.retiming``): the workflow
delivers nothing itself."""

from collections import defaultdict
from dataclasses import dataclass, field
from datetime import datetime

from django.conf import settings
from django.db import transaction
from django.db.models import Sum
from django.utils import timezone
from django.utils.translation import gettext as _

from ..deadlines.calendar import calendar_for
from ..deadlines.policy import deadline_limits, policy_rows, resolve_start, ticket_clock_times
from ..models import CLOCK_RULES, CLOCKED_STATES, Clock, Reminder, Ticket, TicketApplication, TicketEvent, TimeUnit
from ..models.calendar import RetimeRun
from .events import deadlines_retimed_data
from .rules import TRANSITIONS, Kind
from .verbs import _history_copy

CLOCK_FIELDS = [f for rule in CLOCK_RULES for f in (rule.due_field, rule.warn_field)]


@dataclass
class RetimeChange:
    ticket_id: int
    number: str
    department_id: int | None
    state: str
    #: clock name → (due before, due after)
    clocks: dict[str, tuple[datetime, datetime]] = field(default_factory=dict)


def _extension_days(tickets) -> dict[int, list[tuple[datetime, int]]]:
    rows = (
        TicketApplication.objects.filter(
            ticket__in=[t.pk for t in tickets],
            kind=TicketApplication.Kind.EXTENSION,
            status=TicketApplication.Status.APPROVED,
        )
        .values_list("ticket_id", "decided_at")
        .annotate(days=Sum("granted_days"))
    )
    granted = defaultdict(list)
    for ticket_id, decided_at, days in rows:
        granted[ticket_id].append((decided_at, days or 0))
    return granted


def _note(reason: str, clocks: dict) -> str:
    parts = [
        _("%(clock)s时限由 %(old)s 调整为 %(new)s")
        % {
            "clock": Clock(name).label,
            "old": f"{timezone.localtime(old):%Y-%m-%d %H:%M}",
            "new": f"{timezone.localtime(new):%Y-%m-%d %H:%M}",
        }
        for name, (old, new) in clocks.items()
    ]
    return f"{RetimeRun.Reason(reason).label}，" + "；".join(parts)


def tickets_retime(*, ticket_ids, reason: str, now: datetime, dry_run: bool = False) -> list[RetimeChange]:
    """Recompute the running clocks of these tickets; save those that moved (unless
    ``dry_run``) and return what moved. Idempotent: a second call finds nothing."""
    rule = TRANSITIONS[Kind.DEADLINES_RETIMED]
    with transaction.atomic():
        tickets = list(
            Ticket.objects.select_for_update(of=("self",))
            .filter(pk__in=list(ticket_ids), state__in=list(CLOCKED_STATES))
            .select_related("category", "lead_department", "assignee_department")
            .order_by("pk")
        )
        if not tickets:
            return []
        rows = policy_rows()
        granted = _extension_days(tickets)
        reopen_limit = (settings.REOPEN_WORKING_DAYS, TimeUnit.WORKING_DAY)
        changes, changed = [], []
        for t in tickets:
            assert t.state in rule.sources
            lead, assignee = t.lead_department, t.assignee_department
            limits = deadline_limits(
                category=t.category, urgency=t.urgency, nature=t.nature, department=lead, rows=rows
            )
            sign_limits = limits
            if assignee is not None and assignee.pk != t.lead_department_id:
                sign_limits = deadline_limits(
                    category=t.category, urgency=t.urgency, nature=t.nature, department=assignee, rows=rows
                )
            start, _limit = resolve_start(t, limits=limits, reopen_limit=reopen_limit)
            extension = sum(days for at, days in granted.get(t.pk, ()) if start is not None and at >= start)
            fresh = ticket_clock_times(
                t,
                limits=limits,
                calendar=calendar_for(t.lead_department_id),
                extension_days=extension,
                reopen_limit=reopen_limit,
                sign_limits=sign_limits,
                sign_calendar=calendar_for(t.assignee_department_id),
            )
            escalated = t.escalated_at is not None and start is not None and t.escalated_at >= start
            if "resolve" in fresh and escalated and t.resolve_due_at < fresh["resolve"].due_at:
                del fresh["resolve"]  # an escalated deadline only ever shortens: keep it
            moved, touched = {}, False
            for name, times in fresh.items():
                old_due, old_warn = getattr(t, f"{name}_due_at"), getattr(t, f"{name}_warn_at")
                if (old_due, old_warn) != (times.due_at, times.warn_at):
                    touched = True
                    if old_due != times.due_at:
                        moved[name] = (old_due, times.due_at)
                    setattr(t, f"{name}_due_at", times.due_at)
                    setattr(t, f"{name}_warn_at", times.warn_at)
            if touched:
                t.refresh_deadline_summary()
                t.updated_at = now
                changed.append(t)
                if moved:
                    dept = t.lead_department_id or t.assignee_department_id
                    changes.append(RetimeChange(t.pk, t.number, dept, t.state, moved))
        if dry_run or not changed:
            return changes
        Ticket.objects.bulk_update(changed, [*CLOCK_FIELDS, "next_due_at", "next_warn_at", "updated_at"])
        _reminders_follow(changes)
        TicketEvent.objects.bulk_create(
            [
                TicketEvent(
                    ticket_id=c.ticket_id,
                    kind=Kind.DEADLINES_RETIMED,
                    actor=None,
                    created_at=now,
                    from_state=c.state,
                    to_state=c.state,
                    note=_note(reason, c.clocks),
                    data=deadlines_retimed_data(reason=reason, clocks=c.clocks),
                )
                for c in changes
            ]
        )
        _history_copy([t.pk for t in changed], reason=Kind.DEADLINES_RETIMED, now=now)
    return changes


def _reminders_follow(changes: list[RetimeChange]) -> None:
    """The reminders sent for a moved clock's old due time now carry the new one:
    the scan keys reminders on (ticket, clock, due time, level), so without this a
    moved clock would warn again at every level it had already warned at."""
    new_due = {(c.ticket_id, name): new for c in changes for name, (_old, new) in c.clocks.items()}
    moved = {(c.ticket_id, name, old) for c in changes for name, (old, _new) in c.clocks.items()}
    reminders = [
        r
        for r in Reminder.objects.filter(ticket_id__in=[c.ticket_id for c in changes])
        if (r.ticket_id, r.clock, r.due_at) in moved
    ]
    for r in reminders:
        r.due_at = new_due[(r.ticket_id, r.clock)]
    Reminder.objects.bulk_update(reminders, ["due_at"])
