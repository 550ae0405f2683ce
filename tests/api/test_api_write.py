"""The API's write path: a create costs few statements and answers exactly what
a fresh GET of the new ticket shows."""

from django.db import connection
from django.test.utils import CaptureQueriesContext

from tests.api.conftest import key_client, staff_client

TICKETS = "/api/v1/tickets/"
BODY = {
    "category": "010101",
    "content": "东关大街1号院暖气不热，室温14度。",
    "citizen_name": "李先生",
    "citizen_phone": "13912345678",
    "address": "城东区东关大街1号院",
}


def test_a_create_costs_few_statements_and_reads_nothing_back(city, keys, settings):
    settings.REFERENCE_RECHECK_SECONDS = 3600
    client = key_client(keys["app"][1])
    assert client.post(TICKETS, BODY, format="json").status_code == 201  # loads the reference data
    with CaptureQueriesContext(connection) as queries:
        response = client.post(TICKETS, BODY, format="json")
    assert response.status_code == 201, response.content
    sql = [q["sql"] for q in queries.captured_queries]
    # The key, the number, the ticket, its history row, its event (and a savepoint pair).
    assert len(sql) <= 7, sql
    assert not [q for q in sql if q.startswith("SELECT") and "cases_ticket" in q.split("FROM")[1][:20]], sql


def test_the_create_response_equals_a_fresh_get(city, keys):
    client = key_client(keys["app"][1])
    created = client.post(TICKETS, {**BODY, "grid": "G-DG-01"}, format="json")
    assert created.status_code == 201, created.content
    fetched = client.get(f"{TICKETS}{created.json()['number']}/")
    assert fetched.status_code == 200
    assert created.json() == fetched.json()
    assert created.json()["place"]["grid"] == "G-DG-01"
    assert created.json()["category"]["name"] == "城乡建设 › 供暖 › 室温不达标"


def test_a_staff_create_response_equals_a_fresh_get(city):
    client = staff_client(city.operator)
    created = client.post(TICKETS, {**BODY, "address": "八一中路5号"}, format="json")
    assert created.status_code == 201, created.content
    fetched = client.get(f"{TICKETS}{created.json()['number']}/")
    assert created.json() == fetched.json()
    assert created.json()["place"]["community"]["name"] == "八一社区"


def test_an_inactive_or_unknown_code_is_refused(city, keys):
    client = key_client(keys["app"][1])
    city.noise.is_active = False
    city.noise.save()
    for body in ({**BODY, "category": "0201"}, {**BODY, "category": "9999"}, {**BODY, "category": 7}):
        response = client.post(TICKETS, body, format="json")
        assert response.status_code == 400 and "category" in response.json(), response.content
    city.grid.is_active = False
    city.grid.save()
    response = client.post(TICKETS, {**BODY, "grid": "G-DG-01"}, format="json")
    assert response.status_code == 400 and "grid" in response.json()
