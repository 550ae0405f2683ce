"""No 500 on any form for any input.

Every URL of the project (enumerated from the URL configuration, so a new form is
never forgotten: an unclassified route fails) is attacked by every role that can
open it: each admin form is fetched, its fields read from the HTML, and posted
back with hostile values — non-numbers where ids are expected, overlong text, NUL
bytes, impossible dates, repeated keys, unknown choices, oversized and fake
files, fields missing. Pages and JSON endpoints get hostile query strings, object
URLs hostile ids. The answer must be a 4xx, a redirect, or the form again with
an error, never a 5xx; a rejected post must have written nothing.

The REST API and Open311 get hostile bodies (broken JSON, wrong content types,
multipart, huge numbers, lists for scalars, bad coordinates, unknown service
codes) and must answer 4xx with an error body. tests/api/test_schemathesis.py
fuzzes the API from its schema as well; Open311 is not in that schema.

A failure lists every (who, method, url, field, value) that gave a 5xx."""

import fnmatch
import json
import re
from html.parser import HTMLParser
from urllib.parse import parse_qsl, urlencode, urlsplit

import pytest
import time_machine
from django.apps import apps
from django.contrib.auth import get_user_model
from django.core.files.uploadedfile import SimpleUploadedFile
from django.db import connection, transaction
from django.test import Client, RequestFactory
from django.urls import reverse
from import_export.admin import ImportMixin
from simple_history.admin import SimpleHistoryAdmin

from cases import workflow
from cases.admin.forms import ACTION_FORMS
from cases.api_keys import api_key_issue
from cases.models import ApiKey, Channel, TicketState, Urge
from config.admin_input import SafeInputAdminMixin
from tests.conftest import drive, local, new_ticket
from tests.permission_matrix import all_routes, owned
from tests.test_permission_matrix import LEGACY_CHANGE, path_for, world  # noqa: F401 (a fixture)

S = TicketState

# -- what each route is --------------------------------------------------------------

FORM = "form"  # GET the page, POST its form(s) back with hostile values
POST = "post"  # a POST-only endpoint: hostile values for the fields it reads
PAGE = "page"  # GET with hostile values for every query parameter the page links to
JSON = "json"  # a JSON endpoint: hostile values for the parameters it reads
API = "api"  # the REST API: test_api_* below (and tests/api/test_schemathesis.py)
OPEN311 = "open311"  # Open311 and the public pages: test_open311_* / test_public_* below
SKIP = "skip"  # takes no input of its own (the reason is on the line)

KINDS: list[tuple[str, str]] = [
    ("admin:login", SKIP),  # axes counts failed logins; tests/test_two_factor.py posts to it
    ("admin:logout", SKIP),  # ends the session the test runs in; takes no fields
    ("admin:view_on_site", SKIP),  # a redirect by content type and id: the hostile ids below
    ("admin:jsi18n", SKIP),  # a static catalog
    ("javascript-catalog", SKIP),
    ("favicon", SKIP),  # a static icon
    ("api-schema", SKIP),  # generated documents
    ("api-docs", SKIP),
    ("api-redoc", SKIP),
    ("set_language", POST),
    ("admin:cases_ticket_reveal", POST),
    ("admin:cases_ticket_export_ledger", POST),
    ("admin:cases_notification_read_all", POST),
    ("admin:*_process_import", POST),
    ("admin:cases_ticket_intake_lookup", JSON),
    ("admin:cases_ticket_intake_suggest", JSON),
    ("admin:autocomplete", JSON),
    ("admin:dashboard_data", JSON),
    ("admin:export_status", JSON),
    ("admin:map_data", JSON),
    ("admin:map_geo", JSON),
    ("wall", SKIP),  # takes no input: the page of the wall screen
    ("wall_data", SKIP),  # takes no input: today's numbers of the reader's centre
    ("wall_geo", JSON),
    ("admin:*_add", FORM),
    ("admin:*_change", FORM),
    ("admin:*_delete", FORM),
    ("admin:*_import", FORM),
    ("admin:cases_ticket_action", FORM),
    ("admin:cases_callback_record", FORM),
    ("admin:cases_cluster_detail", FORM),
    ("admin:cases_notification_preferences", FORM),
    ("admin:two_factor", FORM),
    ("admin:password_change", FORM),
    ("admin:auth_user_password_change", FORM),
    ("admin:*", PAGE),  # lists, histories, reports, statistics, dashboard, downloads, prints
    ("<admin/*", PAGE),  # the legacy change URL and the admin's catch-all
    ("api:*", API),
    ("<api/*", API),
    ("open311:*", OPEN311),
    ("<open311/*", OPEN311),
    ("public-*", OPEN311),
]


def kind_of(name: str):
    if LEGACY_CHANGE.match(name):
        return PAGE
    for pattern, kind in KINDS:
        if fnmatch.fnmatchcase(name, pattern):
            return kind
    return None


# -- hostile values --------------------------------------------------------------------

LONG = "长" * 10_000
MANY = ["1", "abc"]  # a repeated key where one value is expected
MISSING = object()  # the field left out

# The full set is for query parameters and the API; a form field gets a
# representative few per type (the machine is small and there are many forms).
NUMBERISH = ["abc", "1 OR 1=1", "-1", "9" * 30, "1.5", "\x00", "０１", "", MANY]
FIELD_NUMBERISH = ["abc", "-1", "9" * 30, "1.5", "\x00", "０１", MANY]
DATEISH = ["2026-02-30", "25:61", "yesterday", "\x00"]
TEXTISH = [LONG, "\x00", MANY]
CHECKISH = ["abc", MANY]


