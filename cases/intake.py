"""Helpers for the live-call intake form: duplicates and the knowledge base."""

from dataclasses import dataclass
from datetime import timedelta

from django.db.models import Q

from . import clock
from .models import OPEN_STATES, KnowledgeArticle, Ticket, TicketState
from .selectors.scope import ticket_list
from .text import containment, similarity

DUPLICATE_WINDOW_DAYS = 7
DUPLICATE_SIMILARITY = 0.35
DUPLICATE_CANDIDATES = 200


@dataclass(frozen=True)
class Duplicate:
    ticket: Ticket
    reason: str
    score: float


def intake_duplicates(*, user, phone: str = "", content: str = "", community=None, exclude_pk=None, now=None):
    """Possible duplicates of a new demand within the last week: the same phone
    number, or similar content in the same community. Scoped to what ``user``
    may see; merged and invalid tickets are left out."""
    since = (now or clock.now()) - timedelta(days=DUPLICATE_WINDOW_DAYS)
    base = (
        ticket_list(user=user)
        .filter(received_at__gte=since)
        .exclude(state__in=[TicketState.MERGED, TicketState.INVALID])
    )
    if exclude_pk:
        base = base.exclude(pk=exclude_pk)
    found: dict[int, Duplicate] = {}
    digits = "".join(ch for ch in phone or "" if ch.isdigit())
    if len(digits) >= 7:
        for ticket in base.filter(citizen_phone=phone.strip()).select_related("category")[:20]:
            found[ticket.pk] = Duplicate(ticket, "phone", 1.0)
    if community is not None and content:
        candidates = base.filter(community=community).select_related("category").order_by("-received_at")
        for ticket in candidates[:DUPLICATE_CANDIDATES]:
            score = similarity(content, ticket.content)
            if score >= DUPLICATE_SIMILARITY and ticket.pk not in found:
                found[ticket.pk] = Duplicate(ticket, "content", score)
    ranked = sorted(found.values(), key=lambda d: (d.ticket.state not in OPEN_STATES, -d.score))
    return ranked[:10]


def knowledge_search(query: str, *, category=None, limit: int = 5):
    """Current knowledge-base answers matching the query, best first."""
    articles = KnowledgeArticle.objects.current().select_related("category")
    if category is not None:
        articles = articles.filter(
            Q(category__isnull=True)
            | Q(category_id__in=category.lineage_ids)
            | Q(category__path__startswith=category.path)
        )
    scored = []
    for article in articles[:500]:
        haystack = f"{article.question} {article.keywords} {article.answer}"
        score = containment(query, haystack) if query else 0.0
        if category is not None and article.category_id == category.pk:
            score += 0.2
        if score > 0.15:
            scored.append((score, article))
    scored.sort(key=lambda pair: -pair[0])
    return [article for _score, article in scored[:limit]]
