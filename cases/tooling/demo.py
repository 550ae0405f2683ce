"""Builds the demo city and replays weeks of hotline work through the real workflow
functions (``python manage.py seed_demo``). Idempotent: reference data is created
once, tickets only when no demo tickets exist yet."""

import functools
import os
import random
from contextlib import contextmanager
from dataclasses import dataclass, field
from datetime import datetime, timedelta

from django.conf import settings
from django.contrib.auth import get_user_model
from django.contrib.auth.hashers import make_password
from django.db import connection, transaction
from django.utils import timezone
from django.utils.translation import gettext_lazy as _

from departments.models import Department, DutyAssignment, Grid, StaffProfile, TerritorialLevel
from departments.roles import Role
from departments.selectors import Territory, duty_suggest
from reports.hotspots import spikes_detect
from reports.models import Report, ReportSubscription
from reports.reporting import report_build
from reports.rollups import rollups_rebuild

from .. import workflow
from ..api_keys import api_key_issue
from ..callbacks import callback_batch, callback_record, callback_unreachable
from ..clock import clock_at
from ..cluster_actions import cluster_escalate
from ..clusters import clusters_sweep
from ..deadlines.scan import deadline_scan
from ..incidents import incident_close, incident_declare, incident_link_answer, incident_link_attach
from ..models import (
    ApiKey,
    Callback,
    Category,
    Channel,
    Cluster,
    DeadlinePolicy,
    Incident,
    KnowledgeArticle,
    ReasonCode,
    ReplyResult,
    ServiceAttribute,
    SuggestionModel,
    Theme,
    ThemeTask,
    Ticket,
    TicketState,
    Urge,
    Urgency,
    WorkingCalendar,
)
from ..notifications.on_transition import followups_inline
from ..reference import reference_changed
from ..suggestions import SuggestionsUnavailable, suggestion_model_describe, suggestion_train
from ..themes import theme_relink
from ..workflow import WorkflowError, WorkflowPermissionError
from . import demo_data as D

DEMO_PASSWORD = "demo12345"


def demo_tickets() -> int:
    """How many tickets the first start replays (``HOTLINE_DEMO_TICKETS``, 2,000)."""
    return int(os.environ.get("HOTLINE_DEMO_TICKETS", "2000"))


DEMO_PREFIX = "demo-"
XINING = (36.6171, 101.7782)


@dataclass
class City:
    city: Department
    centre: Department
    districts: list = field(default_factory=list)
    streets: list = field(default_factory=list)
    communities: list = field(default_factory=list)
    bureaus: dict = field(default_factory=dict)
    companies: dict = field(default_factory=dict)
    grids_by_community: dict = field(default_factory=dict)
    units_by_code: dict = field(default_factory=dict)


def _unit(code, name, kind, parent, **extra):
    unit, _ = Department.objects.get_or_create(
        code=code, defaults={"name": name, "kind": kind, "parent": parent, **extra}
    )
    return unit


def _base_name(name: str) -> str:
    for suffix in ("社区", "村"):
        if name.endswith(suffix):
            return name[: -len(suffix)]
    return name


#: The demo city's extent (west, south, east, north): districts tile it in strips
#: west to east, streets tile their district south to north, communities their
#: street west to east, and each community's two grids split it south / north.
CITY_BOX = (XINING[1] - 0.12, XINING[0] - 0.08, XINING[1] + 0.12, XINING[0] + 0.08)


def split_box(box: tuple, n: int, *, west_to_east: bool) -> list[tuple]:
    """``box`` cut into ``n`` equal strips; neighbours share their edge exactly
    (every coordinate rounded to 6 places: about 0.1 m)."""
    west, south, east, north = box
    low, high = (west, east) if west_to_east else (south, north)
    cuts = [round(low + (high - low) * i / n, 6) for i in range(n)] + [round(high, 6)]
    if west_to_east:
        return [(cuts[i], round(south, 6), cuts[i + 1], round(north, 6)) for i in range(n)]
    return [(round(west, 6), cuts[i], round(east, 6), cuts[i + 1]) for i in range(n)]


def box_polygon(box: tuple) -> dict:
    """A box as a closed GeoJSON Polygon ([lng, lat], counter-clockwise)."""
    west, south, east, north = box
    ring = [[west, south], [east, south], [east, north], [west, north], [west, south]]
    return {"type": "Polygon", "coordinates": [ring]}


def _unit_with_boundary(code, name, kind, parent, box, **extra):
    unit = _unit(code, name, kind, parent, boundary=box_polygon(box), **extra)
    if unit.boundary is None:  # a city seeded before units had boundaries
        unit.boundary = box_polygon(box)
        Department.objects.filter(pk=unit.pk).update(boundary=unit.boundary)
    return unit


