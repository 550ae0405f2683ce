"""The ticket list's search and filters, and the ledger that rebuilds the list from
its query string (``cases.selectors.tickets``)."""

import csv
import io

import pytest
import time_machine
from openpyxl import load_workbook

from cases.ledger import ledger_header
from cases.models import TicketState
from cases.selectors.tickets import search_term, ticket_list_filtered
from reports.export_jobs import export_create
from reports.exports import export_run
from tests.conftest import drive, local, new_ticket

S = TicketState
CHANGELIST = "/admin/cases/ticket/"


@pytest.fixture
def tickets(city):
    """One closed ticket of 20 Nov, and open ones of 23 Nov."""
    with time_machine.travel(local(2026, 11, 20, 9, 0), tick=False):
        closed = drive(city, new_ticket(city, citizen_phone="13912345678"), S.CLOSED)
    with time_machine.travel(local(2026, 11, 23, 9, 0), tick=False):
        handling = drive(city, new_ticket(city), S.HANDLING)
        received = new_ticket(city, content="北小街路灯不亮", citizen_phone="09718123456")
    return closed, handling, received


def _listed(client, user, params) -> set[str]:
    client.force_login(user)
    response = client.get(f"{CHANGELIST}?{params}") if isinstance(params, str) else client.get(CHANGELIST, params)
    assert response.status_code == 200
    return {t.number for t in response.context_data["cl"].result_list}


@pytest.mark.parametrize(
    "term",
    [
        lambda closed: closed.number,  # the exact number
        lambda closed: "13912345678",  # the full phone
        lambda closed: "5678",  # its last four digits
    ],
    ids=["number", "phone", "last4"],
)
def test_a_search_for_a_number_or_phone_finds_the_closed_ticket(client, city, tickets, term):
    closed, _handling, _received = tickets
    assert _listed(client, city.dispatcher, {"q": term(closed)}) == {closed.number}


def test_a_word_search_and_the_plain_list_stay_on_open_tickets(client, city, tickets):
    closed, handling, received = tickets
    assert _listed(client, city.dispatcher, {}) == {handling.number, received.number}
    assert _listed(client, city.dispatcher, {"q": "暖气"}) == {handling.number}
    assert _listed(client, city.dispatcher, {"q": "暖气", "state": "all"}) == {closed.number, handling.number}


def test_an_eight_digit_day_finds_that_days_tickets(client, city, tickets):
    closed, handling, received = tickets
    assert search_term("20261123").kind == "day"
    assert _listed(client, city.dispatcher, {"q": "20261123"}) == {handling.number, received.number}
    assert _listed(client, city.dispatcher, {"q": "20261120", "state": "all"}) == {closed.number}
    # Eight digits that are no date are a landline number.
    assert search_term("81234567").kind == "phone"


@pytest.mark.parametrize(
    "query",
    [
        "",
        "state=all",
        "state=handling",
        "q=5678",
        "q=暖气",
        "q=20261123",
        "queue=to_dispatch",
        "received_from=2026-11-23&received_to=2026-11-23&state=all",
        "urgency__exact=normal&channel__exact=hotline",
        "overdue=closed",
    ],
)
def test_the_ledger_selector_rebuilds_exactly_the_list(client, city, tickets, query):
    listed = _listed(client, city.dispatcher, query)
    rebuilt = {t.number for t in ticket_list_filtered(user=city.dispatcher, params=query)}
    assert rebuilt == listed


def test_both_ledger_exports_write_the_same_masked_rows(client, city, tickets, django_capture_on_commit_callbacks):
    closed, _handling, _received = tickets
    client.force_login(city.dispatcher)
    response = client.post(
        CHANGELIST + "?state=all",
        {"action": "export_csv", "_selected_action": [closed.pk]},
    )
    csv_rows = list(csv.reader(io.StringIO(b"".join(response.streaming_content).decode("utf-8-sig"))))
    job = export_create(user=city.dispatcher, query=f"q={closed.number}")
    job = export_run(job.pk)
    sheet = load_workbook(job.file.path).active
    xlsx_rows = [["" if v is None else str(v) for v in row] for row in sheet.iter_rows(values_only=True)]
    assert csv_rows[0] == xlsx_rows[0] == ledger_header()
    assert csv_rows[1:] == xlsx_rows[1:]
    assert len(xlsx_rows) == 2 and xlsx_rows[1][0] == closed.number
    assert "139****5678" in xlsx_rows[1] and "13912345678" not in xlsx_rows[1]
