"""Keyword search of content and address through its index (cases.selectors.search):
always exactly the tickets whose content or address contains the term, recomputed
here from the raw rows with Python's ``in``; on SQLite (FTS5 trigram) and on
PostgreSQL (GIN on the bigrams, the planner made to use it)."""

import re

import pytest
from django.db import connection
from django.db.models import Q
from django.test.utils import CaptureQueriesContext
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

from cases.admin.tickets import CappedCountPaginator
from cases.api_keys import api_key_issue
from cases.models import ApiKey, Channel, Ticket, TicketState
from cases.selectors.search import (
    FTS_REBUILD,
    FTS_TABLE,
    FTS_TRIGGERS,
    ensure_keyword_index,
    keyword_filter,
    missing_fts_triggers,
)
from cases.selectors.tickets import ticket_list_filtered
from tests.api.conftest import key_client
from tests.api.test_api import TICKETS
from tests.conftest import drive, new_ticket

CHANGELIST = "/admin/cases/ticket/"

# A small alphabet, so that random terms often hit; a Latin letter in both cases
# (icontains folds case) and a LIKE wildcard (icontains escapes it).
ALPHABET = "东关大街暖气不热路灯号院aA%_ "
text = st.text(alphabet=ALPHABET, max_size=12)
term = st.text(alphabet=ALPHABET, min_size=1, max_size=4)
ROWS = 6


@pytest.fixture
def rows(city):
    return [new_ticket(city).pk for _ in range(ROWS)]


def _expected(term: str) -> set[int]:
    folded = term.casefold()
    return {
        pk
        for pk, content, address in Ticket.objects.values_list("pk", "content", "address")
        if folded in content.casefold() or folded in address.casefold()
    }


def _write(rows, texts):
    # .update(): the SQLite trigger on UPDATE keeps the FTS table, as the workflow's saves do.
    for pk, (content, address) in zip(rows, texts, strict=True):
        Ticket.objects.filter(pk=pk).update(content=content, address=address)


def _found(term: str) -> set[int]:
    return set(keyword_filter(Ticket.objects.all(), term).values_list("pk", flat=True))


texts = st.lists(st.tuples(text, text), min_size=ROWS, max_size=ROWS)


@settings(max_examples=60, deadline=None, suppress_health_check=[HealthCheck.function_scoped_fixture])
@given(texts=texts, term=term)
def test_the_indexed_search_finds_exactly_the_rows_that_contain_the_term(rows, texts, term):
    _write(rows, texts)
    if connection.vendor == "postgresql":
        with connection.cursor() as cursor:  # a handful of rows: the planner would scan the table
            cursor.execute("SET LOCAL enable_seqscan = off")
    assert _found(term) == _expected(term)


@pytest.mark.postgres
def test_on_postgresql_the_planner_answers_from_the_bigram_index(rows):
    with connection.cursor() as cursor:
        cursor.execute("SET LOCAL enable_seqscan = off")
        # Unordered: the question is what finds the rows; with the list's order on six
        # rows the planner may walk the received_at index and filter instead.
        sql, params = keyword_filter(Ticket.objects.all(), "暖气").order_by().values("pk").query.sql_with_params()
        cursor.execute(f"EXPLAIN {sql}", params)
        plan = "\n".join(row[0] for row in cursor.fetchall())
    assert "ticket_keyword_bigrams" in plan, plan


@pytest.mark.postgres
def test_on_postgresql_a_row_and_a_term_are_cut_into_the_same_upper_case_bigrams(db):
    with connection.cursor() as cursor:
        cursor.execute("SELECT cases_term_bigrams('西大街'), cases_term_bigrams('aA'), cases_term_bigrams('暖')")
        assert cursor.fetchone() == (["西大", "大街"], ["AA"], [])
        cursor.execute("SELECT cases_bigrams('暖气', '东关')")
        assert cursor.fetchone() == (["暖气", "气\n", "\n东", "东关"],)


@pytest.mark.skipif(connection.vendor != "sqlite", reason="the FTS5 table is SQLite's")
def test_on_sqlite_three_characters_ask_the_fts_table_and_two_do_not(rows):
    with CaptureQueriesContext(connection) as three:
        list(keyword_filter(Ticket.objects.all(), "东关大"))
    with CaptureQueriesContext(connection) as two:
        list(keyword_filter(Ticket.objects.all(), "暖气"))
    assert FTS_TABLE in three.captured_queries[-1]["sql"]
    assert FTS_TABLE not in two.captured_queries[-1]["sql"]


@pytest.mark.skipif(connection.vendor != "sqlite", reason="the FTS5 triggers are SQLite's")
def test_the_fts_triggers_are_there_after_all_migrations(db):
    """A migration that rebuilds cases_ticket (an AlterField on SQLite) drops them."""
    assert missing_fts_triggers() == []


