"""Public pages, no login (DESIGN §7): the status lookup and the 问题墙回音壁 board."""

from django import forms
from django.shortcuts import render
from django.utils import timezone
from django.utils.translation import gettext_lazy as _
from django.views.decorators.cache import never_cache
from django.views.decorators.http import require_http_methods

from config.replicas import replica_view
from departments.models import Department

from .models import Category, TicketState
from .public import (
    never_public_categories,
    public_event_text,
    public_incident_notices,
    public_notes,
    public_ticket_incident,
    public_tickets,
    public_unit,
    ticket_is_public,
    ticket_lookup,
)
from .ratelimit import over_limit
from .selectors.tickets import ticket_timeline
from .workflow.registry import PUBLIC_KINDS

BOARD_PAGE_SIZE = 20
NOT_FOUND = _("没有找到与工单编号和手机号后四位都相符的工单，请核对后再试。")


class LookupForm(forms.Form):
    number = forms.CharField(
        label=_("工单编号"), max_length=20, widget=forms.TextInput(attrs={"placeholder": "20261123-00042"})
    )
    last4 = forms.RegexField(
        label=_("手机号后四位"),
        regex=r"^\d{4}$",
        max_length=4,
        error_messages={"invalid": _("请输入登记电话的后四位数字。")},
        widget=forms.TextInput(attrs={"inputmode": "numeric", "autocomplete": "off"}),
    )


@never_cache
@require_http_methods(["GET", "POST"])
def lookup(request):
    form = LookupForm(request.POST or None)
    context = {"form": form, "incident_notices": public_incident_notices()}
    status = 200
    if request.method == "POST":
        if over_limit("lookup", request):
            context["error"] = _("查询过于频繁，请十分钟后再试。")
            status = 429
        elif form.is_valid():
            ticket = ticket_lookup(form.cleaned_data["number"], form.cleaned_data["last4"])
            if ticket is None:
                context["error"] = NOT_FOUND
            elif not ticket_is_public(ticket):
                # The caller's own ticket, but not a public one: where it stands, nothing more.
                context.update(ticket=ticket, private=True)
            else:
                events = [event for event in ticket_timeline(ticket) if event.kind in PUBLIC_KINDS]
                for event in events:
                    event.ticket = ticket
                context.update(
                    ticket=ticket,
                    incident=public_ticket_incident(ticket),
                    unit=public_unit(ticket),
                    notes=public_notes(ticket),
                    steps=[(e.created_at, public_event_text(e)) for e in events],
                )
    return render(request, "public/lookup.html", context, status=status)


@require_http_methods(["GET"])
@replica_view
def board(request):
    """问题墙回音壁: what was raised, who is on it, by when, and what came of it."""
    tickets = public_tickets().exclude(state__in=[TicketState.MERGED, TicketState.RECEIVED])
    categories = (
        Category.objects.filter(parent__isnull=True, is_active=True)
        .exclude(pk__in=never_public_categories().values("pk"))
        .order_by("path")
    )
    streets = Department.objects.filter(kind=Department.Kind.STREET, is_active=True).order_by("path")
    category = _pick(categories, request.GET.get("category"))
    street = _pick(streets, request.GET.get("street"))
    if category is not None:
        tickets = tickets.filter(category__path__startswith=category.path)
    if street is not None:
        tickets = tickets.filter(street=street)
    state = request.GET.get("state")
    if state == "closed":
        tickets = tickets.filter(state=TicketState.CLOSED)
    elif state == "open":
        tickets = tickets.exclude(state=TicketState.CLOSED)
    try:
        page = max(1, min(int(request.GET.get("page") or 1), 500))
    except ValueError:
        page = 1
    start = (page - 1) * BOARD_PAGE_SIZE
    rows = list(
        tickets.select_related("category", "community", "street", "lead_department", "merged_into").order_by(
            "-received_at", "-pk"
        )[start : start + BOARD_PAGE_SIZE + 1]
    )
    has_next = len(rows) > BOARD_PAGE_SIZE
    cards = [
        {
            "ticket": t,
            "place": " ".join(d.name for d in (t.street, t.community) if d is not None),
            "unit": public_unit(t),
            "notes": public_notes(t),
        }
        for t in rows[:BOARD_PAGE_SIZE]
    ]
    query = request.GET.copy()
    query.pop("page", None)
    return render(
        request,
        "public/board.html",
        {
            "cards": cards,
            "incident_notices": public_incident_notices(),
            "categories": categories,
            "streets": streets,
            "category": category,
            "street": street,
            "state": state or "",
            "page": page,
            "has_next": has_next,
            "query": query.urlencode(),
            "now": timezone.now(),
        },
    )


def _pick(queryset, raw):
    return queryset.filter(pk=int(raw)).first() if raw and raw.isdigit() else None
