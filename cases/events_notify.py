"""Notifications for workflow events a unit must act on: a new ticket to sign, a
reply sent back for rework, a request to co-handle, a reopened ticket."""

from django.conf import settings
from django.db import transaction
from django.utils import translation
from django.utils.translation import gettext_lazy as _

from departments.roles import Role

from .models import Notification, TicketEvent
from .notify import is_urgent, notifications_create, staff_by_unit

Kind = TicketEvent.Kind

TEMPLATES = {
    Kind.DISPATCHED: _("【新工单】%(number)s 已派至本单位，请及时签收"),
    Kind.SUBDISPATCHED: _("【新工单】%(number)s 已下派至本单位，请及时签收"),
    Kind.REWORK: _("【退回重办】工单 %(number)s 的反馈被退回"),
    Kind.COHANDLERS_ADDED: _("【协办】请协助办理工单 %(number)s"),
    Kind.REOPENED: _("【重办】工单 %(number)s 回访不满意，需重新办理"),
}


def _units(event):
    t = event.ticket
    if event.kind in (Kind.DISPATCHED, Kind.SUBDISPATCHED, Kind.REWORK, Kind.REOPENED):
        return [t.assignee_department_id]
    if event.kind == Kind.COHANDLERS_ADDED:
        return [d["id"] for d in event.data.get("cohandlers", [])]
    return []


def event_notify(event_id: int) -> int:
    """Called right after the transition commits (not through the queue, so a
    broker outage loses nothing; the outside deliveries are queued)."""
    event = TicketEvent.objects.select_related("ticket__category").filter(pk=event_id).first()
    if event is None or event.kind not in TEMPLATES:
        return 0
    units = [u for u in _units(event) if u]
    if not units:
        return 0
    staff = staff_by_unit(units, [Role.HANDLER, Role.UNIT_HEAD])
    ticket = event.ticket
    # Stored messages are written in the site's language, not the actor's.
    with translation.override(settings.LANGUAGE_CODE):
        title = str(TEMPLATES[event.kind] % {"number": ticket.number})
    body = f"{ticket.category.name}\n{ticket.content[:120]}" + (f"\n{event.note}" if event.note else "")
    items = []
    for unit in units:
        people = staff.get((unit, Role.HANDLER), []) or staff.get((unit, Role.UNIT_HEAD), [])
        if event.kind == Kind.REWORK and ticket.handler_id:
            people = [u for u in people if u.pk == ticket.handler_id] or people
        for user in people:
            if user.pk == event.actor_id:
                continue
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
