"""The wall screen (大屏) and the map's numbers tell the record.

- Property: whatever happens to tickets in three places (a grid of one street, a
  community of another, nowhere), the wall's counters for today and the map's
  numbers per district, street, community and grid equal a recomputation from the
  raw rows — the timeline's payloads (``tests.reports.test_rates_property.recompute``),
  the tickets' states and deadlines and the callbacks — written without the
  metrics module.
- Scope: the map endpoint counts only the tickets the reader may see (a street's
  handler its own street's); the wall shows a display account its centre's
  numbers (the city, or its sub-centre's subtree); every other role is refused.
- The display account reaches nothing else; the page speaks one language at a
  time; no citizen's data reaches the wall; bad input is a clear 400."""

from collections import defaultdict
from datetime import timedelta

import pytest
import time_machine
from django.conf import settings as django_settings
from django.db import transaction
from django.test import Client
from django.urls import reverse
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

from cases import clock
from cases.callbacks import callback_batch, callback_record
from cases.models import Callback, Ticket
from cases.selectors.scope import CITY_CENTRE, wall_centre
from departments.roles import Role
from reports.dashboard import dashboard_data
from reports.metrics import Period
from reports.models import Spike
from reports.placemap import LEVELS, place_numbers
from reports.rollups import rollups_rebuild
from reports.wall import wall_data
from tests.conftest import add_subcentres, drive, local, new_ticket
from tests.departments.factories import staff
from tests.reports.test_dashboard import ANSWERS
from tests.reports.test_rates_property import play, recompute, steps
from tests.test_bilingual_pages import english_words, stored_values, untranslated_han, visible_text

OPEN = {"received", "dispatched", "handling", "reviewing"}
CLOCKED = {"dispatched", "handling", "reviewing"}


def _addresses(city):
    """Three places: 东关一网格 (东关社区, 东关大街街道), 八一社区 (八一路街道, no grid), nowhere."""
    return [
        {"address": "城东区东关大街1号院3号楼"},
        {"address": "城东区八一中路5号", "citizen_phone": "13900005678"},
        {"address": "某地", "citizen_phone": ""},
    ]


def test_the_overdue_are_among_the_open():
    """``place_numbers`` counts both in one pass over the open tickets."""
    from cases.models import CLOCKED_STATES, OPEN_STATES

    assert set(CLOCKED_STATES) <= set(OPEN_STATES)


def _raw_overdue(ticket, now) -> bool:
    return ticket.state in CLOCKED and ticket.next_due_at is not None and ticket.next_due_at <= now


def _raw_places(level, start, end, now):
    """Per place: volume, open, overdue and satisfaction, from the rows alone."""
    field = f"{level}_id"
    rows = defaultdict(lambda: {"volume": 0, "open": 0, "overdue": 0, "cb": 0, "satisfied": 0, "basically": 0})
    for t in Ticket.objects.all():
        place = getattr(t, field)
        if t.state != "invalid" and start <= t.received_at < end:
            rows[place]["volume"] += 1
        rows[place]["open"] += t.state in OPEN
        rows[place]["overdue"] += _raw_overdue(t, now)
    for cb in Callback.objects.select_related("ticket"):
        if cb.status != "done" or cb.overruled_at is not None or cb.ticket.state == "invalid":
            continue
        if start <= cb.completed_at < end:
            row = rows[getattr(cb.ticket, field)]
            row["cb"] += 1
            row["satisfied"] += cb.satisfaction == "satisfied"
            row["basically"] += cb.satisfaction == "basically"
    weight = django_settings.HOTLINE_METRICS["basically_satisfied_weight"]
    result = {}
    for place, r in rows.items():
        satisfaction = round((r["satisfied"] + weight * r["basically"]) / r["cb"] * 100, 1) if r["cb"] else None
        result[place] = {"volume": r["volume"], "open": r["open"], "overdue": r["overdue"]}
        result[place]["satisfaction"] = satisfaction
    return result


#: A place the numbers leave out: nothing received, open, overdue or called back.
NOTHING = {"volume": 0, "open": 0, "overdue": 0, "satisfaction": None}


