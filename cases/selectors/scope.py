"""Who may see what (DESIGN §2: data scope): one selector per model.

Every door — the admin's querysets and permission hooks, the API, exports,
autocomplete, the reports pages and the dashboard — asks here, so that scope
cannot drift between them and no door re-derives "citywide" or compares roles.

- ``staff_centre``: which centre a member of the centre's staff works for — the
  hotline centre (citywide) or a sub-centre (分中心 / 分平台: its unit's subtree)
  — and which units it covers; ``is_citywide`` / ``is_centre_staff`` read it;
- ``ticket_scope`` / ``ticket_list`` / ``ticket_get``: tickets;
- ``callback_scope`` (reading results) and ``callback_dial_scope`` (served with
  the citizen's full number, for dialling out);
- ``urge_scope``, ``cluster_scope``, ``notification_scope``, ``export_job_scope``;
- ``incident_scope`` / ``incident_declaring_units`` / ``incident_may_manage``: declared
  incidents (停水、停电…), who sees, declares and closes them;
- ``stats_unit_ids`` / ``stats_home_unit`` (whose numbers), ``dispatch_accuracy_unit_ids``
  (whose dispatches, for 派单准确率) and ``report_scope``
  (stored reports and spikes, which span every unit)."""

from dataclasses import dataclass

from django.db.models import Exists, OuterRef, Q

from departments.models import Department, Grid
from departments.roles import CENTRE_ROLES, UNIT_ROLES, Role
from departments.selectors import department_subtree_ids, staff_profile

from .. import reference
from ..models import ClusterMember, CoHandling, DispatchHop, Incident, Ticket


def _role(user) -> str | None:
    profile = staff_profile(user)
    return profile.role if profile is not None else None


def _signed_in(user) -> bool:
    return user is not None and user.is_authenticated and user.is_active


# -- centres: the hotline centre and its sub-centres --------------------------------


@dataclass(frozen=True)
class Centre:
    """The centre a member of the centre's staff works for (DESIGN §2 "Sub-centres")."""

    #: The unit that runs the sub-centre; ``None``: the city's hotline centre.
    unit: Department | None
    #: The units it covers (the sub-centre's unit and its subtree); ``None``: every unit.
    unit_ids: list[int] | None

    @property
    def unit_id(self) -> int | None:
        return self.unit.pk if self.unit is not None else None

    @property
    def citywide(self) -> bool:
        return self.unit is None

    def covers(self, department_id) -> bool:
        """Whether a unit lies within this centre's territory."""
        return self.unit_ids is None or department_id in self.unit_ids

    def owns(self, ticket) -> bool:
        """Whether this centre owns the ticket (``Ticket.centre``; null is the city's)."""
        return self.citywide or ticket.centre_id == self.unit_id


CITY_CENTRE = Centre(unit=None, unit_ids=None)


def staff_centre(user) -> Centre | None:
    """The one answer to "which centre does ``user`` work for, and which units does
    it cover": superusers and the centre's roles (``CENTRE_ROLES``) at the hotline
    centre work for the city (``CITY_CENTRE``); the same roles at a unit that runs
    a sub-centre (``Department.is_subcentre``) work for that sub-centre and cover
    its subtree; anyone else (units, grid workers, no profile) is not centre staff
    (``None``). An inactive account keeps its centre: the service accounts of API
    keys never sign in, yet act (the doors check sign-in themselves)."""
    if user is None or not user.is_authenticated:
        return None
    if user.is_superuser:
        return CITY_CENTRE
    cached = getattr(user, "_hotline_centre", False)
    if cached is not False:
        return cached
    profile = staff_profile(user)
    centre = None
    if profile is not None and profile.role in CENTRE_ROLES:
        unit = profile.department
        centre = Centre(unit, department_subtree_ids(unit)) if unit.is_subcentre else CITY_CENTRE
    user._hotline_centre = centre
    return centre


def is_display(user) -> bool:
    """A wall-screen display account (``Role.DISPLAY``): it sees the wall screen
    and nothing else — the admin site, the API and exports turn it away."""
    return _signed_in(user) and not user.is_superuser and _role(user) == Role.DISPLAY


