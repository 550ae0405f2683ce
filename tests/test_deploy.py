"""Production settings: the documented environment passes Django's deploy checks;
logins lock out after repeated wrong passwords; pages carry a strict CSP."""

import re
import subprocess
import sys

import pytest
from axes.models import AccessAttempt
from django.conf import settings
from django.urls import reverse

from departments.roles import Role
from tests.departments.factories import staff

EXAMPLE = settings.BASE_DIR / ".env.production.example"


def production_env() -> dict:
    env = {}
    for line in EXAMPLE.read_text().splitlines():
        line = line.strip()
        if line and not line.startswith("#"):
            name, _, value = line.partition("=")
            env[name.strip()] = value.strip()
    return env


def check_deploy(env: dict) -> subprocess.CompletedProcess:
    return subprocess.run(
        [sys.executable, "manage.py", "check", "--deploy", "--fail-level", "WARNING"],
        cwd=settings.BASE_DIR,
        env={"PATH": "/usr/bin:/bin", "HOME": "/tmp", **env},
        capture_output=True,
        text=True,
        check=False,
    )


def test_the_production_example_passes_check_deploy():
    env = production_env()
    assert env["DJANGO_DEBUG"] == "0" and env["DJANGO_SECURE_COOKIES"] == "1"
    done = check_deploy(env)
    assert done.returncode == 0, done.stdout + done.stderr
    assert "no issues" in done.stdout


def test_without_it_check_deploy_complains():
    done = check_deploy({"DJANGO_DEBUG": "0", "DJANGO_SECRET_KEY": production_env()["DJANGO_SECRET_KEY"]})
    assert done.returncode != 0
    for warning in ["security.W004", "security.W008", "security.W012", "security.W016"]:
        assert warning in done.stderr, warning  # HSTS, HTTPS redirect, secure session and CSRF cookies


@pytest.fixture
def lockout(settings):
    settings.AXES_ENABLED = True
    settings.AXES_FAILURE_LIMIT = 3


def test_wrong_passwords_lock_the_login_for_that_user_and_address(client, city, lockout):
    user = staff(Role.DISPATCHER, city.centre, "dispatcher_b")
    user.set_password("right-horse-battery")
    user.save()
    url = reverse("admin:login")
    statuses = [client.post(url, {"username": "dispatcher_b", "password": "wrong"}).status_code for _ in range(3)]
    assert statuses == [200, 200, 429]  # the form again with its error, then the lockout page
    locked = client.post(url, {"username": "dispatcher_b", "password": "right-horse-battery"})
    assert locked.status_code == 429
    assert "登录已暂时锁定" in locked.content.decode()
    assert "_auth_user_id" not in client.session  # the right password does not get through now
    attempt = AccessAttempt.objects.get(username="dispatcher_b")
    assert attempt.failures_since_start == 4  # a try while locked counts as one more
    # Another person at the same address is not locked out by it.
    other = staff(Role.DISPATCHER, city.centre, "dispatcher_c")
    other.set_password("another-long-passphrase")
    other.save()
    response = client.post(url, {"username": "dispatcher_c", "password": "another-long-passphrase"})
    assert response.status_code == 302 and client.session["_auth_user_id"] == str(other.pk)


def test_pages_carry_a_content_security_policy_without_inline_scripts(client, db):
    response = client.get(reverse("admin:login"))
    policy = response.headers["Content-Security-Policy"]
    directives = dict(part.strip().split(" ", 1) for part in policy.split(";") if part.strip())
    assert directives["default-src"] == "'self'"
    assert "'unsafe-inline'" not in directives["script-src"] and "'unsafe-eval'" not in directives["script-src"]
    assert directives["frame-ancestors"] == "'none'" and directives["object-src"] == "'none'"
    assert response.headers["X-Frame-Options"] == "DENY"


INLINE_SCRIPT = re.compile(r"<script(?![^>]*\b(?:src|nonce)=)[^>]*>\s*\S")


def test_the_api_reference_pages_have_no_inline_script(client, city):
    client.force_login(city.dispatcher)
    for name in ["api-redoc", "api-docs"]:
        response = client.get(reverse(name))
        assert response.status_code == 200
        assert not INLINE_SCRIPT.search(response.content.decode()), name  # Swagger UI: the split view
    assert INLINE_SCRIPT.search("<script>alert(1)</script>")  # (the pattern does find one)
