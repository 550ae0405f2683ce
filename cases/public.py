"""What the public may know about a ticket (DESIGN §7–§8).

The status lookup, the 问题墙回音壁 board and Open311 all speak through here, so
the one rule holds in one place: no name, phone, exact address or ID number of a
citizen leaves; a ticket is public only if it is not a confidential report (举报),
not in a never-public category (or under one), and not made private (proactive
and sensor tickets are private from intake on, :func:`public_by_default`); and a
closed ticket shows the summary its unit approved, never the raw reply."""

import re

from django.db.models import Q
from django.utils.translation import gettext as _

from .models import Category, Channel, Incident, Ticket, TicketEvent, TicketState
from .privacy import mask_mobiles, mask_name_in_text

S = TicketState
K = TicketEvent.Kind

_ID_NUMBER = re.compile(r"(?<!\d)\d{6}(?:19|20)\d{2}\d{7}[\dXx](?!\d)")
# With an area code, or a bare 7–8 digit number that is not a date such as 20261123.
_LANDLINE = re.compile(r"(?<!\d)(?:0\d{2,3}[- ]?\d{7,8}|(?!19|20)\d{7,8})(?!\d)")
_HOUSE = re.compile(r"\d+(?:号楼|栋|幢|单元|号院|室|号)")
# A device or meter code such as WM-0001: it leads to one household.
_DEVICE = re.compile(r"(?<![A-Za-z0-9])[A-Za-z]{1,6}-\d{2,}(?:-\d+)*")
#: The longest public summary kept (the board shows a card, not a report).
PUBLIC_SUMMARY_MAX = 500


def anonymise(text: str, ticket: Ticket | None = None) -> str:
    """Mask ID numbers, phone numbers, house numbers and the citizen's name."""
    text = text or ""
    text = _ID_NUMBER.sub(lambda m: m.group()[:4] + "*" * (len(m.group()) - 4), text)
    text = mask_mobiles(text)
    text = _LANDLINE.sub(lambda m: re.sub(r"\d(?=(?:\D*\d){2})", "*", m.group()), text)
    text = _HOUSE.sub(lambda m: "*" + m.group().lstrip("0123456789"), text)
    text = _DEVICE.sub(lambda m: m.group()[:2] + "*" * (len(m.group()) - 2), text)
    if ticket is not None:
        text = mask_name_in_text(text, ticket.citizen_name)
    return text


# -- which tickets are public ---------------------------------------------------------


def public_by_default(*, channel: str, is_proactive: bool) -> bool:
    """The public/private decision a ticket gets at intake (``ticket_create``):
    what the city found itself (主动治理, 未诉先办) and what a sensor raised (物联感知)
    is about people who did not ask to be on a public wall, so it starts private;
    staff may publish it later (``ticket_publicity_set``)."""
    return not (is_proactive or channel == Channel.SENSOR)


def never_public_categories():
    """Categories whose tickets are never public: marked ``never_public``, or under
    a marked one. Read at query time, so marking a category hides its existing
    tickets at once."""
    paths = list(Category.objects.filter(never_public=True).values_list("path", flat=True))
    subtree = Q(pk__in=[])
    for path in paths:
        subtree |= Q(path__startswith=path)
    return Category.objects.filter(subtree)


def category_is_never_public(category: Category) -> bool:
    return never_public_categories().filter(pk=category.pk).exists()


def public_tickets(queryset=None, *, include_invalid=False):
    """The one rule of what the public may see: tickets that are not confidential,
    not private, not in a never-public category, and not void (a void one can still
    be looked up by its number, without its content). The board, the lookup and
    every Open311 endpoint read through here."""
    queryset = Ticket.objects.all() if queryset is None else queryset
    queryset = queryset.filter(is_confidential=False, is_public=True).exclude(
        category__in=never_public_categories().values("pk")
    )
    return queryset if include_invalid else queryset.exclude(state=S.INVALID)


def ticket_is_public(ticket: Ticket) -> bool:
    """:func:`public_tickets` for one ticket (void ones included)."""
    return public_tickets(Ticket.objects.filter(pk=ticket.pk), include_invalid=True).exists()


# -- what a public ticket shows -------------------------------------------------------------


def public_summary_scrub(text: str, ticket: Ticket | None = None) -> str:
    """A 公开答复摘要 as it may be stored and shown: anonymised, trimmed. The reply
    form's suggestion, the reply verb's write and every public read use it."""
    return anonymise((text or "").strip(), ticket)[:PUBLIC_SUMMARY_MAX].strip()


