"""Geometry of the territory: the one home for grid and unit boundaries.

A boundary is a GeoJSON geometry dict (``Polygon`` or ``MultiPolygon``) in WGS84,
positions ``[longitude, latitude]``, stored on ``Grid.boundary`` and on territorial
``Department.boundary`` (district, street, community). Everything that asks
"is this point inside that area", "which grid contains this point" or "draw the
units of this level" calls this module; nothing else builds shapely geometries.

The spatial index behind :func:`locate` and the FeatureCollections of
:func:`boundaries_geojson` are reference data (``cases.reference``): loaded once
per process and dropped whenever a unit or a grid is saved or deleted, or a bulk
change (an import, the demo) calls ``reference_changed``."""

import json
import math
from collections.abc import Iterable

import shapely
from django.utils.translation import gettext_lazy as _
from shapely.geometry import Point, shape
from shapely.strtree import STRtree
from shapely.validation import explain_validity

from cases.reference import grids as reference_grids
from cases.reference import reference

from .models import Department, Grid

ERR_NOT_OBJECT = _("边界应为 GeoJSON 几何对象（Polygon 或 MultiPolygon）。")
ERR_TYPE = _("边界类型“%(type)s”不受支持，只能是 Polygon 或 MultiPolygon。")
ERR_COORDINATES = _("边界坐标格式无效：应为 [经度, 纬度] 坐标点组成的环。")
ERR_RING_SHORT = _("第 %(ring)s 个环只有 %(n)d 个坐标点，至少需要 4 个（首尾相同）。")
ERR_RING_OPEN = _("第 %(ring)s 个环没有闭合：首尾坐标点应相同。")
ERR_RANGE = _("坐标 %(point)s 超出范围：经度应在 -180 到 180 之间，纬度应在 -90 到 90 之间。")
ERR_INVALID = _("边界图形无效（自相交或环相互交叉）：%(reason)s。")
ERR_EMPTY = _("边界面积为零。")

#: The levels :func:`boundaries_geojson` draws, coarsest first.
LEVELS = (Department.Kind.DISTRICT, Department.Kind.STREET, Department.Kind.COMMUNITY, "grid")
#: Which unit kinds may carry a boundary of their own.
BOUNDARY_KINDS = Department.BOUNDARY_KINDS


# -- one geometry --------------------------------------------------------------------


def geometry(geojson: dict):
    """The shapely geometry of a GeoJSON geometry dict (no validation: call
    :func:`validate_boundary` first on anything a person typed or uploaded)."""
    return shape(geojson)


def _is_number(value) -> bool:
    return isinstance(value, int | float) and not isinstance(value, bool) and math.isfinite(value)


def _rings(geojson: dict) -> list | None:
    """The rings of a Polygon / MultiPolygon as lists of positions, or None if the
    nesting is not that of a polygon."""
    coordinates = geojson.get("coordinates")
    polygons = [coordinates] if geojson.get("type") == "Polygon" else coordinates
    if not isinstance(polygons, list) or not polygons:
        return None
    rings = []
    for polygon in polygons:
        if not isinstance(polygon, list) or not polygon:
            return None
        for ring in polygon:
            if not isinstance(ring, list) or not all(isinstance(p, list | tuple) and len(p) >= 2 for p in ring):
                return None
            rings.append(ring)
    return rings