@settings(
    max_examples=15,
    deadline=None,
    suppress_health_check=[HealthCheck.function_scoped_fixture, HealthCheck.too_slow],
)
@given(steps=steps, end_hour=st.integers(min_value=0, max_value=23))
def test_the_wall_and_the_map_equal_the_record(city, steps, end_hour):
    start = local(2026, 10, 31, 20, 0)
    with time_machine.travel(start, tick=False) as moment, transaction.atomic():
        tickets = [new_ticket(city, **place) for place in _addresses(city)]
        play(city, tickets, steps, moment, wait_power=2)
        moment.shift(timedelta(hours=end_hour))
        now = clock.now()
        today = clock.local_day(now)
        # -- the wall's counters: today's, from the timeline's payloads and callbacks
        begin, finish = clock.day_bounds(today)
        expected = defaultdict(float)
        for row in recompute(begin, finish).values():
            for name, value in row.items():
                expected[name] += value
        data = wall_data(CITY_CENTRE, now=now)
        got = {c["key"]: c["value"] for c in data["counters"]}
        assert got == {
            "received": expected["received"],
            "dispatched": expected["dispatched"],
            "signed": expected["sign_clocked"],
            "overdue": sum(_raw_overdue(t, now) for t in Ticket.objects.all()),
            "closed": expected["closed"],
            "callbacks": expected["cb_valid"],
        }
        # -- the map: every level, over the whole span and over today
        for period in (Period(clock.local_day(start), today), Period.day(today)):
            lo, hi = period.bounds
            for level in LEVELS:
                raw = _raw_places(level, lo, hi, now)
                numbers = place_numbers(level, period, now=now)
                for place in set(raw) | set(numbers):
                    shown = numbers[place].as_dict() if place in numbers else None
                    want = raw.get(place, NOTHING)
                    got_place = {k: shown[k] for k in want} if shown else NOTHING
                    assert got_place == want, (level, period, place)
        # the wall's map is the district level of today's numbers
        wall_map = {p["id"]: p for p in data["map"]["places"]}
        for place, want in _raw_places("district", begin, finish, now).items():
            if place is not None:
                # A district with nothing today may be left off the map: it reads as nothing.
                shown = {k: wall_map[place][k] for k in want} if place in wall_map else NOTHING
                assert shown == want, place
        transaction.set_rollback(True)


def test_spikes_count_for_their_community_and_the_places_above(city):
    today = clock.local_day()
    Spike.objects.create(day=today, community=city.community, category=city.cold_room, count=9, baseline=1.0)
    Spike.objects.create(day=today, community=city.community2, category=city.noise, count=7, baseline=1.0)
    Spike.objects.create(
        day=today - timedelta(days=40), community=city.community, category=city.noise, count=5, baseline=1.0
    )
    period = Period(today - timedelta(days=6), today)
    assert {k: v.spikes for k, v in place_numbers("community", period).items() if v.spikes} == {
        city.community.pk: 1,
        city.community2.pk: 1,
    }
    assert {k: v.spikes for k, v in place_numbers("street", period).items() if v.spikes} == {
        city.street.pk: 1,
        city.street2.pk: 1,
    }
    assert place_numbers("district", period)[city.district.pk].spikes == 2
    # within a drill-down parent, only that parent's communities' spikes
    only = place_numbers("community", period, parent=city.street)
    assert {k: v.spikes for k, v in only.items() if v.spikes} == {city.community.pk: 1}


# -- scope --------------------------------------------------------------------------------


@pytest.fixture
def two_streets(city):
    """Two tickets led by 东关大街街道 (in its communities), one by 八一路街道."""
    mine = [
        drive(city, new_ticket(city), "handling"),
        drive(city, new_ticket(city, address="城东区东关大街2号"), "dispatched"),
    ]
    theirs = drive(city, new_ticket(city, address="城东区八一中路5号"), "handling", lead=city.street2)
    return mine, theirs


def _map(user, **params):
    client = Client()
    client.force_login(user)
    return client.get(reverse("admin:map_data"), {"period": "7", **params})


def _volumes(response):
    assert response.status_code == 200, response.content
    return {p["id"]: p["volume"] for p in response.json()["places"]}


@pytest.mark.django_db
def test_the_map_counts_what_the_reader_may_see(city, two_streets):
    # the centre: both streets
    assert _volumes(_map(city.dispatcher, level="street")) == {city.street.pk: 2, city.street2.pk: 1}
    assert _volumes(_map(city.leader, level="street")) == {city.street.pk: 2, city.street2.pk: 1}
    # a street's handler and head: their own street's tickets only
    for user in (city.handler, city.head):
        assert _volumes(_map(user, level="street")) == {city.street.pk: 2}
        assert _volumes(_map(user, level="street", parent=city.district.pk)) == {city.street.pk: 2}
    assert _volumes(_map(city.handler2, level="street")) == {city.street2.pk: 1}
    # another street's drill-down shows the handler nothing of it
    assert _volumes(_map(city.handler, level="community", parent=city.street2.pk)) == {}
    # a grid worker: the tickets of their grid
    grid_tickets = Ticket.objects.filter(grid=city.grid).count()
    assert _volumes(_map(city.gridworker, level="grid")) == ({city.grid.pk: grid_tickets} if grid_tickets else {})
    # a bureau that handles none of them: nothing
    assert _volumes(_map(city.bureau_handler, level="district")) == {}
    # the click-through goes to the place's tickets
    place = _map(city.dispatcher, level="street").json()["places"][0]
    assert place["url"].startswith(reverse("admin:cases_ticket_changelist") + "?territory=")


