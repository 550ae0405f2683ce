"""The demo city: built through the workflow, idempotent, logins that work."""

import io
import random

import pytest
import shapely
import time_machine
from django.apps import apps
from django.contrib.auth import authenticate
from django.core.management import call_command
from django.db import transaction
from django.utils.translation import gettext_lazy as _

from cases import tasks
from cases.models import (
    Callback,
    Category,
    Cluster,
    DeadlinePolicy,
    DispatchHop,
    Incident,
    Notification,
    SuggestionModel,
    Theme,
    Ticket,
    TicketEvent,
    Urge,
)
from cases.notifications import on_transition
from cases.public import public_tickets
from cases.tooling import demo
from cases.tooling.console import console_language, console_text
from cases.tooling.demo import DEMO_PASSWORD
from departments import geo
from departments.models import Department, Grid
from reports.themes import theme_figures
from tests.cases.invariants import assert_consistent
from tests.conftest import local

LOGINS = [
    "admin",
    "operator",
    "dispatcher",
    "supervisor",
    "callback",
    "leader",
    "handler_street",
    "handler_street2",
    "handler_bureau",
    "gridworker",
    "display",
]


def table_counts():
    return {
        model._meta.label: model._default_manager.count()
        for app in ("cases", "departments", "auth")
        for model in apps.get_app_config(app).get_models()
    }


