"""Project-level behaviour: settings from the environment, the admin shell."""

import os
import subprocess
import sys
from datetime import date

import pytest
from django.conf import settings

from cases import context_processors
from cases.deadlines import calendar as deadlines


def _settings_in_subprocess(env_overrides):
    env = {k: v for k, v in os.environ.items() if not k.startswith(("DJANGO_", "DATABASE_URL", "HOTLINE_MANAGE"))}
    env.update(env_overrides)
    code = (
        "import django; django.setup(); from django.conf import settings; "
        "print(settings.DATABASES['default']['ENGINE'])"
    )
    return subprocess.run(
        [sys.executable, "-c", code],
        env={**env, "DJANGO_SETTINGS_MODULE": "config.settings"},
        cwd=settings.BASE_DIR,
        capture_output=True,
        text=True,
    )


def test_production_refuses_to_start_without_a_secret_key():
    result = _settings_in_subprocess({})
    assert result.returncode != 0
    assert "DJANGO_SECRET_KEY must be set" in result.stderr


def test_one_off_commands_need_no_secret_key_but_servers_do():
    env = {k: v for k, v in os.environ.items() if not k.startswith(("DJANGO_", "DATABASE_URL", "HOTLINE_MANAGE"))}
    env["HOTLINE_VAR_DIR"] = str(settings.VAR_DIR)

    def manage(*args):
        return subprocess.run(
            [sys.executable, "manage.py", *args], env=env, cwd=settings.BASE_DIR, capture_output=True, text=True
        )

    assert manage("makemigrations", "--check", "--dry-run").returncode == 0
    served = manage("runserver", "--noreload", "127.0.0.1:1")
    assert served.returncode != 0 and "DJANGO_SECRET_KEY must be set" in served.stderr


def test_database_url_selects_postgresql_and_sqlite_is_the_default():
    result = _settings_in_subprocess({"DJANGO_SECRET_KEY": "k"})
    assert result.stdout.strip() == "django.db.backends.sqlite3"
    result = _settings_in_subprocess({"DJANGO_SECRET_KEY": "k", "DATABASE_URL": "postgres://u:p@db:5432/x"})
    assert result.stdout.strip() == "django.db.backends.postgresql"


def test_time_zone_and_languages():
    assert settings.TIME_ZONE == "Asia/Shanghai"
    assert [code for code, _ in settings.LANGUAGES] == ["zh-hans", "en"]


@pytest.mark.django_db
def test_admin_shows_the_calendar_gap_to_holiday_maintainers(admin_client, city, monkeypatch):
    monkeypatch.setattr(context_processors, "calendar_gaps", lambda today=None: [2027])
    page = admin_client.get("/admin/").content.decode()
    assert 'id="calendar-warning"' in page and "2027" in page
    # It says which days the fallback assumes to be rest days.
    assert "元旦 01-01" in page and "农历除夕 02-05、春节 02-06–02-08" in page
    # A handler does not maintain holidays and is not bothered with it.
    admin_client.force_login(city.handler)
    assert 'id="calendar-warning"' not in admin_client.get("/admin/").content.decode()


@pytest.mark.django_db
def test_calendar_gaps_on_the_real_library():
    # Whatever the installed chinese-calendar knows, the function answers.
    assert all(year >= 2026 for year in deadlines.calendar_gaps(today=date(2026, 11, 23)))


@pytest.mark.django_db
@pytest.mark.parametrize(
    "url",
    [
        "/admin/",
        "/admin/cases/ticket/",
        "/admin/cases/category/",
        "/admin/cases/category/add/",
        "/admin/cases/deadlinepolicy/",
        "/admin/cases/holiday/",
        "/admin/departments/department/",
        "/admin/departments/department/add/",
        "/admin/departments/grid/",
        "/admin/departments/dutyassignment/",
        "/admin/auth/user/",
    ],
)
def test_admin_pages_answer_for_a_superuser(admin_client, city, url):
    assert admin_client.get(url).status_code == 200
