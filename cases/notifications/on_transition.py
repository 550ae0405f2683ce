"""What follows a transition once it has committed (``event_announce``, called by
the workflow): notifications for the events a unit must act on — a new ticket to
sign, a reply sent back for rework, a request to co-handle, a reopened ticket —
and, for a new ticket, the search for clusters. Which events notify whom is the
verb registry's (``Verb.template``, ``Verb.audience``)."""

import logging
from contextlib import contextmanager
from contextvars import ContextVar

from django.conf import settings
from django.contrib.auth import get_user_model
from django.db import transaction
from django.utils import translation

from departments.models import Department
from departments.roles import Role

from ..models import Notification, TicketEvent
from ..privacy import mask_phones_in_text
from ..tasks import detect_clusters_for
from ..workflow.registry import VERBS, Audience
from .inbox import is_urgent, notifications_create, staff_by_unit

Kind = TicketEvent.Kind
logger = logging.getLogger(__name__)


#: Set by :func:`followups_inline`: follow-up work runs here and now, not queued.
_INLINE: ContextVar[bool] = ContextVar("followups_inline", default=False)


@contextmanager
def followups_inline():
    """Within the block, the follow-up work a transition would queue for a worker
    (cluster detection) runs in this process at once. For a batch that replays
    thousands of tickets (the demo seed): no flood of one task message per ticket
    for the worker to scroll through afterwards, and each ticket is checked at its
    own moment in the replay, as a worker would have done then."""
    token = _INLINE.set(True)
    try:
        yield
    finally:
        _INLINE.reset(token)


def event_announce(*, ticket_id: int, event_id: int, kind: str) -> None:
    """Called by the workflow once a transition has committed. Never raises: a
    notification problem must never undo or block the work itself."""
    if VERBS[kind].template is not None:
        try:
            event_notify(event_id)
        except Exception:
            logger.exception("could not notify about event %s", event_id)
    if kind == Kind.CREATED:
        # Pattern detection is a worker's job, not the intake request's: the caller
        # gets their ticket number without waiting for it.
        try:
            if _INLINE.get():
                detect_clusters_for(ticket_id)
            else:
                detect_clusters_for.delay(ticket_id)
        except Exception:  # advisory; if the broker is down the periodic sweep finds the pattern
            logger.warning("could not queue cluster detection for ticket %s", ticket_id, exc_info=True)


def _units(event, audience: Audience) -> list:
    t = event.ticket
    if audience == Audience.ASSIGNEE:
        return [t.assignee_department_id]
    if audience == Audience.COHANDLERS:
        return [d["id"] for d in event.data.get("cohandlers", [])]
    if audience == Audience.PREVIOUS_HOLDER:
        return [(event.data.get("previous") or {}).get("id")]
    if audience == Audience.CENTRE:  # a sub-centre, or the hotline centre itself
        if t.centre_id:
            return [t.centre_id]
        return list(Department.objects.filter(kind=Department.Kind.CENTRE, is_active=True).values_list("pk", flat=True))
    return [t.lead_department_id]


def _people(staff, unit, audience: Audience) -> list:
    if audience == Audience.CENTRE:
        return staff.get((unit, Role.DISPATCHER), [])
    handlers, heads = staff.get((unit, Role.HANDLER), []), staff.get((unit, Role.UNIT_HEAD), [])
    if audience == Audience.LEAD_HEADS:
        return heads
    if audience == Audience.LEAD:
        return handlers + heads
    return handlers or heads


def _worker(event, audience: Audience):
    """The grid worker a chain event is about: the one a hop went down to, or the
    one who held the ticket before a take-back (``data.worker``); else ``None``."""
    if not (event.kind == Kind.SUBDISPATCHED or audience == Audience.PREVIOUS_HOLDER):
        return None
    ref = event.data.get("worker")
    if not isinstance(ref, dict):
        return None
    return get_user_model().objects.filter(pk=ref.get("id"), is_active=True).first()


#: What a notification is made of: the event, the ticket's number, text and
#: urgency, the units and people it may go to. Not the whole ticket row (some
#: seventy columns, a third of them dates to convert), read once per transition.
_NOTIFY_FIELDS = (
    "kind",
    "actor",
    "data",
    "note",
    "created_at",
    "ticket__number",
    "ticket__content",
    "ticket__urgency",
    "ticket__assignee_department",
    "ticket__centre",
    "ticket__lead_department",
    "ticket__handler",
    "ticket__category__name",
    "ticket__escalated_to",  # the whole user: a recipient
)


def event_notify(event_id: int) -> int:
    """Notify the units the event's verb names (called by :func:`event_announce`
    right after the transition commits, not through the queue, so a broker
    outage loses nothing; the outside deliveries are queued)."""
    event = (
        TicketEvent.objects.select_related("ticket__category", "ticket__escalated_to")
        .only(*_NOTIFY_FIELDS)
        .filter(pk=event_id)
        .first()
    )
    verb = VERBS[event.kind] if event is not None else None
    if verb is None or verb.template is None:
        return 0
    if event.kind == Kind.URGED and event.actor_id is None:
        return 0  # the deadline scan's own urge: its reminder already told everyone
    units = [u for u in _units(event, verb.audience) if u]
    if not units:
        return 0
    roles = [Role.DISPATCHER] if verb.audience == Audience.CENTRE else [Role.HANDLER, Role.UNIT_HEAD]
    staff = staff_by_unit(units, roles)
    ticket = event.ticket
    # Stored messages are written in the site's language, not the actor's.
    with translation.override(settings.LANGUAGE_CODE):
        title = str(verb.template % {"number": ticket.number})
    # Texts leave the system (SMS, e-mail, chat robots): phone numbers in them masked.
    body = mask_phones_in_text(
        f"{ticket.category.name}\n{ticket.content[:120]}" + (f"\n{event.note}" if event.note else "")
    )
    worker = _worker(event, verb.audience)
    items = []
    for unit in units:
        # A hop to (or back from) a grid worker concerns the worker, not the community's staff.
        people = [worker] if worker is not None else _people(staff, unit, verb.audience)
        if event.kind == Kind.ESCALATED and ticket.escalated_to:
            people = [*people, ticket.escalated_to]
        if event.kind == Kind.REWORK and ticket.handler_id:
            people = [u for u in people if u.pk == ticket.handler_id] or people
        seen = set()
        for user in people:
            if user.pk == event.actor_id or user.pk in seen:
                continue
            seen.add(user.pk)
            items.append(
                {
                    "recipient": user,
                    "ticket": ticket,
                    "kind": Notification.Kind.EVENT,
                    "title": title,
                    "body": body,
                    "urgent": is_urgent(ticket),
                }
            )
    with transaction.atomic():
        return len(notifications_create(items, now=event.created_at))
