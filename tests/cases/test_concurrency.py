"""Two people at the same moment: one wins, the other is told why, the timeline
stays whole. Real threads, each with its own database connection (row locks on
PostgreSQL; SQLite serialises writers with IMMEDIATE transactions)."""

import threading

import pytest
from django.db import connections

from cases import workflow
from cases.models import TicketEvent, TicketState
from cases.workflow import WorkflowError
from departments.roles import Role
from tests.cases.invariants import assert_consistent
from tests.conftest import drive, new_ticket
from tests.departments.factories import staff

from .test_admin import action_url, login

S = TicketState
Kind = TicketEvent.Kind


def at_once(*calls):
    """Run the calls in threads released together; returns (results, errors)."""
    barrier = threading.Barrier(len(calls))
    results, errors = [None] * len(calls), [None] * len(calls)

    def run(i, call):
        try:
            barrier.wait()
            results[i] = call()
        except Exception as error:
            errors[i] = error
        finally:
            connections.close_all()

    threads = [threading.Thread(target=run, args=(i, call)) for i, call in enumerate(calls)]
    for thread in threads:
        thread.start()
    for thread in threads:
        thread.join()
    return results, errors


@pytest.mark.django_db(transaction=True, serialized_rollback=True)
def test_two_handlers_sign_one_ticket_at_the_same_moment(city):
    colleague = staff(Role.HANDLER, city.street, "handler_street_b")
    ticket = drive(city, new_ticket(city), S.DISPATCHED)
    results, errors = at_once(
        lambda: workflow.ticket_sign(ticket=ticket, actor=city.handler),
        lambda: workflow.ticket_sign(ticket=ticket, actor=colleague),
    )
    won = [r for r in results if r is not None]
    lost = [e for e in errors if e is not None]
    assert len(won) == 1 and len(lost) == 1
    assert isinstance(lost[0], WorkflowError) and lost[0].code == "state"
    assert "签收" in " ".join(lost[0].messages)  # "… cannot do 签收 now": said in words, not a 500
    ticket.refresh_from_db()
    assert ticket.state == S.HANDLING
    assert ticket.events.filter(kind=Kind.SIGNED).count() == 1
    assert_consistent(ticket)


@pytest.mark.django_db(transaction=True, serialized_rollback=True)
def test_two_dispatchers_send_one_ticket_to_different_units_at_once(city):
    colleague = staff(Role.DISPATCHER, city.centre, "dispatcher_b")
    ticket = new_ticket(city)
    _results, errors = at_once(
        lambda: workflow.ticket_dispatch(ticket=ticket, actor=city.dispatcher, department=city.street),
        lambda: workflow.ticket_dispatch(ticket=ticket, actor=colleague, department=city.bureau),
    )
    ticket.refresh_from_db()
    assert [e for e in errors if e is not None] == []  # re-dispatch is allowed: both succeed, in some order …
    dispatched = list(ticket.events.filter(kind=Kind.DISPATCHED).order_by("created_at", "id"))
    assert len(dispatched) == 2
    assert ticket.lead_department_id == dispatched[-1].data["department"]["id"]  # … and the last one stands
    assert_consistent(ticket)


def test_a_double_submitted_action_form_acts_once(client, city):
    ticket = drive(city, new_ticket(city), S.DISPATCHED)
    login(client, city.handler)
    first = client.post(action_url(ticket, Kind.SIGNED), {})
    second = client.post(action_url(ticket, Kind.SIGNED), {}, follow=True)  # the same form, sent again
    assert first.status_code == 302 and second.status_code == 200
    assert ticket.events.filter(kind=Kind.SIGNED).count() == 1
    messages = [str(m) for m in second.context["messages"]]
    assert any("签收" in m for m in messages), messages  # told why nothing happened