@pytest.mark.django_db
def test_the_map_data_refuses_the_display_account_and_strangers(city, two_streets):
    display = staff(Role.DISPLAY, city.centre, "display")
    response = _map(display, level="district")
    assert response.status_code == 302  # to the login page, which sends a display account to its wall
    assert Client().get(reverse("admin:map_data")).status_code == 302


@pytest.mark.django_db
@pytest.mark.parametrize(
    "params",
    [{"level": "province"}, {"level": "street", "parent": "abc"}, {"level": "district", "parent": "0"}],
)
def test_bad_map_parameters_are_a_clear_400(city, params):
    response = _map(city.dispatcher, **params)
    assert response.status_code == 400
    assert response.json()["error"]


@pytest.mark.django_db
def test_a_parent_below_the_level_is_refused(city):
    response = _map(city.dispatcher, level="street", parent=city.community.pk)
    assert response.status_code == 400


def _wall(user, name="wall_data"):
    client = Client()
    if user is not None:
        client.force_login(user)
    return client.get(reverse(name))


@pytest.mark.django_db
def test_the_wall_shows_each_centre_its_own_numbers(city, two_streets):
    add_subcentres(city)  # 城东区 (where every ticket lies) and 城西区 run sub-centres
    display = staff(Role.DISPLAY, city.centre, "display")
    east = staff(Role.DISPLAY, city.district, "display_east")
    west = staff(Role.DISPLAY, city.district_w, "display_west")
    assert wall_centre(display).citywide
    assert wall_centre(east).unit == city.district

    def received(user):
        response = _wall(user)
        assert response.status_code == 200
        return {c["key"]: c["value"] for c in response.json()["counters"]}["received"]

    assert received(display) == 3
    assert received(city.dispatcher) == 3
    assert received(east) == 3
    assert received(west) == 0
    assert received(city.west_dispatcher) == 0
    for user in (city.handler, city.head, city.gridworker, city.bureau_handler):
        assert _wall(user).status_code == 403
        assert _wall(user, "wall").status_code == 403
    assert _wall(None).status_code == 403
    assert _wall(None, "wall")["Location"].startswith(reverse("admin:login"))


@pytest.mark.django_db
def test_the_display_account_reaches_the_wall_and_nothing_else(city, two_streets):
    display = staff(Role.DISPLAY, city.centre, "display")
    client = Client()
    client.force_login(display)
    assert client.get(reverse("wall")).status_code == 200
    # the admin sends it to its wall, whatever page it asks for
    for url in (
        reverse("admin:index"),
        reverse("admin:cases_ticket_changelist"),
        reverse("admin:dashboard"),
        reverse("admin:reports_exportjob_changelist"),
        reverse("admin:cases_ticket_change", args=[two_streets[1].pk]),
    ):
        response = client.get(url, follow=True)
        assert response.redirect_chain[-1][0] == reverse("wall"), url
    # the API and its exports refuse it
    assert client.get("/api/v1/tickets/").status_code == 403
    assert client.get("/api/v1/stats/").status_code in (403, 404)


@pytest.mark.django_db
def test_no_citizen_data_on_the_wall(city, two_streets):
    display = staff(Role.DISPLAY, city.centre, "display")
    body = _wall(display).content.decode()
    for ticket in Ticket.objects.all():
        for value in (ticket.citizen_name, ticket.citizen_phone, ticket.address, ticket.content, ticket.number):
            if value:
                assert value not in body, value


@pytest.mark.django_db
@pytest.mark.parametrize("language", ["en", "zh-hans"])
def test_the_wall_page_speaks_one_language(city, two_streets, language):
    display = staff(Role.DISPLAY, city.centre, "display")
    client = Client()
    client.force_login(display)
    client.cookies[django_settings.LANGUAGE_COOKIE_NAME] = language
    page = visible_text(client.get(reverse("wall")).content.decode())
    labels = "\n".join(c["label"] for c in client.get(reverse("wall_data")).json()["counters"])
    data = stored_values()
    if language == "en":
        assert untranslated_han(page, data) == set()
        assert untranslated_han(labels, data) == set()
        assert "Intake today" in labels
    else:
        assert english_words(page, data) == set()
        assert "今日受理" in labels


