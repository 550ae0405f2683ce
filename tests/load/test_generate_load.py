"""The load generator writes data the product can work with: consistent
timelines, unique numbers, callbacks for closures, and the next real ticket's
number does not collide. (Transactional: on PostgreSQL the generator COPYs from a
thread with its own connection, so its rows are committed, and must be cleared.)"""

import itertools
from types import SimpleNamespace

import pytest
from django.core.management import call_command
from django.db.models import Count, F, Q

from cases.models import Callback, Ticket, TicketEvent, TicketState
from tests.conftest import new_ticket

S = TicketState


@pytest.mark.django_db(transaction=True, serialized_rollback=True)
def test_generate_load_writes_a_consistent_city(capsys):
    call_command("generate_load", tickets=600, years=0.5, no_progress=True)
    out = capsys.readouterr().out
    assert "600 tickets" in out and "50-step timeline" in out
    tickets = Ticket.objects.all()
    assert tickets.count() == 600
    assert tickets.values("number").distinct().count() == 600
    states = dict(tickets.values_list("state").annotate(n=Count("pk")))
    open_ = sum(states.get(s, 0) for s in (S.RECEIVED, S.DISPATCHED, S.HANDLING, S.REVIEWING))
    assert 0.04 * 600 <= open_ <= 0.2 * 600, states
    assert states[S.CLOSED] > 400
    # every timeline starts with intake and chains state to state, ending in the ticket's state
    for ticket in tickets.exclude(events__kind=TicketEvent.Kind.PROGRESS)[:200]:
        events = list(ticket.events.order_by("created_at", "pk"))
        assert events[0].kind == TicketEvent.Kind.CREATED
        for previous, event in itertools.pairwise(events):
            assert event.from_state == previous.to_state and event.created_at >= previous.created_at
        assert events[-1].to_state == ticket.state
    # open tickets have their clocks; closed ones a callback (once a day has passed)
    assert not tickets.filter(state=S.HANDLING, resolve_due_at__isnull=True).exists()
    assert Callback.objects.filter(ticket__state=S.CLOSED).count() > 300
    assert not Callback.objects.exclude(ticket__state=S.CLOSED).exists()
    # the facts the workflow fixes on its events (what the rates count) are there too
    K = TicketEvent.Kind
    dispatches = TicketEvent.objects.filter(kind=K.DISPATCHED)
    assert dispatches.count() == tickets.filter(first_dispatched_at__isnull=False).count()
    assert not dispatches.exclude(unit_id=F("ticket__lead_department_id")).exists()
    signs = TicketEvent.objects.filter(kind__in=[K.SIGNED, K.CONTACTED])
    assert signs.exists() and not signs.filter(Q(dispatch__isnull=True) | Q(on_time__isnull=True)).exists()
    assert not signs.exclude(dispatch__ticket=F("ticket")).exists()
    late = TicketEvent.objects.filter(kind=K.SIGNED, created_at__gt=F("due_at"))
    assert late.count() == TicketEvent.objects.filter(kind=K.SIGNED, on_time=False).count()
    closes = TicketEvent.objects.filter(kind=K.APPROVED)
    assert closes.exists() and not closes.filter(Q(dispatch__isnull=True) | Q(on_time__isnull=True)).exists()
    assert not Callback.objects.exclude(unit_id=F("ticket__lead_department_id")).exists()


@pytest.mark.django_db(transaction=True, serialized_rollback=True)
def test_real_tickets_after_a_load_get_fresh_numbers(capsys):
    call_command("generate_load", tickets=300, years=0.01, open_share=0.5, no_progress=True)
    loaded = Ticket.objects.order_by("-received_at").first()
    city = SimpleNamespace(operator=loaded.created_by, cold_room=loaded.category)
    ticket = new_ticket(city)
    assert Ticket.objects.filter(number=ticket.number).count() == 1
    assert ticket.number > loaded.number or ticket.number[:8] != loaded.number[:8]
