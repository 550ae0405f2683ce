"""Boundaries: validation, containment, the grid index, the map's FeatureCollections
and routing by containment (departments.geo, departments.selectors)."""

import pytest
from django.core.exceptions import ValidationError
from django.db.models import F
from hypothesis import given, settings
from hypothesis import strategies as st

from cases import reference
from cases.models import ReferenceStamp
from departments import geo
from departments.models import ERR_BOUNDARY_KIND, Department, Grid
from departments.selectors import Territory, territory_resolve
from tests.departments.factories import DepartmentFactory, GridFactory


def rect(west, south, east, north) -> dict:
    """A rectangle as a GeoJSON Polygon (counter-clockwise, closed)."""
    return {
        "type": "Polygon",
        "coordinates": [[[west, south], [east, south], [east, north], [west, north], [west, south]]],
    }


# -- validation ----------------------------------------------------------------------


def test_a_rectangle_and_a_multipolygon_are_valid():
    assert geo.validate_boundary(rect(101.7, 36.6, 101.8, 36.7)) == []
    two = {
        "type": "MultiPolygon",
        "coordinates": [rect(0, 0, 1, 1)["coordinates"], rect(2, 2, 3, 3)["coordinates"]],
    }
    assert geo.validate_boundary(two) == []


@pytest.mark.parametrize(
    ("boundary", "message"),
    [
        ("POLYGON((0 0, 1 0, 1 1, 0 0))", geo.ERR_NOT_OBJECT),
        ({"coordinates": []}, geo.ERR_NOT_OBJECT),
        ({"type": "Point", "coordinates": [101.7, 36.6]}, geo.ERR_TYPE % {"type": "Point"}),
        ({"type": "Polygon", "coordinates": "nope"}, geo.ERR_COORDINATES),
        ({"type": "Polygon", "coordinates": [[1, 2, 3]]}, geo.ERR_COORDINATES),
        ({"type": "MultiPolygon", "coordinates": []}, geo.ERR_COORDINATES),
        ({"type": "Polygon", "coordinates": [[[0, 0], [1, 0], [0, 0]]]}, geo.ERR_RING_SHORT % {"ring": 1, "n": 3}),
        ({"type": "Polygon", "coordinates": [[[0, 0], [1, 0], [1, 1], [0, 1]]]}, geo.ERR_RING_OPEN % {"ring": 1}),
        (rect(100, 30, 190, 40), geo.ERR_RANGE % {"point": "[190, 30]"}),
        (rect(100, 30, 101, 95), geo.ERR_RANGE % {"point": "[101, 95]"}),
        (
            {"type": "Polygon", "coordinates": [[[0, 0], ["a", 0], [1, 1], [0, 0]]]},
            geo.ERR_RANGE % {"point": '["a", 0]'},
        ),
        ({"type": "Polygon", "coordinates": [[[0, 0], [1, 1], [1, 0], [0, 1], [0, 0]]]}, None),  # a bow tie
        ({"type": "Polygon", "coordinates": [[[0, 0], [1, 0], [2, 0], [0, 0]]]}, None),  # no area
    ],
)
def test_each_kind_of_bad_boundary_is_named(boundary, message):
    errors = geo.validate_boundary(boundary)
    assert errors
    if message is not None:
        assert errors == [str(message)]
    else:
        assert str(geo.ERR_INVALID).split("：")[0] in errors[0] or errors == [str(geo.ERR_EMPTY)]


def test_a_self_intersection_says_where():
    errors = geo.validate_boundary({"type": "Polygon", "coordinates": [[[0, 0], [1, 1], [1, 0], [0, 1], [0, 0]]]})
    assert len(errors) == 1 and "自相交" in errors[0] and "Self-intersection" in errors[0]


def test_the_messages_speak_english_too():
    from django.utils import translation

    with translation.override("en"):
        errors = geo.validate_boundary({"type": "Polygon", "coordinates": [[[0, 0], [1, 0], [1, 1], [0, 1]]]})
    assert errors == ["Ring 1 is not closed: its first and last positions must be the same."]


coordinate = st.floats(min_value=-170, max_value=170, allow_nan=False)


