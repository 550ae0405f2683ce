"""The permission matrix: every URL of the project (admin, API, Open311, public
pages), generated from the URL configuration, × every role, a superuser, an
anonymous visitor and a handler of another street. Each URL must have a rule
below; a new URL without one fails the test.

Objects in the URLs belong to one street (东关大街街道): its handler and unit head
may see them, the handler of 八一路街道 may not. "Allowed" is what the server
answers after following redirects: a page (2xx), or an API refusal on the
request's *content* (400/409, the body is empty on purpose) — never 401/403/404,
never the login page."""

import fnmatch
import re

import pytest
from axes.models import AccessAttempt, AccessFailureLog, AccessLog
from django.contrib.auth import get_user_model
from django.contrib.contenttypes.models import ContentType
from django.core.files.uploadedfile import SimpleUploadedFile
from django.db import transaction
from django.test import Client
from django.urls import reverse

from cases import workflow
from cases.api_keys import api_key_issue
from cases.clusters import clusters_detect_for
from cases.incidents import incident_declare
from cases.models import (
    Attachment,
    Callback,
    Cluster,
    Holiday,
    Incident,
    KnowledgeArticle,
    Notification,
    ServiceRequestToken,
    Theme,
    ThemeTask,
    TicketState,
    Urge,
    WorkingCalendar,
)
from cases.privacy import citizen_reveal
from cases.themes import theme_relink
from departments.models import DutyAssignment
from departments.roles import Role
from reports.export_jobs import export_create
from reports.exports import export_run
from reports.models import ReportSubscription, Spike
from reports.reporting import report_build
from tests.conftest import add_subcentres, drive, new_ticket
from tests.departments.factories import staff
from tests.permission_matrix import admin_model, all_routes, owned, shard_of

S = TicketState

CENTRE = {"operator", "dispatcher", "supervisor", "callback", "leader"}
UNIT = {"handler", "unit_head"}  # of the street the objects belong to
# The staff of a sub-centre (分中心): 城东区's, whose subtree holds the objects (the
# ticket is the city's, led by a street of it), and 城西区's, outside them.
SUB_IN = {"sub_operator", "sub_dispatcher", "sub_supervisor", "sub_callback", "sub_leader"}
SUB_OUT = {"west_dispatcher", "west_supervisor", "west_callback"}
SUB = SUB_IN | SUB_OUT
INTAKE_SUB = {"sub_operator", "sub_dispatcher", "sub_supervisor", "west_dispatcher", "west_supervisor"}
STAFF = {"superuser", *CENTRE, *UNIT, "gridworker", "other_unit", *SUB}
#: The wall screen's display account (Role.DISPLAY, at the hotline centre): signs in
#: like staff, yet reaches the wall screen and the public pages only.
DISPLAY = "display"
WALL = {"superuser", *CENTRE, *SUB, DISPLAY}
EVERYONE = {"anonymous", DISPLAY, *STAFF}
NOBODY: set = set()
SUPER = {"superuser"}
SCOPE = {"superuser", *CENTRE, *UNIT, "gridworker", *SUB_IN}  # the ticket is in the grid worker's grid
#: Sub-centre staff keep their role's model permissions on the reference data.
SUB_DISPATCHERS = {"sub_dispatcher", "west_dispatcher"}
KNOWLEDGE = {"superuser", "operator", "dispatcher", "supervisor", "callback", *(SUB - {"sub_leader"})}
REFERENCE_VIEW = STAFF  # units, grids, categories, policies, holidays, duty list: everyone reads them

