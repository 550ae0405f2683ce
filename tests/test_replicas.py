"""Read-replica routing (config/replicas.py) without a replica server: the routing
decisions, the read-your-writes window, the lag and fallback logic, and every
read-only door, against a test mirror that is the test's own connection (it sees the
test's uncommitted rows, so every page shows what it shows today). The same routing
against a real streaming replica: tests/test_replicas_streaming.py."""

import logging
import re
from datetime import date
from pathlib import Path

import pytest
import time_machine
from django.contrib.auth import get_user_model
from django.db import connections, router, transaction
from django.test import Client, RequestFactory
from django.urls import reverse
from hypothesis import given
from hypothesis import strategies as st

from cases.models import Category, Ticket, TicketState
from config import replicas
from config.replicas import ReplicaRouter, ReplicaState, replica_lag, replica_reads
from reports.models import ExportJob
from tests.conftest import drive, new_ticket

ROOT = Path(__file__).resolve().parent.parent
HAN = re.compile(r"[\u4e00-\u9fff]")


@pytest.fixture
def mirror_replica(db, settings, monkeypatch):
    """Routing on, to a replica alias that is the default connection itself (a test
    mirror sharing the test's transaction); every routing decision recorded as
    (model label, alias)."""
    alias = "replica"
    monkeypatch.setattr(connections._connections, alias, connections["default"], raising=False)
    settings.DATABASE_REPLICAS = [alias]
    settings.DATABASE_REPLICA_ALIASES = [alias]
    decisions = []
    real = ReplicaRouter.db_for_read

    def spy(self, model, **hints):
        chosen = real(self, model, **hints)
        decisions.append((model._meta.label, chosen))
        return chosen

    monkeypatch.setattr(ReplicaRouter, "db_for_read", spy)
    return decisions


def _fake_probe(monkeypatch, **state):
    """The replica measured as given (lag, reachability), counting the measurements."""
    calls = []

    def probe(alias):
        calls.append(alias)
        values = {"reachable": True, "lag_seconds": 0.0, "lag_bytes": 0, "error": "", **state}
        values["in_use"] = values["reachable"] and values["lag_seconds"] is not None and values["lag_seconds"] <= 10
        return ReplicaState(alias=alias, name="127.0.0.1:5433/hotline", **values)

    monkeypatch.setattr(replicas, "_probe", probe)
    return calls


def _on_replica(decisions) -> bool:
    """Did any read of the project's own rows go to the replica?"""
    return any(alias == "replica" for label, alias in decisions if label.split(".")[0] in {"cases", "departments"})


def _superuser(name="root"):
    return get_user_model().objects.create_superuser(name, f"{name}@example.com", "pw")


# -- routing decisions ------------------------------------------------------------------------


@pytest.mark.django_db
def test_without_a_replica_every_read_goes_to_the_primary(city, settings):
    assert settings.DATABASE_REPLICAS == []  # the test settings: routing off unless a test turns it on
    with replica_reads():
        assert Ticket.objects.all().db == "default"
        assert router.db_for_read(Ticket) == "default"


@pytest.mark.django_db
def test_reads_go_to_the_replica_inside_a_door_only(city, mirror_replica):
    assert Ticket.objects.all().db == "default"  # opt-in: outside a door, the primary
    with replica_reads() as used:
        assert Ticket.objects.all().db == "replica"
        assert Category.objects.all().db == "replica"
    assert used == ["replica"]
    assert Ticket.objects.all().db == "default"


@pytest.mark.django_db
def test_writes_transactions_and_locks_stay_on_the_primary(city, mirror_replica):
    ticket = new_ticket(city)
    with replica_reads():
        assert router.db_for_write(Ticket) == "default"
        read = Ticket.objects.get(pk=ticket.pk)
        assert read._state.db == "replica"
        read.content = "改过的内容"
        read.save(update_fields=["content"])  # written on the primary, whatever it was read from
        assert read._state.db == "default"
        with transaction.atomic():
            assert Ticket.objects.all().db == "default"
            assert Ticket.objects.select_for_update().filter(pk=ticket.pk).db == "default"
            drive(city, ticket, TicketState.DISPATCHED)  # a workflow verb inside a door
    assert Ticket.objects.get(pk=ticket.pk).state == TicketState.DISPATCHED
    assert not router.allow_migrate("replica", "cases")


@pytest.mark.django_db
def test_sign_in_and_session_rows_are_read_on_the_primary(city, mirror_replica):
    with replica_reads():
        assert get_user_model().objects.all().db == "default"
        assert Ticket.objects.all().db == "replica"


# -- read-your-writes -----------------------------------------------------------------------------