@pytest.mark.django_db
@time_machine.travel(local(2026, 11, 25, 11, 0), tick=True)  # mid-morning: some of today's calls are still ahead
def test_seed_demo_builds_the_city_and_is_idempotent(settings):
    settings.SUGGEST_MIN_ROWS = 10
    out = io.StringIO()
    call_command("seed_demo", tickets=80, days=8, no_progress=True, stdout=out)
    assert "Replayed 80 tickets" in out.getvalue()
    # 智能派单: the model is trained, so the forms show suggestions at once
    assert "Suggestion model" in out.getvalue() and SuggestionModel.objects.exists()
    districts = set(Department.objects.filter(kind="district").values_list("name", flat=True))
    assert {"城东区", "城中区", "城西区", "城北区", "湟中区", "大通县", "湟源县"} == districts
    for name in ["生态环境局", "城市管理综合行政执法局", "人力资源和社会保障局", "西宁热力公司", "西宁燃气公司"]:
        assert Department.objects.filter(name__contains=name).exists(), name
    for username in LOGINS:
        assert authenticate(username=username, password=DEMO_PASSWORD) is not None, username
    tickets = Ticket.objects.all()
    assert tickets.filter(external_id__regex=r"^demo-\d+$").count() == 80
    states = set(tickets.values_list("state", flat=True))
    assert {"closed", "handling"} <= states
    # Everything went through the workflow: each ticket's timeline explains it.
    for ticket in tickets.order_by("?")[:25]:
        assert_consistent(ticket)
    assert TicketEvent.objects.filter(kind=TicketEvent.Kind.DISPATCHED).exists()
    # Some tickets went down the whole chain (区 → 街道 → 社区 → 网格员) and back up.
    to_worker = DispatchHop.objects.filter(to_worker__username="gridworker")
    assert to_worker.exists()
    assert DispatchHop.objects.filter(ticket__in=to_worker.values("ticket")).count() >= 3 * to_worker.count()
    assert DispatchHop.objects.filter(end=DispatchHop.End.HANDED_BACK).exists()
    # 大通县分中心: transferred, signed and dispatched within the county by its own dispatcher
    datong = Department.objects.get(name="大通县")
    assert datong.is_subcentre
    owned = tickets.filter(centre=datong, centre_signed_at__isnull=False)
    assert owned.exists() and TicketEvent.objects.filter(kind=TicketEvent.Kind.TRANSFERRED).exists()
    dispatches = TicketEvent.objects.filter(ticket__in=owned, kind=TicketEvent.Kind.DISPATCHED)
    assert {e.actor.username for e in dispatches} == {"datong_dispatcher"}
    assert all(e.unit.path.startswith(datong.path) for e in dispatches)
    assert "Deadline scan:" in out.getvalue()
    # per-unit calendars and a unit-scoped policy: a 24×7 utility, a 20-minute duty point
    assert Department.objects.get(name="西宁热力公司").calendar.kind == "24x7"
    duty = DeadlinePolicy.objects.get(department__isnull=False, urgency="urgent")
    assert (duty.sign_limit, duty.sign_unit, duty.department.kind) == (20, "minute", "community")
    # the closed loop: callbacks made, clusters found, urges issued
    assert Callback.objects.filter(status=Callback.Status.DONE).exists()
    assert Callback.objects.filter(status=Callback.Status.PENDING).exists()  # today's calls still to make
    assert {Cluster.Kind.MASS, Cluster.Kind.REPEAT_CALLER} <= set(Cluster.objects.values_list("kind", flat=True))
    assert Cluster.objects.filter(status=Cluster.Status.ESCALATED).exists()
    assert Urge.objects.exists()
    # 每月一题: a theme with tickets before and since its start
    theme = Theme.objects.get()
    figures = theme_figures(theme)
    assert figures["before"]["received"] > 0 and figures["since"]["received"] > 0
    linked = theme.tickets.exclude(state="invalid").count()
    assert linked == figures["before"]["received"] + figures["since"]["received"]
    assert theme.tasks.filter(done_at__isnull=False).exists()
    # the public face (cases.public): the care categories never public, sensor
    # tickets private, closed tickets with the summary their unit approved
    public = public_tickets(include_invalid=True)
    assert {"养老服务", "心理健康", "社会治安", "家庭暴力"} <= set(
        Category.objects.filter(never_public=True).values_list("name", flat=True)
    )
    assert not public.filter(category__code="080101").exists()
    assert not public.filter(channel="sensor").exists()
    closed = tickets.filter(state="closed", events__kind=TicketEvent.Kind.APPROVED)
    assert closed.exists() and not closed.filter(public_summary="").exists()

    # declared incidents: an open 停水 that took 50 calls, and a closed one in the past
    water = Incident.objects.get(title=demo.DEMO_INCIDENT_TITLE)
    assert water.is_open and water.links.count() == demo.DEMO_INCIDENT_CALLS == 50
    past = Incident.objects.get(status=Incident.Status.CLOSED)
    merged = Ticket.objects.filter(incident_link__incident=past, state="merged")
    assert merged.exists() and not merged.filter(closed_at__isnull=True).exists()

    before = table_counts()
    out = io.StringIO()
    call_command("seed_demo", tickets=80, days=8, no_progress=True, stdout=out)
    assert "nothing replayed" in out.getvalue()
    assert table_counts() == before


def timelines() -> list:
    """Every demo ticket's story, by the names that survive a second run (no pks)."""
    rows = TicketEvent.objects.order_by("ticket__external_id", "created_at", "pk").values_list(
        "ticket__external_id", "kind", "created_at", "actor__username", "unit__code", "from_state", "to_state", "note"
    )
    tickets = Ticket.objects.order_by("external_id", "received_at", "content").values_list(
        "external_id", "state", "category__code", "lead_department__code", "content", "received_at"
    )
    return [list(tickets), list(rows)]


@pytest.mark.django_db
@time_machine.travel(local(2026, 11, 25, 11, 0), tick=False)
def test_the_same_seed_replays_the_same_city():
    class Undo(Exception):
        pass

    runs = []
    for _run in range(2):
        try:
            with transaction.atomic():
                demo.seed(tickets=40, days=6, seed_value=7)
                runs.append(timelines())
                raise Undo
        except Undo:
            pass
        assert not Ticket.objects.exists()
    assert runs[0] == runs[1]
    assert len(runs[0][0]) >= 40 and len(runs[0][1]) > 4 * 40


