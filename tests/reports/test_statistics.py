"""Every rate on every axis (统计分析 page, its Excel export, the stats API, the
reports' category sheet), the dashboard's one territory meaning, and the
supervision statistics — each number recounted here from the raw rows."""

import io
from collections import Counter, defaultdict
from datetime import date

import pytest
import time_machine
from django.urls import reverse
from openpyxl import load_workbook

from cases import workflow
from cases.callbacks import callback_batch, callback_record
from cases.models import Callback, Channel, Ticket, TicketEvent, TicketState, Urge
from reports.axes import axis_table
from reports.excel import report_workbook
from reports.metrics import Period
from reports.reporting import report_build
from reports.rollups import rollups_rebuild
from reports.supervision import supervision_counts
from tests.api.conftest import staff_client
from tests.conftest import drive, local, new_ticket

S = TicketState
NOVEMBER = Period.month(date(2026, 11, 1))
START, END = local(2026, 11, 1, 0, 0), local(2026, 12, 1, 0, 0)


@pytest.fixture
def month(city):
    """November 2026: tickets in both streets, three channels, three category
    levels, a bureau; urges of each kind, an escalation and a head sign-off."""
    c = city
    made = {}
    with time_machine.travel(local(2026, 11, 2, 9, 0), tick=False) as clock:
        made["a"] = drive(c, new_ticket(c), S.CLOSED)  # 室温不达标 (level 3), 东关, hotline
        made["b"] = drive(
            c, new_ticket(c, category=c.noise, channel=Channel.WEB, address="八一中路3号"), S.HANDLING, lead=c.street2
        )
        made["c"] = drive(c, new_ticket(c, category=c.consult, channel=Channel.APP), S.CLOSED, lead=c.bureau)
        made["d"] = drive(c, new_ticket(c, category=c.heating), S.HANDLING)  # 供暖 (level 2)
        made["e"] = new_ticket(c, category=c.heating)  # received, never dispatched
        clock.move_to(local(2026, 11, 3, 10, 0))
        b = made["b"]
        workflow.ticket_urge(ticket=b, actor=c.supervisor, kind=Urge.Kind.PHONE, content="电话催办")
        interview = workflow.ticket_urge(ticket=b, actor=c.supervisor, kind=Urge.Kind.INTERVIEW, content="约谈")
        workflow.ticket_urge(ticket=made["d"], actor=c.supervisor, kind=Urge.Kind.WRITTEN, content="请速办")
        workflow.ticket_urge(ticket=made["d"], actor=c.supervisor, kind=Urge.Kind.ONSITE, content="现场督办")
        workflow.ticket_urge_acknowledge(ticket=b, actor=c.handler2, urge=interview, reply="已安排")
        workflow.ticket_escalate(ticket=b, actor=c.supervisor, leader=c.leader, reason="多次反映")
        workflow.ticket_require_signoff(ticket=made["d"], actor=c.supervisor)
        workflow.ticket_reply(ticket=made["d"], actor=c.handler, result="solved", text="已修复")
        made["d"] = workflow.ticket_head_sign(ticket=made["d"], actor=c.head, note="同意")
    callback_batch(day=date(2026, 11, 2))
    with time_machine.travel(local(2026, 11, 4, 10, 0), tick=False):
        for cb, satisfaction in zip(Callback.objects.order_by("pk"), ["satisfied", "unsatisfied"], strict=False):
            callback_record(callback=cb, actor=c.callback, contacted=True, solved="solved", satisfaction=satisfaction)
    # October: outside the period, must count nowhere
    with time_machine.travel(local(2026, 10, 31, 23, 59), tick=False):
        old = drive(c, new_ticket(c, category=c.noise), S.HANDLING)
        workflow.ticket_urge(ticket=old, actor=c.supervisor, kind=Urge.Kind.PHONE, content="十月")
    return made


# -- independent recounts from the raw rows ----------------------------------------------


def _in(moment):
    return moment is not None and START <= moment < END