def validate_boundary(geojson) -> list[str]:
    """Every problem with a boundary, as readable sentences (empty: it is valid).

    Checks, in order: a GeoJSON ``Polygon`` / ``MultiPolygon`` object; each ring a
    list of ``[lng, lat]`` positions, at least 4 of them, first equal to last;
    every coordinate a finite number within ±180 / ±90; and the polygon valid
    as a whole (no self-intersection, holes inside their shell, parts not
    overlapping), with shapely's reason."""
    if not isinstance(geojson, dict) or "type" not in geojson:
        return [str(ERR_NOT_OBJECT)]
    if geojson["type"] not in ("Polygon", "MultiPolygon"):
        return [str(ERR_TYPE % {"type": geojson["type"]})]
    rings = _rings(geojson)
    if rings is None:
        return [str(ERR_COORDINATES)]
    errors = []
    for number, ring in enumerate(rings, start=1):
        bad = next((p for p in ring if not (_is_number(p[0]) and _is_number(p[1]))), None)
        if bad is None:
            bad = next((p for p in ring if not (-180 <= p[0] <= 180 and -90 <= p[1] <= 90)), None)
        if bad is not None:
            errors.append(str(ERR_RANGE % {"point": json.dumps(list(bad), ensure_ascii=False)}))
            continue
        if len(ring) < 4:
            errors.append(str(ERR_RING_SHORT % {"ring": number, "n": len(ring)}))
        elif list(ring[0][:2]) != list(ring[-1][:2]):
            errors.append(str(ERR_RING_OPEN % {"ring": number}))
    if errors:
        return errors
    shaped = geometry(geojson)
    if not shaped.is_valid:
        return [str(ERR_INVALID % {"reason": explain_validity(shaped)})]
    if shaped.area == 0:
        return [str(ERR_EMPTY)]
    return []


def contains(geojson: dict, latitude, longitude) -> bool:
    """Whether the point lies inside the area or on its edge."""
    return geometry(geojson).covers(Point(float(longitude), float(latitude)))


def overlap_ratio(first, second) -> float:
    """Area of the intersection of two shapely geometries over the smaller area
    (0 for touching neighbours, 1 when one lies inside the other)."""
    smaller = min(first.area, second.area)
    if smaller == 0:
        return 0.0
    return first.intersection(second).area / smaller


def sibling_overlaps(geometries: dict, *, tolerance: float) -> list[tuple]:
    """Pairs of keys whose geometries overlap by more than ``tolerance`` (a share
    of the smaller one's area): ``[(a, b, ratio), ...]``, found through an STRtree."""
    keys = list(geometries)
    if len(keys) < 2:
        return []
    shapes = [geometries[k] for k in keys]
    tree = STRtree(shapes)
    pairs = []
    left, right = tree.query(shapes, predicate="intersects")
    for i, j in zip(left.tolist(), right.tolist(), strict=True):
        if i < j:
            ratio = overlap_ratio(shapes[i], shapes[j])
            if ratio > tolerance:
                pairs.append((keys[i], keys[j], ratio))
    return pairs


# -- the grid index ------------------------------------------------------------------


class _GridIndex:
    """An STRtree over the boundaries of the active grids."""

    def __init__(self, rows: Iterable[tuple[int, dict]]):
        self.pks, shapes = [], []
        for pk, boundary in rows:
            try:
                shaped = geometry(boundary)
            except (TypeError, ValueError, AttributeError, shapely.errors.GEOSException):
                continue  # written around the validation (a raw update): not indexed
            if shaped.is_empty:
                continue
            self.pks.append(pk)
            shapes.append(shaped)
        self.tree = STRtree(shapes)

    def locate(self, longitude: float, latitude: float) -> int | None:
        hits = self.tree.query(Point(longitude, latitude), predicate="intersects")
        if len(hits) == 0:
            return None
        return min(self.pks[i] for i in hits.tolist())


def _grid_index() -> _GridIndex:
    return reference("grid_boundary_index", _grid_index_load)


def _grid_index_load() -> _GridIndex:
    rows = Grid.objects.filter(is_active=True, boundary__isnull=False).values_list("pk", "boundary")
    return _GridIndex(rows.iterator(chunk_size=2000))


def locate(latitude, longitude) -> Grid | None:
    """The active grid whose boundary contains the point (its edge included), or
    None. A point on the shared edge of two grids goes to the one created first
    (lowest id), so the answer never depends on load order. The index is cached
    with the reference data."""
    if latitude is None or longitude is None:
        return None
    lat, lng = float(latitude), float(longitude)
    if not (math.isfinite(lat) and math.isfinite(lng)):
        return None
    pk = _grid_index().locate(lng, lat)
    if pk is None:
        return None
    return reference_grids().get(pk) or Grid.objects.filter(pk=pk).first()