@given(west=coordinate, south=st.floats(-80, 80), width=st.floats(1e-4, 5), height=st.floats(1e-4, 5))
@settings(max_examples=60, deadline=None)
def test_any_rectangle_is_valid_and_contains_its_centre_but_not_outside_points(west, south, width, height):
    box = rect(west, south, west + width, south + height)
    assert geo.validate_boundary(box) == []
    assert geo.contains(box, south + height / 2, west + width / 2)
    assert geo.contains(box, south, west)  # the edge counts
    assert not geo.contains(box, south + height * 2, west + width / 2)


@given(
    ring=st.lists(st.tuples(st.floats(-179, 179), st.floats(-89, 89)), min_size=3, max_size=8),
)
@settings(max_examples=80, deadline=None)
def test_an_unclosed_or_closed_ring_is_judged_by_its_ends(ring):
    positions = [list(p) for p in ring]
    errors = geo.validate_boundary({"type": "Polygon", "coordinates": [positions]})
    if positions[0] != positions[-1]:
        assert str(geo.ERR_RING_OPEN % {"ring": 1}) in errors or str(geo.ERR_RING_SHORT % {"ring": 1, "n": 3}) in errors
    closed = [*positions, positions[0]]
    errors = geo.validate_boundary({"type": "Polygon", "coordinates": [closed]})
    assert all(str(geo.ERR_RING_OPEN % {"ring": 1}) != e for e in errors)
    assert (
        errors == []
        or geo.geometry({"type": "Polygon", "coordinates": [closed]}).is_valid is False
        or (errors == [str(geo.ERR_EMPTY)])
    )


def test_only_territorial_units_carry_a_boundary(city):
    city.bureau.boundary = rect(0, 0, 1, 1)
    with pytest.raises(ValidationError) as raised:
        city.bureau.full_clean()
    assert raised.value.message_dict["boundary"] == [str(ERR_BOUNDARY_KIND)]
    city.street.boundary = rect(0, 0, 1, 1)
    city.street.full_clean()


# -- the grid index and routing ------------------------------------------------------


@pytest.fixture
def two_grids(city):
    """Grid A (the fixture's, centre far to the west of its own box) and grid B
    next to it (its centre close to A's eastern part)."""
    city.grid.boundary = rect(101.78, 36.61, 101.80, 36.62)
    city.grid.latitude, city.grid.longitude = "36.615000", "101.781000"
    city.grid.save()
    b = GridFactory(
        name="东关二网格",
        code="G-DG-02",
        community=city.community_b,
        latitude="36.615000",
        longitude="101.802000",
        boundary=rect(101.80, 36.61, 101.82, 36.62),
    )
    return city.grid, b


def test_a_point_in_grid_a_goes_to_a_even_when_b_centre_is_nearer(two_grids):
    a, b = two_grids
    assert geo.locate(36.615, 101.799) == a
    assert territory_resolve(latitude=36.615, longitude=101.799).grid == a  # B's centre is 0.3 km, A's 1.6 km
    assert territory_resolve(latitude=36.615, longitude=101.801).grid == b


def test_outside_every_boundary_the_nearest_centre_still_answers(two_grids):
    _a, b = two_grids
    assert geo.locate(36.625, 101.803) is None
    assert territory_resolve(latitude=36.625, longitude=101.803).grid == b  # 1.1 km north of B's centre
    assert territory_resolve(latitude=30.0, longitude=120.0) == Territory()


def test_a_shared_edge_goes_to_the_older_grid(two_grids):
    a, _b = two_grids
    assert geo.locate(36.615, 101.80) == a


def test_an_inactive_grid_locates_nothing(two_grids):
    _a, b = two_grids
    b.is_active = False
    b.save()
    assert geo.locate(36.615, 101.81) is None


def test_the_address_wins_unless_the_point_refines_it(two_grids, city):
    a, b = two_grids
    # the address names 北小街社区 (B's community); the point lies in A: the typed place wins
    assert territory_resolve(address="北小街社区5号楼", latitude=36.615, longitude=101.79).community == city.community_b
    assert territory_resolve(address="北小街社区5号楼", latitude=36.615, longitude=101.79).grid is None
    # the point lies in B, inside the named community: it names the grid
    assert territory_resolve(address="北小街社区5号楼", latitude=36.615, longitude=101.81).grid == b
    # an explicit grid wins over everything
    assert territory_resolve(grid=a, latitude=36.615, longitude=101.81).grid == a


