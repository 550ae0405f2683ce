"""The sub-dispatch chain (下派链): the rows behind 下派, 收回 and 交回上级.

A ticket's chain is its open ``DispatchHop`` rows, from the lead unit down to the
unit (or grid worker) holding it now. The verbs in ``verbs`` change the ticket and
call these to keep the hops in step, inside their own transaction; nothing else
writes hops. The chain is always a path down the unit tree: each open hop starts
where the previous one ended, at most the last one is unsigned, and the holder
(``Ticket.assignee_department`` / ``assignee_worker``) is where the last one ends.
"""

from django.db.models import Exists, OuterRef

from ..models import DispatchHop, Ticket

End = DispatchHop.End


def _open(ticket_id):
    """The hops of a ticket's open chain (``ticket_id`` may be an ``OuterRef``)."""
    return DispatchHop.objects.filter(ticket_id=ticket_id, ended_at__isnull=True)


def chain_is_open() -> Exists:
    """For a ticket queryset's ``annotate``: has the ticket an open chain?"""
    return Exists(_open(OuterRef("pk")))


def hops_open(ticket: Ticket) -> list[DispatchHop]:
    """The open chain, from the lead unit down (locked with the ticket's row)."""
    return list(_open(ticket.pk).select_for_update().order_by("sent_at", "pk"))


def hop_open(*, ticket: Ticket, actor, dispatch_id, to_department, to_worker=None, grid=None, sign=None, now):
    """A hop from the holder down: its own sign clock (``sign``: due and warn)."""
    return DispatchHop.objects.create(
        ticket=ticket,
        dispatch_id=dispatch_id,
        from_department_id=ticket.assignee_department_id,
        to_department=to_department,
        to_worker=to_worker,
        grid=grid,
        sent_by=actor,
        sent_at=now,
        sign_due_at=sign.due_at if sign else None,
        sign_warn_at=sign.warn_at if sign else None,
    )


def hop_sign(*, ticket: Ticket, actor, now) -> DispatchHop | None:
    """The receiver signs the pending (last, unsigned) hop: its fact, written once."""
    hop = (
        DispatchHop.objects.select_for_update()
        .filter(ticket_id=ticket.pk, ended_at__isnull=True, signed_at__isnull=True)
        .order_by("-sent_at", "-pk")
        .first()
    )
    if hop is None:
        return None
    hop.signed_at, hop.signed_by = now, actor
    hop.on_time = hop.sign_due_at is None or now <= hop.sign_due_at
    hop.save(update_fields=["signed_at", "signed_by", "on_time"])
    return hop


def hops_end(hops, *, end: str, now) -> list[int]:
    """Close ``hops`` (how they ended); returns their ids."""
    ids = [hop.pk for hop in hops]
    if ids:
        DispatchHop.objects.filter(pk__in=ids).update(ended_at=now, end=end)
    return ids


def chain_leave(ticket: Ticket, *, now) -> list[int]:
    """The ticket leaves the lead unit (re-dispatched, returned, merged) or closes
    while passed down (a reopen overruled): the whole open chain ends and no grid
    worker holds it any more. Returns the hop ids."""
    ticket.assignee_worker = None
    if not getattr(ticket, "locked_has_open_hops", True):  # read with the lock: no chain to end
        return []
    return hops_end(hops_open(ticket), end=End.LEFT, now=now)


def ticket_chain(ticket: Ticket) -> list[DispatchHop]:
    """The hops of the ticket's current chain, for reading (the ticket page)."""
    return list(
        _open(ticket.pk)
        .select_related("from_department", "to_department", "to_worker", "grid")
        .order_by("sent_at", "pk")
    )
