"""Ticket lists: one FilterSet for the admin work list and the ledger exports.

``TicketListFilter`` speaks the admin changelist's parameters (``?queue=…&state=…
&colour=…&q=…``), so a list a user sees can be rebuilt from its query string by
any door — the ledger export runs it in a worker for the job's owner — and the
admin's list filters delegate their conditions to it. Scope always comes first,
from ``ticket_scope``."""

from dataclasses import dataclass
from datetime import date

import django_filters
from django.db.models import F, Q
from django.http import QueryDict
from django.utils.dateparse import parse_date

from departments.models import Department
from departments.selectors import staff_profile

from .. import clock
from ..archive import archived_rows, ticket_archived
from ..models import Category, Colour, Ticket, TicketEvent, TicketState
from ..partitions import EVENTS
from .queues import WORKLIST_ORDERING, queue_context, queue_filter, queue_get
from .scope import ticket_list, user_unit_ids
from .search import keyword_filter

#: ``state`` values besides the states themselves.
STATE_OPEN = "open"
STATE_ALL = "all"


# -- search -----------------------------------------------------------------------------


@dataclass(frozen=True)
class SearchTerm:
    """What a search box term is: ``kind`` is ``number``, ``phone``, ``last4``,
    ``day`` (an 8-digit ticket-number prefix, i.e. a receiving day) or ``text``."""

    kind: str
    value: str

    @property
    def identifies(self) -> bool:
        """A ticket number or a phone points at particular tickets, whatever their
        state: such a search is not limited to open tickets."""
        return self.kind in ("number", "phone", "last4")


def search_term(raw: str) -> SearchTerm | None:
    term = (raw or "").strip()
    if not term:
        return None
    digits = term.replace("-", "")
    if len(term) == 14 and term[8] == "-" and digits.isdigit():
        return SearchTerm("number", term)
    if digits.isdigit() and len(digits) == 4:
        return SearchTerm("last4", digits)
    # Ticket numbers start with their receiving day (``20261123-00042``); an 8-digit
    # term that is a date is that prefix (it may also be a landline: both are asked).
    if len(term) == 8 and term.isdigit() and _is_day(term):
        return SearchTerm("day", term)
    if digits.isdigit() and len(digits) >= 7:
        return SearchTerm("phone", term)
    return SearchTerm("text", term)


def _is_day(digits: str) -> bool:
    try:
        date(int(digits[:4]), int(digits[4:6]), int(digits[6:]))
    except ValueError:
        return False
    return True


def ticket_search(queryset, raw: str):
    """The ticket list's search box: number, phone (full or last four), a day's
    number prefix, or words of the address or the content."""
    term = search_term(raw)
    if term is None:
        return queryset
    if term.kind == "number":
        return queryset.filter(number=term.value)
    if term.kind == "last4":
        return queryset.filter(citizen_phone_last4=term.value)
    if term.kind == "day":
        return queryset.filter(Q(number__startswith=f"{term.value}-") | Q(citizen_phone=term.value))
    if term.kind == "phone":
        return queryset.filter(citizen_phone=term.value)
    return keyword_filter(queryset, term.value)


def state_default(params) -> str:
    """The state a list shows when none is chosen: open tickets ("what is still to
    do"), except where something else already says which tickets — a work queue
    (it has its own condition, and its count on the workbench is of that) or a
    search for a number or a phone (the caller asks about that ticket, closed or
    not)."""
    if params.get("queue"):
        return STATE_ALL
    term = search_term(params.get("q", ""))
    if term is not None and term.identifies:
        return STATE_ALL
    return STATE_OPEN


# -- the conditions ---------------------------------------------------------------------


def filter_state(queryset, value: str):
    if value == STATE_OPEN:
        return queryset.open()
    if value in TicketState.values:
        return queryset.filter(state=value)
    return queryset


OVERDUE_OPEN = "open"
OVERDUE_CLOSED = "closed"
OVERDUE_DUE_TODAY = "due_today"


