"""History that can grow (issue 22): the partitioned timeline and history
(``cases.partitions``), the archive of closed years (``cases.archive``,
``manage.py archive_history``), and every ticket's record readable afterwards.

The counts here are read with plain SQL from both tables, apart from the code
under test."""

from datetime import datetime
from io import StringIO
from zoneinfo import ZoneInfo

import pytest
import time_machine
from django.core.management import CommandError, call_command
from django.db import connection
from django.urls import reverse
from rest_framework.test import APIClient

from cases import partitions
from cases.archive import ARCHIVED_PERIOD, ArchivedPeriod, archive_boundary
from cases.models import HistoryArchive, TicketEvent, TicketState
from cases.selectors.tickets import ticket_timeline
from cases.tasks import ensure_partitions
from reports.metrics import Period, counters_from_rollups, counters_live
from reports.rollups import rollups_rebuild
from tests.conftest import drive, local, new_ticket

SHANGHAI = ZoneInfo("Asia/Shanghai")
PG = pytest.mark.postgres


def on_postgres():
    return connection.vendor == "postgresql"


def sql(query, params=()):
    with connection.cursor() as cursor:
        cursor.execute(query, params or None)
        return cursor.fetchall() if cursor.description else None


def per_ticket(table, column):
    """{ticket id: rows} of ``table`` and its archive, by plain SQL."""
    counts = {}
    for name in (table, f"{table}_archive"):
        for ticket_id, rows in sql(f'SELECT "{column}", count(*) FROM "{name}" GROUP BY "{column}"'):
            counts[ticket_id] = counts.get(ticket_id, 0) + rows
    return counts


def live_rows(table):
    return sql(f'SELECT count(*) FROM "{table}"')[0][0]


# -- month bounds and names ---------------------------------------------------------------


@pytest.mark.parametrize(
    ("moment", "start", "after", "name"),
    [
        # 2027-01-31 16:30 UTC is already 1 February in Shanghai.
        (datetime(2027, 1, 31, 16, 30, tzinfo=ZoneInfo("UTC")), (2027, 2, 1), (2027, 3, 1), "2027_02"),
        (datetime(2026, 12, 31, 15, 59, tzinfo=ZoneInfo("UTC")), (2026, 12, 1), (2027, 1, 1), "2026_12"),
        (datetime(2028, 2, 29, 12, 0, tzinfo=SHANGHAI), (2028, 2, 1), (2028, 3, 1), "2028_02"),
    ],
)
def test_months_are_local_months_named_by_their_local_year_and_month(moment, start, after, name):
    first = partitions.month_start(moment)
    assert first == datetime(*start, tzinfo=SHANGHAI)
    assert partitions.month_after(first) == datetime(*after, tzinfo=SHANGHAI)
    assert partitions.EVENTS.month(first) == f"cases_ticketevent_p{name}"
    assert partitions.HISTORY.month(first) == f"cases_historicalticket_p{name}"


def test_months_lists_every_month_start_once():
    starts = partitions.months(local(2026, 11, 15), local(2027, 2, 1))
    assert starts == [local(2026, 11, 1), local(2026, 12, 1), local(2027, 1, 1), local(2027, 2, 1)]


@pytest.mark.django_db
def test_on_sqlite_ensure_is_a_no_op_and_the_tables_stay_plain():
    if on_postgres():
        pytest.skip("SQLite only")
    assert ensure_partitions() == []
    assert live_rows("cases_ticketevent_archive") == 0  # the archive table exists


# -- PostgreSQL: the partitions --------------------------------------------------------------


def partitions_of(table):
    return dict(
        sql(
            "SELECT c.relname, pg_get_expr(c.relpartbound, c.oid) FROM pg_inherits i "
            "JOIN pg_class c ON c.oid = i.inhrelid WHERE i.inhparent = %s::regclass",
            [table],
        )
    )


@PG
@pytest.mark.django_db
def test_the_migration_made_both_tables_partitioned_with_legacy_default_and_months_ahead(settings):
    for spec in partitions.TABLES:
        assert sql("SELECT count(*) FROM pg_partitioned_table WHERE partrelid = %s::regclass", [spec.table]) == [(1,)]
        names = partitions_of(spec.table)
        assert names[spec.legacy].startswith("FOR VALUES FROM (MINVALUE) TO (")
        assert names[spec.default] == "DEFAULT"
        assert partitions.exists(connection.cursor(), spec.archive)


