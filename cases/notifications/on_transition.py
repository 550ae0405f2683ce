"""Notifications for workflow events a unit must act on: a new ticket to sign, a
reply sent back for rework, a request to co-handle, a reopened ticket."""

from django.conf import settings
from django.db import transaction
from django.utils import translation
from django.utils.translation import gettext_lazy as _

from departments.roles import Role

from ..models import Notification, TicketEvent
from ..privacy import mask_phones_in_text
from .inbox import is_urgent, notifications_create, staff_by_unit

Kind = TicketEvent.Kind

TEMPLATES = {
    Kind.DISPATCHED: _("【新工单】%(number)s 已派至本单位，请及时签收"),
    Kind.SUBDISPATCHED: _("【新工单】%(number)s 已下派至本单位，请及时签收"),
    Kind.REWORK: _("【退回重办】工单 %(number)s 的反馈被退回"),
    Kind.COHANDLERS_ADDED: _("【协办】请协助办理工单 %(number)s"),
    Kind.REOPENED: _("【重办】工单 %(number)s 回访不满意，需重新办理"),
    Kind.URGED: _("【催办】工单 %(number)s 收到催办，请签收并反馈"),
    Kind.ESCALATED: _("【提级督办】工单 %(number)s 已提级督办，办结时限缩短"),
    Kind.REPLY_DRAFTED: _("【待签批】工单 %(number)s 的办理反馈待负责人签批"),
    Kind.SIGNOFF_REQUIRED: _("【一把手签批】工单 %(number)s 的反馈须经负责人签批"),
}


#: Who hears of an event: the unit's handlers (else its heads), or only its heads.
HEADS_ONLY = frozenset({Kind.REPLY_DRAFTED, Kind.SIGNOFF_REQUIRED})


def _units(event):
    t = event.ticket
    if event.kind in (Kind.DISPATCHED, Kind.SUBDISPATCHED, Kind.REWORK, Kind.REOPENED):
        return [t.assignee_department_id]
    if event.kind == Kind.COHANDLERS_ADDED:
        return [d["id"] for d in event.data.get("cohandlers", [])]
    if event.kind in (Kind.URGED, Kind.ESCALATED, *HEADS_ONLY):
        return [t.lead_department_id]
    return []


def event_notify(event_id: int) -> int:
    """Called right after the transition commits (not through the queue, so a
    broker outage loses nothing; the outside deliveries are queued)."""
    event = TicketEvent.objects.select_related("ticket__category", "ticket__escalated_to").filter(pk=event_id).first()
    if event is None or event.kind not in TEMPLATES:
        return 0
    if event.kind == Kind.URGED and event.actor_id is None:
        return 0  # the deadline scan's own urge: its reminder already told everyone
    units = [u for u in _units(event) if u]
    if not units:
        return 0
    staff = staff_by_unit(units, [Role.HANDLER, Role.UNIT_HEAD])
    ticket = event.ticket
    # Stored messages are written in the site's language, not the actor's.
    with translation.override(settings.LANGUAGE_CODE):
        title = str(TEMPLATES[event.kind] % {"number": ticket.number})
    # Texts leave the system (SMS, e-mail, chat robots): phone numbers in them masked.
    body = mask_phones_in_text(
        f"{ticket.category.name}\n{ticket.content[:120]}" + (f"\n{event.note}" if event.note else "")
    )
    items = []
    for unit in units:
        if event.kind in HEADS_ONLY:
            people = staff.get((unit, Role.UNIT_HEAD), [])
        elif event.kind in (Kind.URGED, Kind.ESCALATED):
            people = staff.get((unit, Role.HANDLER), []) + staff.get((unit, Role.UNIT_HEAD), [])
        else:
            people = staff.get((unit, Role.HANDLER), []) or staff.get((unit, Role.UNIT_HEAD), [])
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