def huge_file():
    return SimpleUploadedFile("huge.jpg", b"\xff\xd8\xff" + b"\0" * (11 * 1024 * 1024), content_type="image/jpeg")


def fake_files():
    return [
        SimpleUploadedFile("photo.jpg", b"MZ\x90\x00 not an image", content_type="image/jpeg"),
        SimpleUploadedFile("run.exe", b"MZ\x90\x00", content_type="application/x-msdownload"),
        SimpleUploadedFile("data.csv", "编号,名称\n\x00,\xff".encode("utf-8", "replace"), content_type="text/csv"),
        SimpleUploadedFile("data.json", b"{broken", content_type="application/json"),
    ]


def hostile_values(field):
    """A representative set per field type, each field left out as well (an
    inline's row: a few, its first row standing for the rest)."""
    kind = field["kind"]
    if "-0-" in field["name"]:
        return ["abc", "\x00", MANY]
    if kind == "file":
        return [*fake_files(), "abc", MISSING]
    if kind in ("date", "datetime-local", "time"):
        return [*DATEISH, MISSING]
    if kind in ("text", "textarea", "password", "email", "search", "tel", "url"):
        return [*TEXTISH, MISSING]
    if kind == "checkbox":
        return [*CHECKISH, MISSING]
    return [*FIELD_NUMBERISH, MISSING]  # select, radio, number, hidden, button


def shown(value) -> str:
    if value is MISSING:
        return "<missing>"
    if isinstance(value, SimpleUploadedFile):
        return f"<file {value.name} {value.content_type} {value.size} B>"
    text = repr(value)
    return text if len(text) <= 40 else f"{text[:30]}…({len(str(value))} chars)"


# -- reading forms out of the HTML ---------------------------------------------------------


class _Forms(HTMLParser):
    """The POST forms of a page and the query parameters its links and GET forms use."""

    def __init__(self):
        super().__init__(convert_charrefs=True)
        self.forms, self.params = [], set()
        self._form = self._select = self._textarea = None

    def handle_starttag(self, tag, attrs):
        a = dict(attrs)
        if tag == "form":
            self._form = {"method": (a.get("method") or "get").lower(), "action": a.get("action") or "", "fields": []}
            self.forms.append(self._form)
        elif tag == "a" and (a.get("href") or "").startswith("?"):
            self.params.update(k for k, _v in parse_qsl(a["href"][1:], keep_blank_values=True))
        elif self._form is None or not a.get("name"):
            if tag == "option" and self._select is not None:
                self._option(a)
            return
        elif tag == "input":
            kind = (a.get("type") or "text").lower()
            if kind in ("submit", "reset", "image"):
                kind = "button"
            self._form["fields"].append(
                {"name": a["name"], "kind": kind, "value": a.get("value", ""), "checked": "checked" in a}
            )
        elif tag == "button":
            self._form["fields"].append(
                {"name": a["name"], "kind": "button", "value": a.get("value", ""), "checked": False}
            )
        elif tag == "select":
            self._select = {"name": a["name"], "kind": "select", "options": [], "value": None}
            self._form["fields"].append(self._select)
        elif tag == "textarea":
            self._textarea = {"name": a["name"], "kind": "textarea", "value": ""}
            self._form["fields"].append(self._textarea)

    def _option(self, a):
        value = a.get("value", "")
        self._select["options"].append(value)
        if "selected" in a or (self._select["value"] in (None, "") and value):
            self._select["value"] = value

    def handle_endtag(self, tag):
        if tag == "form":
            self._form = None
        elif tag == "select":
            self._select = None
        elif tag == "textarea":
            self._textarea = None

    def handle_data(self, data):
        if self._textarea is not None:
            self._textarea["value"] += data


def read_page(html: str, path: str):
    parser = _Forms()
    parser.feed(html)
    posts = []
    for form in parser.forms:
        target = urlsplit(form["action"]).path or path
        if form["method"] == "get":
            parser.params.update(f["name"] for f in form["fields"] if f["kind"] != "button")
        elif target == path and any(f["name"] != "csrfmiddlewaretoken" for f in form["fields"]):
            posts.append([f for f in form["fields"] if f["name"] != "csrfmiddlewaretoken"])
    return posts, parser.params


PLAUSIBLE = {
    "number": "1",
    "date": "2026-11-25",
    "datetime-local": "2026-11-25T10:00",
    "time": "10:00",
    "email": "a@example.com",
    "url": "https://example.com/",
}


def base_data(fields) -> dict:
    """The form as a person would send it: defaults kept, blanks filled plausibly,
    the first radio and the first button chosen."""
    data = {}
    for f in fields:
        name, kind = f["name"], f["kind"]
        if kind == "file":
            continue
        if kind in ("radio", "button"):
            if name not in data or f["checked"]:
                data[name] = f["value"]
        elif kind == "checkbox":
            if f["checked"]:
                data.setdefault(name, []).append(f["value"] or "on")
        elif kind == "select":
            data[name] = f["value"] or ""
        else:
            data[name] = f["value"] or PLAUSIBLE.get(kind, "测试内容" if kind in ("text", "textarea") else "")
    return data


INLINE_ROW = re.compile(r"-([1-9]\d*|__prefix__)-")  # an inline's second and later rows: like its first


def distinct_fields(fields) -> list:
    seen, out = set(), []
    for f in fields:
        if f["name"] not in seen and not INLINE_ROW.search(f["name"]):
            seen.add(f["name"])
            out.append(f)
    return out


