"""The whole interface in one language at a time: every admin page reachable by the
superuser and by each role (enumerated from the URL configuration, as the permission
matrix does, so a new page is not forgotten; plus every action form each of them may
open on tickets in several states) rendered in English and in Chinese.

- English mode: no Han character left in the visible text, except in the data the
  page shows (every string stored in the database is data; a Han run on the page
  that is not part of any stored value is an untranslated UI string of ours).
- Chinese mode: none of Django's or our English UI words (Save, Delete, Filter, …).
- The script catalogues: every string Django's admin scripts and ours ask for is
  translated (the 协办单位 picker is drawn by SelectFilter2.js from the catalogue).
"""

import json
import re
from html.parser import HTMLParser
from pathlib import Path

import django
import pytest
from django.apps import apps
from django.conf import settings
from django.contrib.auth import get_user_model
from django.db import models
from django.test import Client
from django.urls import reverse

from cases import workflow
from cases.admin.forms import ACTION_FORMS
from cases.models import Ticket, TicketState
from cases.resources import CategoryResource, HolidayResource, KnowledgeArticleResource
from departments.resources import DepartmentResource, DutyAssignmentResource, GridResource
from departments.selectors import person_name
from tests.conftest import drive, new_ticket
from tests.permission_matrix import all_routes, owned
from tests.test_permission_matrix import LEGACY_CHANGE, path_for, rule_for
from tests.test_permission_matrix import world as world  # the permission matrix's objects, one of each

S = TicketState
HAN = re.compile(r"[\u4e00-\u9fff]+")
#: The language switcher names each language in that language, as every switcher does;
#: Django names the hidden through-tables of many-to-many fields ("…-… relationship",
#: listed on delete pages) once, at import, in the default language.
NATIVE_NAMES = {"简体中文", "关系"}
#: Django's and our English UI words that must not show in the Chinese interface.
ENGLISH_UI = re.compile(
    r"\b(Add|Save|Delete|Filter|Search|History|Choose|Remove all|Change|Home|Welcome|Log out|Show all|"
    r"Hide|Today|Yes|No|Unknown|Cancel|Close|Submit|Previous|Next|results?|Action|Go|All|Select|"
    r"Any date|Past 7 days|This month|This year|View site|Documentation|Password|Recent actions|"
    r"Date/time|User|Object|Run the selected action|Clear selection|By \w+)\b"
)
SKIP_ROUTES = {
    "admin:login",  # anonymous only: rendered below on its own
    "admin:autocomplete",  # JSON
    "admin:jsi18n",  # the catalogue: checked below
    "admin:dashboard_data",  # JSON
    "admin:export_status",  # JSON
    "admin:cases_ticket_intake_lookup",  # JSON
    "admin:cases_ticket_intake_suggest",  # JSON
    "admin:cases_ticket_action",  # every action form is rendered below, per ticket and kind
}
ROLES = ["superuser", "operator", "dispatcher", "supervisor", "callback", "leader", "gridworker"]
ROLES += ["handler", "unit_head"]
CASES_RESOURCES = [CategoryResource, HolidayResource, KnowledgeArticleResource]
DEPARTMENT_RESOURCES = [DepartmentResource, DutyAssignmentResource, GridResource]


class VisibleText(HTMLParser):
    """What a person reads: text outside scripts and styles, plus the attributes a
    browser shows (placeholder, title, button labels)."""

    HIDDEN = {"script", "style", "template"}

    def __init__(self):
        super().__init__()
        self.parts, self.hidden = [], 0

    def handle_starttag(self, tag, attrs):
        if tag in self.HIDDEN:
            self.hidden += 1
        attrs = dict(attrs)
        for name in ("placeholder", "title", "aria-label", "alt"):
            if attrs.get(name):
                self.parts.append(attrs[name])
        if tag == "input" and attrs.get("type") in ("submit", "button", "reset") and attrs.get("value"):
            self.parts.append(attrs["value"])

    def handle_endtag(self, tag):
        if tag in self.HIDDEN and self.hidden:
            self.hidden -= 1

    def handle_data(self, data):
        if not self.hidden and data.strip():
            self.parts.append(data.strip())


def visible_text(html: str) -> str:
    parser = VisibleText()
    parser.feed(html)
    return "\n".join(parser.parts)


def stored_values() -> str:
    """Every string in the database (names, demands, notes, stored titles and report
    data), people's names as shown, and the column headers of the import/export
    file formats (fixed by the format, not UI text): the data the pages show, joined
    for substring search."""
    chunks = [person_name(user) for user in get_user_model().objects.all()]
    for resource in (*CASES_RESOURCES, *DEPARTMENT_RESOURCES):
        chunks += [str(field.column_name) for field in resource().fields.values()]
    for model in apps.get_models():
        fields = [
            f.attname
            for f in model._meta.concrete_fields
            if isinstance(f, (models.CharField, models.TextField, models.JSONField, models.FileField))
        ]
        if not fields:
            continue
        for row in model._default_manager.values_list(*fields):
            for value in row:
                if isinstance(value, (dict, list)):
                    value = json.dumps(value, ensure_ascii=False)
                if value:
                    chunks.append(str(value))
    return "\n".join(chunks)


def untranslated_han(text: str, data: str) -> set[str]:
    return {run for run in HAN.findall(text) if run not in NATIVE_NAMES and run not in data}


def english_words(text: str, data: str) -> set[str]:
    found = set()
    for line in text.splitlines():
        if line in data:  # a stored value shown as it is (a username, a key's prefix)
            continue
        found.update(m.group(0) for m in ENGLISH_UI.finditer(line))
    return found