def filter_overdue(queryset, value: str, now=None):
    now = now or clock.now()
    if value == OVERDUE_OPEN:
        return queryset.overdue_resolve(now)
    if value == OVERDUE_CLOSED:
        return queryset.filter(
            state=TicketState.CLOSED, resolve_due_at__isnull=False, closed_at__gt=F("resolve_due_at")
        )
    if value == OVERDUE_DUE_TODAY:
        return queryset.resolve_due_on(clock.local_day(now))
    return queryset


TROUBLE = {
    "reworked": Q(rework_count__gt=0),
    "reopened": Q(reopen_count__gt=0),
    "returned": Q(return_count__gt=0),
    "extended": Q(extension_count__gt=0),
    "problem": Q(is_problem=True),
}


def filter_mine(queryset, value: str, user):
    if value == "registered":
        return queryset.filter(created_by=user)
    if value == "signed":
        return queryset.filter(handler=user)
    profile = staff_profile(user)
    if profile is None:
        return queryset
    if value == "lead":
        return queryset.filter(lead_department_id=profile.department_id)
    if value == "assigned":
        return queryset.filter(assignee_department_id=profile.department_id)
    if value == "cohandled":
        return queryset.filter(cohandlings__department_id=profile.department_id)
    return queryset


def filter_received(queryset, first: date | None, last: date | None):
    """Received on the local days ``first`` to ``last`` (either may be open)."""
    if first:
        queryset = queryset.filter(received_at__gte=clock.day_start(first))
    if last:
        queryset = queryset.filter(received_at__lt=clock.period_bounds(last, last)[1])
    return queryset


def units_for(user):
    """The units a user may filter by: active, not the centre, within their scope."""
    units = Department.objects.filter(is_active=True).exclude(kind=Department.Kind.CENTRE)
    unit_ids = user_unit_ids(user)
    if unit_ids is not None:
        units = units.filter(pk__in=unit_ids)
    return units.only("pk", "name", "depth", "path")


def filter_unit(queryset, pk, user):
    node = units_for(user).filter(pk=_as_int(pk)).first()
    if node is None:
        return queryset
    ids = list(node.descendants().values_list("pk", flat=True))
    return queryset.filter(Q(lead_department_id__in=ids) | Q(assignee_department_id__in=ids))


def in_category(queryset, node: Category):
    """Tickets of a category and every category below it (the admin list by id, the API by code)."""
    return queryset.filter(category_id__in=list(node.descendants().values_list("pk", flat=True)))


def led_within(queryset, node: Department):
    """Tickets led by a unit or any unit below it."""
    return queryset.filter(lead_department__path__startswith=node.path)


def filter_category(queryset, pk):
    node = Category.objects.filter(pk=_as_int(pk)).first()
    return queryset if node is None else in_category(queryset, node)


TERRITORY_KINDS = [Department.Kind.DISTRICT, Department.Kind.STREET, Department.Kind.COMMUNITY]


def filter_territory(queryset, pk):
    node = Department.objects.filter(pk=_as_int(pk), kind__in=TERRITORY_KINDS).first()
    if node is None:
        return queryset
    field = {"district": "district_id", "street": "street_id", "community": "community_id"}[node.kind]
    return queryset.filter(**{field: node.pk})


def filter_grid(queryset, pk):
    """The tickets recorded in one grid (the map's click-through at grid level)."""
    pk = _as_int(pk)
    return queryset if pk is None else queryset.filter(grid_id=pk)


CENTRE_CITY = "city"


def filter_centre(queryset, value):
    """Which centre owns the ticket: ``city`` (the hotline centre) or a sub-centre's unit id."""
    if value == CENTRE_CITY:
        return queryset.filter(centre__isnull=True)
    pk = _as_int(value)
    return queryset if pk is None else queryset.filter(centre_id=pk)


def filter_queue(queryset, key: str, user):
    queue = queue_get(user, key)
    if queue is None:
        return queryset
    return queue_filter(queryset, queue, queue_context(user))


def _as_int(value):
    try:
        return int(value)
    except (TypeError, ValueError):
        return None


# -- the FilterSet ----------------------------------------------------------------------


