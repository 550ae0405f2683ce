"""Rework and return reasons per unit (reports/reasons.py, the 统计分析 page):
every number recounted here from the raw event rows."""

from collections import Counter
from datetime import date

import pytest
import time_machine
from django.urls import reverse

from cases import workflow
from cases.models import ReasonCode, TicketEvent, TicketState
from reports.metrics import Period
from reports.reasons import reason_counts, reason_table
from tests.conftest import drive, local, new_ticket

S = TicketState
K = TicketEvent.Kind
NOVEMBER = Period.month(date(2026, 11, 1))
START, END = local(2026, 11, 1, 0, 0), local(2026, 12, 1, 0, 0)


def code(kind, slug):
    return ReasonCode.objects.get(kind=kind, code=slug)


@pytest.fixture
def month(city):
    c = city
    rework = ReasonCode.Kind.REWORK
    with time_machine.travel(local(2026, 11, 2, 9, 0), tick=False) as clock:
        a = drive(c, new_ticket(c), S.REVIEWING)
        a = workflow.ticket_rework(ticket=a, actor=c.dispatcher, reason="…", reason_code=code(rework, "evasive"))
        a = drive(c, a, S.REVIEWING)
        workflow.ticket_rework(ticket=a, actor=c.dispatcher, reason="…", reason_code=code(rework, "off_topic"))
        b = drive(c, new_ticket(c), S.REVIEWING)
        workflow.ticket_rework(ticket=b, actor=c.dispatcher, reason="…")  # no code (the API, old rows)
        d = drive(c, new_ticket(c, address="八一中路3号"), S.REVIEWING, lead=c.street2)
        workflow.ticket_rework(ticket=d, actor=c.dispatcher, reason="…", reason_code=code(rework, "evasive"))
        e = drive(c, new_ticket(c), S.HANDLING)
        workflow.ticket_return_request(
            ticket=e, actor=c.handler, reason="…", reason_code=code(ReasonCode.Kind.RETURN, "wrong_address")
        )
        clock.move_to(local(2026, 12, 1, 10, 0))  # December: outside the period
        f = drive(c, new_ticket(c), S.REVIEWING)
        workflow.ticket_rework(ticket=f, actor=c.dispatcher, reason="…", reason_code=code(rework, "evasive"))
    return c


def recount(units=None):
    kinds = {K.REWORK: ReasonCode.Kind.REWORK, K.RETURN_REQUESTED: ReasonCode.Kind.RETURN}
    counted = Counter()
    for event in TicketEvent.objects.filter(kind__in=kinds).select_related("ticket"):
        inside = START <= event.created_at < END and event.ticket.state != S.INVALID
        if inside and (units is None or event.unit_id in units):
            counted[(event.unit_id, kinds[event.kind], event.reason_code_id)] += 1
    return dict(counted)


def test_reason_counts_equal_a_recount_of_the_events(month):
    c = month
    counts = reason_counts(NOVEMBER)
    assert counts == recount()
    evasive = code(ReasonCode.Kind.REWORK, "evasive").pk
    assert counts[(c.street.pk, ReasonCode.Kind.REWORK, evasive)] == 1
    assert counts[(c.street.pk, ReasonCode.Kind.REWORK, None)] == 1
    assert counts[(c.street2.pk, ReasonCode.Kind.REWORK, evasive)] == 1
    assert sum(counts.values()) == 5  # December's rework is not in November


def test_the_table_has_a_row_per_unit_and_its_totals(month):
    c = month
    table = reason_table(NOVEMBER)
    rows = {row.unit_id: row for row in table.rows}
    assert set(rows) == {c.street.pk, c.street2.pk}
    street = rows[c.street.pk]
    assert street.total(ReasonCode.Kind.REWORK) == 3 and street.total(ReasonCode.Kind.RETURN) == 1
    labels = [label for _code, label in table.columns[ReasonCode.Kind.REWORK]]
    assert labels[:3] == ["避重就轻", "推诿扯皮", "答非所问"] and str(labels[-1]) == "未注明"
    width = sum(len(codes) + 1 for codes in table.columns.values())
    assert all(len(row.cells) == width for row in table.rows)
    assert sum(street.cells) == 3 + 1 + 3 + 1  # each count once, each total once


def test_a_unit_sees_only_its_own_rows(month):
    c = month
    units = [c.street.pk, c.community.pk, c.community_b.pk]
    assert reason_counts(NOVEMBER, units=units) == recount(set(units))
    assert {row.unit_id for row in reason_table(NOVEMBER, units=units).rows} == {c.street.pk}


def test_the_statistics_page_shows_the_breakdown_in_scope(client, month):
    c = month
    query = "?axis=department&period=month&day=2026-11-15"
    client.force_login(c.dispatcher)
    page = client.get(reverse("admin:statistics") + query).content.decode()
    assert 'id="reason-table"' in page and "避重就轻" in page and "地址错误" in page
    assert f'data-unit="{c.street2.pk}"' in page
    client.force_login(c.handler)
    page = client.get(reverse("admin:statistics") + query).content.decode()
    assert f'data-unit="{c.street.pk}"' in page and f'data-unit="{c.street2.pk}"' not in page