@PG
@pytest.mark.django_db
def test_ensure_creates_the_months_ahead_once_with_local_bounds():
    with time_machine.travel(local(2031, 5, 20, 10, 0), tick=False):
        created = ensure_partitions()
        again = ensure_partitions()
    names = [f"cases_ticketevent_p2031_{m:02d}" for m in (5, 6, 7, 8)]
    assert set(names) <= set(created)
    assert again == []
    bound = partitions_of("cases_ticketevent")["cases_ticketevent_p2031_05"]
    lower, upper = sql(
        "SELECT %s::timestamptz, %s::timestamptz",
        [bound.split("'")[1], bound.split("'")[3]],
    )[0]
    assert (lower, upper) == (datetime(2031, 5, 1, tzinfo=SHANGHAI), datetime(2031, 6, 1, tzinfo=SHANGHAI))
    # Each month has its own primary key and the default partition's foreign keys.
    kinds = sql(
        "SELECT contype, count(*) FROM pg_constraint WHERE conrelid = 'cases_ticketevent_p2031_05'::regclass "
        "GROUP BY contype"
    )
    assert dict(kinds)["p"] == 1 and dict(kinds)["f"] >= 4


@PG
@pytest.mark.django_db
def test_a_row_without_its_month_waits_in_default_and_moves_when_the_month_is_created(city):
    ticket = new_ticket(city)
    event = TicketEvent.objects.create(
        ticket=ticket, kind=TicketEvent.Kind.PROGRESS, to_state=ticket.state, created_at=local(2035, 3, 9, 8)
    )
    where = "SELECT tableoid::regclass::text FROM cases_ticketevent WHERE id = %s"
    assert sql(where, [event.pk]) == [("cases_ticketevent_default",)]
    before = live_rows("cases_ticketevent")
    created = partitions.partitions_ensure(months_ahead=0, now=local(2035, 3, 1))
    assert created == ["cases_ticketevent_p2035_03", "cases_historicalticket_p2035_03"]
    assert sql(where, [event.pk]) == [("cases_ticketevent_p2035_03",)]
    assert live_rows("cases_ticketevent") == before
    assert TicketEvent.objects.get(pk=event.pk).created_at == local(2035, 3, 9, 8)


@PG
@pytest.mark.django_db
def test_converting_a_populated_table_keeps_every_row_and_its_indexes_without_a_copy():
    spec = partitions.Partitioned("scratch_events", "created_at", "id", "ticket_id")
    sql(
        "CREATE TABLE scratch_events (id bigint GENERATED BY DEFAULT AS IDENTITY PRIMARY KEY, "
        "ticket_id bigint NOT NULL, created_at timestamptz NOT NULL, note text NOT NULL DEFAULT '', "
        "CONSTRAINT scratch_round CHECK (ticket_id >= 0))"
    )
    sql("CREATE INDEX scratch_ticket_time ON scratch_events (ticket_id, created_at)")
    sql(
        "INSERT INTO scratch_events (ticket_id, created_at) SELECT g % 37, "
        "timestamptz '2026-01-01 00:00+08' + g * interval '1 hour' FROM generate_series(1, 2000) g"
    )
    heap = sql("SELECT relfilenode FROM pg_class WHERE relname = 'scratch_events'")[0][0]
    rows = sql("SELECT id, ticket_id, created_at FROM scratch_events ORDER BY id")
    # The clock says February, the last row is in March: the bound is the month after it.
    with connection.cursor() as cursor, time_machine.travel(local(2026, 2, 10), tick=False):
        partitions.table_convert(cursor, spec)
    assert sql("SELECT relfilenode FROM pg_class WHERE relname = 'scratch_events_legacy'")[0][0] == heap
    assert sql("SELECT id, ticket_id, created_at FROM scratch_events ORDER BY id") == rows
    bound = partitions_of("scratch_events")["scratch_events_legacy"]
    assert bound.startswith("FOR VALUES FROM (MINVALUE) TO (")
    upper = sql("SELECT %s::timestamptz", [bound.split("'")[1]])[0][0]
    assert upper == datetime(2026, 4, 1, tzinfo=SHANGHAI)
    # The parent's index adopted the legacy one (no new build).
    assert sql(
        "SELECT count(*) FROM pg_inherits WHERE inhparent = 'scratch_ticket_time'::regclass "
        "AND inhrelid = 'scratch_ticket_time_legacy'::regclass"
    ) == [(1,)]
    # Inserts through the parent continue the ids.
    new_id = sql("INSERT INTO scratch_events (ticket_id, created_at) VALUES (1, now()) RETURNING id")[0][0]
    assert new_id == rows[-1][0] + 1