def with_value(data: dict, name: str, value) -> dict:
    changed = dict(data)
    if value is MISSING:
        changed.pop(name, None)
    else:
        changed[name] = value
    return changed


# -- the rows written --------------------------------------------------------------------

OWN_APPS = ("cases", "departments", "reports", "auth")


def row_counts():
    tables = sorted(
        {m._meta.db_table for app in OWN_APPS for m in apps.get_app_config(app).get_models() if m._meta.managed}
    )
    quote = connection.ops.quote_name
    sql = "SELECT " + ", ".join(f"(SELECT COUNT(*) FROM {quote(t)})" for t in tables)
    with connection.cursor() as cursor:
        cursor.execute(sql)
        return dict(zip(tables, cursor.fetchone(), strict=True))


# -- the world ---------------------------------------------------------------------------


@pytest.fixture
def hostile_world(world):  # noqa: F811 (the permission matrix's fixture)
    """The permission matrix's world, plus a ticket in every state where some
    action form opens, and a co-handling unit's handler."""
    city, objects, identities = world
    with time_machine.travel(local(2026, 11, 24, 10, 0), tick=True):
        handling = lambda: drive(city, new_ticket(city), S.HANDLING)  # noqa: E731
        tickets = [new_ticket(city), new_ticket(city, citizen_phone="13900000000", content="清真巷路灯不亮。")]
        tickets.append(workflow.ticket_dispatch(ticket=new_ticket(city), actor=city.dispatcher, department=city.street))
        tickets.append(handling())
        t = handling()
        workflow.ticket_return_request(ticket=t, actor=city.handler, reason="不属于本单位职责")
        tickets.append(t)
        t = handling()
        workflow.ticket_extension_request(ticket=t, actor=city.handler, working_days=3, reason="需协调热力公司")
        tickets.append(t)
        t = handling()
        workflow.ticket_objection_request(ticket=t, actor=city.handler, reason="属职能部门职责")
        tickets.append(t)
        t = handling()
        workflow.ticket_cohandlers_add(ticket=t, actor=city.dispatcher, departments=[city.bureau])
        workflow.ticket_arbitration_request(ticket=t, actor=city.handler, reason="协办单位不配合")
        tickets.append(t)
        t = handling()
        workflow.ticket_cohandlers_add(ticket=t, actor=city.dispatcher, departments=[city.bureau])
        tickets.append(t)
        t = handling()
        workflow.ticket_cohandlers_add(ticket=t, actor=city.dispatcher, departments=[city.bureau])
        workflow.ticket_cohandler_sign(ticket=t, actor=city.bureau_handler)
        tickets.append(t)
        t = handling()
        workflow.ticket_require_signoff(ticket=t, actor=city.dispatcher)
        workflow.ticket_reply(ticket=t, actor=city.handler, result="solved", text="已排气，室温恢复。")
        tickets.append(t)
        t = handling()
        workflow.ticket_urge(ticket=t, actor=city.supervisor, kind=Urge.Kind.WRITTEN, content="请加快办理")
        tickets.append(t)
        tickets.append(drive(city, new_ticket(city), S.REVIEWING))
        # Down the chain to the grid worker, who signed: hand back (交回) and take back (收回) open.
        t = handling()
        workflow.ticket_subdispatch(ticket=t, actor=city.handler, department=city.community)
        workflow.ticket_sign(ticket=t, actor=city.community_handler)
        workflow.ticket_subdispatch(ticket=t, actor=city.community_handler, grid=city.grid)
        workflow.ticket_sign(ticket=t, actor=city.gridworker)
        tickets.append(t)
        t = drive(city, new_ticket(city), S.CLOSED)
        tickets.append(t)
        t = drive(city, new_ticket(city), S.CLOSED)
        workflow.ticket_reopen(ticket=t, actor=city.callback, reason="回访不满意")
        tickets.append(t)
        # transferred to 城东区's sub-centre, which is yet to sign it (分中心签收, 退回市中心)
        tickets.append(workflow.ticket_transfer(ticket=new_ticket(city), actor=city.dispatcher, centre=city.district))
    # Of the sub-centres' staff, the two whose pages differ (a dispatcher's forms, an
    # agent's queue); the others' doors are the same as their city colleagues'.
    dropped = {
        "other_unit",
        "sub_operator",
        "sub_supervisor",
        "sub_leader",
        *(label for label in identities if label.startswith("west_")),
    }
    identities = {label: user for label, user in identities.items() if user is not None and label not in dropped}
    identities["cohandler"] = city.bureau_handler
    return city, objects, identities, [t.__class__.objects.get(pk=t.pk) for t in tickets]


def client_for(user) -> Client:
    client = Client(raise_request_exception=False)
    client.force_login(user)
    return client


# -- the admin -----------------------------------------------------------------------------


def test_every_route_is_classified():
    missing = [route.name for route in all_routes() if kind_of(route.name) is None]
    assert missing == [], f"routes the hostile-input test does not know how to attack: {missing}"