CLOSES = (TicketEvent.Kind.APPROVED, TicketEvent.Kind.ANSWERED, TicketEvent.Kind.REOPEN_OVERRULED)


def recount(key_of_ticket, key_of_fact=None) -> dict:
    """received, dispatched, closed, cb_valid, cb_satisfied per key, from the rows: tickets
    by their receipt; dispatches and closes by the timeline events (a close stays a close
    when a callback later reopens the ticket). ``key_of_fact(row, ticket)`` keys an event
    or a callback (the unit axis: the unit the fact is charged to); default: its ticket's key."""
    key_of_fact = key_of_fact or (lambda row, t: key_of_ticket(t))
    rows = defaultdict(Counter)
    for t in Ticket.objects.exclude(state=S.INVALID):
        rows[key_of_ticket(t)]["received"] += _in(t.received_at)
        if t.state == S.MERGED:
            continue
        for e in t.events.all():
            if _in(e.created_at):
                rows[key_of_fact(e, t)]["dispatched"] += e.kind == TicketEvent.Kind.DISPATCHED
                rows[key_of_fact(e, t)]["closed"] += e.kind in CLOSES
    for cb in Callback.objects.filter(status="done", overruled_at__isnull=True).select_related("ticket"):
        if cb.ticket.state != S.INVALID and _in(cb.completed_at):
            rows[key_of_fact(cb, cb.ticket)]["cb_valid"] += 1
            rows[key_of_fact(cb, cb.ticket)]["cb_satisfied"] += cb.satisfaction == "satisfied"
    return {k: v for k, v in rows.items() if any(v.values())}


def _shown(row):
    c = row.counters
    return {"received": c.received, "dispatched": c.dispatched, "closed": c.closed, "cb_valid": c.cb_valid}


AXIS_FIELDS = {
    "department": "lead_department_id",
    "district": "district_id",
    "street": "street_id",
    "community": "community_id",
    "grid": "grid_id",
    "channel": "channel",
}


@pytest.mark.parametrize("axis", list(AXIS_FIELDS))
def test_every_axis_row_equals_a_recount(month, axis):
    by_unit = (lambda row, t: row.unit_id) if axis == "department" else None
    expected = recount(lambda t: getattr(t, AXIS_FIELDS[axis]), by_unit)
    table = axis_table(NOVEMBER, axis=axis)
    got = {row.key: row for row in table.rows if any(_shown(row).values())}
    assert set(got) == set(expected)
    for key, counts in expected.items():
        row = got[key]
        assert _shown(row) == {n: counts[n] for n in ("received", "dispatched", "closed", "cb_valid")}, key
        if counts["cb_valid"]:  # no 基本满意 in this month: 满意率 is satisfied ÷ valid
            assert row.rates["satisfaction"] == pytest.approx(counts["cb_satisfied"] / counts["cb_valid"])
    # a partition: the rows add up to the total
    assert table.total.received == sum(c["received"] for c in expected.values()) == 5


def test_category_rows_include_their_subcategories(month, city):
    table = axis_table(NOVEMBER, axis="category")
    rows = {row.key: row for row in table.rows}
    paths = {t.pk: t.category.path for t in Ticket.objects.select_related("category")}
    for category, level in [(city.construction, 1), (city.heating, 2), (city.cold_room, 3), (city.consult, 1)]:
        under = [
            t
            for t in Ticket.objects.filter(received_at__gte=START, received_at__lt=END)
            if paths[t.pk].startswith(category.path)
        ]
        assert rows[category.pk].counters.received == len(under), category.name
        assert rows[category.pk].level == level
    assert rows[city.construction.pk].counters.received == 3  # a, d, e and nothing else
    assert rows[city.construction.pk].name == "城乡建设"
    assert rows[city.cold_room.pk].name == "城乡建设 › 供暖 › 室温不达标"
    assert city.environment.pk in rows and rows[city.environment.pk].counters.received == 1  # b (noise)