def wall_centre(user) -> Centre | None:
    """Whose numbers the wall screen (大屏) shows ``user``: a display account at the
    hotline centre the whole city, at a sub-centre (``Department.is_subcentre``)
    that sub-centre's subtree; superusers and the centre's roles their own centre
    (``staff_centre``); anyone else nothing (``None``)."""
    if not _signed_in(user):
        return None
    if is_display(user):
        unit = staff_profile(user).department
        return Centre(unit, department_subtree_ids(unit)) if unit.is_subcentre else CITY_CENTRE
    return staff_centre(user)


def is_citywide(user) -> bool:
    """Superusers and the hotline centre's roles (operator, dispatcher, supervisor,
    callback agent, leader) see every unit's tickets and numbers; a sub-centre's
    staff do not (``staff_centre``)."""
    centre = staff_centre(user)
    return centre is not None and centre.citywide


def is_centre_staff(user) -> bool:
    """The centre's roles, at the hotline centre or at a sub-centre, and superusers."""
    return staff_centre(user) is not None


def centre_covers(user, department) -> bool:
    """May ``user``'s centre send work to ``department`` (a sub-centre dispatches
    within its subtree only)? False for anyone who is not centre staff."""
    centre = staff_centre(user)
    return centre is not None and centre.covers(department.pk)


def subcentres():
    """The units that run a sub-centre (for choices and the reports' 分中心 cut)."""
    return Department.objects.filter(is_subcentre=True, is_active=True).order_by("path")


# -- tickets ------------------------------------------------------------------------


def user_unit_ids(user) -> list[int] | None:
    """Units whose tickets a unit-role user sees (own unit and its subtree);
    ``None`` means citywide."""
    if user.is_superuser:
        return None
    profile = staff_profile(user)
    if profile is None:
        return []
    if profile.role in CENTRE_ROLES:
        return staff_centre(user).unit_ids
    if profile.role in UNIT_ROLES:
        cached = getattr(user, "_hotline_unit_ids", None)
        if cached is None:
            cached = user._hotline_unit_ids = department_subtree_ids(profile.department)
        return cached
    return []


def ticket_scope(queryset, user):
    """Restrict a ticket queryset to what ``user`` may see.

    - superusers and the hotline centre's roles: everything;
    - a sub-centre's staff: the tickets it owns (``Ticket.centre``) and those led
      by, assigned to or co-handled by a unit of its subtree;
    - handlers and unit heads: tickets led by, assigned to or co-handled by their
      unit or any unit below it (a street sees its communities' tickets);
    - grid workers: tickets in their grids, the ones they reported and the ones
      passed down to them (a hop of the sub-dispatch chain);
    - anyone else: nothing."""
    if not _signed_in(user):
        return queryset.none()
    if user.is_superuser:
        return queryset
    profile = staff_profile(user)
    if profile is None:
        return queryset.none()
    if profile.role in CENTRE_ROLES:
        return centre_ticket_scope(queryset, staff_centre(user))
    if profile.role in UNIT_ROLES:
        return queryset.filter(_units_q(user_unit_ids(user)))
    if profile.role == Role.GRID_WORKER:
        grid_ids = Grid.objects.filter(worker=user).values("pk")
        # Tickets passed down to them (下派至网格员), now or before, wherever they lie.
        passed = DispatchHop.objects.filter(to_worker=user).values("ticket_id")
        return queryset.filter(Q(grid_id__in=grid_ids) | Q(created_by=user) | Q(pk__in=passed))
    return queryset.none()


def centre_ticket_scope(queryset, centre: Centre):
    """The tickets a centre sees: the hotline centre every ticket; a sub-centre the
    tickets it owns (``Ticket.centre``) and those led by, assigned to or co-handled
    by a unit of its subtree."""
    if centre.citywide:
        return queryset
    return queryset.filter(_units_q(centre.unit_ids) | Q(centre_id=centre.unit_id))


def _units_q(unit_ids) -> Q:
    """Tickets led by, assigned to or co-handled by one of ``unit_ids``."""
    # Co-handled tickets are few: fetched as ids, the three conditions are each
    # served by an index and OR-ed by the database, instead of an EXISTS per row.
    cohandled = list(
        CoHandling.objects.filter(department_id__in=unit_ids)
        .exclude(status=CoHandling.Status.CANCELLED)
        .values_list("ticket_id", flat=True)
        .distinct()
    )
    return Q(lead_department_id__in=unit_ids) | Q(assignee_department_id__in=unit_ids) | Q(pk__in=cohandled)


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
    return callbacks_visible(user) and not has_callback_queue(user) and not is_centre_staff(user)


