"""Declared incidents (停水、停电、停暖…; issue 21 part 4): declaring per role, input
checks, matching a call at intake, linking it both ways through the verbs, closing
(every linked ticket once), callbacks as for merged tickets, the public pages and
the report's numbers against the raw rows."""

from datetime import timedelta

import pytest
from django.core.exceptions import ValidationError
from django.urls import reverse
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
from cases.selectors.scope import incident_declaring_units, incident_may_declare, incident_scope
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
    assert incident.status == Incident.Status.DECLARED
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
    # the statement-free answer the admin asks on every page agrees with the query
    assert incident_may_declare(actor) is incident_declaring_units(actor).exists()
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
    assert incident.status == Incident.Status.CLOSED and incident.closed_at is not None
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
    assert incident.status == Incident.Status.CLOSED


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


# -- the intake form: shown, linked in one click ---------------------------------------

INTAKE = "/admin/cases/ticket/add/"
CALL = {
    "citizen_phone": "13612345678",
    "channel": "hotline",
    "content": "家里暖气突然不热了，怎么回事",
    "address": "东关大街1号院7号楼",
}


def test_the_intake_form_shows_the_incident_and_links_the_call_either_way(client, city):
    incident = declare(city)
    client.force_login(city.operator)
    form = {**CALL, "category": city.cold_room.pk, "_action": "create"}
    page = client.post(INTAKE, form).content.decode()
    assert 'id="incident-warning"' in page and incident.title in page
    assert not Ticket.objects.exists()  # not saved until the operator chooses

    lookup = client.get(
        reverse("admin:cases_ticket_intake_lookup"),
        {"address": CALL["address"], "category": city.cold_room.pk, "content": CALL["content"]},
    ).json()
    assert [i["id"] for i in lookup["incidents"]] == [incident.pk]

    response = client.post(INTAKE, {**form, "_action": f"incident_answer:{incident.pk}"})
    assert response.status_code == 302
    answered = Ticket.objects.get()
    assert answered.state == S.CLOSED and answered.reply_text == incident.notice

    response = client.post(
        INTAKE, {**form, "citizen_phone": "13612340000", "_action": f"incident_attach:{incident.pk}"}
    )
    assert response.status_code == 302
    attached = Ticket.objects.get(incident_link__mode=IncidentLink.Mode.MERGED)
    incident.refresh_from_db()
    assert attached.state == S.MERGED and attached.merged_into == incident.master_ticket
    assert incident.links.count() == 2


def test_the_intake_form_refuses_a_foreign_or_closed_incident_with_a_form_error(client, city):
    incident = declare(city)
    incident_close(incident=incident, actor=city.dispatcher, result="已恢复")
    client.force_login(city.operator)
    form = {**CALL, "category": city.cold_room.pk, "_action": f"incident_answer:{incident.pk}"}
    response = client.post(INTAKE, form)
    assert response.status_code == 200
    assert str(ERR_CLOSED) in response.content.decode()
    assert not Ticket.objects.exists()  # nothing half-written
    response = client.post(INTAKE, {**form, "_action": "incident_answer:999999"})
    assert response.status_code == 200 and not Ticket.objects.exists()


def test_another_place_shows_no_incident_and_creates_as_before(client, city):
    declare(city)
    client.force_login(city.operator)
    form = {**CALL, "address": "八一中路9号院", "category": city.cold_room.pk, "_action": "create"}
    response = client.post(INTAKE, form)
    assert response.status_code == 302 and Ticket.objects.get().state == S.RECEIVED


# -- the admin pages ------------------------------------------------------------------------

ADD = "/admin/cases/incident/add/"


def incident_form(city, **overrides):
    now = clock.now()
    data = {
        "kind": Incident.Kind.WATER,
        "title": "八一路停水",
        "category": city.construction.pk,
        "declared_by": city.utility.pk,
        "departments": [city.street2.pk],
        "starts_at_0": now.strftime("%Y-%m-%d"),
        "starts_at_1": "08:00:00",
        "expected_end_at_0": now.strftime("%Y-%m-%d"),
        "expected_end_at_1": "20:00:00",
        "notice": "八一路街道部分小区停水抢修。",
        "area": "",
        "links-TOTAL_FORMS": "0",
        "links-INITIAL_FORMS": "0",
    }
    data.update(overrides)
    return data


def test_a_utility_declares_in_the_admin_and_a_street_may_not(client, city):
    client.force_login(city.utility_handler)
    assert client.get(ADD).status_code == 200
    response = client.post(ADD, incident_form(city))
    assert response.status_code == 302, response.content.decode()[:2000]
    incident = Incident.objects.get()
    assert incident.declared_user == city.utility_handler and incident.declared_by == city.utility
    client.force_login(city.handler)
    assert client.get(ADD).status_code == 403
    client.force_login(city.bureau_handler)
    response = client.post(ADD, incident_form(city, title="别人的"))
    assert response.status_code == 200 and Incident.objects.count() == 1  # not its unit: a form error


