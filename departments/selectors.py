"""Reads over units, grids, staff and the duty list."""

import math
from dataclasses import dataclass

from django.db.models import Q

from cases.reference import grids as reference_grids
from cases.reference import reference
from cases.reference import units as reference_units

from .geo import locate
from .models import Department, DutyAssignment, Grid, StaffProfile, TerritorialLevel, split_keywords

# -- actors ------------------------------------------------------------------------


def _has_han(text: str) -> bool:
    return any("\u4e00" <= ch <= "\u9fff" for ch in text)


def person_name(user) -> str:
    """How a person is shown wherever the interface names one (登记人, 承办人,
    回访员, the timeline, exports): the person's name, family name first without a
    space for Chinese names (王丽), "First Last" otherwise, the username when no name
    is on file. ``str(user)`` answers this too (see ``DepartmentsConfig.ready``);
    keep the username where an id is meant."""
    if user is None:
        return ""
    first, last = (user.first_name or "").strip(), (user.last_name or "").strip()
    if _has_han(first + last):
        name = f"{last}{first}"
    else:
        name = f"{first} {last}".strip()
    return name or user.get_username()


def staff_profile(user) -> StaffProfile | None:
    """The user's staff profile (cached on the user object), or None."""
    if user is None or not getattr(user, "is_authenticated", False):
        return None
    if not hasattr(user, "_hotline_profile"):
        joined = getattr(type(user), "staff", None)  # the reverse one-to-one, maybe read with the user
        if joined is not None and joined.is_cached(user):
            profile = joined.related.get_cached_value(user)
            if profile is not None and profile.department_id in reference_units():
                StaffProfile.department.field.set_cached_value(profile, reference_units()[profile.department_id])
        else:
            profile = StaffProfile.objects.select_related("department").filter(user_id=user.pk).first()
        user._hotline_profile = profile
    return user._hotline_profile


def department_subtree_ids(department: Department) -> list[int]:
    return list(department.descendants().values_list("pk", flat=True))


# -- territory ---------------------------------------------------------------------


@dataclass
class Territory:
    """Where a demand is: the grid, community, street and district it falls in."""

    grid: Grid | None = None
    community: Department | None = None
    street: Department | None = None
    district: Department | None = None

    @classmethod
    def of(cls, node: "Grid | Department | None") -> "Territory":
        if node is None:
            return cls()
        grid = None
        if isinstance(node, Grid):
            grid, node = node, node.community
        chain = _territory_chain(node)
        return cls(
            grid=grid,
            community=chain.get(Department.Kind.COMMUNITY),
            street=chain.get(Department.Kind.STREET),
            district=chain.get(Department.Kind.DISTRICT),
        )

    @property
    def most_specific(self) -> Department | None:
        return self.community or self.street or self.district

    def at_level(self, level: str) -> Department | None:
        return {
            TerritorialLevel.COMMUNITY: self.community,
            TerritorialLevel.STREET: self.street,
            TerritorialLevel.DISTRICT: self.district,
        }.get(level)


@dataclass
class _Place:
    kind: str  # "grid" or a Department.Kind
    pk: int
    lineage: tuple  # ("d", pk) / ("g", pk) keys from the root down to self
    keywords: list[str]
    lat: float | None = None
    lng: float | None = None


#: A point further than this from every grid centre resolves to no grid.
NEAREST_GRID_MAX_KM = 3.0


def _territory_places() -> list[_Place]:
    """The keyword index of active districts, streets, communities and grids,
    cached with the reference data (``cases.reference``)."""
    return reference("territory_places", _territory_places_load)


def _territory_places_load() -> list[_Place]:
    places = []
    lineage_of = {}
    departments = Department.objects.filter(
        is_active=True, kind__in=[Department.Kind.DISTRICT, Department.Kind.STREET, Department.Kind.COMMUNITY]
    ).only("pk", "kind", "name", "short_name", "address_keywords", "path")
    for dept in departments:
        lineage = tuple(("d", pk) for pk in dept.lineage_ids)
        lineage_of[dept.pk] = lineage
        words = [dept.name, dept.short_name, *split_keywords(dept.address_keywords)]
        places.append(_Place(dept.kind, dept.pk, lineage, [w for w in words if len(w) >= 2]))
    for grid in Grid.objects.filter(is_active=True).only(
        "pk", "name", "community_id", "address_keywords", "latitude", "longitude"
    ):
        lineage = (*lineage_of.get(grid.community_id, ()), ("g", grid.pk))
        places.append(
            _Place(
                "grid",
                grid.pk,
                lineage,
                [w for w in split_keywords(grid.address_keywords) if len(w) >= 2],
                float(grid.latitude) if grid.latitude is not None else None,
                float(grid.longitude) if grid.longitude is not None else None,
            )
        )
    return places


def _distance_km(lat1, lng1, lat2, lng2) -> float:
    # Equirectangular approximation: plenty for "which grid centre is nearest".
    x = math.radians(lng2 - lng1) * math.cos(math.radians((lat1 + lat2) / 2))
    y = math.radians(lat2 - lat1)
    return 6371.0 * math.hypot(x, y)


