"""What each ruling is about, shown on the action form before the decision: the
request (reason, days, attachments, deadlines before and after, the cap), the
reply under review with its evidence and co-handlers, the number to call, and
whether an escalation would shorten anything.

Every deadline here is computed by the workflow's own functions (the ones the
verbs call), so the page and the outcome cannot disagree."""

from django.conf import settings
from django.urls import reverse

from .. import clock, workflow
from ..labels import choice_label
from ..models import Attachment, ReplyTemplate, Ticket, TicketApplication, TicketEvent
from ..privacy import citizen_view, showing_citizen, shown_name, shown_phone

Kind = TicketEvent.Kind

REVIEW_KINDS = (Kind.APPROVED, Kind.REWORK)
EXTENSION_RULINGS = (Kind.EXTENSION_APPROVED, Kind.EXTENSION_REJECTED)
RETURN_RULINGS = (Kind.RETURN_APPROVED, Kind.RETURN_REJECTED)
OBJECTION_RULINGS = (Kind.OBJECTION_UPHELD, Kind.OBJECTION_REJECTED)


def _pending(ticket: Ticket, kind) -> TicketApplication | None:
    return (
        ticket.applications.filter(kind=kind, status=TicketApplication.Status.PENDING)
        .select_related("department", "requested_by")
        .first()
    )


def _last_event(ticket: Ticket, *kinds) -> TicketEvent | None:
    return (
        ticket.events.filter(kind__in=kinds)
        .select_related("actor", "actor_department", "reason_code")
        .prefetch_related("attachments")
        .order_by("-created_at", "-pk")
        .first()
    )


def _cap(ticket: Ticket, asked: int = 0) -> dict:
    limit = settings.EXTENSION_MAX_WORKING_DAYS
    used = ticket.extension_days
    return {"limit": limit, "used": used, "left": max(limit - used, 0), "over": used + asked > limit}


def extension_request_context(ticket: Ticket, now) -> dict:
    """The request form: the cap and what is used, the 17:00 rule as the verb
    applies it, and the deadline each number of days would give."""
    cap = _cap(ticket)
    return {
        "cap": cap,
        "cutoff": settings.EXTENSION_REQUEST_CUTOFF,
        "request_by": workflow.extension_request_deadline(ticket),
        "late": workflow.extension_is_late(ticket, now),
        "due": ticket.resolve_due_at,
        "previews": [(n, workflow.extension_due_after(ticket, n)) for n in range(1, cap["left"] + 1)],
    }


def extension_ruling_context(ticket: Ticket) -> dict:
    application = _pending(ticket, TicketApplication.Kind.EXTENSION)
    if application is None:
        return {}
    request = _last_event(ticket, Kind.EXTENSION_REQUESTED)
    return {
        "application": application,
        "attachments": list(request.attachments.all()) if request else [],
        "cap": _cap(ticket, application.working_days or 0),
        "due": ticket.resolve_due_at,
        "due_after": workflow.extension_due_after(ticket, application.working_days or 0),
    }


def return_ruling_context(ticket: Ticket) -> dict:
    application = _pending(ticket, TicketApplication.Kind.RETURN)
    if application is None:
        return {}
    request = _last_event(ticket, Kind.RETURN_REQUESTED)
    return {
        "application": application,
        "reason_code": request.reason_code if request else None,
        "attachments": list(request.attachments.all()) if request else [],
    }


def objection_ruling_context(ticket: Ticket, now) -> dict:
    """The objection, its ruling deadline and colour, and the dispatch objected to:
    who sent it, to which unit, and whether it lay outside the 派单目录 (with why)."""
    application = _pending(ticket, TicketApplication.Kind.OBJECTION)
    if application is None:
        return {}
    request = _last_event(ticket, Kind.OBJECTION_REQUESTED)
    dispatch = request.dispatch if request and request.dispatch_id else None
    return {
        "application": application,
        "reason_code": request.reason_code if request else None,
        "colour": application.ruling_colour(now),
        "dispatch": dispatch,
        "catalogue": workflow.catalogue_labels(workflow.catalogue_kinds(ticket.category)),
    }


def review_context(ticket: Ticket) -> dict:
    """The reply under review, its evidence (the unit's before/after photos) and
    every co-handler's status."""
    reply = _last_event(ticket, Kind.REPLIED, Kind.HEAD_SIGNED)
    evidence = [
        a
        for a in ticket.attachments.select_related("uploaded_by")
        if a.kind in (Attachment.Kind.BEFORE, Attachment.Kind.AFTER)
    ]
    return {
        "reply": reply,
        "result": choice_label(ticket, "reply_result"),
        "text": ticket.reply_text,
        "reason": ticket.reply_reason,
        "replied_at": ticket.replied_at,
        "evidence": evidence,
        "cohandlings": list(ticket.cohandlings.select_related("department", "signed_by", "replied_by")),
    }


def contact_context(ticket: Ticket, user, back: str) -> dict:
    """The number to call, masked as the ticket page masks it; the reveal goes
    through the ticket's one audited reveal view and comes back here."""
    view = citizen_view(user, ticket)
    with showing_citizen(view):
        name, phone = shown_name(ticket), shown_phone(ticket)
    return {
        "view": view,
        "name": name,
        "phone": phone,
        "anonymous": ticket.is_anonymous,
        "reveal_url": reverse("admin:cases_ticket_reveal", args=[ticket.pk]),
        "back": back,
    }


def escalation_context(ticket: Ticket, now) -> dict:
    """The current resolve deadline and what each limit would make of it."""
    default_days = settings.HOTLINE_ESCALATION_WORKING_DAYS
    options = [(n, *workflow.escalation_due(ticket, now, n)) for n in range(1, 11)]
    shortening = [n for n, _due, shortens in options if shortens]
    new_due, shortens = workflow.escalation_due(ticket, now, default_days)
    return {
        "due": ticket.resolve_due_at,
        "overdue": ticket.resolve_due_at is not None and ticket.resolve_due_at <= now,
        "default_days": default_days,
        "new_due": new_due,
        "shortens": shortens,
        "max_shortening": max(shortening) if shortening else 0,
    }


def reply_templates(ticket: Ticket) -> list[ReplyTemplate]:
    """办理反馈常用语 for the ticket's category (and its ancestors), every result."""
    return list(ReplyTemplate.objects.matching(category=ticket.category))


def decision_context(kind: str, ticket: Ticket, user, path: str) -> dict:
    """The context block of the action form ``kind`` (empty for actions that need none)."""
    now = clock.now()
    if kind == Kind.EXTENSION_REQUESTED:
        return {"extension_request": extension_request_context(ticket, now)}
    if kind in EXTENSION_RULINGS:
        return {"extension": extension_ruling_context(ticket)}
    if kind in RETURN_RULINGS:
        return {"return": return_ruling_context(ticket)}
    if kind in OBJECTION_RULINGS:
        return {"objection": objection_ruling_context(ticket, now)}
    if kind in REVIEW_KINDS:
        return {"review": review_context(ticket)}
    if kind == Kind.CONTACTED:
        return {"contact": contact_context(ticket, user, path)}
    if kind == Kind.ESCALATED:
        return {"escalation": escalation_context(ticket, now)}
    if kind == Kind.REPLIED:
        return {"templates": reply_templates(ticket)}
    return {}
