"""Clusters (双交办): the same caller on the same issue again and again (一人多次), or
many tickets of one category in one community (多人集中), or similar demands
(相似诉求) in one territory (a street by default: ``HOTLINE_CLUSTER_SCOPE``) over
weeks (``HOTLINE_CLUSTER_DAYS``), compared by ``cases.clustering`` (TF-IDF over
character n-grams, cosine) so that reworded demands still meet.

Detected when a ticket is created and again by a periodic task (which catches
anything the first pass missed); thresholds are settings. An open cluster is
unique per (kind, key), so detection can run any number of times.

Detection only: it never calls the workflow, so the task that runs it (queued by the
workflow's announce) does not import back into the workflow. What staff do with a
cluster (escalate, merge) is in ``cases.cluster_actions``."""

from collections import namedtuple
from datetime import timedelta

import numpy as np
from django.conf import settings
from django.core.exceptions import ImproperlyConfigured
from django.db import IntegrityError, transaction
from django.db.models import Count

from . import clock
from .clustering import linked, vectors
from .models import Cluster, ClusterMember, Ticket, TicketState

S = TicketState
COUNTED = [S.RECEIVED, S.DISPATCHED, S.HANDLING, S.REVIEWING, S.CLOSED, S.MERGED]


def _thresholds():
    return {
        "repeat_n": settings.HOTLINE_REPEAT_CALLER_COUNT,
        "repeat_days": settings.HOTLINE_REPEAT_CALLER_DAYS,
        "mass_k": settings.HOTLINE_MASS_COUNT,
        "mass_days": settings.HOTLINE_MASS_DAYS,
        "similarity": settings.HOTLINE_CLUSTER_SIMILARITY,
        "cluster_days": settings.HOTLINE_CLUSTER_DAYS,
        "candidates": settings.HOTLINE_CLUSTER_CANDIDATES,
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
    found.extend(clusters_similar_for([ticket]))
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
    recent = list(
        base.filter(received_at__gte=now - timedelta(hours=settings.HOTLINE_CLUSTER_SWEEP_HOURS))
        .exclude(content="")
        .only(*_SIMILAR_FIELDS)
        .order_by("received_at", "pk")[: th["candidates"]]
    )
    touched += len(clusters_similar_for(recent))
    return touched


# -- 相似诉求 -----------------------------------------------------------------------------

_SCOPES = {"community": "community_id", "street": "street_id", "district": "district_id", "city": None}
_SIMILAR_FIELDS = ("pk", "received_at", "content", "category_id", "community_id", "street_id", "district_id")
_Row = namedtuple("_Row", _SIMILAR_FIELDS)


def _scope_field() -> str | None:
    try:
        return _SCOPES[settings.HOTLINE_CLUSTER_SCOPE]
    except KeyError:
        raise ImproperlyConfigured(f"HOTLINE_CLUSTER_SCOPE must be one of {', '.join(_SCOPES)}") from None


def clusters_similar_for(tickets: list[Ticket]) -> list[Cluster]:
    """相似诉求 for ``tickets`` (a new one, or the sweep's recent ones): each is
    compared with the earlier tickets of its territory within the window, at most
    the newest ``HOTLINE_CLUSTER_CANDIDATES``, by one TF-IDF fit per territory.
    It joins the open cluster of its most similar neighbour that is in one (with
    its neighbours not yet in one), or opens a cluster once it and its neighbours
    are ``HOTLINE_MASS_COUNT`` — the rule of ``cases.clustering.assign``. Idempotent."""
    th = _thresholds()
    field = _scope_field()
    clustered = set(
        ClusterMember.objects.filter(
            cluster__kind=Cluster.Kind.SIMILAR,
            cluster__status=Cluster.Status.OPEN,
            ticket__in=[t.pk for t in tickets],
        ).values_list("ticket_id", flat=True)
    )
    groups: dict = {}
    for ticket in sorted(tickets, key=lambda t: (t.received_at, t.pk)):
        place = getattr(ticket, field) if field else 0
        if place is not None and ticket.pk not in clustered and (ticket.content or "").strip():
            groups.setdefault(place, []).append(ticket)
    found = []
    for place, new in groups.items():
        found.extend(_similar_in(place, new, field, th))
    return found


def _similar_in(place, new: list[Ticket], field: str | None, th: dict) -> list[Cluster]:
    """One territory: a query for the window, one for its open 相似诉求 memberships,
    one fit; then each new ticket that is in no such cluster yet (so a rerun writes
    nothing)."""
    window = Ticket.objects.filter(
        state__in=COUNTED,
        received_at__gte=new[0].received_at - timedelta(days=th["cluster_days"]),
        received_at__lte=new[-1].received_at,
    ).exclude(content="")
    if field:
        window = window.filter(**{field: place})
    # Plain rows, not model instances: a tenth of the CPU for 2,000 candidates; the
    # few that join a cluster become instances in _similar_upsert.
    candidates = [
        _Row(*values)
        for values in window.order_by("-received_at", "-pk").values_list(*_SIMILAR_FIELDS)[
            : th["candidates"] + len(new)
        ]
    ]
    if len(candidates) < 2:
        return []
    rows = {t.pk: i for i, t in enumerate(candidates)}
    member_of = dict(
        ClusterMember.objects.filter(
            cluster__kind=Cluster.Kind.SIMILAR, cluster__status=Cluster.Status.OPEN, ticket__in=list(rows)
        ).values_list("ticket_id", "cluster__key")
    )
    matrix = vectors([t.content for t in candidates])
    received = np.array([t.received_at.timestamp() for t in candidates])
    pks = np.array([t.pk for t in candidates], dtype=np.int64)
    # Many new tickets (the sweep): all the window's similarities in one product
    # (≤ candidates² floats); one new ticket: the rows its search visits.
    every = (matrix @ matrix.T).toarray() if len(new) > 1 else None
    cache: dict = {}

    def similarities(index):
        if every is not None:
            return every[index]
        if index not in cache:
            cache[index] = (matrix @ matrix[index].T).toarray().ravel()
        return cache[index]

    found = []
    for ticket in new:
        if ticket.pk not in rows or ticket.pk in member_of:
            continue
        now = ticket.received_at.timestamp()
        # Earlier tickets (by time, then number) within the window: the rule looks back only.
        eligible = (received >= now - th["cluster_days"] * 86400) & (
            (received < now) | ((received == now) & (pks < ticket.pk))
        )
        clustered = np.isin(pks, np.fromiter(member_of, dtype=np.int64, count=len(member_of)))

        def near(index, eligible=eligible, clustered=clustered, unclustered_only=False):
            """Candidates similar to ``index``, most similar first."""
            scores = similarities(index)
            mask = (scores >= th["similarity"]) & eligible
            if unclustered_only:
                mask &= ~clustered
            hits = np.flatnonzero(mask)
            return hits[np.lexsort((pks[hits], -scores[hits]))].tolist()

        own = rows[ticket.pk]
        first = near(own)
        joined = next((member_of[candidates[k].pk] for k in first if candidates[k].pk in member_of), None)
        if joined is not None:
            group = [own, *(k for k in first if candidates[k].pk not in member_of)]
        elif first:
            group = linked(own, lambda k: near(k, unclustered_only=True))
            if len(group) < th["mass_k"]:
                continue
        else:
            continue
        tickets = [candidates[k] for k in group]
        key = joined or f"text:{min(tickets, key=lambda t: (t.received_at, t.pk)).pk}"
        found.append(_similar_upsert(key, ticket, tickets))
        member_of.update(dict.fromkeys((t.pk for t in tickets), key))
    return found


def _similar_upsert(key: str, ticket: Ticket, tickets: list[Ticket]) -> Cluster:
    """The community and street of a cluster are those all its new tickets share."""
    tickets = [
        t if isinstance(t, Ticket) else Ticket(**{f if f != "pk" else "id": getattr(t, f) for f in _SIMILAR_FIELDS})
        for t in tickets
    ]
    communities = {t.community_id for t in tickets}
    streets = {t.street_id for t in tickets}
    return _upsert(
        Cluster.Kind.SIMILAR,
        key,
        tickets,
        category_id=ticket.category_id,
        community_id=ticket.community_id if len(communities) == 1 else None,
        street_id=ticket.street_id if len(streets) == 1 else None,
        summary=ticket.content[:100],
    )