def test_supervision_counts_equal_the_rows(month, city):
    expected = defaultdict(Counter)
    for u in Urge.objects.all():
        if _in(u.issued_at):
            expected[u.department_id]["urges"] += 1
            expected[u.department_id][u.kind] += 1
            expected[u.department_id]["acknowledged" if u.acknowledged_at else "unacknowledged"] += 1
    for e in TicketEvent.objects.select_related("ticket"):
        if _in(e.created_at) and e.kind == TicketEvent.Kind.ESCALATED:
            expected[e.ticket.lead_department_id]["escalated"] += 1
        if _in(e.created_at) and e.kind == TicketEvent.Kind.HEAD_SIGNED:
            expected[e.actor_department_id]["head_signed"] += 1
    got = supervision_counts(NOVEMBER)
    assert {k: {n: v for n, v in c.as_dict().items() if v} for k, c in got.items()} == {
        k: dict(v) for k, v in expected.items()
    }
    street2 = got[city.street2.pk]
    assert (street2.phone, street2.interview, street2.acknowledged, street2.escalated) == (1, 1, 1, 1)
    assert (got[city.street.pk].written, got[city.street.pk].onsite, got[city.street.pk].head_signed) == (1, 1, 1)
    total = supervision_counts(NOVEMBER, group_by=None)[None]
    assert (total.urges, total.unacknowledged) == (4, 3)


# -- the admin page ------------------------------------------------------------------------


URL = "admin:statistics"
QUERY = {"period": "month", "day": "2026-11-15"}


def _page_rows(response):
    return [[value for _key, value in row] for row in response.context["table"]]


def test_the_page_scope_per_role(client, month, city):
    client.force_login(city.leader)
    rows = client.get(reverse(URL), {**QUERY, "axis": "department"}).context["table"]
    names = {row[0][1] for row in rows}
    assert {"东关大街街道", "八一路街道", "住房和城乡建设局"} <= names
    client.force_login(city.handler)  # 东关大街街道: its own subtree only
    response = client.get(reverse(URL), {**QUERY, "axis": "department"})
    assert {row[0][1] for row in response.context["table"]} == {"东关大街街道"}
    channels = client.get(reverse(URL), {**QUERY, "axis": "channel"}).context["table"]
    assert sum(row[1][1] for row in channels) == 2  # a and d: led by the street; e is led by nobody yet
    client.force_login(city.handler2)
    response = client.get(reverse(URL), {**QUERY, "axis": "subtree"})
    assert {row[0][1] for row in response.context["table"]} == {"八一路街道"}
    assert "东关大街街道" not in response.content.decode()


def test_the_page_sorts_and_the_export_equals_it(client, month, city):
    client.force_login(city.supervisor)
    query = {**QUERY, "axis": "category", "sort": "-received"}
    response = client.get(reverse(URL), query)
    assert response.status_code == 200
    shown = _page_rows(response)
    received = [row[2] for row in shown]
    assert received == sorted(received, reverse=True)
    workbook = client.get(reverse(URL), {**query, "format": "xlsx"})
    ws = load_workbook(io.BytesIO(workbook.content)).active
    headers = [cell.value for cell in ws[3]]
    assert headers == [str(h["label"]) for h in response.context["headers"]]
    cells = [[cell.value for cell in row] for row in ws.iter_rows(min_row=4, max_row=3 + len(shown))]
    assert cells == shown
    total = [cell.value for cell in ws[4 + len(shown)]]
    assert total == [value for _key, value in response.context["total"]]
    # every rate is a column, and the base counts
    assert len(headers) == 1 + 1 + 5 + 11


