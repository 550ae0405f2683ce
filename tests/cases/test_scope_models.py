"""Data scope beyond tickets (DESIGN §2): for every role, exactly which callbacks,
urges, clusters, notifications, export jobs, report rows and units' numbers it
sees. The expected rows are written out per role here, from who works where in
the ``city`` fixture — not computed by the code under test."""

import pytest
from django.contrib.auth import get_user_model
from django.utils import timezone

from cases import workflow
from cases.models import Callback, Cluster, ClusterMember, Notification, TicketState, Urge
from cases.selectors.scope import (
    callback_dial_scope,
    callback_scope,
    cluster_scope,
    export_job_scope,
    has_callback_queue,
    is_citywide,
    notification_scope,
    report_scope,
    stats_home_unit,
    stats_unit_ids,
    subscription_scope,
    urge_scope,
)
from departments.roles import Role
from reports.models import ExportJob, Report, ReportSubscription, Spike
from tests.api.conftest import staff_client
from tests.conftest import add_subcentres, drive, new_ticket
from tests.departments.factories import staff

S = TicketState

CITYWIDE = ["superuser", "operator", "dispatcher", "supervisor", "callback", "leader"]
OTHERS = [
    "handler",
    "head",
    "handler2",
    "community_handler",
    "bureau_handler",
    "bureau2_handler",
    "utility_handler",
    "gridworker",
    "nobody",
]
# A sub-centre's staff (分中心): 城东区's, over both streets and their communities,
# and 城西区's, over a street of its own that holds none of the tickets below.
SUB_IN = ["sub_operator", "sub_dispatcher", "sub_supervisor", "sub_callback", "sub_leader"]
SUB_OUT = ["west_dispatcher", "west_callback"]
SUB_CENTRE = SUB_IN + SUB_OUT
EVERYONE = CITYWIDE + OTHERS + SUB_CENTRE
IN_GRID = "城东区东关大街1号院3号楼"  # resolves onto 东关一网格 (the grid worker's grid)


@pytest.fixture
def people(city):
    add_subcentres(city)
    users = {name: getattr(city, name) for name in EVERYONE if hasattr(city, name)}
    users["superuser"] = get_user_model().objects.create_superuser("root", "root@example.com", "x")
    users["nobody"] = get_user_model().objects.create_user("nobody", password="x", is_staff=True)
    users["callback2"] = staff(Role.CALLBACK, city.centre, "callback2")
    return users


@pytest.fixture
def world(city, people):
    """Open tickets in four units' hands and three closed ones, each with its rows."""
    w = {}
    w["open_street"] = drive(city, new_ticket(city, address=IN_GRID), S.HANDLING)
    w["open_community"] = workflow.ticket_subdispatch(
        ticket=drive(city, new_ticket(city, address=IN_GRID), S.HANDLING), actor=city.handler, department=city.community
    )
    w["open_street2"] = drive(city, new_ticket(city, address="八一中路1号"), S.DISPATCHED, lead=city.street2)
    w["open_bureau"] = drive(city, new_ticket(city, address=""), S.DISPATCHED, lead=city.bureau)
    w["closed_street"] = drive(city, new_ticket(city, address=IN_GRID), S.CLOSED)
    w["closed_street2"] = drive(city, new_ticket(city, address="八一中路1号"), S.CLOSED, lead=city.street2)
    w["closed_bureau"] = drive(city, new_ticket(city, address=""), S.CLOSED, lead=city.bureau)
    # the precondition the grid worker's expectations below rest on
    in_grid = {key for key, t in w.items() if t.grid_id == city.grid.pk}
    assert in_grid == {"open_street", "open_community", "closed_street"}
    return w


def _sees(scope, queryset, user, labels) -> set[str]:
    pks = set(scope(queryset, user).values_list("pk", flat=True))
    return {label for label, obj in labels.items() if obj.pk in pks}


def _by_role(people, scope, queryset, labels) -> dict[str, set[str]]:
    """What each role sees: one dict, so that a failure shows every role at once."""
    return {role: _sees(scope, queryset, people[role], labels) for role in EVERYONE}


# -- callbacks ---------------------------------------------------------------------


