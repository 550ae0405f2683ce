"""Declared incidents (停水、停电、停暖…; issue 21 part 4): declaring per role, input
checks, matching a call at intake, linking it both ways through the verbs, closing
(every linked ticket once), callbacks as for merged tickets, the public pages and
the report's numbers against the raw rows."""

from datetime import timedelta

import pytest
from django.core.exceptions import ValidationError
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

from cases import clock
from cases.callbacks import callback_batch
from cases.incidents import (
    ERR_AREA,
    ERR_CLOSED,
    ERR_DECLARING_UNIT,
    ERR_END_BEFORE_START,
    ERR_NO_PLACE,
    ERR_NOTICE_EMPTY,
    ERR_RESULT_EMPTY,
    incident_close,
    incident_declare,
    incident_link_answer,
    incident_link_attach,
    incidents_matching,
)
from cases.models import Callback, Incident, IncidentLink, Ticket, TicketEvent, TicketState
from cases.selectors.scope import incident_declaring_units, incident_scope
from departments.selectors import Territory
from tests.conftest import new_ticket

K = TicketEvent.Kind
S = TicketState

SQUARE = {
    "type": "Polygon",
    "coordinates": [[[101.78, 36.61], [101.80, 36.61], [101.80, 36.62], [101.78, 36.62], [101.78, 36.61]]],
}


def declare(c, *, actor=None, unit=None, category=None, departments=None, grids=(), area=None, **extra):
    now = clock.now()
    values = {
        "kind": Incident.Kind.HEATING,
        "title": "东关大街供热管网抢修",
        "starts_at": now - timedelta(hours=1),
        "expected_end_at": now + timedelta(hours=8),
        "notice": "因供热管网爆管抢修，东关大街街道部分小区暂停供暖，预计今晚20时前恢复。",
    }
    values.update(extra)
    return incident_declare(
        actor=actor or c.utility_handler,
        declared_by=unit or c.utility,
        category=category or c.heating,
        departments=[c.street] if departments is None else departments,
        grids=grids,
        area=area,
        **values,
    )


# -- declaring ----------------------------------------------------------------------


def test_declare_records_the_facts_and_a_history_version(city):
    incident = declare(city)
    assert incident.state == Incident.State.DECLARED
    assert incident.declared_user == city.utility_handler
    assert list(incident.departments.all()) == [city.street]
    assert incident.history.count() == 1
    assert incident.history.first().history_change_reason == "declared"


@pytest.mark.parametrize(
    ("who", "unit", "allowed"),
    [
        ("dispatcher", "centre", True),
        ("supervisor", "centre", True),
        ("dispatcher", "utility", True),  # the centre declares for a utility that has no account
        ("utility_handler", "utility", True),
        ("bureau_handler", "bureau", True),
        ("bureau_handler", "utility", False),  # not its own
        ("utility_handler", "centre", False),
        ("operator", "centre", False),
        ("callback", "centre", False),
        ("leader", "centre", False),
        ("handler", "street", False),  # a street office is not a utility or bureau
        ("head", "street", False),
        ("gridworker", "community", False),
    ],
)
def test_who_declares_for_which_unit(city, who, unit, allowed):
    actor, department = getattr(city, who), getattr(city, unit)
    assert incident_declaring_units(actor).filter(pk=department.pk).exists() is allowed
    if allowed:
        assert declare(city, actor=actor, unit=department).declared_by == department
    else:
        with pytest.raises(ValidationError) as error:
            declare(city, actor=actor, unit=department)
        assert error.value.message_dict["declared_by"] == [str(ERR_DECLARING_UNIT)]
        assert not Incident.objects.exists()


def test_sub_centre_declares_for_its_own_unit_only(city):
    from tests.conftest import add_subcentres

    add_subcentres(city)
    units = set(incident_declaring_units(city.sub_dispatcher).values_list("pk", flat=True))
    assert city.district.pk in units
    assert city.utility.pk not in units  # the city's utility is outside its subtree
    assert city.centre.pk not in units


def test_scope_who_sees_which_incident(city):
    utility = declare(city)
    elsewhere = declare(city, actor=city.bureau2_handler, unit=city.bureau2, departments=[city.street2])
    seen = {
        who: set(incident_scope(Incident.objects.all(), getattr(city, who)).values_list("pk", flat=True))
        for who in ("operator", "leader", "utility_handler", "bureau2_handler", "handler", "handler2", "gridworker")
    }
    assert seen["operator"] == seen["leader"] == {utility.pk, elsewhere.pk}
    assert seen["utility_handler"] == {utility.pk}
    assert seen["bureau2_handler"] == {elsewhere.pk}
    assert seen["handler"] == {utility.pk}  # it affects the street's territory
    assert seen["handler2"] == {elsewhere.pk}
    assert seen["gridworker"] == set()