def test_every_admin_uses_the_safe_input_mixin_where_it_matters():
    """Django's autocomplete widget re-renders a rejected form by looking up the
    raw value (``pk__in=["abc"]``), its many-to-many field looks up ids out of
    the column's range, simple-history's history page looks up the raw id,
    django-import-export's confirm step opens whatever file name is posted, a
    date hierarchy's year can overflow a date: a 500 each. Every admin and inline with one of them uses
    ``config.admin_input.SafeInputAdminMixin``."""
    from django.contrib import admin

    root = RequestFactory().get("/admin/")
    root.user = get_user_model()(is_superuser=True, is_staff=True, is_active=True)
    unsafe = []
    for model, model_admin in admin.site._registry.items():
        editable = model_admin.has_change_permission(root)  # tickets and read-only rows have no model form
        for candidate, on in [(type(model_admin), model), *((i, i.model) for i in model_admin.inlines)]:
            many = editable and any(f.many_to_many and not f.auto_created for f in on._meta.get_fields())
            imports = issubclass(candidate, ImportMixin)
            history = issubclass(candidate, SimpleHistoryAdmin) and "history_view" not in vars(candidate)
            dates = getattr(candidate, "date_hierarchy", None)
            risky = candidate.autocomplete_fields or many or imports or history or dates
            if risky and not issubclass(candidate, SafeInputAdminMixin):
                unsafe.append(candidate.__name__)
    assert unsafe == []


def test_a_non_numeric_category_on_intake_is_a_form_error(city):
    """The known one: ``POST /admin/cases/ticket/add/`` with ``category=abc``."""
    client = client_for(city.operator)
    before = row_counts()
    response = client.post(
        reverse("admin:cases_ticket_add"),
        {"channel": Channel.HOTLINE, "category": "abc", "content": "暖气不热", "citizen_phone": "13800001234"},
    )
    assert response.status_code == 200
    assert "category" in response.context["form"].errors
    assert row_counts() == before


def form_paths(route, city, objects, tickets, user, *, verbs=ACTION_FORMS):
    """The URLs of a form route this user may open (an action: for each verb of
    ``verbs``, on the first ticket where this user may take it)."""
    if route.name == "admin:cases_ticket_action":
        paths = []
        allowed = {}  # each ticket's actions for this user, read once: not once per verb
        for kind in (kind for kind in ACTION_FORMS if kind in verbs):
            for t in tickets:
                if t.pk not in allowed:
                    allowed[t.pk] = workflow.allowed_actions(t, user)
                if kind in allowed[t.pk]:
                    paths.append((kind, reverse(route.name, args=[t.pk, kind])))
                    break
        return paths
    return [(route.name, path_for(route, city, objects))]


class Attack:
    """Sends requests inside a transaction that is rolled back, and notes what failed."""

    def __init__(self):
        self.failures, self.requests = [], 0

    def post(self, label, client, path, data, field, value, *, check_rows=True, quiet=False):
        self.requests += 1
        with transaction.atomic():
            before = row_counts() if check_rows else None
            multipart = any(isinstance(v, SimpleUploadedFile) for v in data.values())
            if multipart:
                for v in data.values():
                    if isinstance(v, SimpleUploadedFile):
                        v.seek(0)
            response = client.post(path, data)
            where = f"{label} POST {path} {field}={shown(value)}"
            if response.status_code >= 500:
                if not quiet:
                    self.failures.append(f"{where} → {response.status_code}")
            elif check_rows and response.status_code not in (301, 302, 303):
                after = row_counts()
                written = {t: after[t] - before[t] for t in after if after[t] != before[t]}
                if written:
                    self.failures.append(f"{where} → rejected ({response.status_code}) but wrote {written}")
            transaction.set_rollback(True)
        return response

    def get(self, label, client, path, params, field, value):
        self.requests += 1
        query = urlencode(params, doseq=True)
        with transaction.atomic():
            response = client.get(f"{path}?{query}" if query else path)
            transaction.set_rollback(True)
        if response.status_code >= 500:
            self.failures.append(f"{label} GET {path} {field}={shown(value)} → {response.status_code}")
        return response

    def assert_clean(self):
        assert self.failures == [], f"{len(self.failures)} of {self.requests} hostile requests:\n" + "\n".join(
            self.failures
        )


def attack_form(attack, label, client, path, fields, *, per_field: bool):
    """Round ``i`` sets every field to the ``i``-th hostile value of its type, the
    rest as a person would send them (Django cleans each field on its own, so one
    post tries them all); a 5xx is then pinned to its field(s) one by one. Each
    field is also left out on its own (a form's ``clean()`` reading a field that
    failed is the classic 500)."""
    fields = distinct_fields(fields)
    base = base_data(fields)
    attack.post(label, client, path, {}, "<every field>", MISSING)
    if not per_field:
        attack.post(
            label, client, path, {f["name"]: "abc" for f in fields if f["kind"] != "file"}, "<every field>", "abc"
        )
        return
    hostile = {f["name"]: hostile_values(f) for f in fields}
    for f in fields:
        if f["kind"] == "file":
            hostile[f["name"]] = [huge_file(), *hostile[f["name"]]]
    for value in (LONG, "\x00", MANY):  # every field at once, the same value
        attack.post(
            label, client, path, {f["name"]: value for f in fields if f["kind"] != "file"}, "<every field>", value
        )
    for i in range(max((len(v) for v in hostile.values()), default=0)):
        data = dict(base)
        for name, values in hostile.items():
            data = with_value(data, name, values[i % len(values)])
        if attack.post(label, client, path, data, "<round>", i, quiet=True).status_code >= 500:
            found = len(attack.failures)
            for name, values in hostile.items():
                value = values[i % len(values)]
                attack.post(label, client, path, with_value(base, name, value), name, value)
            if len(attack.failures) == found:  # only the combination fails
                attack.failures.append(f"{label} POST {path} <round {i}: {data}> → 5xx")
    for f in fields:
        attack.post(label, client, path, with_value(base, f["name"], MISSING), f["name"], MISSING)


