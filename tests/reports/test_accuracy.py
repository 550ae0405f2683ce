"""派单准确率: the numbers equal a recomputation from the raw timeline (written
here, without ``reports.accuracy`` and without the ``dispatch`` fact column), on
every axis and period; the page is the centre's, scoped; the 统计分析 page, its
Excel export and the stored reports carry the same table."""

from collections import defaultdict
from datetime import date, timedelta
from io import BytesIO

import pytest
import time_machine
from django.db import transaction
from django.urls import reverse
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st
from openpyxl import load_workbook

from cases import workflow
from cases.clock import local_day
from cases.models import InvalidKind, TicketEvent, TicketState
from cases.workflow import WorkflowError, WorkflowPermissionError
from departments.roles import Role
from reports.accuracy import ACCURACY_AXES, accuracy_table
from reports.excel import report_workbook
from reports.metrics import Period
from reports.reporting import report_build
from reports.rollups import dispatch_counts_rolled, rollups_rebuild
from tests.conftest import drive, local, new_ticket
from tests.departments.factories import staff

K = TicketEvent.Kind
S = TicketState


def recompute(start, end) -> dict:
    """``{axis: {key: (dispatched, returned, objected, off_catalogue)}}`` from the
    events in timeline order: a return approved or an objection upheld undoes the
    dispatch the ticket was last given."""
    result = {axis: defaultdict(lambda: [0, 0, 0, 0]) for axis in ACCURACY_AXES}
    current = {}
    events = TicketEvent.objects.select_related("ticket").order_by("ticket_id", "created_at", "pk")
    for event in events:
        ticket = event.ticket
        if ticket.state == S.INVALID:
            continue
        keys = {"dispatcher": event.actor_id, "centre": event.actor_department_id, "category": ticket.category_id}
        if event.kind == K.DISPATCHED:
            current[ticket.pk] = (keys, start <= event.created_at < end)
            if start <= event.created_at < end:
                for axis, key in keys.items():
                    result[axis][key][0] += 1
                    result[axis][key][3] += bool((event.data or {}).get("off_catalogue"))
        elif event.kind in (K.RETURN_APPROVED, K.OBJECTION_UPHELD):
            dispatched_keys, within = current.pop(ticket.pk)
            if within:
                for axis, key in dispatched_keys.items():
                    result[axis][key][1 if event.kind == K.RETURN_APPROVED else 2] += 1
    return {axis: {k: tuple(v) for k, v in rows.items()} for axis, rows in result.items()}


ACTIONS = ["dispatch", "dispatch_off", "return", "objection_upheld", "objection_rejected", "invalidate", "wait"]
steps = st.lists(
    st.tuples(
        st.sampled_from([*ACTIONS, "dispatch", "return", "objection_upheld"]),
        st.integers(min_value=0, max_value=2),  # which ticket
        st.integers(min_value=0, max_value=3),  # which unit / dispatcher / how long
    ),
    min_size=1,
    max_size=25,
)


def _act(c, dispatchers, t, action, n):
    units = [c.street, c.street2, c.bureau, c.utility]
    handlers = {c.street.pk: c.handler, c.street2.pk: c.handler2, c.bureau.pk: c.bureau_handler}
    handlers[c.utility.pk] = c.utility_handler
    t.refresh_from_db()
    if action in ("dispatch", "dispatch_off"):
        department = c.community if action == "dispatch_off" else units[n]
        reason = "先行处置" if action == "dispatch_off" or n % 2 else ""
        workflow.ticket_dispatch(ticket=t, actor=dispatchers[n % 2], department=department, catalogue_reason=reason)
    elif action == "invalidate":
        workflow.ticket_invalidate(ticket=t, actor=c.operator, kind=InvalidKind.HARASSMENT, reason="骚扰")
    elif t.lead_department_id is not None:
        handler = handlers.get(t.lead_department_id, c.community_handler)
        if action == "return":
            workflow.ticket_return_request(ticket=t, actor=handler, reason="非本单位职责")
            workflow.ticket_return_approve(ticket=t, actor=dispatchers[n % 2])
        else:
            workflow.ticket_objection_request(ticket=t, actor=handler, reason="属职能部门职责")
            if action == "objection_upheld":
                workflow.ticket_objection_uphold(ticket=t, actor=dispatchers[n % 2])
            else:
                workflow.ticket_objection_reject(ticket=t, actor=dispatchers[n % 2], reason="属地负责")


@settings(max_examples=25, deadline=None, suppress_health_check=[HealthCheck.function_scoped_fixture])
@given(steps=steps)
def test_accuracy_equals_the_record(city, steps):
    city.heating.receiver_kinds = ["street", "bureau", "company"]  # 室温不达标 inherits it
    city.heating.save()
    start = local(2026, 10, 31, 22, 0)
    with time_machine.travel(start, tick=False) as clock, transaction.atomic():
        dispatchers = [city.dispatcher, staff(Role.DISPATCHER, city.district, "dispatcher_district")]
        tickets = [new_ticket(city), new_ticket(city, category=city.noise), new_ticket(city, category=city.consult)]
        for action, which, n in steps:
            if action == "wait":
                clock.shift(timedelta(hours=(n + 1) ** 3))
                continue
            try:
                with transaction.atomic():
                    _act(city, dispatchers, tickets[which], action, n)
            except (WorkflowError, WorkflowPermissionError):
                pass
            clock.shift(timedelta(minutes=37))
        first, last = local_day(start), local_day()
        rollups_rebuild(days=(last - first).days + 2)
        for period in (Period(first, last + timedelta(days=1)), Period.month(first), Period.day(last)):
            begin, finish = period.bounds
            expected = recompute(begin, finish)
            for axis in ACCURACY_AXES:
                table = accuracy_table(period, axis=axis)
                got = {r.key: (r.dispatched, r.returned, r.objected, r.off_catalogue) for r in table.rows}
                assert got == expected[axis], (period, axis)
                rolled = accuracy_table(period, axis=axis, counted=dispatch_counts_rolled(period))
                got = {r.key: (r.dispatched, r.returned, r.objected, r.off_catalogue) for r in rolled.rows}
                assert got == expected[axis], ("from the rollups", period, axis)
                totals = [sum(v[i] for v in expected[axis].values()) for i in range(4)]
                total = table.total
                assert [total.dispatched, total.returned, total.objected, total.off_catalogue] == totals
                for row in table.rows:
                    assert row.accurate == row.dispatched - row.returned - row.objected >= 0
        transaction.set_rollback(True)