@pytest.fixture
def callbacks(city, world, people):
    def callback(key, agent):
        t = world[f"closed_{key}"]
        return Callback.objects.create(ticket=t, closed_at=t.closed_at, batch_date=t.closed_at.date(), agent=agent)

    # a ticket of 城东区's sub-centre, led by the street, closed by the sub-centre
    own = workflow.ticket_transfer(ticket=new_ticket(city, address=""), actor=city.dispatcher, centre=city.district)
    own = workflow.ticket_centre_sign(ticket=own, actor=city.sub_dispatcher)
    own = drive(
        city, workflow.ticket_dispatch(ticket=own, actor=city.sub_dispatcher, department=city.street), S.REVIEWING
    )
    world["closed_sub"] = workflow.ticket_approve(ticket=own, actor=city.sub_dispatcher)
    return {
        "street": callback("street", None),  # dealt to nobody yet
        "street2": callback("street2", people["callback"]),
        "bureau": callback("bureau", people["callback2"]),
        "sub": callback("sub", None),
    }


CALLBACKS_READ = {
    "superuser": {"street", "street2", "bureau", "sub"},
    "operator": {"street", "street2", "bureau", "sub"},
    "dispatcher": {"street", "street2", "bureau", "sub"},
    "supervisor": {"street", "street2", "bureau", "sub"},
    "leader": {"street", "street2", "bureau", "sub"},
    "callback": {"street", "street2", "sub"},  # own and unassigned: the agent's queue
    "handler": {"street", "sub"},  # units: their own tickets' results, read-only
    "head": {"street", "sub"},
    "handler2": {"street2"},
    "community_handler": set(),
    "bureau_handler": {"bureau"},
    "bureau2_handler": set(),
    "utility_handler": set(),
    "gridworker": {"street"},  # the ticket is in their grid
    "nobody": set(),
    # 城东区's staff: the callbacks of the tickets of its subtree …
    **{role: {"street", "street2", "sub"} for role in SUB_IN},
    # … its agent: its own sub-centre's, dealt to it or to nobody
    "sub_callback": {"sub"},
    "west_dispatcher": set(),
    "west_callback": set(),
}
CALLBACKS_DIAL = {role: (CALLBACKS_READ[role] if role in CITYWIDE + SUB_CENTRE else set()) for role in EVERYONE}


def test_callback_scope_per_role(people, callbacks):
    assert _by_role(people, callback_scope, Callback.objects.all(), callbacks) == CALLBACKS_READ
    # the second agent: their own and the unassigned, never the first agent's
    assert _sees(callback_scope, Callback.objects.all(), people["callback2"], callbacks) == {"street", "bureau", "sub"}


def test_callback_dial_scope_keeps_full_numbers_in_the_centre(people, callbacks):
    assert _by_role(people, callback_dial_scope, Callback.objects.all(), callbacks) == CALLBACKS_DIAL


def test_only_callback_agents_have_a_queue_of_their_own(people):
    assert {role for role in EVERYONE if has_callback_queue(people[role])} == {
        "callback",
        "sub_callback",
        "west_callback",
    }


# -- urges ---------------------------------------------------------------------------


@pytest.fixture
def urges(city, world):
    def urge(key):
        workflow.ticket_urge(ticket=world[f"open_{key}"], actor=city.supervisor, kind=Urge.Kind.PHONE, content="请加快")
        return Urge.objects.filter(ticket=world[f"open_{key}"]).latest("pk")

    return {key: urge(key) for key in ("street", "community", "street2", "bureau")}


ALL_URGES = {"street", "community", "street2", "bureau"}
URGES = {
    **{role: ALL_URGES for role in CITYWIDE},
    "handler": {"street", "community"},  # a street sees its communities' tickets
    "head": {"street", "community"},
    "handler2": {"street2"},
    "community_handler": {"community"},
    "bureau_handler": {"bureau"},
    "bureau2_handler": set(),
    "utility_handler": set(),
    "gridworker": {"street", "community"},
    "nobody": set(),
    **{role: {"street", "community", "street2"} for role in SUB_IN},  # both streets are 城东区's
    **{role: set() for role in SUB_OUT},
}


def test_urge_scope_per_role(people, urges):
    assert _by_role(people, urge_scope, Urge.objects.all(), urges) == URGES


