"""What staff do with a cluster (双交办): escalate its open tickets to a leader, or merge
its not-yet-handled tickets into the earliest one. Each is one transaction over the
locked cluster row, so two supervisors acting on the same cluster at once cannot
half-apply it twice, and a refusal on one ticket leaves none of them changed.

Kept apart from detection (``cases.clusters``), which runs in a task the workflow
queues and therefore must not import the workflow."""

from django.db import transaction

from departments.roles import Role
from departments.selectors import staff_profile

from . import workflow
from .models import OPEN_STATES, Cluster, Ticket, TicketState

S = TicketState


def cluster_may_act(actor) -> bool:
    """Escalating and merging a cluster from its page: dispatchers and supervisors
    (each ticket's transition still checks its own rule)."""
    if actor.is_superuser:
        return True
    profile = staff_profile(actor)
    return profile is not None and profile.role in (Role.SUPERVISOR, Role.DISPATCHER)


def _lock(cluster: Cluster) -> Cluster:
    return Cluster.objects.select_for_update().get(pk=cluster.pk)


def cluster_escalate(*, cluster: Cluster, actor, leader, reason: str) -> list[Ticket]:
    """双交办: every open ticket of the cluster goes to a leader, deadlines shortened."""
    with transaction.atomic():
        locked = _lock(cluster)
        escalated = [
            workflow.ticket_escalate(ticket=ticket, actor=actor, leader=leader, reason=reason)
            for ticket in locked.tickets.filter(state__in=[S.DISPATCHED, S.HANDLING, S.REVIEWING]).order_by("pk")
        ]
        locked.status = Cluster.Status.ESCALATED
        locked.escalated_to = leader
        locked.save(update_fields=["status", "escalated_to"])
    cluster.status, cluster.escalated_to = locked.status, locked.escalated_to
    return escalated


def cluster_merge(*, cluster: Cluster, actor, note: str = "") -> tuple[Ticket | None, list[Ticket]]:
    """Merge the cluster's not-yet-handled tickets into its earliest open one."""
    with transaction.atomic():
        locked = _lock(cluster)
        members = list(locked.tickets.filter(state__in=OPEN_STATES).order_by("received_at", "pk"))
        if len(members) < 2:
            return (members[0] if members else None), []
        master, merged = members[0], []
        for ticket in members[1:]:
            if ticket.state in (S.RECEIVED, S.DISPATCHED) and not ticket.merged_tickets.exists():
                merged.append(workflow.ticket_merge(ticket=ticket, actor=actor, master=master, note=note))
    return master, merged