#: The admin forms are split into shards by form (a route's name, or an action
#: form's verb), so that one form's every role is attacked in one shard: the first
#: role to open a form attacks each field in full, the others with the whole-form set.
FORM_SHARDS = 10


def form_names() -> list[str]:
    """Every form the admin test attacks: each FORM route's, each action form's (its verb)."""
    routes = [r.name for r in all_routes() if kind_of(r.name) == FORM and r.name != "admin:cases_ticket_action"]
    return [*routes, *ACTION_FORMS]


def form_shard(shard: int) -> list[str]:
    """The forms shard ``shard`` attacks."""
    return owned(form_names(), str, shard, FORM_SHARDS)


@pytest.mark.parametrize("shard", range(FORM_SHARDS))
def test_hostile_posts_to_every_admin_form(hostile_world, shard):
    city, objects, identities, tickets = hostile_world
    attack = Attack()
    attacked = set()  # (form, field names): each field of each form once in full, every role with the whole-form set
    verbs_opened = set()
    mine = set(form_shard(shard))
    for route in all_routes():
        if kind_of(route.name) != FORM or (route.name != "admin:cases_ticket_action" and route.name not in mine):
            continue
        for label, user in identities.items():
            client = None
            for form_name, path in form_paths(route, city, objects, tickets, user, verbs=mine):
                if form_name not in mine:
                    continue
                client = client or client_for(user)
                response = client.get(path)
                if response.status_code != 200:
                    assert response.status_code < 500, f"{label} GET {path} → {response.status_code}"
                    continue
                for fields in read_page(response.content.decode(), path)[0]:
                    if route.name == "admin:cases_ticket_action":
                        verbs_opened.add(form_name)
                    signature = (form_name, tuple(sorted({f["name"] for f in fields})))
                    attack_form(attack, label, client, path, fields, per_field=signature not in attacked)
                    attacked.add(signature)
    attack.assert_clean()
    verbs = mine & set(ACTION_FORMS)
    assert verbs_opened == verbs, f"action forms no role opened: {verbs - verbs_opened}"


def test_hostile_posts_to_post_only_endpoints(hostile_world):
    _city, objects, identities, _tickets = hostile_world
    ticket = objects["ticket"]
    fields_of = {
        "set_language": ["language", "next"],
        "admin:cases_ticket_reveal": ["reason"],
        "admin:cases_ticket_export_ledger": ["query"],
        "admin:cases_notification_read_all": ["next"],
    }
    import_fields = ["import_file_name", "original_file_name", "format", "resource", "import_format"]
    attack = Attack()
    for route in all_routes():
        if kind_of(route.name) != POST:
            continue
        path = reverse(route.name, args=[ticket.pk]) if "<path:object_id>" in route.route else reverse(route.name)
        fields = fields_of.get(route.name, import_fields if route.name.endswith("_process_import") else None)
        assert fields is not None, f"{route.name}: which fields does it read?"
        for label, user in identities.items():
            client = client_for(user)
            # These answer with a redirect and a message (or a 4xx), never with a form.
            attack.post(label, client, path, {}, "<every field>", MISSING)
            values = ["../../../etc/passwd", "\x00", LONG, MANY] if label in ("superuser", "handler") else ["abc"]
            for value in values:
                for name in fields:
                    data = with_value(dict.fromkeys(fields, "1"), name, value)
                    attack.post(label, client, path, data, name, value)
    attack.assert_clean()


#: The pages are split into shards by route: a route's every role and parameter in one.
PAGE_SHARDS = 10


def page_routes(shard: int) -> list:
    """The routes whose query strings shard ``shard`` attacks."""
    routes = [r for r in all_routes() if kind_of(r.name) in (PAGE, FORM) and r.name != "admin:cases_ticket_action"]
    return owned(routes, lambda route: route.name, shard, PAGE_SHARDS)


@pytest.mark.parametrize("shard", range(PAGE_SHARDS))
def test_hostile_query_strings_on_every_page(hostile_world, shard):
    city, objects, identities, _tickets = hostile_world
    attack = Attack()
    generic = {
        "o": ["abc", "1.-99.x", "9" * 30],
        "p": ["-1", "abc", "9" * 30],
        "q": [LONG, "\x00"],
        "_to_field": ["abc"],
        "_changelist_filters": ["abc=\x00"],
        "e": ["1"],
        "all": [""],
    }
    attacked = set()
    seen_routes = set()
    # One login per role for the whole test (only GETs, each rolled back); after each
    # page the session must still name that person, or the rest would attack as nobody.
    clients = {label: client_for(user) for label, user in identities.items()}
    # (the action route is left out: its query string is read by nobody; its forms are posted above)
    for route in page_routes(shard):
        path = path_for(route, city, objects)
        base_path, _, base_query = path.partition("?")
        base = dict(parse_qsl(base_query, keep_blank_values=True))
        for label, user in identities.items():
            client = clients[label]
            response = attack.get(label, client, base_path, base, "<none>", "")
            assert client.session.get("_auth_user_id") == str(user.pk), (route.name, label)
            if response.status_code != 200:
                continue
            html = response.content.decode("utf-8", "replace") if "html" in response.get("Content-Type", "") else ""
            params = read_page(html, base_path)[1] | set(generic) | set(base)
            fresh = sorted(name for name in params if (route.name, name) not in attacked)
            attacked.update((route.name, name) for name in params)
            # Each parameter with each value, by the first role that sees it. A NUL is
            # refused at the door (config.middleware) whatever carries it: it goes in
            # once per page, with every parameter, below.
            for name in fresh:
                for value in generic.get(name, ["abc", "9" * 30, "2026-02-30", LONG, MANY]):
                    attack.get(label, client, base_path, with_value(base, name, value), name, value)
            # Every role: all parameters at once (the first role that sees the page with
            # every kind of value, the others with one: their code paths are the same).
            first_here = route.name not in seen_routes
            seen_routes.add(route.name)
            for value in ("abc", "9" * 30, "\x00") if first_here else ("abc",):
                attack.get(
                    label, client, base_path, {**base, **dict.fromkeys(params, value)}, "<every parameter>", value
                )
    for label, user in identities.items():
        assert clients[label].session.get("_auth_user_id") == str(user.pk), label
    attack.assert_clean()


