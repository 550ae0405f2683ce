"""The learned suggestions (智能派单) as the intake form's JSON and the dispatch
form's panel; what they contain is decided in ``cases.suggestions``."""

from django.urls import reverse
from django.utils.translation import gettext

from departments.models import Grid
from departments.selectors import Territory, territory_resolve

from ..models import Channel, TicketEvent
from ..suggestions import NO_MODEL, suggest
from .forms import pk_or_none


def dispatch_suggestion(kind: str, ticket, user):
    """The dispatch form's suggestion for ``ticket`` (None for other actions)."""
    if kind != TicketEvent.Kind.DISPATCHED:
        return None
    territory = Territory(grid=ticket.grid, community=ticket.community, street=ticket.street, district=ticket.district)
    return suggest(
        user=user,
        content=ticket.content,
        address=ticket.address,
        channel=ticket.channel,
        territory=territory,
        category=ticket.category,
        exclude_pk=ticket.pk,
    )


def intake_suggestion_payload(request) -> dict:
    """JSON for the intake form's 智能派单 panel, from the form's current values."""
    content = request.GET.get("content", "")[:2000]
    address = request.GET.get("address", "")[:255]
    channel = request.GET.get("channel", "")
    if channel not in Channel.values:
        channel = ""
    grid = Grid.objects.filter(pk=pk_or_none(request.GET.get("grid")), is_active=True).first()
    territory = territory_resolve(grid=grid, address=address) if (grid or address) else Territory()
    suggestion = suggest(user=request.user, content=content, address=address, channel=channel, territory=territory)
    if suggestion is None:
        return {"available": False, "message": gettext(NO_MODEL) if content.strip() else ""}
    return suggestion_payload(suggestion)


def _unit(department):
    return {"id": department.pk, "name": department.name} if department is not None else None


def suggestion_payload(suggestion) -> dict:
    return {
        "available": True,
        "categories": [
            {
                "id": c.item.pk,
                "name": c.item.full_name,
                "percent": c.percent,
                "rule_unit": _unit(c.rule_unit),
            }
            for c in suggestion.categories
        ],
        "units": [{**_unit(u.item), "percent": u.percent, "allowed": u.allowed} for u in suggestion.units],
        "rule_unit": _unit(suggestion.rule_unit),
        "disagreement": suggestion.disagreement,
        "neighbours": [
            {
                "number": n.ticket.number,
                "url": reverse("admin:cases_ticket_change", args=[n.ticket.pk]),
                "summary": n.summary,
                "category": n.ticket.category.name if n.ticket.category_id else "",
                "unit": n.ticket.lead_department.name if n.ticket.lead_department_id else "",
                "percent": round(n.similarity * 100),
            }
            for n in suggestion.neighbours
        ],
        "trained_at": suggestion.model.trained_at.isoformat(),
        "rows": suggestion.model.rows,
    }
