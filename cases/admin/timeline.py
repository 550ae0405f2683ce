"""The ticket page's timeline (办理记录) as plain rows: every label translated,
every time formatted and every name looked up here, once, so that the template's
loop only prints strings (``templates/admin/cases/ticket/change_form.html``)."""

from django.template.defaultfilters import linebreaksbr
from django.urls import reverse
from django.utils import timezone

from ..labels import choice_labels
from ..models import TicketEvent
from ..privacy import shown_text
from ..workflow.events import event_detail

_KIND = TicketEvent._meta.get_field("kind")
_STATE = TicketEvent._meta.get_field("to_state")


def timeline_rows(ticket, events) -> list[dict]:
    """One row per event, newest first as given: ``kind`` (for the CSS class),
    ``time``, ``kind_label``, ``actor`` (unit and person), ``states`` (from → to,
    or ``""`` when the state did not change), ``unit`` (the unit it went to, or
    ``None``), ``detail``, ``reason_code``, ``note`` (as the page may show it, with
    line breaks) and ``attachments`` (url, name). ``event.attachments_list`` holds
    the event's attachments (the caller reads them for all events at once)."""
    kinds = choice_labels(_KIND)
    states = choice_labels(_STATE)
    rows = []
    for event in events:
        data = event.data or {}
        department = data.get("department")
        reason_code = data.get("reason_code")
        moved = event.from_state != event.to_state
        actor_department = event.actor_department
        actor = event.actor
        rows.append(
            {
                "kind": event.kind,
                "time": timezone.localtime(event.created_at).strftime("%Y-%m-%d %H:%M"),
                "kind_label": kinds.get(event.kind, event.kind),
                "actor": f"{actor_department if actor_department else ''} {actor if actor else ''}",
                "states": (
                    f"{states.get(event.from_state, event.from_state) or '—'} → "
                    f"{states.get(event.to_state, event.to_state)}"
                    if moved
                    else ""
                ),
                "unit": (department.get("name", "") if isinstance(department, dict) else "") if department else None,
                "detail": event_detail(event),
                "reason_code": (reason_code.get("label", "") if isinstance(reason_code, dict) else "")
                if reason_code
                else None,
                "note": linebreaksbr(shown_text(event.note, ticket), autoescape=True) if event.note else "",
                "attachments": [
                    (reverse("admin:cases_ticket_attachment", args=[ticket.pk, a.pk]), a.original_name)
                    for a in event.attachments_list
                ],
            }
        )
    return rows