@pytest.mark.django_db
def test_after_a_write_the_users_reads_stay_on_the_primary_for_the_sticky_window(city, mirror_replica, settings):
    settings.DATABASE_REPLICA_STICKY_SECONDS = 10
    # The pin's cache key expires by this process's clock (Redis would count real seconds).
    settings.CACHES = {"default": {"BACKEND": "django.core.cache.backends.locmem.LocMemCache"}}
    url = reverse("admin:dashboard_data")
    with time_machine.travel(1_800_000_000, tick=False) as traveller:
        client = Client()
        client.force_login(city.supervisor)
        assert client.get(url).status_code == 200 and _on_replica(mirror_replica)

        mirror_replica.clear()
        assert client.post(reverse("set_language"), {"language": "zh-hans", "next": "/"}).status_code == 302
        assert client.get(url).status_code == 200
        assert mirror_replica and not _on_replica(mirror_replica)  # read your own writes

        # Another browser of the same user (no cookie) is pinned too: the user's key.
        other = Client()
        other.force_login(city.supervisor)
        mirror_replica.clear()
        other.get(url)
        assert not _on_replica(mirror_replica)
        # Someone else is not.
        mirror_replica.clear()
        colleague = Client()
        colleague.force_login(city.leader)
        colleague.get(url)
        assert _on_replica(mirror_replica)

        traveller.shift(11)  # the window is over
        mirror_replica.clear()
        client.get(url)
        assert _on_replica(mirror_replica)


@pytest.mark.django_db
def test_a_failed_write_or_a_read_does_not_pin(city, mirror_replica, settings):
    request = RequestFactory().get("/")
    request.user = city.supervisor
    assert not replicas.pinned(request)
    client = Client()
    client.force_login(city.handler)
    response = client.post(reverse("admin:cases_ticket_add"), {})  # refused: a handler registers no demand
    assert response.status_code == 403 and replicas.PIN_COOKIE not in response.cookies
    settings.DATABASE_REPLICAS = []  # no replica: nothing to pin
    assert replicas.PIN_COOKIE not in client.post(reverse("set_language"), {"language": "en"}).cookies


# -- lag and fallback ---------------------------------------------------------------------------


def test_a_replica_that_replayed_everything_is_not_behind_however_idle_the_primary():
    # An hour since the last commit, but nothing left to replay: 0 s, not 3600 s.
    assert replica_lag(primary_lsn=1000, replay_lsn=1000, replay_age=3600.0, caught_up_age=None) == 0.0
    # Behind: the oldest missing commit is younger than both bounds.
    assert replica_lag(primary_lsn=2000, replay_lsn=1000, replay_age=3600.0, caught_up_age=4.0) == 4.0
    assert replica_lag(primary_lsn=2000, replay_lsn=1000, replay_age=2.5, caught_up_age=4.0) == 2.5
    assert replica_lag(primary_lsn=2000, replay_lsn=None, replay_age=None, caught_up_age=None) is None


@given(
    primary=st.integers(0, 10**12),
    replay=st.integers(0, 10**12),
    replay_age=st.none() | st.floats(0, 10**6),
    caught_up_age=st.none() | st.floats(0, 10**6),
)
def test_the_lag_is_zero_when_caught_up_and_otherwise_the_tighter_bound(primary, replay, replay_age, caught_up_age):
    lag = replica_lag(primary_lsn=primary, replay_lsn=replay, replay_age=replay_age, caught_up_age=caught_up_age)
    if replay >= primary:
        assert lag == 0.0
    elif replay_age is None and caught_up_age is None:
        assert lag is None
    else:
        bounds = [b for b in (replay_age, caught_up_age) if b is not None]
        assert lag == min(bounds) and all(lag <= b for b in bounds)


@pytest.mark.django_db
def test_the_state_is_measured_once_per_interval(city, mirror_replica, monkeypatch, settings):
    settings.DATABASE_REPLICA_CHECK_SECONDS = 5
    calls = _fake_probe(monkeypatch, lag_seconds=1.0)
    now = [1000.0]
    monkeypatch.setattr(replicas.time, "monotonic", lambda: now[0])
    for _ in range(20):
        assert replicas.replica_for_reads() == "replica"
    assert len(calls) == 1
    now[0] += 6
    replicas.replica_for_reads()
    assert len(calls) == 2
    # An unreachable one less often (each probe may wait for a connect timeout).
    calls = _fake_probe(monkeypatch, reachable=False, lag_seconds=None, lag_bytes=None, error="timeout")
    now[0] += 6
    assert replicas.replica_for_reads() is None and len(calls) == 1
    now[0] += 5 * replicas.DOWN_RECHECK_FACTOR - 1
    replicas.replica_for_reads()
    assert len(calls) == 1
    now[0] += 2
    replicas.replica_for_reads()
    assert len(calls) == 2


