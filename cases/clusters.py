"""Clusters (双交办): the same caller on the same issue again and again (一人多次), or
many tickets of one category in one community (多人集中), or similar texts there.

Detected when a ticket is created and again by a periodic task (which catches
anything the first pass missed); thresholds are settings. An open cluster is
unique per (kind, key), so detection can run any number of times.

Detection only: it never calls the workflow, so the task that runs it (queued by the
workflow's announce) does not import back into the workflow. What staff do with a
cluster (escalate, merge) is in ``cases.cluster_actions``."""

from datetime import timedelta

from django.conf import settings
from django.db import IntegrityError, transaction
from django.db.models import Count

from . import clock
from .models import Cluster, ClusterMember, Ticket, TicketState
from .text import bigram_similarity, bigrams

S = TicketState
COUNTED = [S.RECEIVED, S.DISPATCHED, S.HANDLING, S.REVIEWING, S.CLOSED, S.MERGED]


def _thresholds():
    return {
        "repeat_n": settings.HOTLINE_REPEAT_CALLER_COUNT,
        "repeat_days": settings.HOTLINE_REPEAT_CALLER_DAYS,
        "mass_k": settings.HOTLINE_MASS_COUNT,
        "mass_days": settings.HOTLINE_MASS_DAYS,
        "similarity": settings.HOTLINE_SIMILARITY,
    }


def _upsert(kind, key, tickets, **facts) -> Cluster:
    """Add ``tickets`` to the open cluster of (kind, key), creating it if needed.

    A new cluster takes every ticket and counts them; an open one already holds
    the earlier tickets (each joined when it came in), so it takes the newest
    alone and counts up — a mass event's 500th call costs what its 5th did."""
    tickets = sorted(tickets, key=lambda t: (t.received_at, t.pk))
    now = clock.now()
    with transaction.atomic():
        cluster = Cluster.objects.select_for_update().filter(kind=kind, key=key, status=Cluster.Status.OPEN).first()
        if cluster is None:
            try:
                with transaction.atomic():
                    cluster = Cluster.objects.create(
                        kind=kind,
                        key=key,
                        first_at=tickets[0].received_at,
                        last_at=tickets[-1].received_at,
                        created_at=now,
                        **facts,
                    )
            except IntegrityError:  # another process opened it a moment ago
                cluster = Cluster.objects.select_for_update().get(kind=kind, key=key, status=Cluster.Status.OPEN)
            else:
                ClusterMember.objects.bulk_create(
                    [ClusterMember(cluster=cluster, ticket=t, added_at=now) for t in tickets], ignore_conflicts=True
                )
                cluster.size = cluster.members.count()
                cluster.save(update_fields=["size"])
                return cluster
        known = set(cluster.members.filter(ticket__in=tickets).values_list("ticket_id", flat=True))
        joining = [t for t in tickets if t.pk not in known]
        if joining:
            ClusterMember.objects.bulk_create([ClusterMember(cluster=cluster, ticket=t, added_at=now) for t in joining])
            cluster.size += len(joining)
            cluster.first_at = min(cluster.first_at, joining[0].received_at)
            cluster.last_at = max(cluster.last_at, joining[-1].received_at)
            cluster.save(update_fields=["size", "first_at", "last_at"])
    return cluster


def clusters_detect_for(ticket: Ticket) -> list[Cluster]:
    """Check one (new) ticket against the three rules."""
    th = _thresholds()
    found = []
    recent = Ticket.objects.filter(state__in=COUNTED).exclude(pk=ticket.pk)
    phone = (ticket.citizen_phone or "").strip()
    if phone and not ticket.is_anonymous:
        since = ticket.received_at - timedelta(days=th["repeat_days"])
        same = list(
            recent.filter(citizen_phone=phone, category=ticket.category, received_at__gte=since).only(
                "pk", "received_at"
            )
        )
        if len(same) + 1 >= th["repeat_n"]:
            found.append(
                _upsert(
                    Cluster.Kind.REPEAT_CALLER,
                    f"phone:{phone}:{ticket.category_id}",
                    [*same, ticket],
                    category=ticket.category,
                    community=ticket.community,
                    street=ticket.street,
                    phone=phone,
                    summary=ticket.content[:100],
                )
            )
    if ticket.community_id:
        since = ticket.received_at - timedelta(days=th["mass_days"])
        nearby = recent.filter(community_id=ticket.community_id, received_at__gte=since)
        same_category = list(nearby.filter(category=ticket.category).only("pk", "received_at"))
        if len(same_category) + 1 >= th["mass_k"]:
            found.append(
                _upsert(
                    Cluster.Kind.MASS,
                    f"cc:{ticket.community_id}:{ticket.category_id}",
                    [*same_category, ticket],
                    category=ticket.category,
                    community=ticket.community,
                    street=ticket.street,
                    summary=ticket.content[:100],
                )
            )
        own = bigrams(ticket.content)
        similar = [
            t
            for t in nearby.only("pk", "received_at", "content").order_by("received_at")[:500]
            if bigram_similarity(own, bigrams(t.content)) >= th["similarity"]
        ]
        if len(similar) + 1 >= th["mass_k"]:
            anchor = similar[0]
            existing = Cluster.objects.filter(
                kind=Cluster.Kind.SIMILAR, status=Cluster.Status.OPEN, members__ticket__in=similar
            ).first()
            key = existing.key if existing else f"text:{ticket.community_id}:{anchor.pk}"
            found.append(
                _upsert(
                    Cluster.Kind.SIMILAR,
                    key,
                    [*similar, ticket],
                    category=ticket.category,
                    community=ticket.community,
                    street=ticket.street,
                    summary=ticket.content[:100],
                )
            )
    return found


def clusters_sweep(*, now=None) -> int:
    """The periodic pass: grouped counts over the windows, in two queries."""
    th = _thresholds()
    now = now or clock.now()
    touched = 0
    base = Ticket.objects.filter(state__in=COUNTED)
    repeat = (
        base.filter(received_at__gte=now - timedelta(days=th["repeat_days"]), is_anonymous=False)
        .exclude(citizen_phone="")
        .values("citizen_phone", "category_id")
        .annotate(n=Count("pk"))
        .filter(n__gte=th["repeat_n"])
    )
    for group in repeat:
        tickets = list(
            base.filter(
                citizen_phone=group["citizen_phone"],
                category_id=group["category_id"],
                received_at__gte=now - timedelta(days=th["repeat_days"]),
            ).select_related("category", "community", "street")
        )
        t = tickets[-1]
        _upsert(
            Cluster.Kind.REPEAT_CALLER,
            f"phone:{group['citizen_phone']}:{group['category_id']}",
            tickets,
            category=t.category,
            community=t.community,
            street=t.street,
            phone=group["citizen_phone"],
            summary=t.content[:100],
        )
        touched += 1
    mass = (
        base.filter(received_at__gte=now - timedelta(days=th["mass_days"]), community__isnull=False)
        .values("community_id", "category_id")
        .annotate(n=Count("pk"))
        .filter(n__gte=th["mass_k"])
    )
    for group in mass:
        tickets = list(
            base.filter(
                community_id=group["community_id"],
                category_id=group["category_id"],
                received_at__gte=now - timedelta(days=th["mass_days"]),
            ).select_related("category", "community", "street")
        )
        t = tickets[-1]
        _upsert(
            Cluster.Kind.MASS,
            f"cc:{group['community_id']}:{group['category_id']}",
            tickets,
            category=t.category,
            community=t.community,
            street=t.street,
            summary=t.content[:100],
        )
        touched += 1
    return touched