# -- bad input ----------------------------------------------------------------------


@pytest.mark.parametrize(
    ("change", "field", "message"),
    [
        ({"expected_end_at": "before"}, "expected_end_at", ERR_END_BEFORE_START),
        ({"notice": "   "}, "notice", ERR_NOTICE_EMPTY),
        ({"departments": [], "grids": []}, "departments", ERR_NO_PLACE),
    ],
)
def test_bad_input_is_refused_with_a_clear_error(city, change, field, message):
    if change.get("expected_end_at") == "before":
        change = {"expected_end_at": clock.now() - timedelta(days=1)}
    with pytest.raises(ValidationError) as error:
        declare(city, **change)
    assert error.value.message_dict[field] == [str(message)]
    assert not Incident.objects.exists()


@pytest.mark.parametrize(
    "area",
    [
        {"type": "Point", "coordinates": [101.79, 36.615]},
        {"type": "Polygon", "coordinates": [[[0, 0], [1, 1], [1, 0], [0, 1], [0, 0]]]},  # a bow tie
        "not geojson",
    ],
)
def test_an_invalid_area_is_refused(city, area):
    with pytest.raises(ValidationError) as error:
        declare(city, departments=[], area=area)
    message = error.value.message_dict["area"][0]
    assert message.startswith(str(ERR_AREA).split("%")[0])
    assert not Incident.objects.exists()


# -- matching at intake ---------------------------------------------------------------


def test_matching_by_place_and_category(city):
    incident = declare(city)
    here = Territory.of(city.grid)
    assert incidents_matching(user=city.operator, category=city.cold_room, territory=here) == [incident]
    assert incidents_matching(user=city.operator, category=city.construction, territory=here) == [incident]
    assert incidents_matching(user=city.operator, category=city.noise, territory=here) == []
    assert (
        incidents_matching(user=city.operator, category=city.cold_room, territory=Territory.of(city.community2)) == []
    )
    assert incidents_matching(user=city.operator, category=city.cold_room, territory=Territory()) == []


def test_matching_by_drawn_area(city):
    incident = declare(city, departments=[], area=SQUARE)
    nowhere = Territory()
    inside = incidents_matching(
        user=city.operator, category=city.heating, territory=nowhere, latitude=36.615, longitude=101.79
    )
    outside = incidents_matching(
        user=city.operator, category=city.heating, territory=nowhere, latitude=36.70, longitude=101.79
    )
    assert inside == [incident]
    assert outside == []


def test_a_closed_incident_matches_nothing(city):
    incident = declare(city)
    incident_close(incident=incident, actor=city.dispatcher, result="已恢复供暖。")
    assert incidents_matching(user=city.operator, category=city.heating, territory=Territory.of(city.grid)) == []


PLACES = ["grid", "community", "community_b", "street", "street2", "community2", "district"]
CATEGORIES = ["construction", "heating", "cold_room", "environment", "noise", "consult"]


@settings(max_examples=40, deadline=None, suppress_health_check=[HealthCheck.function_scoped_fixture])
@given(
    affected=st.lists(st.sampled_from(PLACES), min_size=1, max_size=3, unique=True),
    incident_category=st.sampled_from(CATEGORIES),
    call_place=st.sampled_from(PLACES),
    call_category=st.sampled_from(CATEGORIES),
)
def test_matching_follows_the_trees(city, affected, incident_category, call_place, call_category):
    """Property: a call matches exactly when its place lies within an affected place
    (by the unit tree, read here from the fixture's parents) and the two categories
    lie on one line of the category tree."""
    Incident.objects.all().delete()
    departments = [getattr(city, p) for p in affected if p != "grid"]
    grids = [city.grid] if "grid" in affected else []
    incident = declare(city, departments=departments, grids=grids, category=getattr(city, incident_category))
    place = getattr(city, call_place)
    territory = Territory.of(place)

    def up(node):  # the node and its parents, by walking ``parent``
        chain = []
        while node is not None:
            chain.append(node.pk)
            node = node.parent
        return chain

    call_units = up(place.community if call_place == "grid" else place)
    place_ok = ("grid" in affected and call_place == "grid") or any(d.pk in call_units for d in departments)
    a, b = getattr(city, incident_category), getattr(city, call_category)
    category_ok = a.pk in up(b) or b.pk in up(a)
    found = incidents_matching(user=city.operator, category=b, territory=territory)
    assert (found == [incident]) is (place_ok and category_ok)


