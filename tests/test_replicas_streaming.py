"""Read-replica routing against a real PostgreSQL streaming replica of the test
primary (``eval "$(.ci/start-replica)"``; CI stage 2a runs ``pytest -m replica``).

The replica alias reads the primary's test database (TEST MIRROR: Django neither
creates nor flushes it through the replica; it arrives by streaming). Rows must be
committed to reach a replica, so these tests are transactional. Without a replica they
are deselected, except in CI, where they fail."""

import glob
import os
import subprocess
import time
from types import SimpleNamespace

import pytest
from django.contrib.auth import get_user_model
from django.db import connections
from django.test import Client
from django.urls import reverse

from cases.models import Ticket, TicketEvent, TicketState
from config import replicas
from config.replicas import replica_reads
from tests.conftest import drive, new_ticket

pytestmark = [pytest.mark.replica, pytest.mark.django_db(transaction=True, databases=["default", "replica"])]


def _pg_ctl(*args):
    binary = sorted(glob.glob("/usr/lib/postgresql/*/bin/pg_ctl"))[-1]
    command = [binary, *args]
    if os.geteuid() == 0:
        command = ["runuser", "-u", "postgres", "--", *command]
    subprocess.run(command, check=True, capture_output=True, timeout=60)


def _scalar(alias, sql, params=()):
    with connections[alias].cursor() as cursor:
        cursor.execute(sql, params)
        return cursor.fetchone()[0]


def _caught_up(timeout=30.0):
    """Poll until the replica has replayed the primary's current WAL position."""
    target = _scalar("default", "SELECT pg_current_wal_lsn()::text")
    deadline = time.monotonic() + timeout
    while not _scalar("replica", "SELECT pg_last_wal_replay_lsn() >= %s::pg_lsn", [target]):
        assert time.monotonic() < deadline, f"the replica did not reach {target} in {timeout} s"


@pytest.fixture
def streaming(settings):
    """Routing on, to the streaming replica CI started."""
    if not os.environ.get("DATABASE_REPLICA_URL") or "replica" not in settings.DATABASE_REPLICA_ALIASES:
        pytest.fail('no DATABASE_REPLICA_URL: start a replica with `eval "$(.ci/start-replica)"`')
    assert connections["default"].vendor == "postgresql"
    assert _scalar("replica", "SELECT pg_is_in_recovery()") is True, "the replica alias is not a standby"
    assert _scalar("default", "SELECT pg_is_in_recovery()") is False
    assert connections["replica"].settings_dict["NAME"] == connections["default"].settings_dict["NAME"]
    settings.DATABASE_REPLICAS = ["replica"]
    return SimpleNamespace(pgdata=os.environ.get("HOTLINE_REPLICA_PGDATA", ""))


def test_rows_committed_on_the_primary_are_read_through_the_replica(city, streaming):
    ticket = new_ticket(city)
    _caught_up()
    assert Ticket.objects.using("replica").get(pk=ticket.pk).number == ticket.number
    with replica_reads() as used:
        assert Ticket.objects.get(pk=ticket.pk)._state.db == "replica"
    assert used == ["replica"]


def test_the_dashboard_reads_on_the_replica_connection_and_shows_the_same_numbers(city, streaming, settings):
    for _ in range(3):
        new_ticket(city)
    _caught_up()
    seen = []

    def capture(execute, sql, params, many, context):
        seen.append(sql)
        return execute(sql, params, many, context)

    client = Client()
    client.force_login(city.supervisor)
    url = reverse("admin:dashboard_data") + "?period=year"
    with connections["replica"].execute_wrapper(capture):
        on_replica = client.get(url)
    assert on_replica.status_code == 200
    assert any("cases_ticket" in sql for sql in seen), seen
    # The connection that ran them is a standby.
    assert _scalar("replica", "SELECT pg_is_in_recovery()") is True
    settings.DATABASE_REPLICAS = []
    seen.clear()
    with connections["replica"].execute_wrapper(capture):
        on_primary = client.get(url)
    assert not seen
    assert on_replica.json() == on_primary.json()


def test_the_lag_is_measured_and_shown_to_administrators(city, streaming):
    ticket = new_ticket(city)
    _caught_up()
    state = replicas.replica_state("replica", refresh=True)
    assert state.reachable and state.in_use and state.lag_seconds is not None
    assert state.lag_seconds <= 1.0  # caught up a moment ago
    # During a burst of writes the lag stays measured (a number, never a failure).
    lags = []
    for n in range(500):
        TicketEvent.objects.create(
            ticket=ticket, kind=TicketEvent.Kind.PROGRESS, to_state=ticket.state, note=f"burst {n}"
        )
        if n % 50 == 0:
            lags.append(replicas.replica_state("replica", refresh=True).lag_seconds)
    assert all(lag is not None and lag >= 0 for lag in lags), lags
    _caught_up()
    root = get_user_model().objects.create_superuser("root", "root@example.com", "pw")
    client = Client()
    client.force_login(root)
    page = client.get(reverse("admin:index")).content.decode()
    panel = page[page.index('id="replicas"') :]
    assert connections["replica"].settings_dict["NAME"] in panel and "秒" in panel and "使用中" in panel


def test_the_desk_keeps_working_when_the_replica_stops(city, streaming):
    if not streaming.pgdata:
        pytest.fail("HOTLINE_REPLICA_PGDATA (printed by .ci/start-replica) names no data directory")
    ticket = new_ticket(city)
    _caught_up()
    client = Client()
    client.force_login(city.supervisor)
    url = reverse("admin:dashboard_data") + "?period=year"
    started = time.monotonic()
    assert client.get(url).status_code == 200
    print(f"\nreplica up: dashboard data from the replica in {time.monotonic() - started:.3f} s")
    assert replicas.replica_state("replica").in_use  # measured fit, and cached as such

    _pg_ctl("stop", "-D", streaming.pgdata, "-m", "fast", "-w")
    try:
        # The dashboard: the replica fails under it, it is read again on the primary.
        started = time.monotonic()
        response = client.get(url)
        fell_back = time.monotonic() - started
        assert response.status_code == 200
        assert replicas._checked["replica"][1].verdict == "down"
        # The desk: a workflow verb, on the primary.
        started = time.monotonic()
        ticket = drive(city, ticket, TicketState.DISPATCHED)
        dispatched = time.monotonic() - started
        assert Ticket.objects.get(pk=ticket.pk).state == TicketState.DISPATCHED
        print(f"\nreplica stopped: dashboard data from the primary in {fell_back:.3f} s, dispatch {dispatched:.3f} s")
        # Measured again: still down; reads go to the primary; administrators see it.
        state = replicas.replica_state("replica", refresh=True)
        assert not state.reachable and state.verdict == "down"
        with replica_reads():
            assert Ticket.objects.all().db == "default"
        root = get_user_model().objects.create_superuser("root", "root@example.com", "pw")
        admin = Client()
        admin.force_login(root)
        page = admin.get(reverse("admin:index")).content.decode()
        assert "无法连接" in page[page.index('id="replicas"') :]
    finally:
        _pg_ctl("start", "-D", streaming.pgdata, "-l", os.path.join(streaming.pgdata, "server.log"), "-w")
        connections["replica"].close()
    _caught_up()
    state = replicas.replica_state("replica", refresh=True)
    assert state.reachable and state.in_use
