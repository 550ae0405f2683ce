"""Shared fixtures: a small city with every role, and helpers that drive tickets
through the real workflow functions."""

import os
from datetime import datetime
from types import SimpleNamespace
from zoneinfo import ZoneInfo

import pytest
from django.core.cache import cache
from django.db import connection
from django.utils import translation

from cases import workflow
from cases.models import Channel, Nature, TicketState
from cases.reference import reference_forget
from config import health, replicas
from departments.models import Department
from departments.roles import Role
from tests.cases.factories import CategoryFactory
from tests.departments.factories import DepartmentFactory, GridFactory, staff
from tests.processes import Processes, process_env

SHANGHAI = ZoneInfo("Asia/Shanghai")


def local(*args) -> datetime:
    """A timezone-aware Asia/Shanghai datetime: ``local(2026, 11, 23, 9, 0)``."""
    return datetime(*args, tzinfo=SHANGHAI)


@pytest.fixture(scope="session", autouse=True)
def _database_is_the_one_ci_asked_for(django_db_setup, django_db_blocker):
    """In CI, a DATABASE_URL that silently fell back to SQLite is a failure."""
    if os.environ.get("CI") == "true" and os.environ.get("DATABASE_URL"):
        with django_db_blocker.unblock():
            assert connection.vendor == "postgresql", connection.vendor


@pytest.fixture(autouse=True)
def _fresh_caches(settings, tmp_path):
    settings.MEDIA_ROOT = tmp_path / "media"
    settings.SUGGEST_DIR = tmp_path / "suggest"
    cache.clear()  # throttles and lookup counters start from zero
    health.forget()
    replicas.forget()
    reference_forget()
    yield
    reference_forget()
    # A request in English leaves this thread's language active; the next test
    # starts in the default language again.
    translation.activate(settings.LANGUAGE_CODE)


@pytest.fixture
def processes(tmp_path):
    """Real child processes (Celery, gunicorn) against the test database."""
    procs = Processes(process_env(tmp_path), tmp_path)
    yield procs
    procs.stop_all()


def _parallel(config) -> bool:
    """Is this run spread over pytest-xdist workers (``-n``)?"""
    return bool(getattr(config.option, "numprocesses", None)) or hasattr(config, "workerinput")


def pytest_collection_modifyitems(config, items):
    """Tests marked ``postgres`` need a PostgreSQL server (row locks, restarts):
    deselected when DATABASE_URL names none; CI stage 2 runs them. Tests marked
    ``serial`` must have the machine to themselves: an xdist run deselects them
    (``make test`` runs them alone, in a pass of their own)."""
    unwanted = []
    if not os.environ.get("DATABASE_URL", "").startswith("postgres"):
        unwanted += [item for item in items if item.get_closest_marker("postgres")]
    if not os.environ.get("DATABASE_REPLICA_URL") and os.environ.get("CI") != "true":
        # In CI they stay selected and fail without a replica: stage 2's replica run
        # must not pass by skipping (`make test` deselects them with -m).
        unwanted += [item for item in items if item.get_closest_marker("replica")]
    if _parallel(config):
        unwanted += [item for item in items if item.get_closest_marker("serial")]
    if unwanted:
        unwanted = list(dict.fromkeys(unwanted))
        config.hook.pytest_deselected(items=unwanted)
        items[:] = [item for item in items if item not in unwanted]


def pytest_report_header(config):
    lines = []
    if not os.environ.get("DATABASE_URL", "").startswith("postgres"):
        lines.append("tests marked 'postgres' are deselected: DATABASE_URL names no PostgreSQL (CI stage 2 runs them)")
    if not os.environ.get("DATABASE_REPLICA_URL"):
        if os.environ.get("CI") != "true":
            lines.append("tests marked 'replica' are deselected: no DATABASE_REPLICA_URL (CI stage 2 runs them)")
        else:
            lines.append("CI without DATABASE_REPLICA_URL: tests marked 'replica' fail (no 'replica' database alias)")
    if _parallel(config):
        lines.append(
            "tests marked 'serial' are deselected in a parallel run: `make test` runs them in a pass of their own"
        )
    return lines