# -- clusters ------------------------------------------------------------------------


@pytest.fixture
def clusters(city):
    now = timezone.now()
    seen = {"kind": Cluster.Kind.MASS, "first_at": now, "last_at": now}
    return {
        "community": Cluster.objects.create(key="a", community=city.community, category=city.cold_room, **seen),
        "community2": Cluster.objects.create(key="b", community=city.community2, category=city.noise, **seen),
    }


# (a sub-centre sees the clusters whose tickets all lie within it: these have none yet)
CLUSTERS = {role: ({"community", "community2"} if role in CITYWIDE else set()) for role in EVERYONE}


def test_cluster_scope_per_role(people, clusters):
    # even a unit inside the cluster's community does not see it: clusters span units
    assert _by_role(people, cluster_scope, Cluster.objects.all(), clusters) == CLUSTERS


def test_a_sub_centre_sees_the_clusters_within_its_subtree(city, people, world):
    now = timezone.now()
    seen = {"kind": Cluster.Kind.MASS, "first_at": now, "last_at": now}
    inside = Cluster.objects.create(key="in", community=city.community, category=city.cold_room, **seen)
    spans = Cluster.objects.create(key="span", community=city.community, category=city.cold_room, **seen)
    for cluster, keys in [(inside, ["open_street", "open_community"]), (spans, ["open_street", "open_bureau"])]:
        for key in keys:
            ClusterMember.objects.create(cluster=cluster, ticket=world[key])
    labels = {"inside": inside, "spans": spans}
    expected = {role: set() for role in EVERYONE}
    expected.update({role: {"inside", "spans"} for role in CITYWIDE})
    expected.update({role: {"inside"} for role in SUB_IN})  # a bureau's ticket is not 城东区's
    assert _by_role(people, cluster_scope, Cluster.objects.all(), labels) == expected


# -- one's own rows: notifications, export jobs, subscriptions ---------------------------


@pytest.fixture
def notifications(people, world):
    mine = {}
    for owner in ("handler", "handler2", "callback", "leader"):
        for n in range(2):
            mine[f"{owner}-{n}"] = Notification.objects.create(
                recipient=people[owner], ticket=world["open_street"], title=f"{owner} {n}"
            )
    assert Notification.objects.exclude(pk__in=[n.pk for n in mine.values()]).count() == 0
    return mine


def test_notification_scope_is_ones_own_inbox(people, notifications):
    owners = ("handler", "handler2", "callback", "leader")
    # a superuser's inbox is theirs too: administrators do not read other people's messages
    expected = {role: ({f"{role}-0", f"{role}-1"} if role in owners else set()) for role in EVERYONE}
    assert _by_role(people, notification_scope, Notification.objects.all(), notifications) == expected


def test_export_jobs_are_their_owners_only(people):
    jobs = {owner: ExportJob.objects.create(user=people[owner]) for owner in ("dispatcher", "handler", "superuser")}
    expected = {role: ({role} if role in jobs else set()) for role in EVERYONE}
    assert _by_role(people, export_job_scope, ExportJob.objects.all(), jobs) == expected


def test_report_subscriptions_are_ones_own_and_the_administrators(people):
    subscriptions = {
        owner: ReportSubscription.objects.create(user=people[owner], kind="monthly")
        for owner in ("leader", "supervisor")
    }
    expected = {role: ({role} if role in subscriptions else set()) for role in EVERYONE}
    expected["superuser"] = {"leader", "supervisor"}
    assert _by_role(people, subscription_scope, ReportSubscription.objects.all(), subscriptions) == expected


# -- numbers: report rows, stats ---------------------------------------------------------


def test_report_rows_are_citywide_only(city, people):
    report = Report.objects.create(kind="monthly", period_start="2026-10-01", period_end="2026-10-31", title="十月")
    spike = Spike.objects.create(
        day="2026-10-02", community=city.community, category=city.cold_room, count=9, baseline=1.5
    )
    expected = {role: ({"row"} if role in CITYWIDE else set()) for role in EVERYONE}
    assert _by_role(people, report_scope, Report.objects.all(), {"row": report}) == expected
    assert _by_role(people, report_scope, Spike.objects.all(), {"row": spike}) == expected


