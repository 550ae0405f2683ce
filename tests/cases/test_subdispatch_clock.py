"""Clocks through sub-dispatch: a hop to a child unit starts the child's own sign
clock; the lead unit's resolve clock is untouched (DESIGN §5)."""

from datetime import timedelta

import pytest
import time_machine

from cases import workflow
from cases.deadlines.calendar import get_calendar
from cases.deadlines.policy import clock_times, deadline_limits
from cases.deadlines.scan import deadline_scan
from cases.models import Reminder, Ticket, TicketEvent, TicketState
from cases.workflow import tickets_retime
from tests.conftest import drive, local, new_ticket

S = TicketState
L = Reminder.Level
Kind = TicketEvent.Kind
MONDAY_9 = local(2026, 11, 23, 9, 0)


@pytest.fixture
def clock():
    with time_machine.travel(MONDAY_9, tick=False) as traveller:
        yield traveller


def recipients(reminder):
    return {n.recipient.username for n in reminder.notifications.all()}


def subdispatched(city, clock):
    ticket = drive(city, new_ticket(city), S.HANDLING)
    clock.move_to(local(2026, 11, 23, 14, 30))
    return workflow.ticket_subdispatch(ticket=ticket, actor=city.handler, department=city.community)


def test_a_hop_to_a_child_starts_its_sign_clock_and_keeps_the_resolve_clock(city, clock):
    ticket = drive(city, new_ticket(city), S.HANDLING)
    resolve = (ticket.resolve_due_at, ticket.resolve_warn_at)
    clock.move_to(local(2026, 11, 23, 14, 30))
    ticket = workflow.ticket_subdispatch(ticket=ticket, actor=city.handler, department=city.community)
    limits = deadline_limits(category=ticket.category, urgency=ticket.urgency, nature=ticket.nature)
    expected = clock_times(local(2026, 11, 23, 14, 30), limits.sign, get_calendar())
    assert ticket.subdispatched_at == local(2026, 11, 23, 14, 30)
    assert (ticket.sign_due_at, ticket.sign_warn_at) == (expected.due_at, expected.warn_at)
    assert ticket.sign_due_at == local(2026, 11, 23, 16, 30)  # 2 working hours from the hop
    assert (ticket.resolve_due_at, ticket.resolve_warn_at) == resolve  # the lead stays accountable
    assert set(ticket.running_clocks()) >= {"sign", "resolve"}
    assert ticket.next_due_at == ticket.sign_due_at
    event = ticket.events.last()
    assert event.kind == Kind.SUBDISPATCHED
    assert event.data["sign_due_at"] == expected.due_at.isoformat()
    assert Ticket.objects.filter(pk=ticket.pk).overdue_any_clock().count() == 0


def test_the_childs_sign_clock_goes_red_and_reminds_the_child(city, clock):
    ticket = subdispatched(city, clock)
    clock.move_to(ticket.sign_due_at + timedelta(minutes=1))
    assert Ticket.objects.get(pk=ticket.pk).is_overdue()
    assert Ticket.objects.filter(pk=ticket.pk).overdue_any_clock().count() == 1
    result = deadline_scan()
    assert result.reminders[("sign", L.RED)] == 1
    reminder = Reminder.objects.get(clock="sign")
    assert reminder.due_at == ticket.sign_due_at
    people = recipients(reminder)
    assert "handler_community" in people  # the child must sign
    assert "handler_street" not in people


def test_the_childs_sign_stops_the_clock(city, clock):
    ticket = subdispatched(city, clock)
    clock.move_to(local(2026, 11, 23, 15, 0))
    ticket = workflow.ticket_sign(ticket=ticket, actor=city.community_handler)
    assert ticket.state == S.HANDLING
    assert "sign" not in ticket.running_clocks()
    assert ticket.next_due_at != ticket.sign_due_at
    clock.move_to(ticket.sign_due_at + timedelta(hours=1))
    deadline_scan()
    assert not Reminder.objects.filter(clock="sign").exists()
    assert not Ticket.objects.get(pk=ticket.pk).is_overdue()


def test_take_back_starts_no_sign_clock(city, clock):
    ticket = drive(city, new_ticket(city), S.HANDLING)
    clock.move_to(local(2026, 11, 23, 11, 0))
    ticket = workflow.ticket_subdispatch(ticket=ticket, actor=city.handler, department=city.community)
    child_sign_due = ticket.sign_due_at
    ticket = workflow.ticket_sign(ticket=ticket, actor=city.community_handler)
    clock.move_to(local(2026, 11, 24, 10, 0))
    ticket = workflow.ticket_take_back(ticket=ticket, actor=city.handler)
    assert (ticket.state, ticket.assignee_department) == (S.HANDLING, city.street)
    assert "sign" not in ticket.running_clocks()
    assert ticket.events.last().kind == Kind.TAKEN_BACK
    assert ticket.sign_due_at == child_sign_due  # unchanged: kept as a record, like the lead's


def test_a_new_dispatch_forgets_the_hop(city, clock):
    ticket = subdispatched(city, clock)
    ticket = workflow.ticket_dispatch(ticket=ticket, actor=city.dispatcher, department=city.street2)
    assert ticket.subdispatched_at is None
    assert ticket.sign_due_at == local(2026, 11, 23, 16, 30)  # from the dispatch at 14:30


def test_retiming_recomputes_the_childs_sign_clock_from_the_hop(city, clock):
    ticket = subdispatched(city, clock)
    due = ticket.sign_due_at
    Ticket.objects.filter(pk=ticket.pk).update(sign_due_at=due + timedelta(days=3))
    changes = tickets_retime(ticket_ids=[ticket.pk], reason="policy", now=local(2026, 11, 23, 15, 0))
    assert [c.clocks.get("sign") for c in changes] == [(due + timedelta(days=3), due)]
    assert Ticket.objects.get(pk=ticket.pk).sign_due_at == due
    assert tickets_retime(ticket_ids=[ticket.pk], reason="policy", now=local(2026, 11, 23, 15, 0)) == []
