import pytest
from django.contrib.auth.models import Group
from django.core.exceptions import ValidationError

from cases.models import Category
from departments.models import Department, DutyAssignment, Grid, StaffProfile, TerritorialLevel
from departments.roles import Role
from departments.selectors import Territory, duty_suggest, territory_resolve
from tests.cases.factories import CategoryFactory
from tests.departments.factories import DepartmentFactory, UserFactory

# -- the tree ----------------------------------------------------------------------


def test_paths_ancestors_and_subtrees(city):
    assert city.community.path == f"/{city.city.pk}/{city.district.pk}/{city.street.pk}/{city.community.pk}/"
    assert city.community.depth == 4
    assert list(city.community.ancestors()) == [city.city, city.district, city.street]
    assert set(city.street.descendants()) == {city.street, city.community, city.community_b}
    assert city.community.is_descendant_of(city.street)
    assert not city.community2.is_descendant_of(city.street)


def test_moving_a_unit_moves_its_subtree(city):
    district2 = DepartmentFactory(name="城西区", kind=Department.Kind.DISTRICT, parent=city.city)
    city.street.parent = district2
    city.street.save()
    city.community.refresh_from_db()
    assert city.community.ancestor_ids == [city.city.pk, district2.pk, city.street.pk]
    assert city.community.depth == 4
    assert Department.objects.get(pk=city.community2.pk).ancestor_ids[1] == city.district.pk


def test_a_unit_cannot_move_under_itself(city):
    city.street.parent = city.community
    with pytest.raises(ValidationError):
        city.street.save()
    with pytest.raises(ValidationError):
        city.street.full_clean()


@pytest.mark.parametrize(
    ("kind", "parent_attr", "ok"),
    [
        (Department.Kind.STREET, "district", True),
        (Department.Kind.STREET, "city", False),
        (Department.Kind.COMMUNITY, "street", True),
        (Department.Kind.COMMUNITY, "district", False),
        (Department.Kind.BUREAU, "district", True),
        (Department.Kind.DISTRICT, None, False),
    ],
)
def test_unit_kinds_hang_under_the_right_parents(city, kind, parent_attr, ok):
    unit = Department(name="新单位", kind=kind, parent=getattr(city, parent_attr) if parent_attr else None)
    if ok:
        unit.full_clean()
    else:
        with pytest.raises(ValidationError):
            unit.full_clean()


def test_grids_belong_to_communities(city):
    grid = Grid(community=city.street, name="错误网格", code="X1")
    with pytest.raises(ValidationError):
        grid.full_clean()


def test_category_tree_has_at_most_three_levels(city):
    too_deep = Category(name="第四级", code="01010101", parent=city.cold_room)
    with pytest.raises(ValidationError):
        too_deep.full_clean()
    with pytest.raises(ValidationError):
        too_deep.save()
    # Moving a two-level branch under a second-level node would make four levels.
    city.environment.parent = city.heating
    with pytest.raises(ValidationError):
        city.environment.full_clean()
    assert city.cold_room.full_name == "城乡建设 › 供暖 › 室温不达标"


def test_category_defaults_are_inherited(city):
    city.construction.default_urgency = "urgent"
    city.construction.save()
    leaf = Category.objects.get(pk=city.cold_room.pk)
    assert leaf.resolved_defaults() == ("complaint", "urgent")


# -- roles -------------------------------------------------------------------------


def test_the_migration_creates_a_group_per_role_with_permissions(db):
    groups = {g.name: g for g in Group.objects.prefetch_related("permissions")}
    assert set(Role.values) <= set(groups)
    codes = lambda role: {p.codename for p in groups[role].permissions.all()}  # noqa: E731
    assert "add_ticket" in codes(Role.OPERATOR)
    assert "change_holiday" in codes(Role.DISPATCHER)
    assert "change_holiday" not in codes(Role.HANDLER)
    assert "add_ticket" not in codes(Role.LEADER)
    assert all(code.startswith("view_") for code in codes(Role.LEADER))
    assert codes(Role.DISPLAY) == set()  # the wall screen only: no model permission at all


def test_profile_keeps_the_user_in_the_role_group(city):
    user = UserFactory()
    profile = StaffProfile.objects.create(user=user, department=city.street, role=Role.HANDLER)
    assert list(user.groups.values_list("name", flat=True)) == [Role.HANDLER]
    profile.role = Role.UNIT_HEAD
    profile.save()
    assert list(user.groups.values_list("name", flat=True)) == [Role.UNIT_HEAD]
    assert user.has_perm("cases.change_ticket")


# -- territory ---------------------------------------------------------------------


def test_address_resolves_to_the_grid_by_its_keywords(city):
    territory = territory_resolve(address="城东区东关大街1号院5号楼2单元")
    assert territory == Territory(city.grid, city.community, city.street, city.district)


def test_address_resolves_to_the_community_when_no_grid_matches(city):
    territory = territory_resolve(address="八一中路88号")
    assert (territory.grid, territory.community, territory.street) == (None, city.community2, city.street2)


def test_address_naming_only_a_street_resolves_to_the_street(city):
    territory = territory_resolve(address="八一路街道辖区某处")
    assert (territory.community, territory.street, territory.district) == (None, city.street2, city.district)


def test_coordinates_resolve_to_the_nearest_grid_within_range(city):
    assert territory_resolve(latitude=36.6165, longitude=101.7905).grid == city.grid
    assert territory_resolve(latitude=30.0, longitude=120.0) == Territory()


def test_unknown_place_resolves_to_nothing(city):
    assert territory_resolve(address="某某省某某县") == Territory()


def test_new_keywords_take_effect_immediately(city):
    assert territory_resolve(address="幸福家园小区").community is None
    city.community_b.address_keywords = "幸福家园"
    city.community_b.save()
    assert territory_resolve(address="幸福家园小区").community == city.community_b


# -- duty list ---------------------------------------------------------------------


def test_duty_list_most_specific_row_wins(city):
    DutyAssignment.objects.create(category=city.heating, department=city.utility)
    DutyAssignment.objects.create(category=city.cold_room, territory=city.district, department=city.bureau)
    territory = Territory.of(city.community)
    assert duty_suggest(category=city.cold_room, territory=territory)[:2] == [city.bureau, city.utility]
    # Outside 城东区 the district row does not apply.
    other = DepartmentFactory(name="城西区", kind=Department.Kind.DISTRICT, parent=city.city)
    assert duty_suggest(category=city.cold_room, territory=Territory(district=other))[0] == city.utility


def test_duty_list_territorial_rule_and_fallbacks(city):
    DutyAssignment.objects.create(category=city.noise, territorial_level=TerritorialLevel.STREET)
    assert duty_suggest(category=city.noise, territory=Territory.of(city.community2))[0] == city.street2
    city.consult.default_department = city.bureau2
    city.consult.save()
    suggestions = duty_suggest(category=city.consult, territory=Territory.of(city.grid))
    assert suggestions == [city.bureau2, city.street]
    assert duty_suggest(category=CategoryFactory(), territory=None) == []


def test_duty_row_needs_exactly_one_target(city):
    row = DutyAssignment(category=city.noise)
    with pytest.raises(ValidationError):
        row.full_clean()
    row = DutyAssignment(category=city.noise, department=city.bureau, territorial_level=TerritorialLevel.STREET)
    with pytest.raises(ValidationError):
        row.full_clean()