# -- the archive --------------------------------------------------------------------------------


@pytest.fixture
def year_2040(city):
    """Tickets of 2040 (a year after every partition of the test database's
    legacy one): closed ones, and one still open. On PostgreSQL March's month
    has its partition (moved by detach), the others' rows wait in DEFAULT (moved
    row by row)."""
    with time_machine.travel(local(2040, 2, 20, 9), tick=False):
        if on_postgres():
            partitions.partitions_ensure(months_ahead=1)
        # The rollups were running before 2040's tickets came in: the rebuild below
        # then builds the days they touched, not every day of the record (a second's
        # work per month of days).
        rollups_rebuild(days=0)
    tickets = []
    for day in (1, 15):
        with time_machine.travel(local(2040, 3, day, 9), tick=False):
            tickets.append(drive(city, new_ticket(city), TicketState.CLOSED))
    with time_machine.travel(local(2040, 11, 2, 9), tick=False):
        tickets.append(drive(city, new_ticket(city), TicketState.CLOSED))
        still_open = drive(city, new_ticket(city), TicketState.HANDLING)
    with time_machine.travel(local(2041, 1, 3, 9), tick=False):
        late = drive(city, new_ticket(city), TicketState.HANDLING)  # 2041: not archived
        rollups_rebuild(days=3)
    return tickets, still_open, late


def archive(*args):
    out = StringIO()
    call_command("archive_history", *args, stdout=out)
    return out.getvalue()


@pytest.mark.django_db
def test_the_archive_refuses_a_year_not_over_and_a_year_with_open_tickets(city, year_2040):
    _, still_open, _ = year_2040
    with time_machine.travel(local(2041, 1, 10, 9), tick=False):
        with pytest.raises(CommandError, match="not over"):
            archive("--before", "2042")
        with pytest.raises(CommandError, match=rf"1 ticket\(s\) .* still open \(e.g. {still_open.number}\)"):
            archive("--before", "2041")
    assert HistoryArchive.objects.count() == 0


@pytest.mark.django_db
def test_the_archive_waits_until_the_years_tickets_are_quiet(city, year_2040):
    _, still_open, _ = year_2040
    with time_machine.travel(local(2040, 12, 20, 9), tick=False):
        drive(city, still_open, TicketState.CLOSED)
    with time_machine.travel(local(2041, 1, 10, 9), tick=False):
        with pytest.raises(CommandError, match=rf"step in the last 30 days \(e.g. ticket id {still_open.pk}\)"):
            archive("--before", "2041")
    with time_machine.travel(local(2041, 1, 20, 9), tick=False):
        assert "moved" in archive("--before", "2041")


@pytest.mark.django_db
def test_dry_run_shows_the_months_and_changes_nothing(city, year_2040):
    _tickets, still_open, _ = year_2040
    drive(city, still_open, TicketState.CLOSED)
    events, history = per_ticket("cases_ticketevent", "ticket_id"), per_ticket("cases_historicalticket", "id")
    live = live_rows("cases_ticketevent")
    with time_machine.travel(local(2041, 1, 10, 9), tick=False):
        out = archive("--before", "2041", "--dry-run")
    assert "cases_ticketevent 2040-03" in out and "cases_historicalticket 2040-11" in out
    assert "would move" in out
    assert live_rows("cases_ticketevent") == live and live_rows("cases_ticketevent_archive") == 0
    assert per_ticket("cases_ticketevent", "ticket_id") == events
    assert per_ticket("cases_historicalticket", "id") == history
    assert HistoryArchive.objects.count() == 0


@pytest.mark.django_db
def test_archiving_keeps_every_row_of_every_ticket_and_a_second_run_moves_nothing(city, year_2040):
    _tickets, still_open, late = year_2040
    with time_machine.travel(local(2040, 12, 1, 9), tick=False):
        drive(city, still_open, TicketState.CLOSED)
    events, history = per_ticket("cases_ticketevent", "ticket_id"), per_ticket("cases_historicalticket", "id")
    total = live_rows("cases_ticketevent")
    with time_machine.travel(local(2041, 1, 10, 9), tick=False):
        out = archive("--before", "2041")
        again = archive("--before", "2041")
    assert per_ticket("cases_ticketevent", "ticket_id") == events
    assert per_ticket("cases_historicalticket", "id") == history
    assert live_rows("cases_ticketevent") + live_rows("cases_ticketevent_archive") == total
    # Nothing of 2040 is live any more; 2041's ticket is all live.
    boundary = local(2041, 1, 1)
    for table, key in (("cases_ticketevent", "created_at"), ("cases_historicalticket", "history_date")):
        assert sql(f"SELECT count(*) FROM {table} WHERE {key} < %s", [boundary]) == [(0,)]
    assert sql("SELECT count(*) FROM cases_ticketevent_archive WHERE ticket_id = %s", [late.pk]) == [(0,)]
    assert "moved" in out and again.startswith("moved 0 rows")
    record = HistoryArchive.objects.get()
    assert record.before == boundary and record.finished_at is not None
    assert record.events == live_rows("cases_ticketevent_archive")
    if on_postgres():  # March had its own partition: it moved whole
        assert "cases_ticketevent_p2040_03" in partitions_of("cases_ticketevent_archive")
        assert "cases_ticketevent_p2040_03" not in partitions_of("cases_ticketevent")