def test_the_page_answers_bad_input_with_a_message(client, month, city):
    client.force_login(city.supervisor)
    for query in [
        {"axis": "planet"},
        {"period": "decade"},
        {"period": "day", "day": "yesterday"},
        {"period": "range", "from": "2026-11-30", "to": "2026-11-01"},
        {"period": "range", "from": "2025-01-01", "to": "2026-11-01"},
        {"sort": "salary"},
    ]:
        response = client.get(reverse(URL), query)
        assert response.status_code == 200 and response.context["error"], query
        assert client.get(reverse(URL), {**query, "format": "xlsx"}).status_code == 200
    response = client.get(
        reverse(URL), {"period": "range", "from": "2026-11-02", "to": "2026-11-02", "axis": "channel"}
    )
    assert {row[0][1] for row in response.context["table"]} == {"12345热线", "网络平台", "小程序/APP"}


def test_the_supervision_columns_on_the_unit_axis(client, month, city):
    client.force_login(city.supervisor)
    response = client.get(reverse(URL), {**QUERY, "axis": "department"})
    keys = [h["key"] for h in response.context["headers"]]
    rows = {row[0][1]: dict(row) for row in response.context["table"]}
    assert rows["八一路街道"]["interview"] == 1 and rows["八一路街道"]["escalated"] == 1
    assert rows["东关大街街道"]["head_signed"] == 1
    assert "urges" in keys


# -- the API ----------------------------------------------------------------------------------


def test_the_stats_api_axis_gives_the_page_rows(month, city):
    api = staff_client(city.leader)
    body = api.get("/api/v1/stats/", {"period": "month", "date": "2026-11-15", "axis": "street"}).json()
    assert (body["start"], body["end"], body["axis"]) == ("2026-11-01", "2026-11-30", "street")
    expected = recount(lambda t: t.street_id)
    got = {row["key"]: row for row in body["rows"]}
    assert set(got) == {None if k is None else str(k) for k in expected}
    assert got[str(city.street.pk)]["counters"]["received"] == expected[city.street.pk]["received"]
    assert got[str(city.street.pk)]["name"] == "东关大街街道"
    category = api.get("/api/v1/stats/", {"period": "month", "date": "2026-11-15", "axis": "category"}).json()
    top = next(row for row in category["rows"] if row["key"] == str(city.construction.pk))
    assert (top["level"], top["counters"]["received"]) == (1, 3)
    for bad in [
        {"axis": "planet"},
        {"period": "decade"},
        {"period": "month", "start": "2026-11-01"},
        {"date": "2026-11-01"},
        {"period": "month", "date": "soon"},
        {"axis": ""},
    ]:
        assert api.get("/api/v1/stats/", bad).status_code == 400, bad
    handler = staff_client(city.handler)
    rows = handler.get("/api/v1/stats/", {"period": "month", "date": "2026-11-15", "axis": "department"}).json()["rows"]
    assert {row["name"] for row in rows} == {"东关大街街道"}


# -- the dashboard ---------------------------------------------------------------------------


def test_the_territory_kpis_equal_the_charts(client, month, city):
    with time_machine.travel(local(2026, 11, 30, 20, 0), tick=False):
        rollups_rebuild(days=40)
        client.force_login(city.leader)
        data = client.get(reverse("admin:dashboard_data"), {"period": "month", "territory": city.street.pk}).json()
        whole = client.get(reverse("admin:dashboard_data"), {"period": "month"}).json()
    located = [
        t for t in Ticket.objects.exclude(state=S.INVALID) if t.street_id == city.street.pk and _in(t.received_at)
    ]
    assert data["territory_meaning"] == "位于东关大街街道的工单"
    assert data["kpis"]["received"] == len(located) == 4  # a, c (the bureau's, located here), d, e
    assert sum(i["value"] for i in data["channels"]) == data["kpis"]["received"]
    assert sum(data["volume"]["values"]) == data["kpis"]["received"]
    assert sum(i["value"] for i in data["categories"]) == data["kpis"]["received"]
    dispatched = [t for t in located if _in(t.first_dispatched_at)]
    assert data["kpis"]["dispatched"] == len(dispatched) == 3
    assert whole["kpis"]["received"] == sum(i["value"] for i in whole["channels"]) == 5
    # supervision on the dashboard: the territory's tickets only
    assert data["supervision"]["total"]["urges"] == 2 and whole["supervision"]["total"]["urges"] == 4
    assert whole["supervision"]["total"]["escalated"] == 1 and data["supervision"]["total"]["escalated"] == 0