@pytest.mark.parametrize(
    ("overrides", "message"),
    [
        ({"expected_end_at_1": "07:00:00"}, ERR_END_BEFORE_START),
        ({"notice": "  "}, None),  # the model field's own "required"
        ({"departments": [], "area": ""}, ERR_NO_PLACE),
        ({"departments": [], "area": '{"type": "Polygon", "coordinates": [[[0,0],[1,1],[1,0],[0,1],[0,0]]]}'}, None),
        ({"area": "{not json"}, None),
    ],
)
def test_bad_input_in_the_admin_is_a_form_error_and_nothing_saved(client, city, overrides, message):
    client.force_login(city.dispatcher)
    response = client.post(ADD, incident_form(city, **overrides))
    assert response.status_code == 200
    page = response.content.decode()
    assert "errornote" in page
    if message is not None:
        assert str(message) in page
    assert not Incident.objects.exists()


def test_the_admin_pages_edit_while_open_and_close_once(client, city):
    incident = declare(city)
    for _ in range(2):
        incident_link_attach(incident=incident, ticket=new_ticket(city), actor=city.operator)
    client.force_login(city.dispatcher)
    change = reverse("admin:cases_incident_change", args=[incident.pk])
    page = client.get(change).content.decode()
    assert 'id="incident-close-link"' in page and "共 2 件" in page
    listing = client.get(reverse("admin:cases_incident_changelist")).content.decode()
    assert incident.title in listing
    close = reverse("admin:cases_incident_close", args=[incident.pk])
    response = client.post(close, {"result": ""})
    assert response.status_code == 200 and Incident.objects.get().is_open
    response = client.post(close, {"result": "已修复。"})
    assert response.status_code == 302
    incident.refresh_from_db()
    assert not incident.is_open
    assert client.get(close).status_code == 403  # closed: no second close
    page = client.get(change).content.decode()
    assert 'id="incident-close-link"' not in page  # read only now
    response = client.post(change, {"title": "改名"})
    assert response.status_code == 403
    assert client.post(reverse("admin:cases_incident_history", args=[incident.pk])).status_code in (200, 405)


def test_another_unit_sees_nothing_of_an_incident_not_its_own(client, city):
    incident = declare(city)
    client.force_login(city.bureau2_handler)
    listing = client.get(reverse("admin:cases_incident_changelist")).content.decode()
    assert incident.title not in listing
    response = client.get(reverse("admin:cases_incident_change", args=[incident.pk]))
    assert response.status_code == 302  # the admin's "no such object"
    assert client.get(reverse("admin:cases_incident_close", args=[incident.pk])).status_code == 404
    assert client.get(reverse("admin:cases_incident_history", args=[incident.pk])).status_code == 404


# -- the public pages ----------------------------------------------------------------------


def test_the_board_and_the_lookup_show_the_notice_and_no_personal_data(client, city):
    incident = declare(city, notice="东关大街1号院3号楼独居老人王某某家请联系13800001234，其余小区暂停供暖。")
    call = incident_link_attach(incident=incident, ticket=new_ticket(city), actor=city.operator)
    board = client.get(reverse("public-board")).content.decode()
    assert 'id="incident-notices"' in board and incident.title in board
    assert "13800001234" not in board and "3号楼" not in board
    assert city.utility_handler.last_name + city.utility_handler.first_name not in board
    response = client.post(reverse("public-lookup"), {"number": call.number, "last4": "1234"})
    page = response.content.decode()
    assert incident.title in page and "13800001234" not in page
    assert "王女士" not in page
    incident_close(incident=incident, actor=city.dispatcher, result="已恢复供暖。")
    board = client.get(reverse("public-board")).content.decode()
    assert 'id="incident-notices"' not in board  # only open incidents on the board
    page = client.post(reverse("public-lookup"), {"number": call.number, "last4": "1234"}).content.decode()
    assert "已恢复供暖。" in page  # the caller sees the result


@pytest.mark.parametrize("language", ["en", "zh-hans"])
def test_the_incident_pages_speak_one_language(client, city, language):
    from django.conf import settings as django_settings

    from tests.test_bilingual_pages import english_words, stored_values, untranslated_han, visible_text

    incident = declare(city)
    incident_link_attach(incident=incident, ticket=new_ticket(city), actor=city.operator)
    client.force_login(city.dispatcher)
    client.cookies[django_settings.LANGUAGE_COOKIE_NAME] = language
    data = stored_values()
    paths = [
        ADD,
        reverse("admin:cases_incident_changelist"),
        reverse("admin:cases_incident_change", args=[incident.pk]),
        reverse("admin:cases_incident_close", args=[incident.pk]),
        reverse("admin:statistics") + "?period=month",
        reverse("public-board"),
    ]
    for path in paths:
        response = client.get(path)
        assert response.status_code == 200, path
        text = visible_text(response.content.decode())
        bad = untranslated_han(text, data) if language == "en" else english_words(text, data)
        assert not bad, (path, bad)


# -- the report: numbers equal the raw rows ---------------------------------------------