def test_hostile_object_ids_in_urls(hostile_world):
    city, objects, identities, _tickets = hostile_world
    attack = Attack()
    client = client_for(identities["superuser"])
    handler = client_for(identities["handler"])
    for route in all_routes():
        if "<path:object_id>" not in route.route and "<path:content_type_id>" not in route.route:
            continue
        good = path_for(route, city, objects).split("?")[0]
        for value in ("abc", "-1", "9" * 30, "1 OR 1=1", "%00", "1.5", "０１"):
            parts = good.rstrip("/").split("/")
            # the object id is the first number after the model's name
            index = next((i for i, p in enumerate(parts) if p.isdigit()), None)
            if index is None:
                continue
            parts[index] = value
            path = "/".join(parts) + "/"
            for label, c in (("superuser", client), ("handler", handler)):
                attack.get(label, c, path, {}, "<object id>", value)
    attack.assert_clean()


JSON_PARAMS = {
    "admin:cases_ticket_intake_lookup": ["address", "content", "phone", "category"],
    "admin:cases_ticket_intake_suggest": ["content", "address", "channel", "grid"],
    "admin:autocomplete": ["app_label", "model_name", "field_name", "term", "page"],
    "admin:dashboard_data": ["period", "from", "to", "territory"],
    "admin:export_status": ["format"],
    "admin:map_data": ["level", "parent", "period", "from", "to"],
    "admin:map_geo": ["level", "parent"],
    "wall_geo": ["level", "parent"],
}


def test_hostile_parameters_to_json_endpoints(hostile_world):
    city, objects, identities, _tickets = hostile_world
    attack = Attack()
    autocomplete_fields = [
        ("cases", "ticket", "category"),
        ("cases", "ticket", "grid"),
        ("cases", "knowledgearticle", "category"),
        ("departments", "department", "parent"),
    ]
    for route in all_routes():
        if kind_of(route.name) != JSON:
            continue
        params = JSON_PARAMS.get(route.name)
        assert params is not None, f"{route.name}: which parameters does it read?"
        path = path_for(route, city, objects).split("?")[0]
        bases = (
            [{"app_label": a, "model_name": m, "field_name": f, "term": "暖"} for a, m, f in autocomplete_fields]
            if route.name == "admin:autocomplete"
            else [{"category": city.cold_room.pk, "address": "东关大街"}]
        )
        for label, user in identities.items():
            client = client_for(user)
            full = label == "superuser"  # another role: one value per parameter
            for base in bases if full else bases[:1]:
                for name in params:
                    for value in (*NUMBERISH, LONG, "2026-02-30", "custom") if full else ("abc",):
                        attack.get(label, client, path, with_value(base, name, value), name, value)
    attack.assert_clean()


# -- the REST API --------------------------------------------------------------------------

BROKEN_BODIES = [
    ("application/json", b"{broken"),
    ("application/json", b'{"a": "\\ud800"}'),
    ("application/json", b"[]"),
    ("application/json", b'"just a string"'),
    ("application/json", b"null"),
    ("application/json", b"\xff\xfe not utf-8"),
    ("application/json", b"1e999999"),
    ("text/plain", b"department=1"),
    ("application/xml", b"<a>1</a>"),
    ("application/x-www-form-urlencoded", b"department=abc&department=1&%ZZ"),
    ("multipart/form-data", b"--no-boundary--"),
    ("multipart/form-data; boundary=xyz", b"--xyz\r\nContent-Disposition: form-data\r\n\r\nbroken"),
]
API_SCALARS = [
    "abc",
    -1,
    10**40,
    1.5,
    "\x00",
    "９",
    LONG,
    ["1", "abc"],
    {"a": 1},
    None,
    True,
    "2026-02-30T25:61",
]


@pytest.fixture
def api_world(hostile_world, settings):
    settings.HOTLINE_API_RATES = {**settings.HOTLINE_API_RATES, "key": "100000/min", "user": "100000/min"}
    city, objects, identities, tickets = hostile_world
    keys = {}
    for purpose, channel in [
        (ApiKey.Purpose.CHANNEL, Channel.APP),
        (ApiKey.Purpose.CALLBACK, Channel.HOTLINE),
        (ApiKey.Purpose.SENSOR, Channel.SENSOR),
    ]:
        _key, keys[purpose] = api_key_issue(name=f"hostile-{purpose}", purpose=purpose, channel=channel)
    return city, objects, identities, tickets, keys