def build_city(rng: random.Random) -> City:
    """The demo city's units and grids, each district, street, community and grid
    with a rectangle that tiles its parent's; a grid's centre lies inside its own
    rectangle (drawn as before, so the random sequence of the rest is unchanged)."""
    city_unit = _unit(D.CITY[0], D.CITY[1], Department.Kind.CITY, None)
    centre = _unit(D.CENTRE[0], D.CENTRE[1], Department.Kind.CENTRE, city_unit, phone="12345")
    c = City(city=city_unit, centre=centre)
    district_boxes = split_box(CITY_BOX, len(D.DISTRICTS), west_to_east=True)
    for (code, name, short, streets), district_box in zip(D.DISTRICTS, district_boxes, strict=True):
        district = _unit_with_boundary(code, name, Department.Kind.DISTRICT, city_unit, district_box, short_name=short)
        c.districts.append(district)
        street_boxes = split_box(district_box, len(streets), west_to_east=False)
        for (suffix, street_name, communities), street_box in zip(streets, street_boxes, strict=True):
            street = _unit_with_boundary(f"{code}{suffix}", street_name, Department.Kind.STREET, district, street_box)
            c.streets.append(street)
            community_boxes = split_box(street_box, len(communities), west_to_east=True)
            for index, (community_name, community_box) in enumerate(
                zip(communities, community_boxes, strict=True), start=1
            ):
                base = _base_name(community_name)
                community = _unit_with_boundary(
                    f"{street.code}{index:03d}",
                    community_name,
                    Department.Kind.COMMUNITY,
                    street,
                    community_box,
                    address_keywords=base,
                )
                c.communities.append(community)
                grids = []
                for g, grid_box in enumerate(split_box(community_box, 2, west_to_east=False), start=1):
                    west, south, east, north = grid_box
                    # the same two draws as ever, placed in the middle half of the grid
                    lat = south + (north - south) * (0.25 + 0.5 * (rng.uniform(-0.08, 0.08) + 0.08) / 0.16)
                    lng = west + (east - west) * (0.25 + 0.5 * (rng.uniform(-0.12, 0.12) + 0.12) / 0.24)
                    grid, _ = Grid.objects.get_or_create(
                        code=f"{community.code}-G{g}",
                        defaults={
                            "community": community,
                            "name": f"{base}第{g}网格",
                            "address_keywords": f"{base}{2 * g - 1}号院\n{base}{2 * g}号院",
                            "latitude": round(lat, 6),
                            "longitude": round(lng, 6),
                            "boundary": box_polygon(grid_box),
                        },
                    )
                    if grid.boundary is None:
                        grid.boundary = box_polygon(grid_box)
                        Grid.objects.filter(pk=grid.pk).update(boundary=grid.boundary)
                    grids.append(grid)
                c.grids_by_community[community.pk] = grids
    reference_changed()  # boundaries given to a city seeded before them, without signals
    for district in c.districts:
        if district.code == D.SUBCENTRE and not district.is_subcentre:
            district.is_subcentre = True
            district.save(update_fields=["is_subcentre"])
    for code, name in D.BUREAUS:
        c.bureaus[code] = _unit(code, name, Department.Kind.BUREAU, city_unit)
    for code, name in D.COMPANIES:
        c.companies[code] = _unit(code, name, Department.Kind.COMPANY, city_unit)
    c.units_by_code = {d.code: d for d in Department.objects.exclude(code=None)}
    return c


def build_calendars(c: City) -> None:
    """Per-unit working calendars and one unit-scoped policy, so the demo shows
    a 24×7 utility and a community duty point on a 20-minute urgent sign."""
    for name, kind, segments, codes in D.CALENDARS:
        calendar, _ = WorkingCalendar.objects.get_or_create(name=name, defaults={"kind": kind, "segments": segments})
        Department.objects.filter(code__in=codes, calendar=None).update(calendar=calendar)
    name, amount, unit = D.DUTY_POINT_POLICY
    DeadlinePolicy.objects.get_or_create(
        department=c.communities[0],
        category=None,
        urgency=Urgency.URGENT,
        nature="",
        defaults={"name": name, "sign_limit": amount, "sign_unit": unit},
    )
    reference_changed()  # the units' calendars changed by a bulk update, without signals


def build_categories() -> dict[str, Category]:
    by_code = {}

    def add(code, name, nature, urgency, parent):
        category, _ = Category.objects.get_or_create(
            code=code,
            defaults={
                "name": name,
                "parent": parent,
                "default_nature": nature,
                "default_urgency": urgency,
                "never_public": code in D.NEVER_PUBLIC,
            },
        )
        by_code[code] = category
        return category

    for code, name, nature, urgency, children in D.CATEGORIES:
        top = add(code, name, nature, urgency, None)
        for code2, name2, nature2, urgency2, leaves in children:
            second = add(code2, name2, nature2, urgency2, top)
            for code3, name3, nature3, urgency3 in leaves:
                add(code3, name3, nature3, urgency3, second)
    return by_code


def build_duties(c: City, categories: dict) -> None:
    for code, target in D.DUTIES.items():
        category = categories[code]
        if target in ("street", "community"):
            DutyAssignment.objects.get_or_create(
                category=category, territory=None, defaults={"territorial_level": TerritorialLevel(target)}
            )
        else:
            DutyAssignment.objects.get_or_create(
                category=category, territory=None, defaults={"department": c.units_by_code[target]}
            )


def build_knowledge(categories: dict) -> None:
    for question, code, answer, keywords in D.KNOWLEDGE:
        KnowledgeArticle.objects.get_or_create(
            question=question, defaults={"answer": answer, "category": categories[code], "keywords": keywords}
        )


@functools.cache
def _demo_password_hash() -> str:
    # Hashed once: a hundred PBKDF2 runs would take longer than the whole replay.
    return make_password(DEMO_PASSWORD)


def _user(username, full_name, *, superuser=False):
    """A demo login; a Chinese name is stored as family name + given name."""
    User = get_user_model()
    user = User.objects.filter(username=username).first()
    if user is None:
        last, first = (full_name[:1], full_name[1:]) if len(full_name) <= 3 else ("", full_name)
        user = User(username=username, first_name=first, last_name=last, is_staff=True, is_superuser=superuser)
        user.password = _demo_password_hash()
        user.save()
    return user


def demo_logins() -> list[str]:
    """The demo's named logins (password ``DEMO_PASSWORD``), in the order shown."""
    return ["admin", *[u[0] for u in [*D.DEMO_USERS, *D.SUBCENTRE_USERS]]]


