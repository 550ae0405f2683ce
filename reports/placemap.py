"""The map's numbers (属地): tickets by place — district, street, community or
grid — for the dashboard's map and the wall screen.

A ticket counts for the place recorded on it (``Ticket.district`` / ``street`` /
``community`` / ``grid``), whichever unit handles it. Every number is an existing
definition, read here per place, never redefined:

- volume: ``received`` of ``reports.metrics.counters_live`` (the period's tickets, not invalid);
- satisfaction: ``rates()["satisfaction"]`` of the same counters (the period's valid callbacks);
- open: ``TicketQuerySet.open`` now; overdue: ``overdue_any_clock_q`` now (the 全市超期 queue's red);
- spikes: the period's ``Spike`` rows (突增预警, raised per community; a street or
  district counts its communities', a grid none)."""

from dataclasses import dataclass, field

from django.db.models import Count, F

from cases import clock
from cases.models import Callback, Ticket, overdue_any_clock_q
from cases.reference import units as reference_units
from departments.models import Department

from .metrics import GROUPS, Counters, Period, counters_live, rates
from .models import Spike

#: The map's levels, top down: each drills down into the next.
LEVELS = ("district", "street", "community", "grid")
METRICS = ("volume", "open", "overdue", "satisfaction", "spikes")
#: The ticket field a drill-down parent filters on, by the parent's kind.
PARENT_FIELDS = {
    Department.Kind.DISTRICT: "district_id",
    Department.Kind.STREET: "street_id",
    Department.Kind.COMMUNITY: "community_id",
}


def next_level(level: str) -> str | None:
    position = LEVELS.index(level)
    return LEVELS[position + 1] if position + 1 < len(LEVELS) else None


@dataclass
class PlaceNumbers:
    """One place's numbers; ``counters`` are the period's (``reports.metrics``)."""

    counters: Counters = field(default_factory=Counters)
    open: int = 0
    overdue: int = 0
    spikes: int = 0

    def as_dict(self) -> dict:
        satisfaction = rates(self.counters)["satisfaction"]
        return {
            "volume": self.counters.received,
            "open": self.open,
            "overdue": self.overdue,
            "satisfaction": None if satisfaction is None else round(satisfaction * 100, 1),
            "spikes": self.spikes,
        }


def parent_unit(level: str, value) -> Department | None:
    """The drill-down parent a request names (a district, street or community above
    ``level``), or None; ``ValueError`` for a parent that is not one."""
    if value in (None, ""):
        return None
    try:
        pk = int(value)
    except (TypeError, ValueError):
        raise ValueError("parent") from None
    unit = reference_units().get(pk)
    if unit is None or unit.kind not in PARENT_FIELDS or LEVELS.index(unit.kind) >= LEVELS.index(level):
        raise ValueError("parent")
    return unit


def place_numbers(
    level: str,
    period: Period,
    *,
    tickets=None,
    parent: Department | None = None,
    spike_units: list[int] | None = None,
    now=None,
) -> dict:
    """Place id (``None``: tickets with no place recorded at ``level``) →
    ``PlaceNumbers``. ``tickets``: the tickets the reader may see (``None``:
    every ticket); ``parent`` keeps the tickets located in it (drill-down);
    ``spike_units``: the communities whose spikes count (``None``: all)."""
    if level not in LEVELS:
        raise ValueError(level)
    now = now or clock.now()
    key = GROUPS[level]
    scoped = tickets is not None or parent is not None
    tickets = tickets if tickets is not None else Ticket.objects.all()
    if parent is not None:
        tickets = tickets.filter(**{PARENT_FIELDS[parent.kind]: parent.pk})
    callbacks = Callback.objects.filter(ticket__in=tickets.values("pk")) if scoped else None
    result: dict = {}
    for place, counters in counters_live(
        period, group_by=level, tickets=tickets if scoped else None, callbacks=callbacks
    ).items():
        result.setdefault(place, PlaceNumbers()).counters = counters
    # Clocks run in open states only (CLOCKED_STATES ⊂ OPEN_STATES): the overdue are
    # among the open, so one pass over the open tickets (index on state) counts both.
    live = (
        tickets.open()
        .values(place=F(key))
        .annotate(open=Count("pk"), overdue=Count("pk", filter=overdue_any_clock_q(now)))
    )
    for row in live:
        numbers = result.setdefault(row["place"], PlaceNumbers())
        numbers.open, numbers.overdue = row["open"], row["overdue"]
    if level != "grid":
        spikes = Spike.objects.filter(day__gte=period.start, day__lte=period.end)
        if spike_units is not None:
            spikes = spikes.filter(community_id__in=spike_units)
        units = reference_units()
        for community_id, n in spikes.values_list("community_id").annotate(n=Count("pk")):
            place = _ancestor(units, community_id, level)
            if parent is not None and not _within(units, community_id, parent.pk):
                continue
            result.setdefault(place, PlaceNumbers()).spikes += n
    return result


def _ancestor(units, pk, kind):
    """The unit of ``kind`` at or above unit ``pk`` (reference data: no query)."""
    unit = units.get(pk)
    while unit is not None and unit.kind != kind:
        unit = units.get(unit.parent_id)
    return unit.pk if unit is not None else None


def _within(units, pk, ancestor_pk) -> bool:
    unit = units.get(pk)
    while unit is not None:
        if unit.pk == ancestor_pk:
            return True
        unit = units.get(unit.parent_id)
    return False


def totals(numbers: dict) -> PlaceNumbers:
    """The sum over every place (the place-less row included): the whole scope."""
    total = PlaceNumbers()
    for place in numbers.values():
        total.counters.add(place.counters)
        total.open += place.open
        total.overdue += place.overdue
        total.spikes += place.spikes
    return total


def map_payload(level: str, numbers: dict, parent: Department | None = None) -> dict:
    """The JSON the map draws: one row per place (ids match the GeoJSON features')."""
    return {
        "level": level,
        "next_level": next_level(level),
        "parent": parent.pk if parent is not None else None,
        "parent_name": parent.name if parent is not None else None,
        "places": [{"id": place, **n.as_dict()} for place, n in numbers.items() if place is not None],
    }
