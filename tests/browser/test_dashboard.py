"""The dashboard read in a real browser at 1440 px: every chart drawn, the donut's
legend clear of its ring and of itself, every street bar labelled, the ranking one
kind of unit at a time on an axis marked as not starting at zero, and today drawn
as partial. Charts are SVG, so each label is an element with a measurable box."""

import pytest
from playwright.sync_api import expect

from cases import clock
from cases.callbacks import callback_batch, callback_record
from cases.models import Callback, Channel, TicketState
from departments.models import Department
from tests.browser.test_flows import login
from tests.departments.factories import DepartmentFactory

pytestmark = pytest.mark.django_db(transaction=True, serialized_rollback=True)

#: The boxes of an SVG chart's labels, relative to the chart, with their text.
LABEL_BOXES = """(id) => {
  const el = document.getElementById(id);
  const at = el.getBoundingClientRect();
  return [...el.querySelectorAll("svg text")]
    .filter((t) => t.textContent.trim() && getComputedStyle(t).opacity !== "0")
    .map((t) => {
      const r = t.getBoundingClientRect();
      return { text: t.textContent, x: r.left - at.left, y: r.top - at.top, w: r.width, h: r.height };
    });
}"""

#: The donut ring's layout, as ECharts laid it out.
RING = """(id) => {
  const chart = window.echarts.getInstanceByDom(document.getElementById(id));
  const layout = chart.getModel().getSeriesByIndex(0).getData().getItemLayout(0);
  return { cx: layout.cx, cy: layout.cy, r: layout.r };
}"""


def _overlap(a, b):
    return (
        a["x"] < b["x"] + b["w"] and b["x"] < a["x"] + a["w"] and a["y"] < b["y"] + b["h"] and b["y"] < a["y"] + a["h"]
    )


def _city_with_many_streets(city):
    """Twelve more streets (more bars than a 280 px axis would label one by one),
    tickets from many channels (thin donut slices), scored streets and a bureau."""
    from reports.rollups import rollups_rebuild
    from tests.conftest import drive, new_ticket

    streets = []
    channels = [Channel.HOTLINE, Channel.WEB, Channel.APP, Channel.MAILBOX, Channel.SUPERVISOR, Channel.WALL]
    for n in range(12):
        street = DepartmentFactory(name=f"第{n + 1}测试街道", kind=Department.Kind.STREET, parent=city.district)
        DepartmentFactory(
            name=f"第{n + 1}测试社区",
            kind=Department.Kind.COMMUNITY,
            parent=street,
            address_keywords=f"测试路{n + 1}号",
        )
        streets.append(street.name)
        for _ in range(1 + n % 3):
            new_ticket(city, address=f"城东区测试路{n + 1}号", channel=channels[n % len(channels)])
    answers = {city.street: "satisfied", city.street2: "basically", city.bureau: "satisfied"}
    for lead in answers:
        for _ in range(2):
            drive(city, new_ticket(city), TicketState.CLOSED, lead=lead)
    callback_batch(day=clock.local_day())
    for cb in Callback.objects.filter(status="pending").select_related("ticket"):
        satisfaction = next(a for unit, a in answers.items() if unit.pk == cb.ticket.lead_department_id)
        callback_record(callback=cb, actor=city.callback, contacted=True, solved="solved", satisfaction=satisfaction)
    rollups_rebuild(days=3)
    return [*streets, city.street.name]


def test_the_dashboard_charts_are_readable(page, live_server, city, shoot, settings):
    settings.HOTLINE_METRICS = {**settings.HOTLINE_METRICS, "ranking_min_tickets": 2}
    streets = _city_with_many_streets(city)
    login(page, live_server.url, "leader")
    page.click("#dashboard-link")
    expect(page.locator(".dashboard[data-ready=true]")).to_be_attached()
    assert page.locator(".charts .canvas svg").count() >= 11  # drawn by ECharts from our own static files

    # the donut: no label box runs into another, none into the ring
    labels = page.evaluate(LABEL_BOXES, "chart-channels")
    assert len(labels) >= 6
    assert [(a["text"], b["text"]) for i, a in enumerate(labels) for b in labels[i + 1 :] if _overlap(a, b)] == []
    ring = page.evaluate(RING, "chart-channels")
    square = {"x": ring["cx"] - ring["r"], "y": ring["cy"] - ring["r"], "w": 2 * ring["r"], "h": 2 * ring["r"]}
    assert [label["text"] for label in labels if _overlap(label, square)] == []

    # every street bar has its label, and the labels do not collide
    labels = page.evaluate(LABEL_BOXES, "chart-territories")
    named = [label for label in labels if label["text"] in streets]
    assert sorted(label["text"] for label in named) == sorted(streets)
    assert [(a["text"], b["text"]) for i, a in enumerate(named) for b in named[i + 1 :] if _overlap(a, b)] == []

    # the ranking: one kind at a time, on an axis that says where it starts
    kinds = page.locator("#ranking-kinds button")
    expect(kinds).to_have_text(["街道乡镇（2）", "职能部门（1）"])
    ranked = [label["text"] for label in page.evaluate(LABEL_BOXES, "chart-ranking")]
    assert "1. 东关大街街道" in ranked and "2. 八一路街道" in ranked
    assert not any("住房和城乡建设局" in text for text in ranked)
    expect(page.locator("#ranking-note")).to_contain_text("不从 0 开始")
    kinds.nth(1).click()
    expect(kinds.nth(1)).to_have_attribute("aria-pressed", "true")
    ranked = [label["text"] for label in page.evaluate(LABEL_BOXES, "chart-ranking")]
    assert "1. 住房和城乡建设局" in ranked and not any("街道" in text for text in ranked)
    kinds.nth(0).click()

    # today is drawn as partial, with the time it stands at
    assert any("今日截至" in label["text"] for label in page.evaluate(LABEL_BOXES, "chart-volume"))
    assert any("今日截至" in label["text"] for label in page.evaluate(LABEL_BOXES, "chart-rates"))
    shoot(page, "dashboard")