# -- linking through the verbs --------------------------------------------------------


def test_link_answered_directly_with_the_notice(city):
    incident = declare(city)
    call = new_ticket(city)
    call = incident_link_answer(incident=incident, ticket=call, actor=city.operator)
    assert call.state == S.CLOSED
    assert call.reply_text == incident.notice
    assert call.events.filter(kind=K.ANSWERED).count() == 1
    assert IncidentLink.objects.get(ticket=call).mode == IncidentLink.Mode.ANSWERED


def test_link_attached_to_the_master_by_the_merge_verb(city):
    incident = declare(city)
    first = incident_link_attach(incident=incident, ticket=new_ticket(city), actor=city.operator)
    second = incident_link_attach(incident=incident, ticket=new_ticket(city), actor=city.operator)
    incident.refresh_from_db()
    master = incident.master_ticket
    assert master is not None and master.state == S.RECEIVED
    assert master.category == incident.category and incident.notice in master.content
    for call in (first, second):
        assert call.state == S.MERGED and call.merged_into == master
        assert call.events.filter(kind=K.MERGED).count() == 1
    assert Ticket.objects.filter(incident_master__isnull=False).count() == 1


def test_a_call_of_another_place_cannot_be_linked(city):
    incident = declare(city)
    call = new_ticket(city, address="八一中路5号", content="八一中路暖气不热")
    with pytest.raises(ValidationError):
        incident_link_answer(incident=incident, ticket=call, actor=city.operator)
    call.refresh_from_db()
    assert call.state == S.RECEIVED and not IncidentLink.objects.exists()


def test_linking_respects_the_verbs_roles(city):
    incident = declare(city)
    call = new_ticket(city)
    with pytest.raises(Exception):  # noqa: B017 - the verb's own refusal (role)
        incident_link_answer(incident=incident, ticket=call, actor=city.callback)
    assert not IncidentLink.objects.exists()


# -- closing --------------------------------------------------------------------------


def test_close_gives_every_linked_ticket_the_result_once(city):
    incident = declare(city)
    attached = [incident_link_attach(incident=incident, ticket=new_ticket(city), actor=city.operator) for _ in range(3)]
    answered = incident_link_answer(incident=incident, ticket=new_ticket(city), actor=city.operator)
    incident = incident_close(incident=incident, actor=city.dispatcher, result="供热管网已修复，全部恢复供暖。")
    assert incident.state == Incident.State.CLOSED and incident.closed_at is not None
    master = Ticket.objects.get(incident_master=incident)
    assert master.state == S.CLOSED and master.reply_text == incident.result
    for call in attached:
        call.refresh_from_db()
        assert call.closed_at is not None and call.reply_text == incident.result
        assert call.events.filter(kind=K.MASTER_CLOSED).count() == 1
    answered.refresh_from_db()
    assert answered.state == S.CLOSED and answered.reply_text == incident.notice
    # A second close changes nothing and says why.
    with pytest.raises(ValidationError) as error:
        incident_close(incident=incident, actor=city.dispatcher, result="再次结束")
    assert error.value.messages == [str(ERR_CLOSED)]
    assert TicketEvent.objects.filter(kind=K.MASTER_CLOSED).count() == 3
    assert master.events.filter(kind=K.ANSWERED).count() == 1


def test_close_needs_a_result_and_a_manager(city):
    incident = declare(city)
    with pytest.raises(ValidationError) as error:
        incident_close(incident=incident, actor=city.dispatcher, result=" ")
    assert error.value.message_dict["result"] == [str(ERR_RESULT_EMPTY)]
    with pytest.raises(ValidationError):
        incident_close(incident=incident, actor=city.bureau_handler, result="结束")
    incident.refresh_from_db()
    assert incident.is_open


def test_the_utility_closes_its_incident_without_calls(city):
    incident = declare(city)
    incident = incident_close(incident=incident, actor=city.utility_handler, result="已恢复。")
    assert incident.state == Incident.State.CLOSED


def test_callbacks_follow_as_for_merged_tickets(city):
    incident = declare(city)
    calls = [incident_link_attach(incident=incident, ticket=new_ticket(city), actor=city.operator) for _ in range(2)]
    incident_close(incident=incident, actor=city.dispatcher, result="已恢复供暖。")
    day = clock.local_day(clock.now())
    callback_batch(day=day)
    called = set(Callback.objects.values_list("ticket_id", flat=True))
    assert {c.pk for c in calls} <= called
    # Run again: nothing twice.
    before = Callback.objects.count()
    callback_batch(day=day)
    assert Callback.objects.count() == before