def _api_targets(city, objects, identities, tickets):
    """(url, the fields its serializer reads, who may post to it) for every API
    route that takes a body: an action on a ticket where someone may take it."""
    from cases.api import serializers
    from cases.workflow.registry import VERBS

    by_slug = {VERBS[kind].slug: kind for kind in serializers.ACTION_SERIALIZERS}
    targets = []
    for route in all_routes():
        name = route.name
        if kind_of(name) != API or not name.startswith("api:"):
            continue
        if name.startswith("api:ticket-") and name not in ("api:ticket-list", "api:ticket-detail"):
            kind = by_slug[name.removeprefix("api:ticket-")]
            who, ticket = next(
                (
                    (label, t)
                    for t in tickets
                    for label, user in identities.items()
                    if label != "superuser" and kind in workflow.allowed_actions(t, user)
                ),
                ("dispatcher", objects["ticket"]),
            )
            fields = list(serializers.ACTION_SERIALIZERS[kind]().fields)
            targets.append((reverse(name, args=[ticket.number]), fields, who))
        elif name == "api:ticket-list":
            targets.append((reverse(name), list(serializers.TicketCreateSerializer().fields), "key:channel"))
        elif name == "api:callback-result":
            fields = list(serializers.CallbackResultSerializer().fields)
            targets.append((reverse(name, args=[objects["callback"].pk]), fields, "key:callback"))
        elif name == "api:callback-unreachable":
            targets.append((reverse(name, args=[objects["callback"].pk]), ["note"], "key:callback"))
        elif name == "api:alerts":
            targets.append((reverse(name), list(serializers.AlertSerializer().fields), "key:sensor"))
    return targets


def _api_clients(identities, keys) -> dict:
    clients = {}
    for label, user in identities.items():
        client = Client(raise_request_exception=False)
        client.force_login(user)
        clients[label] = (client, {})
    for purpose, raw in keys.items():
        clients[f"key:{purpose}"] = (Client(raise_request_exception=False), {"HTTP_AUTHORIZATION": f"Api-Key {raw}"})
    return clients


def _check_api(failures, who, method, url, what, response):
    """Never a 5xx; a refusal says why (a JSON or XML body)."""
    where = f"{who} {method} {url} {what}"
    if response.status_code >= 500:
        failures.append(f"{where} → {response.status_code}")
    elif response.status_code >= 400 and response.status_code not in (404, 405) and not response.content.strip():
        failures.append(f"{where} → {response.status_code} with an empty body")


def _api_post(client, headers, url, body, content_type):
    with transaction.atomic():
        response = client.generic("POST", url, body, content_type=content_type, **headers)
        transaction.set_rollback(True)
    return response


#: The API tests are split into shards by URL (the bodies) and by URL and parameter
#: (the query strings).
API_SHARDS = 4


@pytest.mark.parametrize("shard", range(API_SHARDS))
def test_hostile_bodies_to_every_api_write_endpoint(api_world, shard):
    city, objects, identities, tickets, keys = api_world
    clients = _api_clients(identities, keys)
    failures, requests = [], 0
    targets = _api_targets(city, objects, identities, tickets)
    assert len({url for url, _fields, _who in targets}) == len(targets)  # a URL names one target
    for url, fields, who in owned(targets, lambda target: target[0], shard, API_SHARDS):
        for label in {who, "superuser", "key:channel"}:
            client, headers = clients[label]
            for content_type, body in BROKEN_BODIES:
                requests += 1
                response = _api_post(client, headers, url, body, content_type)
                _check_api(failures, label, "POST", url, f"{content_type} {body[:20]!r}", response)
        client, headers = clients[who]
        for field in fields:
            for value in API_SCALARS:
                requests += 1
                body = json.dumps({field: value})
                response = _api_post(client, headers, url, body, "application/json")
                _check_api(failures, who, "POST", url, f"json {field}={shown(value)}", response)
                if isinstance(value, str | int | float | list) and not isinstance(value, bool):
                    requests += 1
                    with transaction.atomic():
                        response = client.post(url, {field: value}, **headers)  # multipart
                        transaction.set_rollback(True)
                    _check_api(failures, who, "POST", url, f"multipart {field}={shown(value)}", response)
    assert failures == [], f"{len(failures)} of {requests} hostile API requests:\n" + "\n".join(failures)


API_QUERY_URLS = [
    "/api/v1/tickets/",
    "/api/v1/callbacks/",
    "/api/v1/stats/",
    "/api/v1/categories/",
    "/api/v1/departments/",
    "/api/v1/departments/abc/",
    "/api/v1/categories/%00/",
    "/api/v1/callbacks/99999999999999999999/",
]
API_QUERY_PARAMS = [
    "state",
    "category",
    "department",
    "received_after",
    "received_before",
    "page",
    "page_size",
    "ordering",
    "search",
    "updated_after",
    "axis",
    "period",
    "from",
    "to",
    "format",
    "street",
]


def api_queries(shard: int) -> list[tuple[str, str]]:
    """The (URL, parameter) pairs shard ``shard`` attacks."""
    pairs = [(url, name) for url in API_QUERY_URLS for name in API_QUERY_PARAMS]
    return owned(pairs, "|".join, shard, API_SHARDS)


@pytest.mark.parametrize("shard", range(API_SHARDS))
def test_hostile_query_strings_to_the_api(api_world, shard):
    _city, _objects, identities, _tickets, keys = api_world
    failures = []
    pairs = api_queries(shard)
    for who, (client, headers) in _api_clients(identities, keys).items():
        if who not in ("superuser", "dispatcher", "handler", "key:channel", "key:sensor"):
            continue
        for url, name in pairs:
            for value in ("abc", "-1", "9" * 30, "2026-02-30", "\x00", LONG[:3000], MANY):
                response = client.get(url, {name: value}, **headers)
                _check_api(failures, who, "GET", url, f"{name}={shown(value)}", response)
    assert failures == [], "\n".join(failures)