def test_one_ranking_threshold_for_the_dashboard_and_the_reports(client, month, city, settings):
    with time_machine.travel(local(2026, 11, 30, 20, 0), tick=False):
        rollups_rebuild(days=40)
        client.force_login(city.leader)
        settings.HOTLINE_METRICS = {**settings.HOTLINE_METRICS, "ranking_min_tickets": 2}
        ranked = client.get(reverse("admin:dashboard_data"), {"period": "month"}).json()
        settings.HOTLINE_METRICS = {**settings.HOTLINE_METRICS, "ranking_min_tickets": 1}
        more = client.get(reverse("admin:dashboard_data"), {"period": "month"}).json()
    dispatched = Counter(t.lead_department.name for t in Ticket.objects.all() if _in(t.first_dispatched_at))
    assert dispatched["东关大街街道"] == 2 and dispatched["住房和城乡建设局"] == 1

    # ranked on 综合得分, which needs callbacks: the street (a) and the bureau (c) have them
    def ranked_by_kind(data):
        return {panel["kind"]: [u["name"] for u in panel["units"]] for panel in data["rankings"]}

    assert ranked_by_kind(ranked) == {"street": ["东关大街街道"]} and ranked["ranking_min_tickets"] == 2
    # a street and a bureau are ranked each against its own kind, never against each other
    assert ranked_by_kind(more) == {"street": ["东关大街街道"], "bureau": ["住房和城乡建设局"]}


# -- the reports -----------------------------------------------------------------------------


def test_the_report_has_category_rates_and_supervision(month, city):
    with time_machine.travel(local(2026, 12, 1, 8, 0), tick=False):
        report, _created = report_build("monthly")
    rows = {row["name"]: row for row in report.data["category_rates"]}
    assert rows["城乡建设"]["counters"]["received"] == 3 and rows["城乡建设"]["level"] == 1
    assert rows["城乡建设 › 供暖"]["counters"]["received"] == 3
    closed_a = rows["城乡建设 › 供暖 › 室温不达标"]  # only ticket a, closed before its deadline in November
    a = month["a"]
    assert _in(a.resolve_due_at) and a.closed_at <= a.resolve_due_at
    assert (closed_a["counters"]["due"], closed_a["rates"]["on_time"], closed_a["rates"]["satisfaction"]) == (
        1,
        1.0,
        1.0,
    )
    assert set(closed_a["rates"]) == {
        "response", "resolution", "satisfaction", "composite", "completion", "on_time",
        "sign_on_time", "return_rate", "extension_rate", "reopen_rate", "avg_handling_hours",
    }  # fmt: skip
    supervision = report.data["supervision"]
    assert supervision["totals"]["urges"] == 4 and supervision["totals"]["interview"] == 1
    assert {u["name"] for u in supervision["units"]} == {"东关大街街道", "八一路街道"}
    wb = load_workbook(io.BytesIO(report_workbook(report)))
    assert {"分类统计", "督办统计"} <= set(wb.sheetnames)
    sheet = wb["督办统计"]
    assert sheet.cell(row=1, column=2).value == "催办合计"
    assert [c.value for c in sheet[sheet.max_row]][:2] == ["合计", 4]
    assert wb["分类统计"].cell(row=2, column=1).value.strip() == "城乡建设"


def test_the_page_is_complete_in_english(client, month, city):
    client.force_login(city.supervisor)
    client.cookies["django_language"] = "en"
    response = client.get(reverse(URL), {**QUERY, "axis": "department"}, HTTP_ACCEPT_LANGUAGE="en")
    assert [str(h["label"]) for h in response.context["headers"]][:3] == ["Units", "Received", "Dispatched"]
    assert "Statistics" in str(response.context["title"]) and "Response rate" in response.content.decode()