def _units(city):
    return {
        "street": city.street,
        "street2": city.street2,
        "community": city.community,
        "community_b": city.community_b,
        "community2": city.community2,
        "bureau": city.bureau,
        "bureau2": city.bureau2,
        "utility": city.utility,
        "district": city.district,
        "district_w": city.district_w,
        "street_w": city.street_w,
    }


STATS_UNITS = {
    **{role: None for role in CITYWIDE},  # the whole city
    "handler": {"street", "community", "community_b"},
    "head": {"street", "community", "community_b"},
    "handler2": {"street2", "community2"},
    "community_handler": {"community"},
    "bureau_handler": {"bureau"},
    "bureau2_handler": {"bureau2"},
    "utility_handler": {"utility"},
    "gridworker": {"community"},  # their community's numbers
    "nobody": set(),
    **{role: {"district", "street", "street2", "community", "community_b", "community2"} for role in SUB_IN},
    **{role: {"district_w", "street_w"} for role in SUB_OUT},
}
HOME_UNIT = {
    **{role: None for role in CITYWIDE},
    "handler": "street",
    "head": "street",
    "handler2": "street2",
    "community_handler": "community",
    "bureau_handler": "bureau",
    "bureau2_handler": "bureau2",
    "utility_handler": "utility",
    "gridworker": "community",
    "nobody": None,
    **{role: "district" for role in SUB_IN},
    **{role: "district_w" for role in SUB_OUT},
}


def test_whose_numbers_each_role_sees(city, people):
    units = _units(city)
    label_of = {unit.pk: label for label, unit in units.items()}
    seen, homes = {}, {}
    for role in EVERYONE:
        ids = stats_unit_ids(people[role])
        # unknown ids (the city, the centre, the district) would show up as themselves
        seen[role] = None if ids is None else {label_of.get(pk, pk) for pk in ids}
        home = stats_home_unit(people[role])
        homes[role] = label_of.get(home.pk, home.pk) if home is not None else None
    assert seen == STATS_UNITS
    assert homes == HOME_UNIT


def test_is_citywide(people):
    assert {role for role in EVERYONE if is_citywide(people[role])} == set(CITYWIDE)


def test_an_inactive_centre_user_sees_nothing(people, callbacks, clusters):
    user = people["supervisor"]
    user.is_active = False
    user.save(update_fields=["is_active"])
    assert not callback_scope(Callback.objects.all(), user).exists()
    assert not cluster_scope(Cluster.objects.all(), user).exists()
    assert stats_unit_ids(user) == []


# -- the doors ask the same selectors ------------------------------------------------------


def test_the_stats_api_gives_a_grid_worker_their_community_whether_named_or_not(city):
    client = staff_client(city.gridworker)
    community = {"id": city.community.pk, "name": city.community.name}
    assert client.get("/api/v1/stats/").json()["department"] == community
    named = client.get("/api/v1/stats/", {"department": city.community.pk})
    assert named.status_code == 200 and named.json()["department"] == community
    assert client.get("/api/v1/stats/", {"department": city.street.pk}).status_code == 404


def test_the_callbacks_api_serves_the_dial_scope(people, callbacks):
    def listed(role):
        rows = staff_client(people[role]).get("/api/v1/callbacks/").json()["results"]
        return {label for label, cb in callbacks.items() if cb.pk in {row["id"] for row in rows}}

    assert listed("supervisor") == {"street", "street2", "bureau", "sub"}
    assert listed("callback") == {"street", "street2", "sub"}
    assert listed("sub_callback") == {"sub"}
    assert listed("west_callback") == set()
    assert listed("handler") == set()  # units read their results masked, in the admin
    done = callbacks["street2"]
    Callback.objects.filter(pk=done.pk).update(status=Callback.Status.DONE)
    assert listed("callback") == {"street", "sub"}  # an agent's list: what is left to dial
    # … but a result posted twice is "already done", not "not found"
    again = {"solved": "solved", "satisfaction": "satisfied", "contacted": True}
    response = staff_client(people["callback"]).post(f"/api/v1/callbacks/{done.pk}/result/", again, format="json")
    assert response.status_code == 400
