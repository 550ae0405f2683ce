"""The reports cut per sub-centre (分中心): the statistics page's 分中心 filter for
the hotline centre, a sub-centre's staff held to their subtree — each number
recounted here from the raw rows (the events' fact units, walked up the tree by
hand)."""

from collections import Counter
from datetime import date

import pytest
import time_machine
from django.test import Client
from django.urls import reverse

from cases import workflow
from cases.models import Ticket, TicketEvent, TicketState
from cases.selectors.scope import stats_units_cut
from departments.models import Department
from reports.axes import axis_table
from reports.metrics import Period
from tests.conftest import add_subcentres, drive, local, new_ticket

S = TicketState
K = TicketEvent.Kind
NOVEMBER = Period.month(date(2026, 11, 1))
START, END = local(2026, 11, 1, 0, 0), local(2026, 12, 1, 0, 0)


@pytest.fixture
def month(city):
    c = add_subcentres(city)
    with time_machine.travel(local(2026, 11, 2, 9, 0), tick=False):
        drive(c, new_ticket(c), S.CLOSED)  # the city's, 东关 (城东区)
        drive(c, new_ticket(c, address="八一中路3号"), S.HANDLING, lead=c.street2)  # 城东区
        drive(c, new_ticket(c, address=""), S.CLOSED, lead=c.bureau)  # no sub-centre's
        own = workflow.ticket_transfer(ticket=new_ticket(c), actor=c.dispatcher, centre=c.district)
        own = workflow.ticket_centre_sign(ticket=own, actor=c.sub_dispatcher)
        own = drive(c, workflow.ticket_dispatch(ticket=own, actor=c.sub_dispatcher, department=c.street), S.REVIEWING)
        workflow.ticket_approve(ticket=own, actor=c.sub_dispatcher)
        west = workflow.ticket_transfer(ticket=new_ticket(c, address=""), actor=c.dispatcher, centre=c.district_w)
        west = workflow.ticket_centre_sign(ticket=west, actor=c.west_dispatcher)
        workflow.ticket_dispatch(ticket=west, actor=c.west_dispatcher, department=c.street_w)
    return c


def _under(unit_id, root) -> bool:
    """Whether a unit lies in ``root``'s subtree, by walking its parents."""
    unit = Department.objects.get(pk=unit_id) if unit_id else None
    while unit is not None:
        if unit.pk == root.pk:
            return True
        unit = unit.parent
    return False


def recount(root) -> Counter:
    counts = Counter()
    for e in TicketEvent.objects.filter(created_at__gte=START, created_at__lt=END):
        if root is None or _under(e.unit_id, root):
            counts["dispatched"] += e.kind == K.DISPATCHED
            counts["closed"] += e.kind in (K.APPROVED, K.ANSWERED, K.REOPEN_OVERRULED)
    for t in Ticket.objects.filter(received_at__gte=START, received_at__lt=END):
        counts["received"] += root is None or _under(t.lead_department_id, root)
    return counts


def _total(units) -> Counter:
    c = axis_table(NOVEMBER, axis="department", units=units).total_row().counters
    return Counter({"dispatched": c.dispatched, "closed": c.closed, "received": c.received})


def test_the_city_cuts_its_numbers_per_sub_centre(month):
    c = month
    east, west = recount(c.district), recount(c.district_w)
    assert (east["dispatched"], east["closed"], west["dispatched"], west["closed"]) == (3, 2, 1, 0)
    assert _total(stats_units_cut(c.dispatcher, str(c.district.pk))) == east
    assert _total(stats_units_cut(c.dispatcher, str(c.district_w.pk))) == west
    assert _total(stats_units_cut(c.dispatcher, "")) == recount(None)  # uncut: the whole city
    assert stats_units_cut(c.dispatcher, str(c.street.pk)) is None  # not a sub-centre: uncut
    assert stats_units_cut(c.dispatcher, "abc") is None


def test_a_sub_centres_staff_get_their_subtree_named_or_not(month):
    c = month
    east = recount(c.district)
    for person in (c.sub_dispatcher, c.sub_supervisor, c.sub_leader):
        assert _total(stats_units_cut(person, "")) == east
        assert _total(stats_units_cut(person, str(c.district.pk))) == east
        assert stats_units_cut(person, str(c.district_w.pk)) == []  # another sub-centre: nothing


def _client(user) -> Client:
    client = Client()
    client.force_login(user)
    return client


def test_the_statistics_page_offers_the_cut_to_the_city_only(month):
    c = month
    url = reverse("admin:statistics")
    query = {"axis": "department", "period": "month", "day": "2026-11-15"}
    page = _client(c.dispatcher).get(url, {**query, "centre": c.district.pk})
    assert page.status_code == 200 and 'name="centre"' in page.content.decode()
    names = {str(row[0][1]) for row in page.context["table"]}
    assert names and names <= {d.name for d in c.district.descendants()}
    sub = _client(c.sub_dispatcher).get(url, query)
    assert sub.status_code == 200 and 'name="centre"' not in sub.content.decode()
    assert {str(row[0][1]) for row in sub.context["table"]} == names
    assert _client(c.sub_dispatcher).get(url, {**query, "centre": c.district_w.pk}).status_code == 403