@pytest.mark.skipif(connection.vendor != "sqlite", reason="the FTS5 triggers are SQLite's")
def test_dropped_triggers_are_detected_and_put_back_with_the_rows_changed_meanwhile(rows):
    with connection.cursor() as cursor:
        for name in FTS_TRIGGERS:
            cursor.execute(f"DROP TRIGGER {name}")
    assert sorted(missing_fts_triggers()) == sorted(FTS_TRIGGERS)
    Ticket.objects.filter(pk=rows[0]).update(content="西大街路灯不亮")  # unseen by the FTS table
    assert sorted(ensure_keyword_index()) == sorted(FTS_TRIGGERS)
    assert missing_fts_triggers() == []
    assert _found("西大街") == {rows[0]}
    Ticket.objects.filter(pk=rows[1]).update(address="西大街12号")  # the triggers work again
    assert _found("西大街") == {rows[0], rows[1]}
    with connection.cursor() as cursor:
        cursor.execute(FTS_REBUILD)  # and a rebuild agrees with them
    assert _found("西大街") == {rows[0], rows[1]}


# -- the doors: the admin's search box, the API's q, the ledger ---------------------------


@pytest.fixture
def streets(city):
    """A ticket of each street that mentions 西大街, and one that does not."""
    mine = drive(city, new_ticket(city, content="西大街路灯不亮"), TicketState.HANDLING)
    theirs = drive(city, new_ticket(city, address="西大街8号"), TicketState.HANDLING, lead=city.street2)
    other = drive(city, new_ticket(city), TicketState.HANDLING)
    return mine, theirs, other


def _listed(client, user, query) -> set[str]:
    client.force_login(user)
    response = client.get(CHANGELIST, {"q": query})
    assert response.status_code == 200
    return {t.number for t in response.context_data["cl"].result_list}


def test_the_admin_search_box_finds_by_keyword_within_the_users_scope(client, city, streets):
    mine, theirs, _other = streets
    assert _listed(client, city.dispatcher, "西大街") == {mine.number, theirs.number}
    assert _listed(client, city.handler, "西大街") == {mine.number}  # a street sees only its own
    assert _listed(client, city.handler2, "西大街") == {theirs.number}
    assert _listed(client, city.handler2, "路灯不亮") == set()


def test_the_ledger_rebuilds_the_keyword_list_within_scope(city, streets):
    mine, _theirs, _other = streets
    found = ticket_list_filtered(user=city.handler, params="q=西大街&state=all")
    assert {t.number for t in found} == {mine.number}


def test_the_api_q_searches_content_and_address(city):
    _key, raw = api_key_issue(name="app", purpose=ApiKey.Purpose.CHANNEL, channel=Channel.APP)
    client = key_client(raw)
    made = [client.post(TICKETS, _body(c), format="json").json()["number"] for c in ("西大街路灯不亮", "夜间施工噪声")]

    def found(q):
        return [t["number"] for t in client.get(TICKETS, {"q": q}).json()["results"]]

    assert found("西大街") == found("大街路") == [made[0]]
    assert found("施工") == [made[1]]
    assert found("北小街") == []
    assert client.get(TICKETS, {"q": ""}).status_code == 400


def _body(content):
    return {
        "category": "010101",
        "content": content,
        "citizen_name": "王女士",
        "citizen_phone": "13800001234",
        "address": "城东区东关大街1号院",
    }


def test_one_character_and_latin_terms_still_work(rows):
    Ticket.objects.filter(pk=rows[0]).update(content="Wifi信号差")
    assert _found("wIFI") == {rows[0]}
    assert _found("信") == {rows[0]}
    assert keyword_filter(Ticket.objects.all(), "差").filter(~Q(pk=rows[0])).count() == 0


def test_a_keyword_search_counts_to_a_lower_cap_and_says_so(client, city, streets, monkeypatch):
    monkeypatch.setattr(CappedCountPaginator, "KEYWORD_CAP", 2)
    client.force_login(city.dispatcher)
    cl = client.get(CHANGELIST, {"q": "东关", "state": "all"}).context_data["cl"]  # all three mention it
    assert (cl.paginator.count, cl.paginator.capped) == (2, True)
    page = client.get(CHANGELIST, {"q": "东关", "state": "all"}).content.decode()
    [note] = re.findall(r'<p class="help capped-count">([^<]*)</p>', page)
    assert re.findall(r"\d+", note) == ["2", "2"], note
    cl = client.get(CHANGELIST, {"state": "all"}).context_data["cl"]  # no keyword: the usual cap
    assert (cl.paginator.count, cl.paginator.capped) == (3, False)
    cl = client.get(CHANGELIST, {"q": "西大街", "state": "all"}).context_data["cl"]
    assert (cl.paginator.count, cl.paginator.capped) == (2, False)


def test_a_long_term_asks_the_index_about_its_start_and_rechecks_the_whole(rows):
    start = "东关大街" * 10  # 40 characters: longer than the index is asked about
    Ticket.objects.filter(pk=rows[0]).update(content=start + "1号院暖气不热")
    Ticket.objects.filter(pk=rows[1]).update(content=start + "2号院暖气不热")
    assert _found(start + "1号院") == {rows[0]}
    assert _found(start) == {rows[0], rows[1]}
    assert _found("长" * 10_000) == set()