# Rules: URL name (fnmatch) → who gets through. First match wins.
RULES: list[tuple[str, set]] = [
    # --- public ---
    ("public-*", EVERYONE),
    ("open311:*", EVERYONE),
    ("set_language", NOBODY),  # POST only
    ("javascript-catalog", EVERYONE),
    ("favicon", EVERYONE),
    ("api-schema", EVERYONE),
    ("api-docs", EVERYONE),
    ("api-redoc", EVERYONE),
    ("<open311/*", NOBODY),  # the catch-all: a JSON 404
    ("<api/v1/*", NOBODY),
    ("<admin/(?P<url>*", NOBODY),
    ("admin:login", {"anonymous"}),  # staff are sent on to the index, a display account to its wall
    # --- the wall screen (大屏): a centre's numbers; the display account's one page ---
    ("wall", WALL),
    ("wall_data", WALL),
    ("wall_geo", WALL),
    # --- the API: a person sees and acts within their scope (keys are tested in tests/api) ---
    ("api:ticket-list", STAFF),
    ("api:ticket-detail", SCOPE),
    ("api:ticket-sign", {"superuser", *UNIT}),
    ("api:ticket-cohandler-sign", SUPER),
    ("api:ticket-take-back", SUPER),  # a unit above the holder on the chain only; this ticket has no chain
    ("api:ticket-centre-sign", SUPER),  # the ticket is not with a sub-centre
    ("api:ticket-approve", {"superuser", "dispatcher"}),
    ("api:ticket-extension-approve", {"superuser", "dispatcher"}),
    ("api:ticket-return-approve", {"superuser", "dispatcher"}),
    ("api:ticket-objection-uphold", {"superuser", "dispatcher"}),
    ("api:ticket-*", SCOPE),
    ("api:category-*", STAFF),
    ("api:department-*", STAFF),
    ("api:callback-list", STAFF),  # a unit's list is empty
    # (a sub-centre's agent dials its own sub-centre's callbacks: the callback is the city's)
    ("api:callback-detail", {"superuser", *CENTRE, *(SUB_IN - {"sub_callback"})}),
    ("api:callback-*", {"superuser", "dispatcher", "supervisor", "callback", "sub_dispatcher", "sub_supervisor"}),
    ("api:alerts", NOBODY),  # sensor keys only
    ("api:stats", STAFF),
    # --- the admin: site pages ---
    ("admin:index", STAFF),
    ("admin:app_list", STAFF),
    ("admin:jsi18n", STAFF),
    ("admin:logout", NOBODY),  # POST only
    ("admin:password_change*", STAFF),
    ("admin:two_factor", STAFF),  # each person turns their own on or off
    ("admin:autocomplete", STAFF),
    ("admin:view_on_site", NOBODY),  # tickets have no public URL of their own
    ("admin:dashboard*", {"superuser", *CENTRE}),
    ("admin:hotspot", {"superuser", *CENTRE}),
    ("admin:map_*", STAFF),  # the map's numbers: within the reader's ticket scope (tests/reports/test_wall.py)
    ("admin:statistics", STAFF),  # every rate on every axis: a unit sees its own subtree's rows
    # 派单准确率 judges the centre, not the units: a sub-centre reads its own dispatches
    ("admin:dispatch_accuracy", {"superuser", *CENTRE, *SUB}),
    ("admin:export_*", {"dispatcher"}),
    # 每月一题: the centre's roles see every theme, a unit the themes it leads or
    # co-handles (the street leads this one); supervisors and leaders create and edit
    ("admin:theme_monthly", {"superuser", *CENTRE, *UNIT, "other_unit"}),  # a unit's list is its own themes
    ("admin:theme", {"superuser", *CENTRE, *UNIT}),  # the person who asked for the export
    # --- tickets ---
    ("admin:cases_ticket_changelist", STAFF),
    ("admin:cases_ticket_add", {"superuser", "operator", "dispatcher", "supervisor", "gridworker", *INTAKE_SUB}),
    (
        "admin:cases_ticket_intake_lookup",
        {"superuser", "operator", "dispatcher", "supervisor", "gridworker", *INTAKE_SUB},
    ),
    (
        "admin:cases_ticket_intake_suggest",
        {"superuser", "operator", "dispatcher", "supervisor", "gridworker", *INTAKE_SUB},
    ),
    ("admin:cases_ticket_intake_pending", NOBODY),  # one's own kept photo only (tests/cases/test_intake.py)
    ("admin:*_process_import", NOBODY),  # POST only (the import form's second step)
    ("admin:cases_ticket_export_ledger", NOBODY),  # POST only: queues an export job
    ("admin:cases_ticket_delete", NOBODY),  # nothing is deleted (DESIGN §8)
    ("admin:cases_ticket_reveal", NOBODY),  # POST only (tests/cases/test_privacy.py)
    ("admin:cases_ticket_sign", NOBODY),  # POST only (tests/cases/test_queue_flow.py)
    ("admin:cases_ticket_action", {"superuser", *UNIT}),  # an action's form opens for who may take it
    ("admin:cases_ticket_*", SCOPE),  # change, history, versions, attachment, action
    # --- supervision, callbacks, notifications ---
    ("admin:cases_urge_changelist", STAFF),
    ("admin:cases_urge_add", NOBODY),  # urges are issued from the ticket
    ("admin:cases_urge_delete", NOBODY),
    ("admin:cases_urge_*", SCOPE),  # the notice, its print view and history: the ticket's scope
    ("admin:cases_callback_changelist", STAFF),
    ("admin:cases_callback_record", SCOPE - {"sub_callback"}),  # the callback's page; its form only for agents
    ("admin:cases_callback_add", NOBODY),  # the nightly batch creates them
    ("admin:cases_callback_delete", NOBODY),
    ("admin:cases_callback_change", NOBODY),  # redirects to the record page
    ("admin:cases_callback_*", SCOPE - {"sub_callback"}),
    # --- declared incidents (停水、停电…): the world's is the utility's, affecting the street ---
    (
        "admin:cases_incident_add",
        {"superuser", "dispatcher", "supervisor", *SUB_DISPATCHERS, "sub_supervisor", "west_supervisor"},
    ),
    ("admin:cases_incident_delete", NOBODY),  # closed, never deleted
    ("admin:cases_incident_close", {"superuser", "dispatcher", "supervisor"}),  # who may manage the utility's
    ("admin:cases_incident_changelist", {"superuser", *CENTRE, *UNIT, "other_unit", *SUB}),  # a list within scope
    ("admin:cases_incident_*", {"superuser", *CENTRE, *UNIT, *SUB_IN}),  # it affects the street: its units see it
    ("admin:cases_cluster_add", NOBODY),
    ("admin:cases_cluster_delete", NOBODY),
    ("admin:cases_cluster_change", NOBODY),  # redirects to the detail page
    ("admin:cases_cluster_changelist", {"superuser", *CENTRE, *SUB}),  # a sub-centre's: those within it
    ("admin:cases_cluster_*", {"superuser", *CENTRE}),
    ("admin:cases_notification_changelist", STAFF),
    ("admin:cases_notification_preferences", STAFF),
    ("admin:cases_notification_read_all", NOBODY),  # POST only
    ("admin:cases_notification_add", NOBODY),
    ("admin:cases_notification_delete", NOBODY),
    ("admin:cases_notification_*", {"handler"}),  # one's own messages only
    # --- who looked at citizens' contact details: the supervisors' review ---
    ("admin:cases_personaldataaccess_add", NOBODY),
    ("admin:cases_personaldataaccess_delete", NOBODY),
    ("admin:cases_personaldataaccess_changelist", {"superuser", "supervisor", "sub_supervisor", "west_supervisor"}),
    ("admin:cases_personaldataaccess_*", {"superuser", "supervisor", "sub_supervisor"}),  # the ticket is 城东区's
    # --- reference data ---
    ("admin:cases_holiday_add", {"superuser", "dispatcher", *SUB_DISPATCHERS}),
    ("admin:cases_holiday_import", {"superuser", "dispatcher", *SUB_DISPATCHERS}),
    ("admin:cases_holiday_delete", {"superuser", "dispatcher", *SUB_DISPATCHERS}),
    ("admin:cases_holiday_*", REFERENCE_VIEW),
    ("admin:departments_dutyassignment_add", {"superuser", "dispatcher", *SUB_DISPATCHERS}),
    ("admin:departments_dutyassignment_import", {"superuser", "dispatcher", *SUB_DISPATCHERS}),
    ("admin:departments_dutyassignment_delete", {"superuser", "dispatcher", *SUB_DISPATCHERS}),
    ("admin:departments_dutyassignment_*", REFERENCE_VIEW),
    ("admin:cases_knowledgearticle_delete", SUPER),
    ("admin:cases_knowledgearticle_add", {"superuser", "dispatcher", *SUB_DISPATCHERS}),
    ("admin:cases_knowledgearticle_import", {"superuser", "dispatcher", *SUB_DISPATCHERS}),
    ("admin:cases_knowledgearticle_*", KNOWLEDGE),
    ("admin:cases_reasoncode_delete", NOBODY),  # codes are deactivated: events point to them
    ("admin:cases_reasoncode_add", {"superuser", "dispatcher", *SUB_DISPATCHERS}),
    ("admin:cases_reasoncode_*", REFERENCE_VIEW),
    ("admin:cases_replytemplate_delete", SUPER),
    ("admin:cases_replytemplate_add", {"superuser", "dispatcher", *SUB_DISPATCHERS}),
    ("admin:cases_replytemplate_*", REFERENCE_VIEW),
    ("admin:cases_category_add", SUPER),
    ("admin:cases_category_delete", SUPER),
    ("admin:cases_category_import", SUPER),
    ("admin:cases_category_*", REFERENCE_VIEW),
    ("admin:cases_deadlinepolicy_add", SUPER),
    ("admin:cases_deadlinepolicy_delete", SUPER),
    ("admin:cases_deadlinepolicy_*", REFERENCE_VIEW),
    ("admin:cases_workingcalendar_add", SUPER),
    ("admin:cases_workingcalendar_delete", SUPER),
    ("admin:cases_workingcalendar_*", REFERENCE_VIEW),
    ("admin:departments_department_add", SUPER),
    ("admin:departments_department_delete", SUPER),
    ("admin:departments_department_import", SUPER),
    ("admin:departments_department_boundaries_import", SUPER),  # GeoJSON; the export: REFERENCE_VIEW below
    ("admin:departments_department_*", REFERENCE_VIEW),
    ("admin:departments_grid_add", SUPER),
    ("admin:departments_grid_delete", SUPER),
    ("admin:departments_grid_import", SUPER),
    ("admin:departments_grid_boundaries_import", SUPER),  # GeoJSON; the export: REFERENCE_VIEW below
    ("admin:departments_grid_*", REFERENCE_VIEW),
    # --- reports ---
    ("admin:reports_report_add", NOBODY),  # issued by the schedule, never by hand …
    ("admin:reports_report_delete", NOBODY),  # … and never withdrawn
    ("admin:reports_report_change", NOBODY),  # redirects to the report's page
    ("admin:reports_report_*", {"superuser", *CENTRE}),
    ("admin:reports_reportsubscription_changelist", {"superuser", *CENTRE}),
    ("admin:reports_reportsubscription_add", {"superuser", *CENTRE}),
    ("admin:reports_reportsubscription_*", {"superuser", "leader"}),  # one's own subscription
    ("admin:reports_exportjob_changelist", STAFF),  # one's own exports
    ("admin:reports_exportjob_add", NOBODY),
    ("admin:reports_exportjob_delete", NOBODY),
    ("admin:reports_exportjob_*", {"dispatcher"}),
    ("admin:reports_spike_add", NOBODY),  # found by the nightly detection
    ("admin:reports_spike_delete", NOBODY),
    ("admin:reports_spike_*", {"superuser", *CENTRE}),
    ("admin:cases_theme_add", {"superuser", "supervisor", "leader"}),
    ("admin:cases_theme_delete", NOBODY),  # a theme is ended, never deleted
    ("admin:cases_theme_changelist", {"superuser", *CENTRE, *UNIT, "other_unit"}),
    ("admin:cases_theme_*", {"superuser", *CENTRE, *UNIT}),  # change (read-only but for the editors), history
    # --- accounts, keys, login records: administrators only ---
    ("admin:auth_*", SUPER),
    ("admin:axes_*_add", NOBODY),  # login records are written by logins only
    ("admin:axes_*", SUPER),
    ("admin:cases_apikey_delete", NOBODY),  # keys are revoked, never deleted
    ("admin:cases_apikey_*", SUPER),
]


