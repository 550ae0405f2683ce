"""The wall screen and the dashboard's map in real Chromium at 1920×1080: the
display account signs in and lands on its wall, the map is drawn (on a canvas,
from our own GeoJSON), a refresh tick shows a new ticket in today's counters
without reloading the page, the panels turn; on the dashboard a click drills
from the district down to a grid and on into that grid's tickets."""

import pytest
from playwright.sync_api import expect

from cases.models import TicketState
from departments.roles import Role
from tests.conftest import drive, new_ticket
from tests.departments.factories import PASSWORD, staff
from tests.reports.test_wall import give_boundaries

pytestmark = pytest.mark.django_db(transaction=True, serialized_rollback=True)

#: The value of one of the wall's counters, as shown.
COUNTER = "(key) => document.querySelector(`.wall-counter[data-key=${key}] .value`).textContent"
#: What the map series holds: its map's regions and the metric shown.
MAP_STATE = """(id) => {
  const chart = window.echarts.getInstanceByDom(document.getElementById(id));
  const series = chart.getOption().series[0];
  return { regions: series.data.length, metric: document.getElementById(id).dataset.metric };
}"""
#: The page position of a longitude/latitude on a map chart.
PIXEL = """([id, lng, lat]) => {
  const el = document.getElementById(id);
  const chart = window.echarts.getInstanceByDom(el);
  const [x, y] = chart.convertToPixel({ seriesIndex: 0 }, [lng, lat]);
  const box = el.getBoundingClientRect();
  return [box.left + x, box.top + y];
}"""


@pytest.fixture
def wide(browser):
    context = browser.new_context(viewport={"width": 1920, "height": 1080}, locale="zh-CN")
    page = context.new_page()
    page.set_default_timeout(15_000)
    yield page
    context.close()


def test_the_wall_screen_draws_the_map_and_refreshes_its_counters(wide, live_server, city, shoot):
    page = wide
    give_boundaries(city)
    staff(Role.DISPLAY, city.centre, "display")
    drive(city, new_ticket(city), TicketState.HANDLING)
    page.goto(f"{live_server.url}/wall/")
    page.fill("#id_username", "display")
    page.fill("#id_password", PASSWORD)
    page.click("input[type=submit]")
    page.wait_for_url("**/wall/")
    expect(page.locator("#wall-map[data-ready=true]")).to_be_attached()
    assert page.locator("#wall-map canvas").count() >= 1
    state = page.evaluate(MAP_STATE, "wall-map")
    assert state == {"regions": 1, "metric": "overdue"}  # 城东区, drawn from its communities' polygons
    expect(page.locator(".wall-counter")).to_have_count(6)
    assert page.evaluate(COUNTER, "received") == "1"
    assert page.evaluate(COUNTER, "dispatched") == "1"
    # the screen fits 1920×1080: nothing to scroll on a wall
    assert page.evaluate("document.documentElement.scrollHeight") <= 1080
    assert page.evaluate("document.documentElement.scrollWidth") <= 1920

    # a call arrives; the next refresh tick shows it, without reloading the page
    page.evaluate("window.wallMarker = 'same page'")
    new_ticket(city, address="城东区八一中路5号")
    refreshes = int(page.get_attribute("#wall", "data-refreshes"))
    page.evaluate("window.wallRefresh()")
    expect(page.locator("#wall")).to_have_attribute("data-refreshes", str(refreshes + 1))
    expect(page.locator(".wall-counter[data-key=received] .value")).to_have_text("2")
    assert page.evaluate("window.wallMarker") == "same page"
    assert page.inner_text("#wall-as-of") != "—"

    # the panels turn: the spikes' panel and the next metric on the map
    expect(page.locator("#panel-red")).to_be_visible()
    page.evaluate("window.wallRotate()")
    expect(page.locator("#panel-spikes")).to_be_visible()
    expect(page.locator("#panel-red")).to_be_hidden()
    assert page.evaluate(MAP_STATE, "wall-map")["metric"] == "open"
    page.evaluate("window.wallRotate()")
    shoot(page, "wall")


def test_the_dashboard_map_drills_down_to_a_grid_and_its_tickets(wide, live_server, city, shoot):
    page = wide
    give_boundaries(city)
    ticket = new_ticket(city)  # in 东关一网格
    assert ticket.grid_id == city.grid.pk
    page.goto(f"{live_server.url}/admin/login/?next=/admin/dashboard/")
    page.fill("#id_username", "leader")
    page.fill("#id_password", PASSWORD)
    page.click("input[type=submit]")
    section = page.locator("#map-section")
    expect(section).to_have_attribute("data-ready", "true")
    assert page.locator("#chart-map canvas").count() >= 1
    # 东关社区's square (and the grid inside it) sits at 101.78–101.79 E, 36.61–36.62 N
    for level, crumbs in (("street", 2), ("community", 3), ("grid", 4)):
        x, y = page.evaluate(PIXEL, ["chart-map", 101.7835, 36.6135])
        page.mouse.click(x, y)
        expect(page.locator("#chart-map")).to_have_attribute("data-level", level)
        expect(section).to_have_attribute("data-ready", "true")
        expect(page.locator("#map-trail button")).to_have_count(crumbs)
    expect(page.locator("#map-trail button").last).to_have_text(city.community.name)
    page.locator("#map-metrics button[data-metric=open]").click()
    assert page.evaluate(MAP_STATE, "chart-map") == {"regions": 1, "metric": "open"}
    shoot(page, "map")
    # the grid: a click opens its tickets
    x, y = page.evaluate(PIXEL, ["chart-map", 101.7835, 36.6135])
    page.mouse.click(x, y)
    page.wait_for_url(f"**/admin/cases/ticket/?grid={city.grid.pk}&state=all")
    expect(page.locator("#result_list")).to_contain_text(ticket.number)
