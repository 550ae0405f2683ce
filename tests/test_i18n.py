"""Chinese by default, English available (non-negotiable 7)."""

import re
from pathlib import Path

import pytest
from django.apps import apps
from django.conf import settings
from django.utils import translation

CJK = re.compile(r"[\u4e00-\u9fff]")
OUR_APPS = ["cases", "departments", "reports"]
PO = Path(settings.BASE_DIR) / "config" / "locale" / "en" / "LC_MESSAGES" / "django.po"


def _labels():
    for app in OUR_APPS:
        for model in apps.get_app_config(app).get_models():
            if model.__name__.startswith("Historical"):
                continue
            yield f"{model.__name__}", model._meta.verbose_name
            yield f"{model.__name__} (plural)", model._meta.verbose_name_plural
            for field in model._meta.get_fields():
                if not hasattr(field, "verbose_name") or field.auto_created:
                    continue
                yield f"{model.__name__}.{field.name}", field.verbose_name
                for _value, label in getattr(field, "flatchoices", None) or []:
                    yield f"{model.__name__}.{field.name} choice", label


def test_the_default_language_is_chinese():
    assert settings.LANGUAGE_CODE == "zh-hans"
    from cases.models import TicketState

    with translation.override("zh-hans"):
        assert str(TicketState.CLOSED.label) == "已办结"


def test_every_model_label_has_an_english_translation():
    untranslated = []
    with translation.override("en"):
        for where, label in _labels():
            if CJK.search(str(label)):
                untranslated.append((where, str(label)))
    assert untranslated == []


def _po_entries():
    text = PO.read_text(encoding="utf-8")
    for block in text.split("\n\n"):
        if "#, fuzzy" in block:
            continue
        block = "\n".join(line for line in block.splitlines() if not line.startswith("#"))
        msgid = "".join(re.findall(r'"(.*)"', block.split("msgstr")[0].split("msgid", 1)[-1]))
        msgstr = "".join(re.findall(r'"(.*)"', block.split("msgstr", 1)[-1])) if "msgstr" in block else ""
        if msgid and msgstr:
            yield msgid.replace('\\"', '"'), msgstr.replace('\\"', '"')


def test_the_compiled_catalogue_matches_the_po_file():
    """A .po edit without `make messages` would leave English stale."""
    entries = list(_po_entries())
    assert len(entries) > 100
    with translation.override("en"):
        stale = [msgid for msgid, msgstr in entries if translation.gettext(msgid) != msgstr]
    assert stale == []


@pytest.mark.django_db
def test_the_admin_answers_in_english_when_asked(client, django_user_model):
    admin = django_user_model.objects.create_superuser("root", password="x")
    client.force_login(admin)
    # A browser asking for English still gets Chinese ...
    response = client.get("/admin/cases/ticket/", HTTP_ACCEPT_LANGUAGE="en-US,en;q=0.9")
    assert "<title>选择工单查看 | 接诉即办</title>" in response.content.decode()
    # ... until the user picks English with the switcher.
    response = client.post("/i18n/setlang/", {"language": "en", "next": "/admin/cases/ticket/"})
    assert response.status_code == 302
    response = client.get("/admin/cases/ticket/")
    assert "<title>Select Ticket to view | 12345 Hotline</title>" in response.content.decode()


@pytest.mark.parametrize("po", [PO, PO.with_name("djangojs.po")], ids=["python-and-templates", "javascript"])
def test_every_string_of_ours_is_translated(po):
    """`make messages` collects the strings; each must have a real English text."""
    text = po.read_text(encoding="utf-8")
    untranslated = []
    for block in text.split("\n\n"):
        lines = [line for line in block.splitlines() if not line.startswith("#|")]
        body = "\n".join(line for line in lines if not line.startswith("#"))
        if "msgid" not in body:
            continue
        msgid = "".join(re.findall(r'"(.*)"', body.split("msgstr")[0]))
        msgstr = "".join(re.findall(r'"(.*)"', body.split("msgstr", 1)[1]))
        if not msgid or not CJK.search(msgid):
            continue  # the header, and Django's own strings used in our templates
        if "#, fuzzy" in block or not msgstr or CJK.search(msgstr):
            untranslated.append(msgid)
    assert untranslated == []


@pytest.mark.django_db
def test_the_javascript_catalogue_speaks_english_when_chosen(client):
    client.post("/i18n/setlang/", {"language": "en", "next": "/"})
    assert "Use this answer" in client.get("/jsi18n/").content.decode()