LEGACY_CHANGE = re.compile(r"^<admin/(\w+)/(\w+)/<path:object_id>/>$")  # the admin's old change URL, redirected


def rule_for(name: str):
    if legacy := LEGACY_CHANGE.match(name):
        name = f"admin:{legacy[1]}_{legacy[2]}_change"
    for pattern, who in RULES:
        if fnmatch.fnmatchcase(name, pattern):
            return who
    return None


@pytest.fixture
def world(city, settings, tmp_path):
    settings.HOTLINE_MASS_COUNT = 3
    add_subcentres(city)
    closed = drive(city, new_ticket(city), S.CLOSED)
    handling = drive(city, new_ticket(city), S.HANDLING)
    for _ in range(2):  # a mass cluster in the street's community
        clusters_detect_for(new_ticket(city))
    clusters_detect_for(handling)
    callback = Callback.objects.create(ticket=closed, closed_at=closed.closed_at, batch_date=closed.closed_at.date())
    urge = workflow.ticket_urge(ticket=handling, actor=city.supervisor, kind=Urge.Kind.WRITTEN, content="请加快办理")
    attachment = Attachment.objects.create(
        ticket=handling,
        kind=Attachment.Kind.OTHER,
        file=SimpleUploadedFile("scene.txt", b"photo"),
        original_name="scene.txt",
        size=5,
        content_type="text/plain",
        uploaded_by=city.handler,
    )
    report, _created = report_build("monthly")
    export = export_run(export_create(user=city.dispatcher, query="").pk)
    notification = Notification.objects.create(recipient=city.handler, ticket=handling, title="【新工单】请及时签收")
    root = get_user_model().objects.create_superuser("root", "root@example.com", "x")
    # One of everything else the admin lists, so that every object URL has an object.
    seen = {"user_agent": "pytest", "path_info": "/admin/login/", "ip_address": "127.0.0.1"}
    AccessAttempt.objects.create(username="guesser", failures_since_start=1, **seen)
    AccessLog.objects.create(username="dispatcher", **seen)
    AccessFailureLog.objects.create(username="guesser", **seen)
    api_key_issue(name="小程序", channel="app")
    ReportSubscription.objects.create(user=city.leader, kind="monthly")
    Spike.objects.create(
        day=closed.received_at.date(), community=city.community, category=city.cold_room, count=9, baseline=1.5
    )
    Holiday.objects.get_or_create(date=closed.received_at.date(), defaults={"name": "测试假日"})
    WorkingCalendar.objects.get_or_create(name="全天候", defaults={"kind": WorkingCalendar.Kind.ALWAYS})
    DutyAssignment.objects.get_or_create(category=city.heating, department=city.utility)
    citizen_reveal(user=city.handler, ticket=handling, reason="上门处置前电话确认地址")
    KnowledgeArticle.objects.create(question="暖气不热怎么办？", answer="先报供热公司。", category=city.heating)
    theme = Theme.objects.create(
        title="老旧小区暖气不热", lead_department=city.street, started_on=closed.received_at.date(), keywords="暖气"
    )
    theme.categories.set([city.heating])
    ThemeTask.objects.create(theme=theme, title="排查管网", department=city.street, deadline=theme.started_on)
    theme_relink(theme.pk)
    incident = incident_declare(
        actor=city.utility_handler,
        declared_by=city.utility,
        kind=Incident.Kind.HEATING,
        title="供热管网抢修",
        category=city.heating,
        departments=[city.street],
        starts_at=closed.received_at,
        notice="东关大街街道部分小区暂停供暖，预计今晚恢复。",
    )
    objects = {
        "ticket": handling,
        "callback": callback,
        "urge": urge if isinstance(urge, Urge) else Urge.objects.get(ticket=handling),
        "attachment": attachment,
        "report": report,
        "export": export,
        "notification": notification,
        "cluster": Cluster.objects.filter(members__ticket=handling).first(),
        "department": city.street,
        "incident": incident,
        "token": ServiceRequestToken.objects.create(ticket=handling),
        "theme": theme,
    }
    identities = {
        "anonymous": None,
        "superuser": root,
        "operator": city.operator,
        "dispatcher": city.dispatcher,
        "supervisor": city.supervisor,
        "callback": city.callback,
        "leader": city.leader,
        "gridworker": city.gridworker,
        "handler": city.handler,
        "unit_head": city.head,
        "other_unit": city.handler2,
        DISPLAY: staff(Role.DISPLAY, city.centre, "display", last_name="指挥", first_name="大屏"),
        **{label: getattr(city, label) for label in sorted(SUB)},
    }
    return city, objects, identities