class TicketListFilter(django_filters.FilterSet):
    """The ticket work list's filters, by the admin list's parameter names.

    Values it does not know are ignored, as the admin's list filters do. With
    ``defaults`` (the default) a list without ``state`` gets ``state_default``."""

    queue = django_filters.CharFilter(method="_queue")
    state = django_filters.CharFilter(method="_state")
    urgency__exact = django_filters.CharFilter(field_name="urgency")
    nature__exact = django_filters.CharFilter(field_name="nature")
    channel__exact = django_filters.CharFilter(field_name="channel")
    colour = django_filters.CharFilter(method="_colour")
    overdue = django_filters.CharFilter(method="_overdue")
    trouble = django_filters.CharFilter(method="_trouble")
    mine = django_filters.CharFilter(method="_mine")
    received_from = django_filters.CharFilter(method="_received_from")
    received_to = django_filters.CharFilter(method="_received_to")
    category = django_filters.CharFilter(method="_category")
    unit = django_filters.CharFilter(method="_unit")
    territory = django_filters.CharFilter(method="_territory")
    centre = django_filters.CharFilter(method="_centre")
    q = django_filters.CharFilter(method="_search")

    class Meta:
        model = Ticket
        fields = []

    def __init__(self, data=None, queryset=None, *, user, defaults=True, **kwargs):
        super().__init__(data, queryset, **kwargs)
        self.user = user
        self.defaults = defaults

    def filter_queryset(self, queryset):
        queryset = super().filter_queryset(queryset)
        if self.defaults and not self.data.get("state"):
            queryset = filter_state(queryset, state_default(self.data))
        return queryset

    def _queue(self, queryset, name, value):
        return filter_queue(queryset, value, self.user)

    def _state(self, queryset, name, value):
        return filter_state(queryset, value)

    def _colour(self, queryset, name, value):
        return queryset.coloured(value) if value in Colour.values else queryset

    def _overdue(self, queryset, name, value):
        return filter_overdue(queryset, value)

    def _trouble(self, queryset, name, value):
        condition = TROUBLE.get(value)
        return queryset.filter(condition) if condition is not None else queryset

    def _mine(self, queryset, name, value):
        return filter_mine(queryset, value, self.user)

    def _received_from(self, queryset, name, value):
        return filter_received(queryset, _date(value), None)

    def _received_to(self, queryset, name, value):
        return filter_received(queryset, None, _date(value))

    def _category(self, queryset, name, value):
        return filter_category(queryset, value)

    def _unit(self, queryset, name, value):
        return filter_unit(queryset, value, self.user)

    def _territory(self, queryset, name, value):
        return filter_territory(queryset, value)

    def _centre(self, queryset, name, value):
        return filter_centre(queryset, value)

    def _search(self, queryset, name, value):
        return ticket_search(queryset, value)


def _date(raw):
    try:
        return parse_date(raw or "")
    except ValueError:
        return None


def ticket_list_filtered(*, user, params: QueryDict | dict | str = ""):
    """The tickets ``user`` sees in the work list filtered by ``params`` (a query
    string or a mapping of the list's parameters), in work-list order."""
    if isinstance(params, str):
        params = QueryDict(params)
    return TicketListFilter(params, ticket_list(user=user), user=user).qs.order_by(*list_ordering(params, user))


def list_ordering(params, user) -> list:
    """The order of a list: its work queue's, else the work list's."""
    queue = queue_get(user, params.get("queue")) if params.get("queue") else None
    return list(queue.ordering if queue else WORKLIST_ORDERING)


# -- one ticket's timeline --------------------------------------------------------------


def ticket_timeline(ticket, *, newest_first: bool = False) -> list[TicketEvent]:
    """The whole timeline of one ticket, oldest first (``newest_first``: the
    ticket page's order): the live rows, and for a ticket received before the
    archive's boundary its archived rows too (``cases.archive``). The one read of a
    ticket's timeline for the ticket page, the API and an export of the ticket."""
    order = ("-created_at", "-id") if newest_first else ("created_at", "id")
    events = list(ticket.events.order_by(*order))
    if ticket_archived(ticket):
        events += archived_rows(EVENTS, TicketEvent, ticket.pk)
        events.sort(key=lambda event: (event.created_at, event.pk), reverse=newest_first)
    return events