# -- FeatureCollections for the map --------------------------------------------------


def _as_geojson(shaped) -> dict:
    return json.loads(shapely.to_geojson(shaped))


def _boundary_features(level: str) -> list[tuple[frozenset, dict]]:
    return reference(f"boundaries:{level}", lambda: _boundary_features_load(level))


def _boundary_features_load(level: str) -> list[tuple[frozenset, dict]]:
    """``[(ancestor unit ids, feature), ...]`` for one level, in tree order."""
    units = list(
        Department.objects.filter(is_active=True, kind__in=BOUNDARY_KINDS).only(
            "pk", "name", "code", "kind", "parent_id", "path", "boundary"
        )
    )
    grids = list(
        Grid.objects.filter(is_active=True).only("pk", "name", "code", "community_id", "boundary").order_by("code")
    )
    by_pk = {u.pk: u for u in units}
    children: dict[int, list] = {}
    for unit in units:
        children.setdefault(unit.parent_id, []).append(("unit", unit.pk))
    for grid in grids:
        children.setdefault(grid.community_id, []).append(("grid", grid))
    own = {}

    def shape_of(node) -> object | None:
        kind, value = node
        boundary = value.boundary if kind == "grid" else by_pk[value].boundary
        if boundary:
            try:
                return geometry(boundary)
            except (TypeError, ValueError, AttributeError, shapely.errors.GEOSException):
                return None
        if kind == "grid":
            return None
        if value not in own:  # derived: the union of the children's polygons
            parts = [s for s in (shape_of(c) for c in children.get(value, [])) if s is not None]
            own[value] = shapely.union_all(parts) if parts else None
        return own[value]

    features = []
    if level == "grid":
        for grid in grids:
            community = by_pk.get(grid.community_id)
            if not grid.boundary or community is None:
                continue
            ancestors = frozenset([*community.lineage_ids])
            properties = {"id": grid.pk, "kind": "grid", "name": grid.name, "code": grid.code}
            properties["parent"] = grid.community_id
            features.append((ancestors, _feature(grid.boundary, properties)))
        return features
    for unit in units:
        if unit.kind != level:
            continue
        if unit.boundary:
            boundary = unit.boundary
        else:
            derived = shape_of(("unit", unit.pk))
            if derived is None or derived.is_empty:
                continue
            boundary = _as_geojson(derived)
        properties = {"id": unit.pk, "kind": unit.kind, "name": unit.name, "code": unit.code, "parent": unit.parent_id}
        features.append((frozenset(unit.lineage_ids[:-1]), _feature(boundary, properties)))
    return features


def _feature(boundary: dict, properties: dict) -> dict:
    return {"type": "Feature", "geometry": boundary, "properties": properties}


def boundaries_geojson(level: str, parent: "int | Department | None" = None) -> dict:
    """The boundaries of one level as a GeoJSON FeatureCollection, for the map.

    ``level`` is ``"district"``, ``"street"``, ``"community"`` or ``"grid"``;
    ``parent`` (a unit or its id) keeps only the units of that level inside it
    (drill-down: a district's streets, a community's grids — or a street's
    grids). Each feature's properties are ``{"id", "kind", "name", "code",
    "parent"}`` (``kind`` is ``"grid"`` for grids, ``parent`` the id of the unit
    directly above). Active units only; a grid without a boundary is left out;
    a unit without a boundary of its own is drawn as the union of its
    children's polygons (down to the grids), and left out if none has one.
    Cached with the reference data; callers must not mutate the result."""
    if level not in LEVELS:
        raise ValueError(f"unknown level {level!r}; expected one of {', '.join(LEVELS)}")
    parent_pk = parent.pk if isinstance(parent, Department) else parent
    return reference(f"boundaries:{level}:{parent_pk}", lambda: _collection(level, parent_pk))


def _collection(level: str, parent_pk: int | None) -> dict:
    features = [f for ancestors, f in _boundary_features(level) if parent_pk is None or parent_pk in ancestors]
    return {"type": "FeatureCollection", "features": features}