def instance_for(model, objects):
    for obj in objects.values():
        if isinstance(obj, model):
            return obj
    from cases.models import Ticket

    for field in model._meta.get_fields():
        if getattr(field, "related_model", None) is Ticket and field.many_to_one:
            found = model._default_manager.filter(**{field.name: objects["ticket"]}).order_by("pk").first()
            if found is not None:
                return found
    return model._default_manager.order_by("pk").first()


PK_OBJECTS = {
    "admin:cases_callback_record": "callback",
    "admin:cases_cluster_detail": "cluster",
    "admin:cases_notification_open": "notification",
    "admin:cases_urge_print": "urge",
    "admin:reports_report_view": "report",
    "admin:reports_report_xlsx": "report",
    "admin:export_status": "export",
    "admin:export_download": "export",
    "api:callback-detail": "callback",
    "api:callback-result": "callback",
    "api:callback-unreachable": "callback",
    "api:department-detail": "department",
    "admin:theme": "theme",
}
MAY_REDIRECT = {"admin:cases_notification_open": "/admin/cases/ticket/"}  # opening a message shows its ticket
POST_ONLY = re.compile(r"^api:(ticket-(?!list|detail)[\w-]+|callback-(result|unreachable)|alerts)$")


def path_for(route, city, objects) -> str:
    name, ticket = route.name, objects["ticket"]
    if legacy := LEGACY_CHANGE.match(name):
        from django.apps import apps

        return f"/admin/{legacy[1]}/{legacy[2]}/{instance_for(apps.get_model(legacy[1], legacy[2]), objects).pk}/"
    if name.startswith("<"):  # catch-alls
        return "/" + route.route.split("^")[0] + "no-such-thing"
    model = admin_model(name)
    if name.endswith("_simple_history"):  # a version of the object
        obj = instance_for(model, objects)
        return reverse(name, args=[obj.pk, obj.history.order_by("history_id").first().history_id])
    kwargs = {}
    for param in re.findall(r"<(?:\w+:)?(\w+)>|\(\?P<(\w+)>", route.route):
        param = param[0] or param[1]
        if param == "object_id":
            obj = instance_for(model, objects) if model else ticket
            assert obj is not None, f"{name}: no {model.__name__} to show"
            kwargs[param] = obj.pk
        elif param == "pk":
            kwargs[param] = objects[PK_OBJECTS[name]].pk if name in PK_OBJECTS else instance_for(model, objects).pk
        elif param == "id":
            kwargs[param] = city.handler.pk
        elif param in ("number", "request_id"):
            kwargs[param] = ticket.number
        elif param == "code":
            kwargs[param] = city.cold_room.code
        elif param == "fmt":
            kwargs[param] = "json"
        elif param == "token":
            kwargs[param] = objects["token"].token
        elif param == "app_label":
            kwargs[param] = "cases"
        elif param == "attachment_id":
            kwargs[param] = objects["attachment"].pk
        elif param == "content_type_id":
            kwargs[param] = ContentType.objects.get_for_model(ticket).pk
        elif param == "community_id":
            kwargs[param] = city.community.pk
        elif param == "category_id":
            kwargs[param] = city.cold_room.pk
        elif param == "kind":
            kwargs[param] = "contacted"
        elif param == "name":
            kwargs[param] = "00/photo.png"
        else:
            raise AssertionError(f"{name}: no value for <{param}>")
    if name == "admin:cases_ticket_change" or name == "admin:cases_ticket_history":
        kwargs["object_id"] = ticket.pk
    path = reverse(name, kwargs=kwargs)
    if name == "admin:autocomplete":
        path += "?app_label=cases&model_name=ticket&field_name=category&term="
    return path