def square(x, y, size=0.01):
    """A closed square ring at (longitude x, latitude y)."""
    ring = [[x, y], [x + size, y], [x + size, y + size], [x, y + size], [x, y]]
    return {"type": "Polygon", "coordinates": [ring]}


def give_boundaries(city):
    """Boundaries for the fixture's places: two streets side by side, their
    communities, and the grid inside 东关社区."""
    city.community.boundary = square(101.78, 36.61)
    city.community_b.boundary = square(101.79, 36.61)
    city.community2.boundary = square(101.80, 36.61)
    for unit in (city.community, city.community_b, city.community2):
        unit.save(update_fields=["boundary"])
    city.grid.boundary = square(101.781, 36.611, 0.005)
    city.grid.save(update_fields=["boundary"])


@pytest.mark.django_db
def test_the_geo_endpoints_serve_our_own_boundaries(city):
    give_boundaries(city)
    client = Client()
    client.force_login(city.dispatcher)
    streets = client.get(reverse("admin:map_geo"), {"level": "street"}).json()
    assert {f["properties"]["id"] for f in streets["features"]} == {city.street.pk, city.street2.pk}
    grids = client.get(reverse("admin:map_geo"), {"level": "grid", "parent": city.community.pk}).json()
    assert [f["properties"]["id"] for f in grids["features"]] == [city.grid.pk]
    assert client.get(reverse("admin:map_geo"), {"level": "x"}).status_code == 400
    display = Client()
    display.force_login(staff(Role.DISPLAY, city.centre, "display"))
    districts = display.get(reverse("wall_geo"), {"level": "district"}).json()
    assert [f["properties"]["id"] for f in districts["features"]] == [city.district.pk]
    assert display.get(reverse("admin:map_geo")).status_code == 302  # the admin's copy is not the wall's


def test_the_units_in_the_red_are_the_dashboards_worst_and_the_most_overdue(city, settings):
    """The dashboard's scored units (tests/reports/test_dashboard.py's answers), and
    three tickets left to run late."""
    from tests.reports.test_dashboard import scored  # noqa: F401 - the dashboard's scored units

    settings.HOTLINE_METRICS = {**settings.HOTLINE_METRICS, "ranking_min_tickets": 3, "red_black_size": 2}
    units = {"street": city.street, "street2": city.street2, "bureau": city.bureau}
    for day in range(5, 20, 3):
        with time_machine.travel(local(2026, 10, day, 9, 0), tick=False):
            for key, unit in units.items():
                drive(city, new_ticket(city, content=f"{key} 暖气不热"), "closed", lead=unit)
        callback_batch(day=local(2026, 10, day).date())
        with time_machine.travel(local(2026, 10, day + 1, 10, 0), tick=False):
            for cb in Callback.objects.filter(status="pending").select_related("ticket"):
                key = next(k for k, u in units.items() if u.pk == cb.ticket.lead_department_id)
                solved, satisfaction = ANSWERS[key]
                callback_record(
                    callback=cb, actor=city.callback, contacted=True, solved=solved, satisfaction=satisfaction
                )
    with time_machine.travel(local(2026, 10, 20, 9, 0), tick=False):
        late = [
            drive(city, new_ticket(city), "handling", lead=unit) for unit in (city.street2, city.street2, city.bureau)
        ]
    when = local(2026, 11, 2, 9, 0)
    with time_machine.travel(when, tick=False):
        rollups_rebuild(days=60)
        now = clock.now()
        data = wall_data(CITY_CENTRE, now=now)
        dashboard = dashboard_data(Period(clock.local_day() - timedelta(days=29), clock.local_day()))
    overdue_by_unit = defaultdict(int)
    for t in Ticket.objects.all():
        if _raw_overdue(t, now) and t.lead_department_id:
            overdue_by_unit[t.lead_department.name] += 1
    assert len(late) == 3 and sum(overdue_by_unit.values()) >= 3
    most = sorted(overdue_by_unit.items(), key=lambda kv: -kv[1])[:2]
    red = {block["kind"]: block["units"] for block in data["red_units"]}
    assert [(u["name"], u["value"]) for u in red["当前超期最多"]] == most
    # each kind's worst, the dashboard's ranking read from its tail
    for panel in dashboard["rankings"]:
        worst = list(reversed(panel["units"][-2:]))
        assert red[f"{panel['label']}综合得分最低"] == worst
    assert red["街道乡镇综合得分最低"][0]["name"] == city.street2.name  # 八一路街道 scores lowest of the streets