def test_a_boundary_saved_here_moves_routing_at_once(two_grids):
    a, _b = two_grids
    assert geo.locate(36.615, 101.79) == a
    a.boundary = rect(101.78, 36.60, 101.80, 36.605)
    a.save()
    assert geo.locate(36.615, 101.79) is None
    assert geo.locate(36.602, 101.79) == a


def test_a_boundary_changed_in_another_process_moves_routing_after_the_check(two_grids, settings):
    a, _b = two_grids
    settings.REFERENCE_RECHECK_SECONDS = 3600
    assert geo.locate(36.615, 101.79) == a
    Grid.objects.filter(pk=a.pk).update(boundary=rect(101.78, 36.60, 101.80, 36.605))  # no signals
    if not ReferenceStamp.objects.filter(pk=1).update(value=F("value") + 1):
        ReferenceStamp.objects.create(pk=1, value=1)
    reference.reference_check_due()
    assert geo.locate(36.615, 101.79) == a  # the interval has not passed: the copy is kept
    settings.REFERENCE_RECHECK_SECONDS = 0
    reference.reference_check_due()
    assert geo.locate(36.615, 101.79) is None


def test_locate_costs_no_statement_once_loaded(two_grids, django_assert_num_queries):
    _a, b = two_grids
    territory_resolve(latitude=36.615, longitude=101.79)  # loads the index and the places
    with django_assert_num_queries(0):
        assert geo.locate(36.615, 101.81) == b
        assert territory_resolve(latitude=36.615, longitude=101.81).grid == b


# -- FeatureCollections --------------------------------------------------------------


def test_boundaries_by_level_with_drill_down_and_derived_parents(two_grids, city):
    a, b = two_grids
    city.community.boundary = rect(101.78, 36.61, 101.80, 36.62)
    city.community.save()
    empty = DepartmentFactory(name="空社区", kind=Department.Kind.COMMUNITY, parent=city.street2)

    grids = geo.boundaries_geojson("grid")
    assert grids["type"] == "FeatureCollection"
    assert {f["properties"]["code"] for f in grids["features"]} == {"G-DG-01", "G-DG-02"}
    feature = next(f for f in grids["features"] if f["properties"]["id"] == a.pk)
    expected = {"id": a.pk, "kind": "grid", "name": a.name, "code": a.code, "parent": city.community.pk}
    assert feature["properties"] == expected
    assert feature["geometry"] == a.boundary

    assert [f["properties"]["id"] for f in geo.boundaries_geojson("grid", parent=city.community)["features"]] == [a.pk]
    assert len(geo.boundaries_geojson("grid", parent=city.street.pk)["features"]) == 2
    assert geo.boundaries_geojson("grid", parent=city.street2.pk)["features"] == []

    communities = {f["properties"]["id"]: f for f in geo.boundaries_geojson("community")["features"]}
    assert set(communities) == {city.community.pk, city.community_b.pk}  # 八一 and the empty one have no polygon
    assert empty.pk not in communities
    assert communities[city.community.pk]["geometry"] == city.community.boundary
    # 北小街 has none of its own: drawn as the union of its grids
    derived = geo.geometry(communities[city.community_b.pk]["geometry"])
    assert derived.equals(geo.geometry(b.boundary))

    streets = geo.boundaries_geojson("street", parent=city.district)["features"]
    assert [f["properties"]["id"] for f in streets] == [city.street.pk]
    union = geo.geometry(streets[0]["geometry"])
    assert union.area == pytest.approx(0.02 * 0.01 * 2)
    assert streets[0]["properties"]["parent"] == city.district.pk
    assert len(geo.boundaries_geojson("district")["features"]) == 1


def test_boundaries_follow_a_change(two_grids):
    _a, b = two_grids
    assert len(geo.boundaries_geojson("grid")["features"]) == 2
    b.boundary = None
    b.save()
    assert len(geo.boundaries_geojson("grid")["features"]) == 1


def test_an_unknown_level_is_refused(city):
    with pytest.raises(ValueError, match="unknown level"):
        geo.boundaries_geojson("city")
