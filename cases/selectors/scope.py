"""Reads of tickets, all scoped through ``ticket_scope`` (DESIGN §2: data scope).

The admin's ``get_queryset``, the API and the exports start from
``ticket_list(user=...)`` so that scope cannot drift between them."""

from django.db.models import Q

from departments.models import Department, Grid
from departments.roles import CITYWIDE_ROLES, UNIT_ROLES, Role
from departments.selectors import department_subtree_ids, staff_profile

from ..models import CoHandling, Ticket


def user_unit_ids(user) -> list[int] | None:
    """Units whose tickets a unit-role user sees (own unit and its subtree);
    ``None`` means citywide."""
    if user.is_superuser:
        return None
    profile = staff_profile(user)
    if profile is None:
        return []
    if profile.role in CITYWIDE_ROLES:
        return None
    if profile.role in UNIT_ROLES:
        cached = getattr(user, "_hotline_unit_ids", None)
        if cached is None:
            cached = user._hotline_unit_ids = department_subtree_ids(profile.department)
        return cached
    return []


def ticket_scope(queryset, user):
    """Restrict a ticket queryset to what ``user`` may see.

    - superusers and the centre's citywide roles: everything;
    - handlers and unit heads: tickets led by, assigned to or co-handled by their
      unit or any unit below it (a street sees its communities' tickets);
    - grid workers: tickets in their grids and the ones they reported;
    - anyone else: nothing."""
    if user is None or not user.is_authenticated or not user.is_active:
        return queryset.none()
    if user.is_superuser:
        return queryset
    profile = staff_profile(user)
    if profile is None:
        return queryset.none()
    if profile.role in CITYWIDE_ROLES:
        return queryset
    if profile.role in UNIT_ROLES:
        unit_ids = user_unit_ids(user)
        # Co-handled tickets are few: fetched as ids, the three conditions are each
        # served by an index and OR-ed by the database, instead of an EXISTS per row.
        cohandled = list(
            CoHandling.objects.filter(department_id__in=unit_ids)
            .exclude(status=CoHandling.Status.CANCELLED)
            .values_list("ticket_id", flat=True)
            .distinct()
        )
        return queryset.filter(
            Q(lead_department_id__in=unit_ids) | Q(assignee_department_id__in=unit_ids) | Q(pk__in=cohandled)
        )
    if profile.role == Role.GRID_WORKER:
        grid_ids = Grid.objects.filter(worker=user).values("pk")
        return queryset.filter(Q(grid_id__in=grid_ids) | Q(created_by=user))
    return queryset.none()


def ticket_list(*, user):
    return ticket_scope(Ticket.objects.all(), user)


def ticket_get(*, user, pk) -> Ticket | None:
    """The ticket if ``user`` may see it, else None (callers answer "not found")."""
    return ticket_list(user=user).filter(pk=pk).first()


def ticket_visible_to(ticket: Ticket, user) -> bool:
    return ticket_list(user=user).filter(pk=ticket.pk).exists()


def unit_covers(user, department: Department | None) -> bool:
    """Whether a unit-role user's unit is ``department`` or one of its ancestors."""
    if department is None:
        return False
    unit_ids = user_unit_ids(user)
    return unit_ids is None or department.pk in unit_ids