@pytest.mark.django_db
def test_a_lagging_replica_is_left_out_and_the_change_logged_once(city, mirror_replica, monkeypatch, caplog):
    _fake_probe(monkeypatch, lag_seconds=30.0)
    with caplog.at_level(logging.WARNING, logger="hotline.replicas"):
        for _ in range(3):
            state = replicas.replica_state("replica", refresh=True)
        assert state.verdict == "lagging" and not state.in_use
        with replica_reads():
            assert Ticket.objects.all().db == "default"
        _fake_probe(monkeypatch, lag_seconds=0.5)
        for _ in range(3):
            replicas.replica_state("replica", refresh=True)
        with replica_reads():
            assert Ticket.objects.all().db == "replica"
    messages = [r.getMessage() for r in caplog.records]
    assert len(messages) == 2, messages
    assert "lags 30.0 s" in messages[0] and "back in use" in messages[1]


@pytest.fixture
def unreachable_replica(db, settings, tmp_path, monkeypatch):
    """A replica alias whose server is not there (a database file in a missing directory)."""
    from django.db.backends.sqlite3.base import DatabaseWrapper

    alias = "replica"
    conf = {
        **connections["default"].settings_dict,
        "NAME": str(tmp_path / "missing" / "replica.sqlite3"),
        "OPTIONS": {},
    }
    wrapper = DatabaseWrapper(conf, alias=alias)
    monkeypatch.setattr(connections._connections, alias, wrapper, raising=False)
    settings.DATABASE_REPLICAS = [alias]
    settings.DATABASE_REPLICA_ALIASES = [alias]
    yield alias
    wrapper.close()


@pytest.mark.django_db
def test_an_unreachable_replica_is_left_out(city, unreachable_replica, caplog):
    with caplog.at_level(logging.ERROR, logger="hotline.replicas"):
        state = replicas.replica_state("replica", refresh=True)
        replicas.replica_state("replica", refresh=True)
    assert not state.reachable and state.verdict == "down" and state.error
    assert len(caplog.records) == 1  # once per change, not per check
    with replica_reads():
        assert Ticket.objects.all().db == "default"


@pytest.mark.django_db
def test_a_replica_failing_mid_request_is_marked_down_and_the_page_read_on_the_primary(
    city, unreachable_replica, monkeypatch
):
    _fake_probe(monkeypatch)  # last measured fit: the failure shows only when a page reads it
    new_ticket(city)
    client = Client()
    client.force_login(city.supervisor)
    response = client.get(reverse("admin:dashboard_data"))
    assert response.status_code == 200
    assert replicas._checked["replica"][1].verdict == "down"
    assert "unable to open database file" in replicas._checked["replica"][1].error


# -- administrators see the replicas -------------------------------------------------------------


@pytest.mark.django_db
def test_administrators_see_each_replica_its_lag_and_whether_it_is_in_use(city, mirror_replica, monkeypatch):
    root = _superuser()
    client = Client()
    client.force_login(root)
    _fake_probe(monkeypatch, lag_seconds=1.25)
    page = client.get(reverse("admin:index")).content.decode()
    panel = page[page.index('id="replicas"') :]
    assert "只读副本" in panel and "127.0.0.1:5433/hotline" in panel
    assert "1.2 秒" in panel or "1.3 秒" in panel
    assert "使用中" in panel
    replicas.forget()
    _fake_probe(monkeypatch, lag_seconds=42.0)
    panel = client.get(reverse("admin:index")).content.decode()
    assert "42.0 秒" in panel and "延迟过大" in panel
    replicas.forget()
    _fake_probe(monkeypatch, reachable=False, lag_seconds=None, lag_bytes=None, error="connection refused")
    client.cookies["django_language"] = "en"
    text = client.get(reverse("admin:index")).content.decode()
    panel = text[text.index('id="replicas"') : text.index("</table>", text.index('id="replicas"'))]
    assert "Read replicas" in panel and "Unreachable" in panel and not HAN.search(panel)
    # Others do not see the panel.
    client.force_login(city.supervisor)
    assert 'id="replicas"' not in client.get(reverse("admin:index")).content.decode()


# -- every read-only door reads on the replica ------------------------------------------------------


def _get(url, user=None):
    def door(city):
        client = Client()
        if user:
            client.force_login(getattr(city, user) if user != "root" else _superuser())
        response = client.get(url(city) if callable(url) else url)
        body = b"".join(response.streaming_content) if response.streaming else response.content
        return response.status_code, body

    return door


def _csv_export(city):
    client = Client()
    client.force_login(city.supervisor)
    response = client.post(
        reverse("admin:cases_ticket_changelist") + "?state=all",
        {"action": "export_csv", "select_across": "1", "index": "0", "_selected_action": [city.ticket.pk]},
    )
    return response.status_code, b"".join(response.streaming_content)