def gets_through(client, route, path) -> bool:
    """Through = the page itself answers 2xx (or, for a POST-only API action, a
    refusal of the empty body). A redirect elsewhere — to the login page, to the
    admin index with "no such object", back to a list with "not allowed" — is
    not; only the admin's legacy change URL may redirect, to the change page."""
    if POST_ONLY.match(route.name):
        response = client.post(path, {}, content_type="application/json")
        assert response.status_code < 500, (route.name, path, response.status_code)
        return response.status_code not in (401, 403, 404, 405, 429)
    response = client.get(path, follow=True)
    assert response.status_code < 500, (route.name, path, response.status_code)
    hops = [url for url, _status in response.redirect_chain]
    if LEGACY_CHANGE.match(route.name):
        return response.status_code == 200 and hops == [path + "change/"]
    if route.name in MAY_REDIRECT:
        return response.status_code == 200 and all(hop.startswith(MAY_REDIRECT[route.name]) for hop in hops)
    return response.status_code < 300 and not hops


def test_every_url_has_a_rule():
    missing = [route.name for route in all_routes() if rule_for(route.name) is None]
    assert missing == [], f"URLs without a rule in the permission matrix: {missing}"


#: The matrix is split by route into this many shards, for xdist to spread (each
#: shard builds the world again, about a second of CPU).
MATRIX_SHARDS = 8


