"""What must hold for every ticket, whatever happened to it."""

import itertools
from collections import Counter

from cases.models import CoHandling, DispatchHop, Ticket, TicketApplication, TicketEvent, TicketState
from cases.workflow import TRANSITIONS

Kind = TicketEvent.Kind
S = TicketState


def assert_consistent(ticket: Ticket) -> None:
    ticket = Ticket.objects.get(pk=ticket.pk)
    events = list(ticket.events.order_by("created_at", "id"))

    # The timeline explains the current state: it starts with intake, each entry
    # starts where the previous one ended, follows the transition table, and the
    # last one ends in the current state.
    assert events, "a ticket without a timeline"
    assert events[0].kind == Kind.CREATED and events[0].from_state == "" and events[0].to_state == S.RECEIVED
    for previous, event in itertools.pairwise(events):
        assert event.from_state == previous.to_state, (previous.kind, event.kind)
        rule = TRANSITIONS[event.kind]
        assert event.from_state in rule.sources, (event.kind, event.from_state)
        assert event.to_state in rule.targets, (event.kind, event.to_state)
    assert events[-1].to_state == ticket.state

    # Every change left one history version, and each version one event.
    assert ticket.history.count() == len(events)

    # Counters are the number of their events.
    kinds = Counter(e.kind for e in events)
    assert ticket.rework_count == kinds[Kind.REWORK]
    assert ticket.return_count == kinds[Kind.RETURN_APPROVED]
    assert ticket.extension_count == kinds[Kind.EXTENSION_APPROVED]
    assert ticket.reopen_count == kinds[Kind.REOPENED]
    assert ticket.units_passed == kinds[Kind.DISPATCHED]

    # Each state has what it needs.
    if ticket.state == S.RECEIVED:
        assert ticket.lead_department_id is None and ticket.assignee_department_id is None
    if ticket.state in (S.DISPATCHED, S.HANDLING, S.REVIEWING):
        assert ticket.lead_department_id and ticket.assignee_department_id
        assert ticket.dispatched_at and ticket.resolve_due_at
        assert ticket.assignee_department.is_descendant_of(ticket.lead_department)
    if ticket.state in (S.HANDLING, S.REVIEWING):
        assert ticket.signed_at is not None
    if ticket.state == S.REVIEWING:
        assert ticket.reply_result and ticket.replied_at
    if ticket.state == S.CLOSED:
        assert ticket.closed_at and ticket.reply_result
    if ticket.state == S.MERGED:
        assert ticket.merged_into_id is not None
        assert ticket.merged_into.merged_into_id is None
    if ticket.state == S.INVALID:
        assert ticket.invalid_kind and ticket.invalid_reason
    if ticket.state != S.MERGED:
        assert ticket.merged_into_id is None

    # The denormalised deadline summary matches the running clocks.
    clocks = ticket.running_clocks().values()
    assert ticket.next_due_at == min((due for due, _ in clocks), default=None)
    if ticket.next_due_at is not None:
        assert ticket.next_warn_at <= ticket.next_due_at

    # Applications wait only while a unit holds the ticket; one per kind at most.
    pending = ticket.applications.filter(status=TicketApplication.Status.PENDING)
    if ticket.state not in (S.DISPATCHED, S.HANDLING, S.REVIEWING):
        assert not pending.exists()
    assert pending.count() == len(set(pending.values_list("kind", flat=True)))

    # Co-handlers are never the lead.
    if ticket.lead_department_id:
        active = CoHandling.objects.exclude(status=CoHandling.Status.CANCELLED)
        assert not active.filter(ticket=ticket, department_id=ticket.lead_department_id).exists()

    # The sub-dispatch chain: the open hops go from the lead down to the holder, one
    # level at a time; only the last may be unsigned, and only while it waits for its
    # receiver's sign; each hop was one sub-dispatch event; ended hops say how.
    hops = list(DispatchHop.objects.filter(ticket=ticket).order_by("sent_at", "pk"))
    assert len(hops) == kinds[Kind.SUBDISPATCHED]
    for hop in hops:
        assert (hop.ended_at is None) == (hop.end == "")
        assert (hop.signed_at is None) == (hop.on_time is None)
    chain = [hop for hop in hops if hop.ended_at is None]
    if ticket.state not in (S.DISPATCHED, S.HANDLING):
        assert not chain, ticket.state
    if chain:
        assert ticket.state in (S.DISPATCHED, S.HANDLING)
        assert chain[0].from_department_id == ticket.lead_department_id
        for upper, lower in itertools.pairwise(chain):
            assert upper.to_worker_id is None and lower.from_department_id == upper.to_department_id
            assert upper.signed_at is not None
        assert (chain[-1].to_department_id, chain[-1].to_worker_id) == (
            ticket.assignee_department_id,
            ticket.assignee_worker_id,
        )
        assert (chain[-1].signed_at is None) == (ticket.state == S.DISPATCHED)
        for hop in chain:
            assert hop.to_department.is_descendant_of(ticket.lead_department)
    else:
        assert ticket.assignee_worker_id is None
        if ticket.state in (S.DISPATCHED, S.HANDLING, S.REVIEWING):
            assert ticket.assignee_department_id == ticket.lead_department_id