def public_reply(ticket: Ticket) -> str:
    """What came of it, in the words the unit approved for the public ("" if none)."""
    return public_summary_scrub(ticket.public_summary, ticket)


def public_place(ticket: Ticket) -> str:
    """Where, to the community: never the house."""
    parts = [d.name for d in (ticket.district, ticket.street, ticket.community) if d is not None]
    return " ".join(parts)


def public_status(ticket: Ticket) -> str:
    """open / closed, in the Open311 sense."""
    return "open" if ticket.is_open else "closed"


def public_unit(ticket: Ticket) -> str:
    if ticket.lead_department_id:
        return ticket.lead_department.name
    return _("12345热线中心")


def public_notes(ticket: Ticket) -> str:
    """One line on where the ticket stands, as the citizen would be told."""
    if ticket.state == S.CLOSED:
        summary = public_reply(ticket)
        label = ticket.get_reply_result_display() or _("已办结")
        return f"{label}：{summary}" if summary else str(label)
    if ticket.state == S.MERGED:
        master = ticket.merged_into.number if ticket.merged_into_id else ""
        return _("与同类诉求合并办理（主工单 %(number)s）。") % {"number": master}
    if ticket.state == S.INVALID:
        return _("不予受理：%(kind)s。") % {"kind": ticket.get_invalid_kind_display()}
    if ticket.state == S.REVIEWING:
        return _("承办单位已反馈，热线中心审核中。")
    if ticket.state == S.HANDLING:
        return _("%(unit)s 正在办理。") % {"unit": public_unit(ticket)}
    if ticket.state == S.DISPATCHED:
        return _("已派至 %(unit)s，等待签收。") % {"unit": public_unit(ticket)}
    return _("已受理，等待派单。")


def public_event_text(event: TicketEvent) -> str:
    """An update's description: the step, and for closures the approved summary."""
    label = event.get_kind_display()
    summary = public_reply(event.ticket) if event.kind in (K.APPROVED, K.ANSWERED, K.MASTER_CLOSED) else ""
    if summary:
        return f"{label}：{summary}"
    if event.kind in (K.DISPATCHED, K.RETURN_APPROVED) and event.data.get("department"):
        return f"{label}：{event.data['department'].get('name', '')}"
    return str(label)


def ticket_lookup(number: str, last4: str) -> Ticket | None:
    """The status lookup: the ticket only if both the number and the last four
    digits of the phone match (the caller learns nothing about which did not)."""
    number, last4 = (number or "").strip(), (last4 or "").strip()
    if not re.fullmatch(r"\d{8}-\d{3,6}", number) or not re.fullmatch(r"\d{4}", last4):
        return None
    return (
        Ticket.objects.select_related("category", "lead_department", "community", "street", "district", "merged_into")
        .filter(number=number, citizen_phone_last4=last4)
        .first()
    )


def public_incident_notice(incident: Incident) -> dict:
    """What the public pages show of a declared incident: its kind, title, the
    places by name, the times and the notice (and, once closed, the result) — with
    any phone, house or ID number masked (``anonymise``); never who declared it or
    any household."""
    places = [d.name for d in incident.departments.all()] + [g.name for g in incident.grids.all()]
    return {
        "kind": incident.get_kind_display(),
        "title": anonymise(incident.title),
        "places": "、".join(places),
        "starts_at": incident.starts_at,
        "expected_end_at": incident.expected_end_at,
        "notice": anonymise(incident.notice),
        "result": anonymise(incident.result) if incident.closed_at else "",
        "closed_at": incident.closed_at,
    }


def public_incident_notices() -> list[dict]:
    """The notices of the open incidents (停水、停电…), newest first, for the board
    and the lookup page."""
    rows = (
        Incident.objects.filter(status=Incident.Status.DECLARED)
        .prefetch_related("departments", "grids")
        .order_by("-starts_at", "-pk")[:20]
    )
    return [public_incident_notice(i) for i in rows]


def public_ticket_incident(ticket: Ticket) -> dict | None:
    """The incident a looked-up ticket was linked to, as the public may see it."""
    incident = Incident.objects.filter(links__ticket=ticket).prefetch_related("departments", "grids").first()
    return public_incident_notice(incident) if incident is not None else None
