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
    response = client.get("/admin/cases/ticket/", HTTP_ACCEPT_LANGUAGE="en")
    assert response.status_code == 200
    assert "<title>Select Ticket to change | 12345 Hotline</title>" in response.content.decode()
    response = client.get("/admin/cases/ticket/", HTTP_ACCEPT_LANGUAGE="zh-hans")
    assert "<title>选择 工单 来修改 | 接诉即办</title>" in response.content.decode()