def territory_resolve(
    *,
    grid: Grid | None = None,
    community: Department | None = None,
    address: str = "",
    latitude=None,
    longitude=None,
) -> Territory:
    """Resolve a demand's place onto grid / community / street / district.

    In order:

    1. An explicit grid or community wins.
    2. The address is matched against unit names and address keywords (the match
       whose ancestors are also named in the address wins, then the deepest,
       then the longest keyword). If the coordinates fall in a grid *inside* the
       matched place, that grid is the answer (the point refines the address);
       if they fall elsewhere, the address wins: what the caller says and the
       operator types names the place of the demand, while a phone's position
       is often the caller's home or a mast's guess. A sensor or a grid
       worker's report that should be placed by its coordinates alone simply
       sends no address.
    3. The grid whose boundary contains the coordinates (``departments.geo.locate``).
    4. The nearest grid centre within ``NEAREST_GRID_MAX_KM`` of the
       coordinates (grids without a boundary, or a point just outside them)."""
    if grid is not None:
        return Territory.of(grid)
    if community is not None:
        return Territory.of(community)
    places = _territory_places()
    if address:
        matched = {}
        for place in places:
            hits = [w for w in place.keywords if w in address]
            if hits:
                matched[place.lineage[-1]] = max(len(w) for w in hits)
        if matched:
            by_key = {p.lineage[-1]: p for p in places}

            def score(key):
                place = by_key[key]
                support = sum(1 for k in place.lineage if k in matched)
                return (support, len(place.lineage), matched[key])

            best = by_key[max(matched, key=score)]
            if best.kind != "grid" and (inside := _located_place(places, latitude, longitude)) is not None:
                if best.lineage[-1] in inside.lineage:
                    return _territory_of_place(inside)
            return _territory_of_place(best)
    if latitude is not None and longitude is not None:
        if (inside := _located_place(places, latitude, longitude)) is not None:
            return _territory_of_place(inside)
        lat, lng = float(latitude), float(longitude)
        located = [p for p in places if p.kind == "grid" and p.lat is not None]
        if located:
            nearest = min(located, key=lambda p: _distance_km(lat, lng, p.lat, p.lng))
            if _distance_km(lat, lng, nearest.lat, nearest.lng) <= NEAREST_GRID_MAX_KM:
                return _territory_of_place(nearest)
    return Territory()


def _located_place(places: list[_Place], latitude, longitude) -> _Place | None:
    """The indexed place of the active grid containing the point, or None."""
    if latitude is None or longitude is None:
        return None
    grid = locate(latitude, longitude)
    if grid is None:
        return None
    by_grid = reference("territory_places_grids", lambda: {p.pk: p for p in _territory_places() if p.kind == "grid"})
    return by_grid.get(grid.pk)


def _territory_of_place(place: _Place) -> Territory:
    if place.kind == "grid":
        grid = reference_grids().get(place.pk) or Grid.objects.get(pk=place.pk)
        community = reference_units().get(grid.community_id) or Department.objects.get(pk=grid.community_id)
        Grid.community.field.set_cached_value(grid, community)
        return Territory.of(grid)
    return Territory.of(reference_units().get(place.pk) or Department.objects.get(pk=place.pk))


def _territory_chain(node: Department) -> dict[str, Department]:
    """``Department.territory_chain`` from the cached units (the query if one is
    missing: a unit created in another process since this one's last check)."""
    units = reference_units()
    chain = [units.get(pk) for pk in node.lineage_ids]
    if None in chain:
        return node.territory_chain()
    return {d.kind: d for d in chain if d.is_territorial}


# -- duty list ---------------------------------------------------------------------


def duty_suggest(*, category, territory: Territory | None = None) -> list[Department]:
    """Units to lead a ticket of ``category`` in ``territory``, best first.

    Duty-list rows are ranked by the depth of their category, then of their
    territory (a citywide row last); the category's default unit and the
    territorial street follow as fallbacks."""
    territory = territory or Territory()
    place = territory.most_specific
    territory_ids = place.lineage_ids if place is not None else []
    rows = (
        DutyAssignment.objects.filter(is_active=True, category_id__in=category.lineage_ids)
        .filter(Q(territory__isnull=True) | Q(territory_id__in=territory_ids))
        .select_related("category", "territory", "department")
    )
    ranked = sorted(
        rows,
        key=lambda r: (r.category.depth, r.territory.depth if r.territory_id else 0),
        reverse=True,
    )
    suggestions: list[Department] = []

    def add(dept):
        if dept is not None and dept.is_active and dept not in suggestions:
            suggestions.append(dept)

    for row in ranked:
        add(row.department if row.department_id else territory.at_level(row.territorial_level))
    for node in category.ancestors(include_self=True).select_related("default_department").reverse():
        add(node.default_department)
    add(territory.street)
    return suggestions
