"""Who may see what (DESIGN §2: data scope): one selector per model.

Every door — the admin's querysets and permission hooks, the API, exports,
autocomplete, the reports pages and the dashboard — asks here, so that scope
cannot drift between them and no door re-derives "citywide" or compares roles.

- ``is_citywide``: superusers and the centre's roles (``CITYWIDE_ROLES``);
- ``ticket_scope`` / ``ticket_list`` / ``ticket_get``: tickets;
- ``callback_scope`` (reading results) and ``callback_dial_scope`` (served with
  the citizen's full number, for dialling out);
- ``urge_scope``, ``cluster_scope``, ``notification_scope``, ``export_job_scope``;
- ``stats_unit_ids`` / ``stats_home_unit`` (whose numbers), ``dispatch_accuracy_unit_ids``
  (whose dispatches, for 派单准确率) and ``report_scope``
  (stored reports and spikes, which span every unit)."""

from django.db.models import Q

from departments.models import Grid
from departments.roles import CITYWIDE_ROLES, UNIT_ROLES, Role
from departments.selectors import department_subtree_ids, staff_profile

from ..models import CoHandling, Ticket


def _role(user) -> str | None:
    profile = staff_profile(user)
    return profile.role if profile is not None else None


def _signed_in(user) -> bool:
    return user is not None and user.is_authenticated and user.is_active


def is_citywide(user) -> bool:
    """Superusers and the centre's roles (operator, dispatcher, supervisor, callback
    agent, leader) see every unit's tickets and numbers."""
    if user is None or not user.is_authenticated:
        return False
    return user.is_superuser or _role(user) in CITYWIDE_ROLES


# -- tickets ------------------------------------------------------------------------


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
    if not _signed_in(user):
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


# -- callbacks ----------------------------------------------------------------------


def has_callback_queue(user) -> bool:
    """Callback agents work a queue of their own: the callbacks dealt to them and
    the ones dealt to nobody (the index shows it as 今日待回访)."""
    return _signed_in(user) and not user.is_superuser and _role(user) == Role.CALLBACK


def callbacks_visible(user) -> bool:
    """Whether callbacks concern ``user`` at all: every member of staff with a
    role (what each one sees is ``callback_scope``)."""
    return _signed_in(user) and (user.is_superuser or staff_profile(user) is not None)


def callback_results_only(user) -> bool:
    """Units and grid workers read callbacks as the results of their own tickets
    (no queue to work, no dialling): the 回访 page opens on their results."""
    return callbacks_visible(user) and not has_callback_queue(user) and not is_citywide(user)


def callback_scope(queryset, user):
    """The callbacks ``user`` may read.

    - callback agents: their own queue (dealt to them or to nobody), any status;
    - the rest of the centre, leaders and superusers: every callback;
    - units and grid workers: the callbacks of the tickets they see, read-only
      (their results are the units' own results; the workbench masks the phone)."""
    if not _signed_in(user):
        return queryset.none()
    if has_callback_queue(user):
        return queryset.filter(Q(agent=user) | Q(agent__isnull=True))
    if is_citywide(user):
        return queryset
    return queryset.filter(ticket__in=ticket_scope(Ticket.objects.all(), user))


def callback_dial_scope(queryset, user):
    """The callbacks served with the citizen's full number for dialling out (the
    callbacks API): the centre's part of ``callback_scope``. Units read their
    results masked, in the admin only (DESIGN §8: masked for roles that do not
    need the number)."""
    if not is_citywide(user):
        return queryset.none()
    return callback_scope(queryset, user)


# -- supervision --------------------------------------------------------------------


def urge_scope(queryset, user):
    """Urges go with their ticket: whoever sees the ticket sees its urges."""
    return queryset.filter(ticket__in=ticket_scope(Ticket.objects.all(), user))


def clusters_visible(user) -> bool:
    """Clusters (双交办) span units and streets: the centre's roles and leaders only."""
    return _signed_in(user) and is_citywide(user)


def cluster_scope(queryset, user):
    return queryset if clusters_visible(user) else queryset.none()


# -- one's own rows -----------------------------------------------------------------


def notification_scope(queryset, user):
    """A user's own inbox: only ever the messages addressed to them."""
    return queryset.filter(recipient_id=user.pk) if _signed_in(user) else queryset.none()


def export_job_scope(queryset, user):
    """Export jobs and their files: only the person who asked for them."""
    return queryset.filter(user_id=user.pk) if _signed_in(user) else queryset.none()


def subscription_scope(queryset, user):
    """Report subscriptions: one's own; administrators manage everyone's."""
    if not _signed_in(user):
        return queryset.none()
    return queryset if user.is_superuser else queryset.filter(user_id=user.pk)


# -- numbers: stats, reports, dashboards ----------------------------------------------


def stats_unit_ids(user) -> list[int] | None:
    """Units whose numbers (counters, rates) ``user`` may see; ``None`` means every
    unit. Citywide users see the whole city; other staff their own unit and
    everything below it (a grid worker: their community); anyone else nothing."""
    if not _signed_in(user):
        return []
    if is_citywide(user):
        return None
    profile = staff_profile(user)
    if profile is None:
        return []
    if profile.role in UNIT_ROLES:
        return user_unit_ids(user)
    return department_subtree_ids(profile.department)


def stats_home_unit(user):
    """The unit whose numbers ``user`` gets when they name none: ``None`` (the
    whole city) for citywide users, else their own unit (callers still check it
    against ``stats_unit_ids``)."""
    if is_citywide(user):
        return None
    profile = staff_profile(user)
    return profile.department if profile is not None else None


def dispatch_accuracy_unit_ids(user) -> list[int] | None:
    """Whose dispatches ``user`` may see in 派单准确率, as the dispatching units
    (``TicketEvent.actor_department``): citywide users every dispatch (``None``); a
    centre role that belongs to a unit (a sub-centre) the dispatches made from that
    unit's subtree; units' own staff (handlers, heads, grid workers) nothing —
    the number judges the centre's dispatching, not the units."""
    if not _signed_in(user):
        return []
    if is_citywide(user):
        return None
    profile = staff_profile(user)
    if profile is None or profile.role in UNIT_ROLES or profile.role == Role.GRID_WORKER:
        return []
    return department_subtree_ids(profile.department)


def reports_visible(user) -> bool:
    """Stored reports, rankings, spikes, hotspots and the dashboard span every unit:
    citywide users only."""
    return _signed_in(user) and is_citywide(user)


def report_scope(queryset, user):
    return queryset if reports_visible(user) else queryset.none()