@settings(max_examples=8, deadline=None, suppress_health_check=[HealthCheck.function_scoped_fixture])
@given(plan=st.lists(st.tuples(st.integers(0, 4), st.integers(0, 3), st.booleans()), min_size=1, max_size=3))
def test_the_report_equals_a_raw_recomputation(city, plan):
    """Property: each incident's calls and duration, and the totals, as the report
    shows them equal a count of the link rows and the two stamps read with SQL."""
    from django.db import connection

    from reports.incidents import incident_table
    from reports.metrics import Period

    Incident.objects.all().delete()
    for answered, attached, closed in plan:
        incident = declare(city)
        for _ in range(answered):
            incident_link_answer(incident=incident, ticket=new_ticket(city), actor=city.operator)
        for _ in range(attached):
            incident_link_attach(incident=incident, ticket=new_ticket(city), actor=city.operator)
        if closed:
            incident_close(incident=incident, actor=city.dispatcher, result="已恢复")
    today = clock.local_day(clock.now())
    table = incident_table(Period(today, today), user=city.supervisor)
    with connection.cursor() as cursor:
        cursor.execute(
            "SELECT i.id, i.declared_at, i.closed_at,"
            " (SELECT COUNT(*) FROM cases_incidentlink l WHERE l.incident_id = i.id),"
            " (SELECT COUNT(*) FROM cases_incidentlink l WHERE l.incident_id = i.id AND l.mode = 'answered')"
            " FROM cases_incident i ORDER BY i.id"
        )
        raw = cursor.fetchall()
    assert [(r.pk, r.calls, r.answered) for r in table.rows] == [(pk, n, a) for pk, _d, _c, n, a in raw]
    assert table.calls == sum(r[3] for r in raw) == sum(a + b for a, b, _c in plan)
    for row, (_pk, declared, closed_at, _n, _a) in zip(table.rows, raw, strict=True):
        if closed_at is None:
            assert row.hours is None
        else:
            from django.utils.dateparse import parse_datetime

            d = declared if not isinstance(declared, str) else parse_datetime(declared)
            c = closed_at if not isinstance(closed_at, str) else parse_datetime(closed_at)
            assert row.hours == round((c - d).total_seconds() / 3600, 1)
    # and the statistics page shows the same total
    from django.test import Client

    browser = Client()
    browser.force_login(city.supervisor)
    page = browser.get(reverse("admin:statistics") + "?period=day").content.decode()
    assert f'<th id="incident-calls-total">{table.calls}</th>' in page


# -- the API's create: record and link in one step ------------------------------------------


def test_the_api_records_and_links_a_call_and_refuses_bad_links(city):
    from cases.api_keys import api_key_issue
    from cases.models import ApiKey, Channel
    from tests.api.conftest import key_client, staff_client

    incident = declare(city)
    body = {
        "category": "010101",
        "content": "东关大街1号院暖气不热。",
        "citizen_phone": "13912345678",
        "address": "城东区东关大街1号院",
    }
    client = staff_client(city.operator)
    response = client.post(
        "/api/v1/tickets/", {**body, "incident": incident.pk, "incident_link": "attach"}, format="json"
    )
    assert response.status_code == 201, response.content
    call = Ticket.objects.get(number=response.json()["number"])
    assert call.state == S.MERGED and IncidentLink.objects.get(ticket=call).incident == incident
    assert response.json() == client.get(f"/api/v1/tickets/{call.number}/").json()

    for bad in (
        {"incident": incident.pk},  # without the way
        {"incident": 999999, "incident_link": "answer"},
        {"incident": incident.pk, "incident_link": "answer", "address": "八一中路5号"},  # another place
    ):
        before = Ticket.objects.count()
        response = client.post("/api/v1/tickets/", {**body, **bad}, format="json")
        assert response.status_code == 400, (bad, response.content)
        assert Ticket.objects.count() == before  # nothing half-written
    _key, raw = api_key_issue(name="app", purpose=ApiKey.Purpose.CHANNEL, channel=Channel.APP)
    response = key_client(raw).post(
        "/api/v1/tickets/", {**body, "incident": incident.pk, "incident_link": "answer"}, format="json"
    )
    assert response.status_code == 403


# -- page cost ----------------------------------------------------------------------------


def test_matching_and_the_pages_cost_the_same_for_one_incident_or_many(client, city, django_assert_num_queries):
    from django.db import connection
    from django.test.utils import CaptureQueriesContext

    def costs():
        here = Territory.of(city.grid)
        with CaptureQueriesContext(connection) as matching:
            incidents_matching(user=city.operator, category=city.cold_room, territory=here)
        client.force_login(city.dispatcher)
        with CaptureQueriesContext(connection) as listing:
            assert client.get(reverse("admin:cases_incident_changelist")).status_code == 200
        with CaptureQueriesContext(connection) as board:
            assert client.get(reverse("public-board")).status_code == 200
        return len(matching), len(listing), len(board)

    declare(city)
    costs()  # warm the caches (reference data, the session)
    one = costs()
    for i in range(4):
        declare(city, title=f"第{i}处抢修", grids=[city.grid])
    many = costs()
    assert one == many, (one, many)
    assert one[0] <= 4  # the candidates, then the rows with their places