@pytest.fixture
def city(db):
    """西宁-like fixture: centre, a district with two streets, communities, a grid,
    a bureau and a utility; one user per role; a small category tree."""
    c = SimpleNamespace()
    c.city = DepartmentFactory(name="西宁市", kind=Department.Kind.CITY, code="630100")
    c.centre = DepartmentFactory(name="12345热线中心", kind=Department.Kind.CENTRE, parent=c.city)
    c.district = DepartmentFactory(name="城东区", kind=Department.Kind.DISTRICT, parent=c.city)
    c.street = DepartmentFactory(
        name="东关大街街道", short_name="东关大街", kind=Department.Kind.STREET, parent=c.district
    )
    c.street2 = DepartmentFactory(name="八一路街道", kind=Department.Kind.STREET, parent=c.district)
    c.community = DepartmentFactory(
        name="东关社区", kind=Department.Kind.COMMUNITY, parent=c.street, address_keywords="东关大街\n清真巷"
    )
    c.community_b = DepartmentFactory(name="北小街社区", kind=Department.Kind.COMMUNITY, parent=c.street)
    c.community2 = DepartmentFactory(
        name="八一社区", kind=Department.Kind.COMMUNITY, parent=c.street2, address_keywords="八一中路"
    )
    c.bureau = DepartmentFactory(name="住房和城乡建设局", kind=Department.Kind.BUREAU, parent=c.city)
    c.bureau2 = DepartmentFactory(name="生态环境局", kind=Department.Kind.BUREAU, parent=c.city)
    c.utility = DepartmentFactory(name="西宁热力公司", kind=Department.Kind.COMPANY, parent=c.city)

    c.operator = staff(Role.OPERATOR, c.centre, "operator", last_name="王", first_name="丽")
    c.dispatcher = staff(Role.DISPATCHER, c.centre, "dispatcher", last_name="李", first_name="建国")
    c.supervisor = staff(Role.SUPERVISOR, c.centre, "supervisor", last_name="张", first_name="明华")
    c.callback = staff(Role.CALLBACK, c.centre, "callback", last_name="刘", first_name="芳")
    c.leader = staff(Role.LEADER, c.city, "leader", last_name="赵", first_name="志强")
    c.handler = staff(Role.HANDLER, c.street, "handler_street", last_name="周", first_name="海燕")
    c.head = staff(Role.UNIT_HEAD, c.street, "head_street", last_name="吴", first_name="国栋")
    c.handler2 = staff(Role.HANDLER, c.street2, "handler_street2", last_name="马", first_name="文斌")
    c.community_handler = staff(Role.HANDLER, c.community, "handler_community", last_name="何", first_name="晓东")
    c.bureau_handler = staff(Role.HANDLER, c.bureau, "handler_bureau", last_name="孙", first_name="立新")
    c.bureau2_handler = staff(Role.HANDLER, c.bureau2, "handler_bureau2", last_name="郑", first_name="红")
    c.utility_handler = staff(Role.HANDLER, c.utility, "handler_utility", last_name="高", first_name="鹏")
    c.gridworker = staff(Role.GRID_WORKER, c.community, "gridworker", last_name="韩", first_name="秀兰")
    c.grid = GridFactory(
        name="东关一网格",
        code="G-DG-01",
        community=c.community,
        worker=c.gridworker,
        address_keywords="东关大街1号院",
        latitude="36.616000",
        longitude="101.790000",
    )

    c.construction = CategoryFactory(name="城乡建设", code="01")
    c.heating = CategoryFactory(name="供暖", code="0101", parent=c.construction)
    c.cold_room = CategoryFactory(name="室温不达标", code="010101", parent=c.heating, default_nature=Nature.COMPLAINT)
    c.environment = CategoryFactory(name="环境保护", code="02")
    c.noise = CategoryFactory(name="噪声", code="0201", parent=c.environment)
    c.consult = CategoryFactory(name="政策咨询", code="03", default_nature=Nature.CONSULT)
    return c