def test_the_shards_cover_every_item_once():
    """Each sharded test's work items: every one owned by exactly one shard, none left out."""
    pages = [r for r in all_routes() if kind_of(r.name) in (PAGE, FORM) and r.name != "admin:cases_ticket_action"]
    api = [(url, name) for url in API_QUERY_URLS for name in API_QUERY_PARAMS]
    for shards, everything, split in [
        (FORM_SHARDS, form_names(), form_shard),
        (PAGE_SHARDS, [r.route for r in pages], lambda s: [r.route for r in page_routes(s)]),
        (API_SHARDS, api, api_queries),
    ]:
        parts = [split(shard) for shard in range(shards)]
        assert all(parts), "a shard with nothing to do"
        flat = [item for part in parts for item in part]
        assert len(flat) == len(set(flat)) == len(everything), "an item in two shards, or in none"
        assert set(flat) == set(everything)


# -- Open311 and the public pages ------------------------------------------------------------

OPEN311_BASE = "/open311/v2/"


def test_hostile_open311_requests(api_world):
    city, _objects, _identities, _tickets, keys = api_world
    raw = keys[ApiKey.Purpose.CHANNEL]
    client = Client(raise_request_exception=False)
    failures = []
    good = {
        "api_key": raw,
        "service_code": city.cold_room.code,
        "address_string": "城东区东关大街1号院3号楼",
        "description": "暖气不热",
        "phone": "13912345678",
    }
    hostile = {
        "service_code": ["no-such", "\x00", LONG, MANY, ""],
        "lat": ["NaN", "Infinity", "-Infinity", "1e999999", "abc", "91", "9" * 400, "\x00", MANY, "sNaN"],
        "long": ["NaN", "Infinity", "1e999999", "abc", "181", "\x00"],
        "address_string": [LONG, "\x00", MANY],
        "address_id": ["no-such", "\x00", LONG],
        "description": [LONG * 2, "\x00"],
        "phone": ["abc", LONG, "\x00", "1" * 40],
        "email": ["not an email", LONG + "@a.cn", "\x00"],
        "first_name": [LONG, "\x00"],
        "last_name": [LONG],
        "device_id": [LONG, "\x00"],
        "account_id": [LONG],
        "attribute[temperature]": ["abc", LONG, MANY],
        "attribute[no_such]": ["1"],
        "jurisdiction_id": ["no-such", "\x00"],
        "media_url": ["javascript:alert(1)", LONG],
        "api_key": ["", "\x00", LONG],
    }
    for fmt in ("json", "xml"):
        url = f"{OPEN311_BASE}requests.{fmt}"
        for name, values in hostile.items():
            for value in values:
                data = with_value(good, name, value)
                if name == "lat":
                    data["long"] = "101.79"
                if name == "long":
                    data["lat"] = "36.61"
                with transaction.atomic():
                    response = client.post(url, data)
                    transaction.set_rollback(True)
                _check_api(failures, "open311", "POST", url, f"{name}={shown(value)}", response)
        for content_type, body in BROKEN_BODIES:
            response = client.generic("POST", url, body, content_type=content_type)
            _check_api(failures, "open311", "POST", url, f"{content_type} {body[:20]!r}", response)
        gets = {
            f"{OPEN311_BASE}requests.{fmt}": [
                "service_request_id",
                "service_code",
                "start_date",
                "end_date",
                "status",
                "page",
                "page_size",
                "lat",
                "long",
                "radius",
                "jurisdiction_id",
            ],
            f"{OPEN311_BASE}servicerequestupdates.{fmt}": ["start_date", "end_date", "page", "page_size", "api_key"],
            f"{OPEN311_BASE}services.{fmt}": ["jurisdiction_id", "lang"],
            f"{OPEN311_BASE}requests/abc.{fmt}": ["jurisdiction_id"],
            f"{OPEN311_BASE}requests/{'9' * 30}.{fmt}": ["jurisdiction_id"],
            f"{OPEN311_BASE}services/no-such.{fmt}": ["jurisdiction_id"],
            f"{OPEN311_BASE}tokens/abc.{fmt}": ["jurisdiction_id"],
        }
        for url, params in gets.items():
            for name in params:
                for value in ("abc", "-1", "9" * 30, "2026-02-30T25:61:00Z", "NaN", "\x00", LONG, MANY):
                    response = client.get(url, {name: value})
                    _check_api(failures, "open311", "GET", url, f"{name}={shown(value)}", response)
    assert failures == [], "\n".join(failures)


def test_hostile_input_to_the_public_pages(api_world):
    _city, _objects, _identities, _tickets, _keys = api_world
    client = Client(raise_request_exception=False)
    failures = []
    for url, params in (("/", ["category", "street", "state", "page", "q"]), ("/lookup/", ["number", "phone", "code"])):
        for name in params:
            for value in (*NUMBERISH, LONG, "2026-02-30"):
                response = client.get(url, with_value({}, name, value))
                if response.status_code >= 500:
                    failures.append(f"GET {url} {name}={shown(value)} → {response.status_code}")
    response = client.get("/lookup/")
    posts, _params = read_page(response.content.decode(), "/lookup/")
    for fields in posts:
        attack = Attack()
        attack_form(attack, "anonymous", client, "/lookup/", fields, per_field=True)
        failures += attack.failures
    assert failures == [], "\n".join(failures)
