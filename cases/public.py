"""What the public may know about a ticket (DESIGN §7–§8).

The status lookup, the 问题墙回音壁 board and Open311 all speak through here, so
the one rule holds in one place: no name, phone, exact address or ID number of a
citizen leaves, and a confidential report (举报) is not on any public list."""

import re

from django.utils.translation import gettext as _

from .models import Ticket, TicketEvent, TicketState
from .privacy import mask_mobiles, mask_name_in_text

S = TicketState
K = TicketEvent.Kind

_ID_NUMBER = re.compile(r"(?<!\d)\d{6}(?:19|20)\d{2}\d{7}[\dXx](?!\d)")
# With an area code, or a bare 7–8 digit number that is not a date such as 20261123.
_LANDLINE = re.compile(r"(?<!\d)(?:0\d{2,3}[- ]?\d{7,8}|(?!19|20)\d{7,8})(?!\d)")
_HOUSE = re.compile(r"\d+(?:号楼|栋|幢|单元|号院|室|号)")


def anonymise(text: str, ticket: Ticket | None = None) -> str:
    """Mask ID numbers, phone numbers, house numbers and the citizen's name."""
    text = text or ""
    text = _ID_NUMBER.sub(lambda m: m.group()[:4] + "*" * (len(m.group()) - 4), text)
    text = mask_mobiles(text)
    text = _LANDLINE.sub(lambda m: re.sub(r"\d(?=(?:\D*\d){2})", "*", m.group()), text)
    text = _HOUSE.sub(lambda m: "*" + m.group().lstrip("0123456789"), text)
    if ticket is not None:
        text = mask_name_in_text(text, ticket.citizen_name)
    return text


def public_tickets(queryset=None, *, include_invalid=False):
    """Tickets that may appear on public lists: not confidential, not void (a void
    one can still be looked up by its number, without its content)."""
    queryset = Ticket.objects.all() if queryset is None else queryset
    queryset = queryset.filter(is_confidential=False)
    return queryset if include_invalid else queryset.exclude(state=S.INVALID)


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
        summary = anonymise(ticket.reply_text, ticket)
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
    """An update's description: the step, and for closures the reply summary."""
    label = event.get_kind_display()
    if event.kind in (K.APPROVED, K.ANSWERED, K.MASTER_CLOSED) and event.ticket.reply_text:
        return f"{label}：{anonymise(event.ticket.reply_text, event.ticket)}"
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