def _ledger_export(city):
    from reports.exports import export_run

    job = ExportJob.objects.create(user=city.supervisor, query="state=all")
    job = export_run(job.pk)
    return (200 if job.status == ExportJob.Status.DONE else 500), job.file.read()


def _report(city):
    from reports.reporting import report_build

    report, _created = report_build("daily", day=date.today())
    return 200, str(report.data).encode()


DOORS = {
    "dashboard": _get(lambda c: reverse("admin:dashboard"), "supervisor"),
    "dashboard data": _get(lambda c: reverse("admin:dashboard_data") + "?period=year", "supervisor"),
    "map data": _get(lambda c: reverse("admin:map_data"), "supervisor"),
    "statistics report": _get(lambda c: reverse("admin:statistics") + "?axis=department", "supervisor"),
    "dispatch accuracy report": _get(lambda c: reverse("admin:dispatch_accuracy"), "supervisor"),
    "monthly theme report": _get(lambda c: reverse("admin:theme_monthly"), "supervisor"),
    "hotspot": _get(lambda c: reverse("admin:hotspot", args=[c.community.pk, c.cold_room.pk]), "supervisor"),
    "wall": _get(lambda c: reverse("wall"), "supervisor"),
    "wall data": _get(lambda c: reverse("wall_data"), "supervisor"),
    "public board": _get("/"),
    "open311 requests": _get("/open311/v2/requests.json"),
    "open311 services": _get("/open311/v2/services.json"),
    "api ticket list": _get("/api/v1/tickets/", "supervisor"),
    "api category list": _get("/api/v1/categories/", "supervisor"),
    "api callback list": _get("/api/v1/callbacks/", "supervisor"),
    "api stats": _get("/api/v1/stats/", "supervisor"),
    "csv export": _csv_export,
    "ledger export": _ledger_export,
    "report task": _report,
}


@pytest.mark.django_db
@pytest.mark.parametrize("door", list(DOORS))
def test_each_read_only_door_reads_on_the_replica(city, mirror_replica, door):
    city.ticket = drive(city, new_ticket(city), TicketState.CLOSED)
    mirror_replica.clear()
    status, body = DOORS[door](city)
    assert status == 200, body[:500]
    assert _on_replica(mirror_replica), mirror_replica


@pytest.mark.django_db
def test_a_report_reads_the_rollups_it_made_current_on_the_primary(city, mirror_replica):
    """The report rebuilds its period's stale days of rollups on the primary, then
    sums them there: a replica may not have replayed them yet. The rest of it reads
    on the replica."""
    from reports.reporting import report_build

    drive(city, new_ticket(city), TicketState.CLOSED)
    mirror_replica.clear()
    report, created = report_build("daily", day=date.today())
    assert created and report.data["totals"]["counters"]["received"] == 1
    rollups = {label for label, alias in mirror_replica if label.startswith("reports.Daily")}
    assert rollups == {"reports.DailyUnitStat", "reports.DailyCategoryStat", "reports.DailyDispatchStat"}
    assert all(alias != "replica" for label, alias in mirror_replica if label.startswith("reports.Daily"))
    assert _on_replica(mirror_replica)


@pytest.mark.django_db
def test_the_desk_reads_on_the_primary(city, mirror_replica):
    """The desk's own pages are no door: the ticket list and a ticket's page; nor is
    one record by number (the API's, Open311's)."""
    ticket = new_ticket(city)
    client = Client()
    client.force_login(city.dispatcher)
    mirror_replica.clear()
    assert client.get(reverse("admin:cases_ticket_changelist")).status_code == 200
    assert client.get(reverse("admin:cases_ticket_change", args=[ticket.pk])).status_code == 200
    assert client.get(f"/api/v1/tickets/{ticket.number}/").status_code == 200
    assert client.get(f"/open311/v2/requests/{ticket.number}.json").status_code in (200, 404)
    assert mirror_replica and not _on_replica(mirror_replica)


# -- CI runs the replica tests -------------------------------------------------------------------------


def test_ci_runs_the_replica_tests_against_a_streaming_replica_and_make_test_leaves_them_out():
    run = (ROOT / ".ci" / "run").read_text()
    assert 'eval "$(.ci/start-replica)"' in run
    assert re.search(r"pytest .*-m replica\b", run)
    assert run.index("start-replica") < run.index(".ci/bench check")
    makefile = (ROOT / "Makefile").read_text()
    assert makefile.count("not replica") >= 2
    script = (ROOT / ".ci" / "start-replica").read_text()
    assert "pg_basebackup" in script and " -R " in script and "PGREPLICAPORT:-55434" in script