def callback_scope(queryset, user):
    """The callbacks ``user`` may read.

    - callback agents: their own queue (dealt to them or to nobody), any status;
      a sub-centre's agents: dealt to them, or to nobody on its own tickets;
    - the rest of the hotline centre, leaders and superusers: every callback;
    - the rest of a sub-centre: the callbacks of the tickets it sees;
    - units and grid workers: the callbacks of the tickets they see, read-only
      (their results are the units' own results; the workbench masks the phone)."""
    if not _signed_in(user):
        return queryset.none()
    if has_callback_queue(user):
        centre = staff_centre(user)
        if centre.citywide:
            return queryset.filter(Q(agent=user) | Q(agent__isnull=True))
        return queryset.filter(Q(agent=user) | Q(agent__isnull=True, ticket__centre_id=centre.unit_id))
    if is_citywide(user):
        return queryset
    return queryset.filter(ticket__in=ticket_scope(Ticket.objects.all(), user))


def callback_dial_scope(queryset, user):
    """The callbacks served with the citizen's full number for dialling out (the
    callbacks API): the centre's part of ``callback_scope`` (a sub-centre's staff:
    their own part). Units read their results masked, in the admin only (DESIGN
    §8: masked for roles that do not need the number)."""
    if not is_centre_staff(user):
        return queryset.none()
    return callback_scope(queryset, user)


# -- supervision --------------------------------------------------------------------


def urge_scope(queryset, user):
    """Urges go with their ticket: whoever sees the ticket sees its urges."""
    return queryset.filter(ticket__in=ticket_scope(Ticket.objects.all(), user))


def clusters_visible(user) -> bool:
    """Clusters (双交办) span units and streets: the centre's roles and leaders only
    (a sub-centre's: ``cluster_scope``)."""
    return _signed_in(user) and is_centre_staff(user)


def cluster_scope(queryset, user):
    """Every cluster for the hotline centre; for a sub-centre, the clusters whose
    tickets all lie within what it sees (none of another territory)."""
    if not clusters_visible(user):
        return queryset.none()
    if is_citywide(user):
        return queryset
    visible = ticket_scope(Ticket.objects.all(), user).values("pk")
    members = ClusterMember.objects.filter(cluster_id=OuterRef("pk"))
    return queryset.filter(Exists(members.filter(ticket_id__in=visible))).exclude(
        Exists(members.exclude(ticket_id__in=visible))
    )