def matrix_routes(shard: int) -> list:
    """The routes shard ``shard`` checks against every identity."""
    return owned(all_routes(), lambda route: route.name, shard, MATRIX_SHARDS)


def test_the_matrix_shards_cover_every_route_once():
    shards = [matrix_routes(shard) for shard in range(MATRIX_SHARDS)]
    assert sorted(r.route for shard in shards for r in shard) == sorted(r.route for r in all_routes())
    assert all(shards), "a shard with no routes"
    assert all(shard_of(r.name, MATRIX_SHARDS) == i for i, shard in enumerate(shards) for r in shard)


@pytest.mark.parametrize("shard", range(MATRIX_SHARDS))
def test_permission_matrix(world, shard):
    city, objects, identities = world
    routes = matrix_routes(shard)
    wrong = []
    cells = 0
    # One login per identity, not per cell (a login is a fair share of a cell's cost);
    # every cell then checks the session still names that person, so a request that
    # logged the client out cannot pass the cells after it as "denied".
    clients = {label: Client() for label in identities}
    for label, user in identities.items():
        if user is not None:
            clients[label].force_login(user)
    for route in routes:
        expected = rule_for(route.name)
        path = path_for(route, city, objects)
        for label, user in identities.items():
            client = clients[label]
            with transaction.atomic():  # a POST must not change what the next identity meets
                through = gets_through(client, route, path)
                transaction.set_rollback(True)
            signed_in = client.session.get("_auth_user_id")
            assert signed_in == (str(user.pk) if user is not None else None), (route.name, label, signed_in)
            cells += 1
            if through != (label in expected):
                wrong.append(f"{route.name} {path} {label}: {'allowed' if through else 'denied'}")
    assert wrong == [], "\n".join(wrong)
    assert cells == len(routes) * len(identities)