@pytest.fixture
def archived(city, year_2040):
    tickets, still_open, _late = year_2040
    with time_machine.travel(local(2040, 12, 1, 9), tick=False):
        drive(city, still_open, TicketState.CLOSED)
    ticket = tickets[0]
    before = {
        "timeline": [(e.pk, e.kind, e.created_at) for e in ticket_timeline(ticket)],
        "history": sorted(ticket.history.values_list("history_id", flat=True)),
        "counters": counters_from_rollups(Period(local(2040, 3, 1).date(), local(2040, 3, 31).date()), group_by=None),
        "live": counters_live(Period(local(2040, 3, 1).date(), local(2040, 3, 31).date()))[None],
    }
    with time_machine.travel(local(2041, 1, 10, 9), tick=False):
        archive("--before", "2041")
    return ticket, before


@pytest.mark.django_db
def test_an_archived_ticket_shows_its_whole_timeline_on_its_page_in_the_api_and_in_its_history(client, city, archived):
    ticket, before = archived
    assert live_rows("cases_ticketevent_archive") > 0
    assert not ticket.events.exists()  # all of it archived
    assert [(e.pk, e.kind, e.created_at) for e in ticket_timeline(ticket)] == before["timeline"]

    client.force_login(city.dispatcher)
    page = client.get(reverse("admin:cases_ticket_change", args=[ticket.pk]))
    assert page.status_code == 200
    assert len(page.context["timeline"]) == len(before["timeline"])
    assert [row["kind"] for row in page.context["timeline"]] == [kind for _, kind, _ in reversed(before["timeline"])]

    history = client.get(reverse("admin:cases_ticket_history", args=[ticket.pk]))
    assert history.status_code == 200
    shown = sorted(record.history_id for record in history.context["page_obj"].object_list)
    assert shown == before["history"] and len(shown) > 1

    api = APIClient()
    api.force_authenticate(city.dispatcher)
    body = api.get(f"/api/v1/tickets/{ticket.number}/").json()
    assert [step["kind"] for step in body["timeline"]] == [kind for _, kind, _ in before["timeline"]]


@pytest.mark.django_db
def test_metrics_over_an_archived_period_read_the_rollups_or_refuse_clearly(client, city, archived):
    _ticket, before = archived
    march = Period(local(2040, 3, 1).date(), local(2040, 3, 31).date())
    # Daily rollups were built from the full record: the same numbers as before.
    assert counters_from_rollups(march, group_by=None) == before["counters"]
    assert before["counters"][None].received == before["live"].received == 2
    received = sql(
        "SELECT count(*) FROM cases_ticket WHERE received_at >= %s AND received_at < %s",
        [local(2040, 3, 1), local(2040, 4, 1)],
    )[0][0]
    assert before["counters"][None].received == received
    # A live count refuses rather than counting fewer facts.
    with pytest.raises(ArchivedPeriod) as refused:
        counters_live(march)
    assert str(refused.value) == ARCHIVED_PERIOD % {"start": "2041-01-01"}
    # A rebuild leaves archived days alone; 2041 is live.
    with time_machine.travel(local(2041, 1, 10, 9), tick=False):
        rollups_rebuild(days=30)
        assert counters_from_rollups(march, group_by=None) == before["counters"]
        counters_live(Period(local(2041, 1, 1).date(), local(2041, 1, 9).date()))
    assert archive_boundary() == local(2041, 1, 1)
    client.force_login(city.leader)
    params = {"period": "custom", "from": "2040-03-01", "to": "2040-03-31"}
    response = client.get(reverse("admin:dashboard_data"), params)
    assert response.status_code == 400
    assert "已归档" in response.json()["error"]