@pytest.mark.django_db(transaction=True, serialized_rollback=True)
@time_machine.travel(local(2026, 11, 25, 11, 0), tick=True)
def test_the_seed_clusters_inline_and_leaves_no_task_per_ticket(monkeypatch):
    """Each new ticket is checked for clusters at its own moment in the replay, in
    the process: no ``detect_clusters_for`` message per ticket is left for the
    worker (the queue the newcomer would watch scroll by after the seed)."""
    queued = []
    monkeypatch.setattr(tasks.detect_clusters_for, "delay", lambda *a, **k: queued.append(a))
    summary = demo.seed(tickets=60, days=6, seed_value=11)
    assert summary["created"] == 60
    assert queued == []
    # the burst of six heating calls in one community made its mass cluster at intake
    assert Cluster.objects.filter(kind=Cluster.Kind.MASS, members__ticket__external_id="demo-burst4").exists()
    # notifications went out as each transition committed, to the unit then concerned
    assert Notification.objects.filter(kind=Notification.Kind.EVENT).exists()
    # the logins the summary prints all work
    assert demo.demo_logins()[0] == "admin" and "datong_dispatcher" in demo.demo_logins()
    for username in demo.demo_logins():
        assert authenticate(username=username, password=DEMO_PASSWORD) is not None, username
    # outside the seed, a new ticket still queues its detection for the worker
    created = TicketEvent.objects.filter(kind=TicketEvent.Kind.CREATED).first()
    on_transition.event_announce(ticket_id=created.ticket_id, event_id=created.pk, kind=created.kind)
    assert queued == [(created.ticket_id,)]


def test_the_console_speaks_english_on_an_english_locale_and_chinese_otherwise():
    assert console_language({"LANG": "en_US.UTF-8"}) == "en"
    assert console_language({"LC_ALL": "zh_CN.UTF-8", "LANG": "en_US.UTF-8"}) == "zh-hans"
    assert console_language({"LC_MESSAGES": "en_GB.UTF-8", "LANG": "C.UTF-8"}) == "en"
    assert console_language({"LANG": "C.UTF-8"}) == console_language({}) == "zh-hans"
    assert console_text(_("已停止。")) in ("已停止。", "Stopped.")


@pytest.mark.django_db
def test_the_demo_city_ships_boundaries_that_tile_and_contain_the_grid_centres():
    c = demo.build_city(random.Random(7))
    city_box = geo.geometry(demo.box_polygon(demo.CITY_BOX))
    units = [*c.districts, *c.streets, *c.communities]
    grids = list(Grid.objects.all())
    assert all(geo.validate_boundary(u.boundary) == [] for u in units)
    assert all(geo.validate_boundary(g.boundary) == [] for g in grids)
    children = {}
    for unit in units:
        children.setdefault(unit.parent_id, []).append(geo.geometry(unit.boundary))
    for grid in grids:
        children.setdefault(grid.community_id, []).append(geo.geometry(grid.boundary))
    parents = {u.pk: geo.geometry(u.boundary) for u in units} | {c.city.pk: city_box}
    for parent_pk, shapes in children.items():
        union = shapely.union_all(shapes)
        assert union.symmetric_difference(parents[parent_pk]).area < 1e-12  # they tile the parent …
        assert sum(s.area for s in shapes) == pytest.approx(parents[parent_pk].area)  # … without overlap
    for grid in grids:  # every centre lies in its own grid, and locating it finds that grid
        assert geo.contains(grid.boundary, grid.latitude, grid.longitude)
        assert geo.locate(grid.latitude, grid.longitude) == grid
    assert len(geo.boundaries_geojson("district")["features"]) == len(c.districts)
    assert len(geo.boundaries_geojson("grid", parent=c.districts[0])["features"]) == sum(
        len(c.grids_by_community[p.pk]) for p in c.communities if c.districts[0].pk in p.ancestor_ids
    )