def add_subcentres(c):
    """Two sub-centres (分中心): 城东区 — the district of every street above, so
    the objects of the ``city`` fixture lie inside it — with one of each centre
    role, and 城西区 with a street of its own and a dispatcher, supervisor and
    callback agent (outside everything above)."""
    c.district.is_subcentre = True
    c.district.save(update_fields=["is_subcentre"])
    c.district_w = DepartmentFactory(name="城西区", kind=Department.Kind.DISTRICT, parent=c.city, is_subcentre=True)
    c.street_w = DepartmentFactory(name="西关街道", kind=Department.Kind.STREET, parent=c.district_w)
    c.handler_w = staff(Role.HANDLER, c.street_w, "handler_west", last_name="冯", first_name="涛")
    c.sub_operator = staff(Role.OPERATOR, c.district, "sub_operator", last_name="曹", first_name="静")
    c.sub_dispatcher = staff(Role.DISPATCHER, c.district, "sub_dispatcher", last_name="彭", first_name="军")
    c.sub_supervisor = staff(Role.SUPERVISOR, c.district, "sub_supervisor", last_name="曾", first_name="超")
    c.sub_callback = staff(Role.CALLBACK, c.district, "sub_callback", last_name="许", first_name="娟")
    c.sub_leader = staff(Role.LEADER, c.district, "sub_leader", last_name="唐", first_name="明")
    c.west_dispatcher = staff(Role.DISPATCHER, c.district_w, "west_dispatcher", last_name="宋", first_name="杰")
    c.west_supervisor = staff(Role.SUPERVISOR, c.district_w, "west_supervisor", last_name="谢", first_name="平")
    c.west_callback = staff(Role.CALLBACK, c.district_w, "west_callback", last_name="梁", first_name="霞")
    return c


def new_ticket(c, *, actor=None, **overrides):
    values = {
        "channel": Channel.HOTLINE,
        "category": c.cold_room,
        "content": "东关大街1号院3号楼暖气不热，室温只有14度。",
        "citizen_name": "王女士",
        "citizen_phone": "13800001234",
        "address": "城东区东关大街1号院3号楼",
    }
    values.update(overrides)
    return workflow.ticket_create(actor=actor or c.operator, **values)


def drive(c, ticket, target: str, *, lead=None):
    """Take ``ticket`` to ``target`` along the main path, through the workflow."""
    lead = lead or c.street
    handler = {c.street.pk: c.handler, c.street2.pk: c.handler2, c.bureau.pk: c.bureau_handler}[lead.pk]
    path = [
        TicketState.DISPATCHED,
        TicketState.HANDLING,
        TicketState.REVIEWING,
        TicketState.CLOSED,
    ]
    if target == ticket.state:
        return ticket
    start = path.index(ticket.state) + 1 if ticket.state in path else 0
    for state in path[start:]:
        if state == TicketState.DISPATCHED:
            ticket = workflow.ticket_dispatch(ticket=ticket, actor=c.dispatcher, department=lead)
        elif state == TicketState.HANDLING:
            ticket = workflow.ticket_sign(ticket=ticket, actor=handler)
            ticket = workflow.ticket_contact(ticket=ticket, actor=handler, note="电话联系王女士，约定上门。")
        elif state == TicketState.REVIEWING:
            ticket = workflow.ticket_reply(
                ticket=ticket,
                actor=handler,
                result="solved",
                text="已协调热力公司排气，室温恢复到20度。",
                public_summary="已协调热力公司排气，室温已恢复。",
            )
        elif state == TicketState.CLOSED:
            ticket = workflow.ticket_approve(ticket=ticket, actor=c.dispatcher)
        if state == target:
            return ticket
    raise ValueError(target)