def personal_data_access_scope(queryset, user):
    """个人信息查看记录 (who revealed a citizen's contact details): the hotline
    centre reviews them all, a sub-centre those about the tickets it sees."""
    if is_citywide(user):
        return queryset
    return queryset.filter(ticket__in=ticket_scope(Ticket.objects.all(), user))


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
    unit. Citywide users see the whole city; a sub-centre's staff its subtree;
    other staff their own unit and everything below it (a grid worker: their
    community); anyone else nothing."""
    if not _signed_in(user):
        return []
    if is_citywide(user):
        return None
    profile = staff_profile(user)
    if profile is None:
        return []
    if profile.role in UNIT_ROLES or profile.role in CENTRE_ROLES:
        return user_unit_ids(user)
    return department_subtree_ids(profile.department)


def stats_units_cut(user, centre_id) -> list[int] | None:
    """``stats_unit_ids`` cut to one sub-centre's subtree (the reports' 分中心
    filter): a sub-centre ``centre_id`` names, within what ``user`` may see; an
    unknown or empty ``centre_id`` leaves it uncut."""
    units = stats_unit_ids(user)
    try:
        centre = subcentres().filter(pk=int(centre_id)).first() if centre_id else None
    except (TypeError, ValueError):
        centre = None
    if centre is None or units == []:
        return units
    subtree = department_subtree_ids(centre)
    return subtree if units is None else [pk for pk in subtree if pk in set(units)]


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
    centre = staff_centre(user)
    if centre is None:
        return []
    return centre.unit_ids


# -- 每月一题 themes ---------------------------------------------------------------------


def themes_manage(user) -> bool:
    """Who creates and edits 每月一题 themes: administrators, and the hotline
    centre's supervisors and leaders (a theme spans the city's units)."""
    return _signed_in(user) and (
        user.is_superuser or (is_citywide(user) and _role(user) in (Role.SUPERVISOR, Role.LEADER))
    )


def theme_scope(queryset, user):
    """Every theme for the hotline centre's roles; for a unit's staff (handler,
    head) the themes it leads or co-handles (a unit of its subtree); nobody else."""
    if not _signed_in(user):
        return queryset.none()
    if is_citywide(user):
        return queryset
    if _role(user) not in UNIT_ROLES:
        return queryset.none()
    units = user_unit_ids(user) or []
    return queryset.filter(Q(lead_department_id__in=units) | Q(co_departments__in=units)).distinct()


def themes_visible(user) -> bool:
    """Whether ``user`` may have themes at all (``theme_scope`` says which)."""
    return _signed_in(user) and (is_citywide(user) or _role(user) in UNIT_ROLES)


def reports_visible(user) -> bool:
    """Stored reports, rankings, spikes, hotspots and the dashboard span every unit:
    citywide users only."""
    return _signed_in(user) and is_citywide(user)


def report_scope(queryset, user):
    return queryset if reports_visible(user) else queryset.none()


# -- declared incidents (停水、停电…) ----------------------------------------------------

#: The units that declare incidents of their own: utilities and bureaus (the centre
#: declares through its dispatchers and supervisors).
INCIDENT_DECLARING_KINDS = frozenset({Department.Kind.COMPANY, Department.Kind.BUREAU})
#: The centre's roles that declare and manage incidents.
INCIDENT_CENTRE_ROLES = frozenset({Role.DISPATCHER, Role.SUPERVISOR})


def incident_declaring_units(user):
    """The units ``user`` may declare an incident for (and manage the incidents of):
    the hotline centre's dispatchers and supervisors — their centre, and every
    utility and bureau; a sub-centre's — its own unit and the utilities and bureaus
    of its subtree; a utility's or bureau's unit head or handler — its own unit and
    the utilities and bureaus below it; nobody else."""
    units = Department.objects.filter(is_active=True)
    if not _signed_in(user):
        return units.none()
    if user.is_superuser:
        return units.filter(kind__in=[Department.Kind.CENTRE, *INCIDENT_DECLARING_KINDS])
    profile = staff_profile(user)
    if profile is None:
        return units.none()
    if profile.role in INCIDENT_CENTRE_ROLES:
        centre = staff_centre(user)
        if centre.citywide:
            return units.filter(Q(pk=profile.department_id) | Q(kind__in=INCIDENT_DECLARING_KINDS))
        return units.filter(Q(pk=profile.department_id) | Q(pk__in=centre.unit_ids, kind__in=INCIDENT_DECLARING_KINDS))
    if profile.role in UNIT_ROLES:
        return units.filter(pk__in=user_unit_ids(user), kind__in=INCIDENT_DECLARING_KINDS)
    return units.none()


def incident_may_declare(user) -> bool:
    """Whether ``incident_declaring_units(user)`` has any unit — answered from the
    profile and the cached reference units, with no statement (the admin asks on
    every page, for its navigation)."""
    if not _signed_in(user):
        return False
    if user.is_superuser:
        return True
    profile = staff_profile(user)
    if profile is None:
        return False
    if profile.role in INCIDENT_CENTRE_ROLES:
        return True
    if profile.role in UNIT_ROLES:
        units = reference.units()
        return any(
            units[pk].kind in INCIDENT_DECLARING_KINDS and units[pk].is_active
            for pk in user_unit_ids(user)
            if pk in units
        )
    return False


def incident_may_manage(user, incident) -> bool:
    """May ``user`` edit or close ``incident``: it was declared by a unit ``user``
    may declare for (``incident_declaring_units``)."""
    return incident_declaring_units(user).filter(pk=incident.declared_by_id).exists()


def incident_scope(queryset, user):
    """Declared incidents: the hotline centre's roles see every one (operators match
    calls against them); a sub-centre's staff those declared in its subtree or
    affecting it; a unit's staff those its subtree declared or that affect its
    territory; grid workers and others none."""
    if not _signed_in(user):
        return queryset.none()
    if is_citywide(user):
        return queryset
    unit_ids = user_unit_ids(user)
    if not unit_ids:
        return queryset.none()
    affecting = Incident.objects.filter(Q(departments__in=unit_ids) | Q(grids__community__in=unit_ids)).values("pk")
    return queryset.filter(Q(declared_by__in=unit_ids) | Q(pk__in=affecting))