# -- the page, the statistics table, the reports ---------------------------------------------


@pytest.fixture
def november(city):
    """Two dispatches by the centre in November: one undone by a return, one by an
    upheld objection; one by a district dispatcher that stayed; one in October."""
    city.dispatcher_district = staff(Role.DISPATCHER, city.district, "dispatcher_district")
    with time_machine.travel(local(2026, 10, 30, 9, 0), tick=False):
        drive(city, new_ticket(city), S.DISPATCHED)
    with time_machine.travel(local(2026, 11, 23, 9, 0), tick=False):
        returned = drive(city, new_ticket(city), S.DISPATCHED)
        workflow.ticket_return_request(ticket=returned, actor=city.handler, reason="非本单位职责")
        workflow.ticket_return_approve(ticket=returned, actor=city.dispatcher)
        objected = drive(city, new_ticket(city), S.DISPATCHED)
        workflow.ticket_objection_request(ticket=objected, actor=city.handler, reason="属职能部门职责")
        workflow.ticket_objection_uphold(ticket=objected, actor=city.dispatcher)
        workflow.ticket_dispatch(ticket=new_ticket(city), actor=city.dispatcher_district, department=city.street)
    return city


PERIOD = {"period": "month", "day": "2026-11-23"}


def test_the_page_per_dispatcher_and_per_dispatching_unit(client, november):
    c = november
    client.force_login(c.supervisor)
    url = reverse("admin:dispatch_accuracy")
    page = client.get(url, PERIOD).content.decode()
    # 李建国: 2 dispatches, 1 returned, 1 objected, 0 accurate; the district's: 1 of 1.
    assert "<td>李建国</td><td>2</td><td>1</td><td>1</td><td>0</td><td>0.0%</td><td>0</td>" in page
    assert "<th>合计</th><th>3</th><th>1</th><th>1</th><th>1</th><th>33.3%</th><th>0</th>" in page
    page = client.get(url, {**PERIOD, "axis": "centre"}).content.decode()
    assert "<td>城东区</td><td>1</td><td>0</td><td>0</td><td>1</td><td>100.0%</td>" in page
    assert "<td>12345热线中心</td><td>2</td>" in page
    page = client.get(url, {**PERIOD, "axis": "category"}).content.decode()
    assert "城乡建设 › 供暖 › 室温不达标" in page
    bad = client.get(url, {"axis": "nonsense"})
    assert bad.status_code == 200 and 'id="accuracy-error"' in bad.content.decode()


def test_the_page_exports_what_it_shows(client, november):
    client.force_login(november.dispatcher)
    response = client.get(reverse("admin:dispatch_accuracy"), {**PERIOD, "format": "xlsx"})
    sheet = load_workbook(BytesIO(response.content))["派单准确率"]
    rows = [[cell.value for cell in row] for row in sheet.iter_rows(min_row=3)]
    assert rows[0][:7] == ["派单员", "派单量", "退单（同意）", "异议成立", "准确派单", "派单准确率", "目录外派单"]
    assert rows[-1][:6] == ["合计", 3, 1, 1, 1, pytest.approx(1 / 3)]


@pytest.mark.parametrize("who", ["handler", "head", "gridworker"])
def test_units_do_not_get_the_page(client, november, who):
    client.force_login(getattr(november, who))
    assert client.get(reverse("admin:dispatch_accuracy")).status_code == 403
    assert 'id="accuracy-link"' not in client.get("/admin/").content.decode()


def test_the_statistics_page_and_its_export_carry_the_table(client, november):
    client.force_login(november.dispatcher)
    assert 'id="accuracy-link"' in client.get("/admin/").content.decode()
    page = client.get(reverse("admin:statistics"), PERIOD).content.decode()
    assert 'id="accuracy-table"' in page and "<td>12345热线中心</td><td>2</td>" in page
    book = load_workbook(BytesIO(client.get(reverse("admin:statistics"), {**PERIOD, "format": "xlsx"}).content))
    assert "派单准确率" in book.sheetnames
    client.force_login(november.handler)  # a unit sees its rates, not the centre's dispatching
    assert 'id="accuracy-table"' not in client.get(reverse("admin:statistics"), PERIOD).content.decode()


def test_the_monthly_report_keeps_the_table(november):
    with time_machine.travel(local(2026, 12, 1, 7, 0), tick=False):
        report, _created = report_build("monthly", day=date(2026, 11, 15))
    accuracy = report.data["dispatch_accuracy"]
    assert (accuracy["total"]["dispatched"], accuracy["total"]["accurate"]) == (3, 1)
    assert {row["name"]: row["dispatched"] for row in accuracy["centre"]} == {"12345热线中心": 2, "城东区": 1}
    sheet = load_workbook(BytesIO(report_workbook(report)))["派单准确率"]
    assert [cell.value for cell in sheet[1]][:2] == ["派单单位", "派单量"]