def build_users(c: City) -> dict:
    """The demo logins, plus one handler per unit so the replay has someone to act."""
    users = {"admin": _user("admin", "系统管理员", superuser=True)}
    for username, role, unit, full_name in [*D.DEMO_USERS, *D.SUBCENTRE_USERS, *D.EXTRA_USERS]:
        department = {"centre": c.centre, "city": c.city}.get(unit) or c.units_by_code[unit]
        user = _user(username, full_name)
        StaffProfile.objects.get_or_create(user=user, defaults={"department": department, "role": role})
        users[username] = user
    gridworker = users["gridworker"]
    grid_unit = next(unit for login, _role, unit, _name in D.DEMO_USERS if login == "gridworker")
    first_grid = Grid.objects.filter(code=f"{grid_unit}-G1").first()
    if first_grid and first_grid.worker_id is None:
        first_grid.worker = gridworker
        first_grid.save(update_fields=["worker"])
    handlers = {}
    named = {u[2]: users[u[0]] for u in D.DEMO_USERS if u[1] == "handler"}
    units = Department.objects.exclude(kind__in=[Department.Kind.CENTRE, Department.Kind.CITY]).order_by("code")
    for i, unit in enumerate(units):
        if unit.code in named:
            handlers[unit.pk] = named[unit.code]
            continue
        name = D.SURNAMES[i % len(D.SURNAMES)] + D.GIVEN_NAMES[(i // len(D.SURNAMES) + i) % len(D.GIVEN_NAMES)]
        user = _user(f"h{unit.code}", name)
        StaffProfile.objects.get_or_create(user=user, defaults={"department": unit, "role": Role.HANDLER})
        handlers[unit.pk] = user
    users["handlers"] = handlers
    return users


# -- the replay --------------------------------------------------------------------

CHANNEL_WEIGHTS = [
    (Channel.HOTLINE, 55),
    (Channel.WEB, 14),
    (Channel.APP, 12),
    (Channel.MAILBOX, 5),
    (Channel.GRID, 7),
    (Channel.SUPERVISOR, 2),
    (Channel.WALL, 2),
    (Channel.SENSOR, 3),
]
SURNAMES = "王李张刘陈杨赵黄周吴徐孙马朱胡郭何高林罗"


class Replay:
    """Replays one ticket's life, step by step, each at its own moment in the past,
    stopping at "now"; what has not happened yet stays open."""

    def __init__(self, c: City, categories: dict, users: dict, rng: random.Random, now: datetime):
        self.c, self.users, self.rng, self.now = c, users, rng, now
        self.leaves = [categories[code] for code in D.DEMANDS]
        self.slow_units = set(rng.sample([s.pk for s in c.streets], k=3))
        self.recent_by_key: dict[tuple, list] = {}
        self.recent: list[tuple[int, datetime]] = []
        self.stats: dict[str, int] = {}
        self.worker_grids = {
            g.community_id: g
            for g in Grid.objects.filter(worker__isnull=False, is_active=True).select_related("worker")
        }
        #: The unit running the demo's sub-centre (大通县分中心), if any, and its units.
        self.subcentre = Department.objects.filter(is_subcentre=True).order_by("path").first()
        self.inside_subcentre = (
            set(self.subcentre.descendants().values_list("pk", flat=True)) if self.subcentre else set()
        )
        #: Reference rows the replay reads again and again (none changes while it runs).
        self._looked_up: dict = {}

    def once(self, key, query):
        """``query()`` the first time ``key`` is asked for, then its remembered answer."""
        if key not in self._looked_up:
            self._looked_up[key] = query()
        return self._looked_up[key]

    def handler_of(self, unit: Department):
        return self.users["handlers"][unit.pk]

    def at(self, moment, fn, **kwargs):
        """Run one workflow step at ``moment`` (if that moment has come)."""
        if moment > self.now:
            raise _NotYet
        with clock_at(moment):
            return fn(**kwargs)

    def run(self, received_at: datetime, index: int) -> Ticket | None:
        rng = self.rng
        category = rng.choice(self.leaves)
        community = rng.choice(self.c.communities)
        grid = rng.choice(self.c.grids_by_community[community.pk])
        base = _base_name(community.name)
        place = f"{community.parent.parent.name}{base}{rng.randint(1, 4)}号院{rng.randint(1, 12)}号楼"
        phone = f"1{rng.choice('3578')}{rng.randint(0, 9)}{rng.randint(10000000, 99999999)}"
        echo = self._echo(received_at)
        if echo is not None:
            # The same problem again: a neighbour (多人集中) or the same caller (一人多次).
            category, community, place = echo.category, echo.community, echo.address
            if rng.random() < 0.4 and echo.citizen_phone:
                phone = echo.citizen_phone
        channel = rng.choices([c for c, _ in CHANNEL_WEIGHTS], [w for _, w in CHANNEL_WEIGHTS])[0]
        if category.code == "080101":
            channel = Channel.SENSOR if rng.random() < 0.5 else channel
        actor = self.users["operator"]
        if channel == Channel.GRID:
            actor = self.users["gridworker"]
            grid = self.once(("grid", actor.pk), Grid.objects.filter(worker=actor).first) or grid
            community = grid.community
            place = f"{_base_name(community.name)}1号院{rng.randint(1, 12)}号楼"
        urgency = ""
        if rng.random() < 0.04:
            urgency = Urgency.URGENT
        anonymous = rng.random() < 0.05 or channel == Channel.SENSOR
        content = rng.choice(D.DEMANDS[category.code]).format(place=place)
        try:
            ticket = self.at(
                received_at,
                workflow.ticket_create,
                actor=actor,
                channel=channel,
                category=category,
                content=content,
                urgency=urgency,
                citizen_name="" if anonymous else rng.choice(SURNAMES) + rng.choice(["女士", "先生"]),
                citizen_phone="" if channel == Channel.SENSOR else phone,
                is_anonymous=anonymous,
                is_confidential=category.default_nature == "report" and rng.random() < 0.5,
                address=place,
                grid=grid if channel == Channel.GRID else None,
                external_id=f"{DEMO_PREFIX}{index:05d}",
            )
        except _NotYet:
            return None
        try:
            self._life(ticket, received_at)
        except _NotYet:
            pass
        except (WorkflowError, WorkflowPermissionError) as error:
            # A step the rules refuse ends this ticket's story where it is.
            self._bump(f"refused:{getattr(error, 'code', '')}")
        return ticket

    def _echo(self, received_at) -> Ticket | None:
        """Now and then the same problem is reported again while the first ticket is
        still being handled (the replay runs ticket by ticket, so only tickets that
        are still open today can have been open then)."""
        if self.rng.random() > 0.08:
            return None
        recent = [pk for pk, at in self.recent if received_at - timedelta(days=4) < at < received_at]
        open_recent = list(
            Ticket.objects.filter(
                pk__in=recent, state__in=[TicketState.DISPATCHED, TicketState.HANDLING, TicketState.REVIEWING]
            ).select_related("category", "community")
        )
        return self.rng.choice(open_recent) if open_recent else None

    def _bump(self, key):
        self.stats[key] = self.stats.get(key, 0) + 1

    def _life(self, t: Ticket, t0: datetime) -> None:
        rng, users = self.rng, self.users
        minutes = lambda a, b: timedelta(minutes=rng.uniform(a, b))  # noqa: E731
        moment = t0 + minutes(3, 40)

        # Centre: invalid calls, direct answers, duplicates.
        if rng.random() < 0.01:
            self.at(
                moment,
                workflow.ticket_invalidate,
                ticket=t,
                actor=users["operator"],
                kind="harassment",
                reason="来电人辱骂话务员，无实际诉求。",
            )
            return self._bump("invalid")
        if t.nature == "consult" and rng.random() < 0.6:
            prefix = t.category.path[:4]
            article = self.once(
                ("article", prefix), KnowledgeArticle.objects.filter(category__path__startswith=prefix).first
            )
            text = article.answer if article else "已按政策口径向来电人解释说明。"
            self.at(t0 + minutes(2, 8), workflow.ticket_answer, ticket=t, actor=users["operator"], text=text)
            return self._bump("answered")
        key = (t.community_id, t.category_id)
        earlier = [pk for pk, at in self.recent_by_key.get(key, []) if at > t0 - timedelta(days=3)]
        if earlier and rng.random() < 0.6:
            master = Ticket.objects.get(pk=earlier[0])
            if master.state in (TicketState.DISPATCHED, TicketState.HANDLING, TicketState.REVIEWING):
                self.at(
                    moment,
                    workflow.ticket_merge,
                    ticket=t,
                    actor=users["dispatcher"],
                    master=master,
                    note="同一小区同类诉求，并单办理。",
                )
                return self._bump("merged")
        self.recent_by_key.setdefault(key, []).append((t.pk, t0))
        self.recent.append((t.pk, t0))
        self.recent = self.recent[-200:]

        # Dispatch by the duty list.
        territory = Territory(grid=t.grid, community=t.community, street=t.street, district=t.district)
        suggestions = duty_suggest(category=t.category, territory=territory) or [t.street or self.c.streets[0]]
        lead = suggestions[0]
        # A few tickets go down the whole chain: 区 → 街道 → 社区 (→ 网格员 where the
        # grid has one), each hop signed, handed back up, and the district replies.
        worker_grid = self.worker_grids.get(t.community_id)
        chain = (
            t.district is not None
            and t.street is not None
            and t.community is not None
            and rng.random() < (0.5 if worker_grid else 0.03)
        )
        if chain:
            lead = t.district
        cohandlers = []
        if rng.random() < 0.05:
            cohandlers = [rng.choice(list(self.c.bureaus.values()))]
            cohandlers = [d for d in cohandlers if d.pk != lead.pk]
        desk = users["dispatcher"]  # who dispatches, reviews and rules: the city, or a sub-centre
        subcentre = self.subcentre
        if subcentre is not None and t.district_id == subcentre.pk:
            # 大通县分中心: the city transfers, the county signs and dispatches within the county.
            self.at(moment, workflow.ticket_transfer, ticket=t, actor=desk, centre=subcentre)
            desk = users[D.SUBCENTRE_USERS[0][0]]
            moment += minutes(5, 60)
            t = self.at(moment, workflow.ticket_centre_sign, ticket=t, actor=desk)
            moment += minutes(3, 30)
            lead = lead if lead.pk in self.inside_subcentre else (t.street or lead)
            cohandlers = []
            self._bump("subcentre")
        t = self.at(
            moment,
            workflow.ticket_dispatch,
            ticket=t,
            actor=desk,
            department=lead,
            cohandlers=cohandlers,
        )
        slow = lead.pk in self.slow_units

        # A wrong dispatch comes back (退单) and goes to the street of the place.
        if rng.random() < 0.03 and t.street and t.street.pk != lead.pk:
            moment = t.dispatched_at + minutes(30, 240)
            self.at(
                moment,
                workflow.ticket_return_request,
                ticket=t,
                actor=self.handler_of(lead),
                reason="经核实不属于本单位职责，建议由属地街道办理。",
                reason_code=self.once(
                    "not_our_duty",
                    ReasonCode.objects.filter(kind=ReasonCode.Kind.RETURN, code="not_our_duty").first,
                ),
            )
            moment += minutes(20, 180)
            self.at(moment, workflow.ticket_return_approve, ticket=t, actor=desk)
            lead = t.street
            t = self.at(
                moment + minutes(5, 30),
                workflow.ticket_dispatch,
                ticket=t,
                actor=desk,
                department=lead,
                note="退单后改派属地街道。",
            )
            self._bump("returned")
        handler = self.handler_of(lead)

        moment = t.dispatched_at + (minutes(180, 420) if slow and rng.random() < 0.5 else minutes(8, 100))
        t = self.at(moment, workflow.ticket_sign, ticket=t, actor=handler)
        # (Co-handlings exist only where this replay asked for them at the dispatch.)
        cohandlings = t.cohandlings.select_related("department") if cohandlers else []
        helpers = [self.handler_of(row.department) for row in cohandlings]
        for helper in helpers:
            moment += minutes(10, 120)
            self.at(moment, workflow.ticket_cohandler_sign, ticket=t, actor=helper)
        moment += minutes(20, 600)
        t = self.at(
            moment, workflow.ticket_contact, ticket=t, actor=handler, note="已电话联系诉求人，了解情况并约定处理时间。"
        )
        for helper in helpers:
            moment += minutes(60, 900)
            self.at(
                moment,
                workflow.ticket_cohandler_reply,
                ticket=t,
                actor=helper,
                text="已派员到现场配合处置，相关情况已告知主办单位。",
            )
        worker = handler
        holders = []  # who holds the ticket below the lead, in order: they hand it back up
        hops = []
        if chain and lead.pk == t.district_id:
            hops = [({"department": t.street}, self.handler_of(t.street), "请街道牵头处置。")]
            hops.append(({"department": t.community}, self.handler_of(t.community), "请社区入户核实并处置。"))
            if worker_grid is not None:
                hops.append(({"grid": worker_grid}, worker_grid.worker, "请网格员到现场查看处置。"))
        elif lead.kind == Department.Kind.STREET and t.community and rng.random() < 0.3:
            hops = [({"department": t.community}, self.handler_of(t.community), "请社区入户核实并处置。")]
        for target, receiver, note in hops:
            moment += minutes(10, 120)
            t = self.at(moment, workflow.ticket_subdispatch, ticket=t, actor=worker, note=note, **target)
            worker = receiver
            moment += minutes(10, 180)
            t = self.at(moment, workflow.ticket_sign, ticket=t, actor=worker)
            holders.append(worker)
        if rng.random() < 0.05:
            moment += minutes(60, 1200)
            try:
                self.at(
                    moment,
                    workflow.ticket_extension_request,
                    ticket=t,
                    actor=handler,
                    working_days=3,
                    reason="需协调产权单位和施工队，申请延期3个工作日。",
                )
            except WorkflowError:
                pass  # asked too late: the unit works on without the extension
            else:
                moment += minutes(30, 300)
                if rng.random() < 0.8:
                    t = self.at(moment, workflow.ticket_extension_approve, ticket=t, actor=desk)
                else:
                    t = self.at(
                        moment,
                        workflow.ticket_extension_reject,
                        ticket=t,
                        actor=desk,
                        reason="可在时限内办结，不同意延期。",
                    )
                self._bump("extension")
        if t.urgency != Urgency.NORMAL:
            work = minutes(60, 600)
        elif slow and rng.random() < 0.35:
            work = timedelta(days=rng.uniform(6, 11))
        else:
            work = timedelta(days=rng.uniform(0.3, 4.5))
        moment += work
        self.at(moment, workflow.ticket_progress, ticket=t, actor=worker, note="已到现场查看，正在组织处置。")
        # Back up the chain with the result: the lead unit replies to the centre.
        for holder in reversed(holders):
            moment += minutes(20, 240)
            t = self.at(
                moment, workflow.ticket_hand_back, ticket=t, actor=holder, note="已现场处置完毕，交回上级审核反馈。"
            )
        moment += minutes(30, 600)
        result = rng.choices([ReplyResult.SOLVED, ReplyResult.EXPLAINED, ReplyResult.UNSOLVABLE], [80, 15, 5])[0]
        solved = result == ReplyResult.SOLVED
        t = self.at(
            moment,
            workflow.ticket_reply,
            ticket=t,
            actor=handler,
            result=result,
            text="已现场处置完毕，问题已解决，并向诉求人反馈。" if solved else "已向诉求人解释相关政策和处理情况。",
            # The 公开答复摘要 the unit approves for the board (cases.public).
            public_summary=f"{t.category.name}问题已现场处置完毕。" if solved else "已向诉求人解释相关政策。",
            reason="涉及历史遗留产权问题，需纳入明年改造计划。" if result == ReplyResult.UNSOLVABLE else "",
        )
        moment += minutes(20, 900)
        if rng.random() < 0.08:
            t = self.at(
                moment,
                workflow.ticket_rework,
                ticket=t,
                actor=desk,
                reason="反馈内容避重就轻，未说明具体处置结果，请补充现场照片。",
                reason_code=self.once(
                    "evasive", ReasonCode.objects.filter(kind=ReasonCode.Kind.REWORK, code="evasive").first
                ),
            )
            self._bump("rework")
            moment += timedelta(hours=rng.uniform(3, 30))
            t = self.at(
                moment,
                workflow.ticket_reply,
                ticket=t,
                actor=handler,
                result=ReplyResult.SOLVED,
                text="已补充处置情况：更换损坏部件，诉求人确认恢复正常。",
                public_summary="已更换损坏部件，恢复正常。",
            )
            moment += minutes(20, 600)
        self.at(moment, workflow.ticket_approve, ticket=t, actor=desk)
        self._bump("closed")


class _NotYet(Exception):
    """The step's moment is still in the future: the ticket stays where it is."""


def received_times(rng: random.Random, count: int, days: int, now: datetime) -> list[datetime]:
    """Arrival times spread over the period, busier by day than by night."""
    local_now = timezone.localtime(now)
    times = []
    while len(times) < count:
        day = rng.randrange(days)
        hour = rng.choices(range(24), [1, 1, 1, 1, 1, 2, 4, 8, 12, 12, 11, 10, 8, 9, 11, 11, 10, 9, 8, 7, 6, 4, 3, 2])[
            0
        ]
        moment = (local_now - timedelta(days=day)).replace(
            hour=hour, minute=rng.randrange(60), second=rng.randrange(60)
        )
        if moment < local_now - timedelta(minutes=5):
            times.append(moment)
    return sorted(times)


@contextmanager
def _replay_session():
    """What only a replay of thousands of steps may do: on SQLite, no sync to disk
    at each of its commits (``synchronous=OFF``; WAL is on already — a crash while
    seeding can cost the demo data, never data entered by people), and no query
    log kept in DEBUG (a debugging aid, not for a hundred thousand statements)."""
    sqlite = connection.vendor == "sqlite" and not connection.in_atomic_block  # (a test's transaction)
    if sqlite:
        with connection.cursor() as cursor:
            cursor.execute("PRAGMA synchronous")
            synchronous = cursor.fetchone()[0]
            cursor.execute("PRAGMA synchronous=OFF")
    debug, settings.DEBUG = settings.DEBUG, False
    try:
        yield
    finally:
        settings.DEBUG = debug
        if sqlite:
            with connection.cursor() as cursor:
                cursor.execute(f"PRAGMA synchronous={int(synchronous)}")


def seed(*, tickets: int = 2000, days: int = 60, seed_value: int = 20261123, progress=None, out=None) -> dict:
    """Build the city and replay ``tickets`` tickets of the last ``days`` days.
    ``progress`` wraps the tickets' iterable (a progress bar); ``out(line)`` is told
    each step after the replay as it starts, so no step runs in silence."""
    say = out or (lambda line: None)
    rng = random.Random(seed_value)
    with transaction.atomic():
        c = build_city(rng)
        build_calendars(c)
        categories = build_categories()
        build_duties(c, categories)
        build_knowledge(categories)
        users = build_users(c)
        build_open311(categories)
    summary = {"created": 0, "skipped": False}
    if Ticket.objects.filter(external_id__startswith=DEMO_PREFIX).exists():
        summary["skipped"] = True
        summary["suggestions"] = suggestions_train_first(say) if not SuggestionModel.objects.exists() else ""
        return summary
    now = timezone.now()
    replay = Replay(c, categories, users, rng, now)
    times = received_times(rng, tickets, days, now)
    # Cluster detection for each new ticket runs here, at the ticket's moment, not
    # as one queued task per ticket for the worker to find after the seed. Each
    # step commits on its own, as it would have at its moment, so what follows a
    # commit (notifications, cluster detection) sees the ticket as it was then.
    with followups_inline(), _replay_session():
        for index, received_at in enumerate(progress(times) if progress else times):
            if replay.run(received_at, index) is not None:
                summary["created"] += 1
        summary["stats"] = replay.stats
        say(_("回访、聚类和督办 …"))
        summary["followups"] = followups(replay, days=days)
        # What beat would have done meanwhile: remind about everything overdue.
        say(_("时限扫描 …"))
        summary["scan"] = deadline_scan().summary()
        say(_("每月一题 …"))
        summary["theme"] = build_theme(replay, days=days)
        say(_("统计汇总和报告 …"))
        summary["reports"] = reports_for_demo(users, days=days)
    summary["suggestions"] = suggestions_train_first(say)
    return summary


def suggestions_train_first(say) -> str:
    """智能派单: the nightly task's first run, now, so the forms show suggestions at once."""
    say(_("训练智能派单模型 …"))
    try:
        return suggestion_model_describe(suggestion_train())
    except SuggestionsUnavailable as refused:
        return str(refused)


#: Fixed keys so the README's API and Open311 examples work on the demo data. Demo only.
DEMO_API_KEYS = [
    ("演示小程序", "channel", "app", "hk_de301101_demo-miniprogram-key-not-for-production"),
    ("语音回访系统", "callback", "hotline", "hk_de301102_demo-ivr-key-not-for-production"),
    ("物联感知平台", "sensor", "sensor", "hk_de301103_demo-sensor-key-not-for-production"),
]


def build_open311(categories: dict) -> None:
    """Service-definition attributes for a few services, and the demo API keys."""
    attributes = [
        ("0101", "temperature", "室内温度（℃）", "number", False, [], 1),
        (
            "010101",
            "since",
            "从何时开始",
            "singlevaluelist",
            False,
            [{"key": "today", "name": "今天"}, {"key": "days", "name": "两三天"}, {"key": "week", "name": "一周以上"}],
            2,
        ),
        (
            "020101",
            "period",
            "噪声时段",
            "singlevaluelist",
            True,
            [{"key": "day", "name": "白天"}, {"key": "night", "name": "夜间（22:00—06:00）"}],
            1,
        ),
    ]
    for code, attr, description, datatype, required, values, order in attributes:
        if code in categories:
            ServiceAttribute.objects.get_or_create(
                category=categories[code],
                code=attr,
                defaults={
                    "description": description,
                    "datatype": datatype,
                    "required": required,
                    "values": values,
                    "order": order,
                },
            )
    for name, purpose, channel, raw in DEMO_API_KEYS:
        if not ApiKey.objects.filter(prefix=raw.split("_")[1]).exists():
            api_key_issue(name=name, purpose=purpose, channel=channel, raw=raw, note="演示数据")


def build_theme(replay: Replay, *, days: int) -> int:
    """每月一题: 老旧小区暖气不热 (室温不达标 city-wide), started three weeks ago (a
    third of a shorter replay), so
    that its page compares weeks of tickets before with the weeks since; led by the
    heating company with the housing bureau, three tasks (one done, one overdue, one
    to come). Returns the tickets linked."""
    c, users, now = replay.c, replay.users, replay.now
    today = timezone.localdate(now)
    started = today - timedelta(days=max(1, min(21, days // 3)))
    theme = Theme.objects.create(
        title="老旧小区暖气不热",
        lead_department=c.companies["630100-C03"],
        started_on=started,
        origin=Theme.Origin.MANUAL,
        description="入冬以来老旧小区室温不达标诉求集中，由热力公司牵头、住建局协办，排查管网、加装循环泵。",
        created_by=users["supervisor"],
        created_at=_at(started, 9, 0),
    )
    theme.co_departments.set([c.bureaus["630100-B06"]])
    theme.categories.set([Category.objects.get(code="010101")])
    tasks = [
        ("排查老旧小区供热管网", c.companies["630100-C03"], started + timedelta(days=7), started + timedelta(days=6)),
        ("加装楼栋循环泵", c.companies["630100-C03"], today - timedelta(days=2), None),
        ("老旧小区入户测温回访", c.bureaus["630100-B06"], today + timedelta(days=10), None),
    ]
    for title, unit, deadline, done_on in tasks:
        ThemeTask.objects.create(
            theme=theme,
            title=title,
            department=unit,
            deadline=deadline,
            done_at=_at(done_on, 17, 0) if done_on else None,
        )
    return theme_relink(theme.pk)


def reports_for_demo(users, *, days: int) -> list[str]:
    """Rollups for the whole period, the last reports issued, spikes flagged, and
    the leader and the supervisor subscribed."""
    rollups_rebuild(days=days + 1)
    today = timezone.localdate()
    for offset in range(3, -1, -1):
        spikes_detect(today - timedelta(days=offset))
    for username in ("leader", "supervisor"):
        for kind in (Report.Kind.DAILY, Report.Kind.WEEKLY, Report.Kind.MONTHLY):
            ReportSubscription.objects.get_or_create(user=users[username], kind=kind)
    issued = []
    for kind in (Report.Kind.DAILY, Report.Kind.WEEKLY, Report.Kind.MONTHLY):
        report, _created = report_build(kind)
        issued.append(report.title)
    return issued


def followups(replay: Replay, *, days: int) -> dict:
    """What the centre did besides: the daily callbacks and what they set off, a
    mass complaint and a repeat caller (clusters), supervisors' urges."""
    rng, users, now = replay.rng, replay.users, replay.now
    stats = {"callbacks": 0, "unsatisfied": 0, "reopened": 0, "urges": 0, "clusters": 0}
    # Before the callbacks: the past incident's merged calls get theirs with the rest.
    stats["incident_calls"] = _incidents(replay)
    today = timezone.localdate(now)
    for offset in range(days, 0, -1):
        day = today - timedelta(days=offset)
        with clock_at(_at(day + timedelta(days=1), 0, 30)):
            callback_batch(day=day)
        call_day = day + timedelta(days=1)
        due = Callback.objects.filter(status=Callback.Status.PENDING, next_attempt_on__lte=call_day)
        for cb in due.select_related("ticket", "agent").order_by("pk"):
            moment = _at(call_day, 9, 0) + timedelta(minutes=rng.uniform(0, 480))
            if moment > now:
                continue  # today's calls are still to be made
            with transaction.atomic(), clock_at(moment):
                if rng.random() < 0.12:
                    callback_unreachable(callback=cb, actor=cb.agent, note="无人接听")
                    continue
                solved = rng.choices(["solved", "partly", "unsolved"], [86, 9, 5])[0]
                satisfaction = rng.choices(["satisfied", "basically", "unsatisfied"], [82, 13, 5])[0]
                if solved == "unsolved" and rng.random() < 0.7:
                    satisfaction = "unsatisfied"
                cb = callback_record(
                    callback=cb,
                    actor=cb.agent,
                    contacted=rng.random() < 0.96,
                    solved=solved,
                    satisfaction=satisfaction,
                    scores={"attitude": rng.randint(3, 5), "efficiency": rng.randint(2, 5)},
                    comment=""
                    if satisfaction != "unsatisfied"
                    else rng.choice(["问题还没解决", "处理敷衍，没人上门", "只是解释，没有实际解决"]),
                    unit_at_fault=rng.random() < 0.75,
                )
            stats["callbacks"] += 1
            stats["unsatisfied"] += cb.unsatisfactory
            if cb.reopened:
                stats["reopened"] += 1
                _finish_reopened(replay, cb, moment)
    _bursts(replay)
    clusters_sweep(now=now)
    stats["clusters"] = Cluster.objects.count()
    mass = Cluster.objects.filter(kind=Cluster.Kind.MASS, status=Cluster.Status.OPEN).order_by("-size").first()
    if mass is not None:
        with clock_at(now - timedelta(hours=1)):
            try:
                cluster_escalate(
                    cluster=mass,
                    actor=users["supervisor"],
                    leader=users["leader"],
                    reason="多人集中反映同一问题，提级督办、双交办。",
                )
            except WorkflowError:
                pass
    # Supervisors chase the tickets closest to (or past) their deadlines.
    chased = list(
        Ticket.objects.filter(state=TicketState.HANDLING, next_due_at__isnull=False)
        .select_related("lead_department")
        .order_by("next_due_at")[:4]
    )
    for i, ticket in enumerate(chased):
        # Never before the ticket's own last step: the timeline must stay in order.
        last_step = ticket.events.order_by("-created_at").values_list("created_at", flat=True).first()
        moment = max(now - timedelta(hours=3 - i * 0.5), last_step + timedelta(minutes=1))
        with transaction.atomic(), clock_at(min(moment, now)):
            urge = workflow.ticket_urge(
                ticket=ticket,
                actor=users["supervisor"],
                kind=Urge.Kind.PHONE if i % 2 else Urge.Kind.WRITTEN,
                content="该工单临近或已超过办结时限，请加快办理并反馈进展。",
            )
            stats["urges"] += 1
            if i == 0:
                workflow.ticket_urge_acknowledge(
                    ticket=ticket,
                    actor=replay.handler_of(ticket.lead_department),
                    urge=urge,
                    reply="已安排专人上门，明日办结。",
                )
    return stats


def _at(day, hour, minute):
    return datetime.combine(day, datetime.min.time(), tzinfo=timezone.get_current_timezone()).replace(
        hour=hour, minute=minute
    )


def _finish_reopened(replay: Replay, cb, reopened_at) -> None:
    """The unit handles a reopened ticket again and the centre closes it."""
    ticket = cb.ticket.merged_into if cb.ticket.merged_into_id else cb.ticket
    ticket = Ticket.objects.select_related("lead_department").get(pk=ticket.pk)
    if ticket.state != TicketState.HANDLING or ticket.lead_department is None:
        return
    handler = replay.handler_of(ticket.lead_department)
    reply_at = reopened_at + timedelta(hours=replay.rng.uniform(6, 50))
    try:
        with transaction.atomic():
            ticket = replay.at(
                reply_at,
                workflow.ticket_contact,
                ticket=ticket,
                actor=handler,
                note="重办：再次联系诉求人，约定上门时间。",
            )
            ticket = replay.at(
                reply_at + timedelta(hours=2),
                workflow.ticket_reply,
                ticket=ticket,
                actor=handler,
                result=ReplyResult.SOLVED,
                text="重办：已彻底处置，诉求人现场确认。",
                public_summary="经重新办理，问题已处置完毕。",
            )
            replay.at(
                reply_at + timedelta(hours=5), workflow.ticket_approve, ticket=ticket, actor=replay.users["dispatcher"]
            )
    except (_NotYet, WorkflowError, WorkflowPermissionError):
        pass


def _bursts(replay: Replay) -> None:
    """A mass complaint (多人集中) and a repeat caller (一人多次), recent enough to be open."""
    rng, now = replay.rng, replay.now
    community = next(c for c in replay.c.communities if c.name == "建国路社区")
    heating = Category.objects.get(code="010101")
    lift = Category.objects.get(code="010202")
    operator = replay.users["operator"]
    place = f"城东区{_base_name(community.name)}2号院"
    for i in range(6):
        moment = replay.now - timedelta(hours=30 - i * 4)
        with transaction.atomic(), clock_at(moment):
            ticket = workflow.ticket_create(
                actor=operator,
                channel=Channel.HOTLINE,
                category=heating,
                citizen_name="居民",
                citizen_phone=f"1391234{5000 + i}",
                address=f"{place}{i + 1}号楼",
                content=f"{place}{i + 1}号楼暖气不热，整栋楼室温不到16度。",
                external_id=f"{DEMO_PREFIX}burst{i}",
            )
            if i < 4:
                workflow.ticket_dispatch(
                    ticket=ticket, actor=replay.users["dispatcher"], department=ticket.street or replay.c.streets[0]
                )
    for i in range(3):
        moment = now - timedelta(days=9 - i * 4, hours=rng.uniform(1, 5))
        with transaction.atomic(), clock_at(moment):
            workflow.ticket_create(
                actor=operator,
                channel=Channel.HOTLINE,
                category=lift,
                citizen_name="赵先生",
                citizen_phone="13987650000",
                address="城西区胜利路社区3号院2单元",
                content="胜利路社区3号院2单元电梯又坏了，多次反映没有彻底修好。",
                external_id=f"{DEMO_PREFIX}repeat{i}",
            )


#: The demo's declared incidents: the open 停水 took this many calls.
DEMO_INCIDENT_CALLS = 50
DEMO_INCIDENT_TITLE = "周家泉片区供水管网爆管抢修"


def _incidents(replay: Replay) -> int:
    """A 停水 declared this morning by the water company that took 50 calls (35
    answered with the notice, 15 merged into its master ticket), and a 停气 of three
    weeks ago, closed, whose merged calls took its result. Returns the calls linked."""
    c, users, now, rng = replay.c, replay.users, replay.now, replay.rng
    operator, dispatcher = users["operator"], users["dispatcher"]
    water, gas = c.units_by_code["630100-C02"], c.units_by_code["630100-C01"]
    streets = [s for s in c.streets if any(cm.parent_id == s.pk for cm in c.communities)]
    linked = 0

    def calls(incident, street, start, count, answered, category, text):
        nonlocal linked
        grids = [g for cm in c.communities if cm.parent_id == street.pk for g in c.grids_by_community[cm.pk]]
        for i in range(count):
            moment = start + timedelta(minutes=4 * i + rng.uniform(0, 3))
            grid = grids[i % len(grids)]
            with transaction.atomic(), clock_at(moment):
                ticket = workflow.ticket_create(
                    actor=operator,
                    channel=Channel.HOTLINE,
                    category=category,
                    citizen_name=rng.choice(SURNAMES) + rng.choice(["先生", "女士"]),
                    citizen_phone=f"1370971{i:04d}",
                    address=f"{grid.name.split('第')[0]}{i % 6 + 1}号院",
                    grid=grid,
                    content=text,
                    external_id=f"{DEMO_PREFIX}incident-{incident.kind}-{i}",  # no pk: a replay names them alike
                )
                link = incident_link_answer if i < answered else incident_link_attach
                link(incident=incident, ticket=ticket, actor=operator)
            linked += 1

    past_start = now - timedelta(days=21, hours=rng.uniform(0, 2))
    with clock_at(past_start):
        past = incident_declare(
            actor=users["handlers"][gas.pk],
            declared_by=gas,
            kind=Incident.Kind.GAS,
            title="中压燃气管道检修",
            category=Category.objects.get(code="0502"),
            departments=[streets[1]],
            starts_at=past_start,
            expected_end_at=past_start + timedelta(hours=10),
            notice="因中压燃气管道检修，片区内居民暂停供气，预计当日20时恢复。请关闭灶具阀门，恢复供气前勿自行点火。",
        )
    calls(
        past,
        streets[1],
        past_start + timedelta(minutes=20),
        6,
        2,
        Category.objects.get(code="050201"),
        "家里燃气打不着火，没有气了。",
    )
    with clock_at(past_start + timedelta(hours=9)):
        incident_close(
            incident=past, actor=dispatcher, result="管道检修完毕，已于当日19时全面恢复供气，燃气公司已逐户排查。"
        )

    start = now - timedelta(hours=5)
    with clock_at(start):
        water_cut = incident_declare(
            actor=users["handlers"][water.pk],
            declared_by=water,
            kind=Incident.Kind.WATER,
            title=DEMO_INCIDENT_TITLE,
            category=Category.objects.get(code="0501"),
            departments=[streets[0]],
            starts_at=start - timedelta(minutes=30),
            expected_end_at=now + timedelta(hours=6),
            notice="因供水主管道爆管抢修，片区内居民小区暂停供水，预计今日22时前恢复。抢修期间在各社区设临时送水点。",
        )
    calls(
        water_cut,
        streets[0],
        start + timedelta(minutes=5),
        DEMO_INCIDENT_CALLS,
        35,
        Category.objects.get(code="050101"),
        "家里突然停水了，什么时候能来水？",
    )
    return linked