def client_for(user, language: str) -> Client:
    client = Client()
    client.force_login(user)
    client.cookies[settings.LANGUAGE_COOKIE_NAME] = language
    return client


@pytest.fixture
def pages(world):
    """(identity, path) of every HTML page each identity may open, action forms included."""
    city, objects, identities = world
    new = new_ticket(city)
    reviewing = drive(city, new_ticket(city), S.REVIEWING)
    extending = drive(city, new_ticket(city), S.HANDLING)
    workflow.ticket_extension_request(ticket=extending, actor=city.handler, working_days=3, reason="需协调施工队")
    returning = drive(city, new_ticket(city), S.DISPATCHED)
    workflow.ticket_return_request(ticket=returning, actor=city.handler, reason="不属于本街道辖区")
    tickets = [new, reviewing, extending, returning, objects["ticket"]]
    found = []
    for route in all_routes():
        if not (route.name.startswith("admin:") or LEGACY_CHANGE.match(route.name)) or route.name in SKIP_ROUTES:
            continue
        if LEGACY_CHANGE.match(route.name):
            continue  # a redirect to the change page, rendered under its own name
        who = rule_for(route.name)
        path = path_for(route, city, objects)
        found += [(role, path) for role in ROLES if role in who]
    for role in ROLES:
        user = identities[role]
        for ticket in tickets:
            ticket = Ticket.objects.get(pk=ticket.pk)
            for kind in workflow.allowed_actions(ticket, user):
                if kind in ACTION_FORMS:
                    found.append((role, reverse("admin:cases_ticket_action", args=[ticket.pk, kind])))
    return identities, found


#: The pages are split into shards by path (each path's every role in one), for xdist.
LANGUAGE_SHARDS = 8


def pages_of(found: list, shard: int) -> list:
    """The (identity, path) pairs shard ``shard`` renders."""
    return owned(found, lambda page: page[1], shard, LANGUAGE_SHARDS)


def test_the_language_shards_cover_every_page_once(pages):
    _identities, found = pages
    parts = [pages_of(found, shard) for shard in range(LANGUAGE_SHARDS)]
    assert all(parts), "a shard with nothing to do"
    assert sorted(page for part in parts for page in part) == sorted(found)


@pytest.mark.parametrize("shard", range(LANGUAGE_SHARDS))
def test_every_admin_page_speaks_one_language(pages, shard):
    identities, found = pages
    mine = pages_of(found, shard)
    data = stored_values()
    english, chinese, seen = {}, {}, 0
    for language in ("en", "zh-hans"):
        clients = {role: client_for(identities[role], language) for role in ROLES}
        for role, path in mine:
            response = clients[role].get(path)
            if response.status_code != 200 or not response["Content-Type"].startswith("text/html"):
                continue
            seen += 1
            text = visible_text(response.content.decode())
            if language == "en" and (bad := untranslated_han(text, data)):
                english.setdefault(path.split("?")[0], set()).update(bad)
            if language == "zh-hans" and (bad := english_words(text, data)):
                chinese.setdefault(path.split("?")[0], set()).update(bad)
    # More than 300 pages rendered in all (the whole used to count them): each shard its share.
    assert seen * len(found) > 300 * len(mine), (seen, len(mine), len(found))
    assert english == {}, "Chinese left in the English interface:\n" + "\n".join(
        f"{path}: {sorted(runs)}" for path, runs in sorted(english.items())
    )
    assert chinese == {}, "English left in the Chinese interface:\n" + "\n".join(
        f"{path}: {sorted(words)}" for path, words in sorted(chinese.items())
    )


@pytest.mark.parametrize("language", ["en", "zh-hans"])
def test_the_login_page_speaks_one_language(client, db, language):
    client.cookies[settings.LANGUAGE_COOKIE_NAME] = language
    text = visible_text(client.get(reverse("admin:login")).content.decode())
    if language == "en":
        assert untranslated_han(text, "") == set()
    else:
        assert english_words(text, "") == set()


# -- the script catalogues -----------------------------------------------------------

ADMIN_JS = Path(django.__file__).parent / "contrib" / "admin" / "static" / "admin" / "js"
OUR_JS = Path(settings.BASE_DIR) / "cases" / "static" / "cases"
GETTEXT_JS = re.compile(r"""\bgettext\(\s*(['"])((?:\\.|(?!\1).)*)\1\s*\)""")


def _msgids(folder: Path) -> set[str]:
    ids = set()
    for script in folder.glob("*.js"):
        for _quote, msgid in GETTEXT_JS.findall(script.read_text(encoding="utf-8")):
            ids.add(msgid.encode().decode("unicode_escape") if "\\" in msgid else msgid)
    return ids


def _catalog(client, url: str, language: str) -> dict:
    """The catalogue a JavaScriptCatalog view serves, read out of its script."""
    client.cookies[settings.LANGUAGE_COOKIE_NAME] = language
    script = client.get(url).content.decode()
    start = script.index("const newcatalog = ") + len("const newcatalog = ")
    return json.JSONDecoder().raw_decode(script, start)[0]


def test_the_admin_scripts_speak_chinese(client, city):
    client.force_login(city.dispatcher)
    catalog = _catalog(client, reverse("admin:jsi18n"), "zh-hans")
    missing = sorted(msgid for msgid in _msgids(ADMIN_JS) if msgid not in catalog)
    assert missing == []


def test_our_scripts_speak_english(client, db):
    catalog = _catalog(client, reverse("javascript-catalog"), "en")
    missing = sorted(msgid for msgid in _msgids(OUR_JS) if HAN.search(msgid) and msgid not in catalog)
    assert missing == []
