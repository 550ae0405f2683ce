"""The load generator writes data the product can work with: consistent
timelines, unique numbers, callbacks for closures, and the next real ticket's
number does not collide. (Transactional: on PostgreSQL the generator COPYs from a
thread with its own connection, so its rows are committed, and must be cleared.)"""

import itertools
from datetime import UTC, datetime
from types import SimpleNamespace

import pytest
import time_machine
from django.core.management import CommandError, call_command
from django.db import connection
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


def _fingerprint():
    tickets = list(Ticket.objects.order_by("pk").values_list("pk", "number", "received_at", "state", "content"))
    # (not the events' ids: the 50-step story added after the load takes SQLite's next
    # AUTOINCREMENT value, which remembers the rows cleared between the two runs)
    events = list(TicketEvent.objects.order_by("pk").values_list("ticket_id", "kind", "created_at", "on_time"))
    callbacks = list(Callback.objects.order_by("pk").values_list("pk", "ticket_id", "status", "satisfaction"))
    return tickets, events, callbacks


def _clear_load():
    for model in (Callback, TicketEvent, Ticket):
        model.objects.all().delete()
    from cases.models import TicketNumberSequence
    from cases.tooling.load import RUNS_TABLE

    TicketNumberSequence.objects.all().delete()
    with connection.cursor() as cursor:
        cursor.execute(f"DELETE FROM {RUNS_TABLE}")


@pytest.mark.django_db(transaction=True, serialized_rollback=True)
def test_a_stopped_load_resumes_and_ends_with_the_rows_of_an_unbroken_one(monkeypatch, capsys):
    from cases.tooling import load

    monkeypatch.setattr(load, "CHUNK", 70)
    arguments = {"tickets": 400, "years": 0.3, "open_share": 0.2, "no_progress": True}
    with time_machine.travel(datetime(2026, 11, 20, 4, 0, tzinfo=UTC), tick=False):
        call_command("generate_load", **arguments)
    unbroken = _fingerprint()
    assert len(unbroken[0]) == 400
    _clear_load()

    # The third chunk fails (the machine went down): two whole chunks are in, nothing of the third.
    commits = []
    real_commit = load.Copier.commit

    def commit_then_fail(self, payloads, after):
        commits.append(len(payloads[0][2]))
        if len(commits) == 3:
            raise OSError("the load was killed")
        return real_commit(self, payloads, after)

    monkeypatch.setattr(load.Copier, "commit", commit_then_fail)
    with time_machine.travel(datetime(2026, 11, 20, 4, 0, tzinfo=UTC), tick=False):
        with pytest.raises(OSError):
            call_command("generate_load", **arguments)
    assert Ticket.objects.count() == 140
    assert not TicketEvent.objects.exclude(ticket__in=Ticket.objects.all()).exists()
    assert load.unfinished_run().chunks_done == 2

    # Started again with other arguments, it says what is in the way and writes nothing.
    monkeypatch.setattr(load.Copier, "commit", real_commit)
    with pytest.raises(CommandError, match="unfinished load of 400 tickets"):
        call_command("generate_load", **{**arguments, "tickets": 500})
    assert Ticket.objects.count() == 140

    # Started again with the same arguments, later: it resumes on the first run's clock.
    with time_machine.travel(datetime(2026, 11, 21, 9, 0, tzinfo=UTC), tick=False):
        call_command("generate_load", **arguments)
    assert "resumed an unfinished load after 140 tickets" in capsys.readouterr().out
    assert _fingerprint() == unbroken
    assert load.unfinished_run() is None


def _secondary_indexes():
    with connection.cursor() as cursor:
        cursor.execute(
            "SELECT indexname, indexdef FROM pg_indexes WHERE schemaname = current_schema() "
            "AND tablename IN ('cases_ticket', 'cases_ticketevent', 'cases_callback') ORDER BY indexname"
        )
        return cursor.fetchall()


@pytest.mark.django_db(transaction=True, serialized_rollback=True)
def test_a_bulk_load_drops_its_indexes_and_a_stopped_one_gets_them_back(monkeypatch):
    if connection.vendor != "postgresql":
        pytest.skip("secondary indexes are deferred on PostgreSQL only")
    from cases.tooling import load

    before = _secondary_indexes()
    assert any(name == "ticket_keyword_bigrams" for name, _ in before)
    monkeypatch.setattr(load, "CHUNK", 50)
    real_commit = load.Copier.commit
    commits = []

    def commit_then_fail(self, payloads, after):
        commits.append(1)
        if len(commits) == 2:
            raise OSError("the load was killed")
        return real_commit(self, payloads, after)

    monkeypatch.setattr(load.Copier, "commit", commit_then_fail)
    with pytest.raises(OSError):
        load.generate(tickets=150, years=0.2, defer_indexes=True)
    left = {name for name, _ in _secondary_indexes()}
    assert "ticket_keyword_bigrams" not in left and "event_ticket_time" not in left
    assert "cases_ticket_pkey" in left and "cases_ticket_number_key" in left  # constraints stay

    monkeypatch.setattr(load.Copier, "commit", real_commit)
    built = []
    load.generate(tickets=150, years=0.2, out=built.append)  # resumed: not a bulk load by size, but rebuilds
    # every index is back (by name: PostgreSQL prints a rebuilt predicate's casts differently)
    assert [name for name, _ in _secondary_indexes()] == [name for name, _ in before]
    assert len(built) == len(before) - len(left) and Ticket.objects.count() == 150
    # a partitioned table's rebuilt indexes cover each of its partitions (the legacy
    # one holds the loaded rows) and are valid: the planner can use them
    with connection.cursor() as cursor:
        cursor.execute(
            "SELECT c.relname, count(x.indexrelid) FILTER (WHERE x.indisvalid AND NOT x.indisprimary) "
            "FROM pg_inherits h JOIN pg_class c ON c.oid = h.inhrelid LEFT JOIN pg_index x ON x.indrelid = c.oid "
            "WHERE h.inhparent = 'cases_ticketevent'::regclass GROUP BY c.relname"
        )
        per_partition = dict(cursor.fetchall())
        cursor.execute(
            "SELECT count(*) FILTER (WHERE x.indisvalid) , count(*) FROM pg_index x "
            "WHERE x.indrelid = 'cases_ticketevent'::regclass"
        )
        valid, parent_indexes = cursor.fetchone()
    assert valid == parent_indexes and per_partition
    assert all(n == parent_indexes for n in per_partition.values()), (parent_indexes, per_partition)
    assert load.unfinished_run() is None
    # the search through the rebuilt keyword index finds what the rows hold
    word = Ticket.objects.values_list("content", flat=True).first()[-6:-2]
    assert Ticket.objects.filter(content__contains=word).exists()
