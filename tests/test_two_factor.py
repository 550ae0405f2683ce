"""Two-factor login for staff (django-otp TOTP + one-time recovery codes): optional
per person, compulsory with HOTLINE_2FA_REQUIRED; wrong codes count towards the
login lockout; an administrator resets it for someone who lost the phone."""

import re
from datetime import timedelta

import pytest
import time_machine
from axes.models import AccessAttempt
from django.urls import reverse
from django.utils import timezone
from django_otp.oath import TOTP
from django_otp.plugins.otp_static.models import StaticToken
from django_otp.plugins.otp_totp.models import TOTPDevice

from departments.roles import Role
from tests.departments.factories import staff

PASSWORD = "right-horse-battery"
LOGIN = "/admin/login/"
SETUP = "/admin/two-factor/"


@pytest.fixture
def person(city):
    user = staff(Role.DISPATCHER, city.centre, "dispatcher_2fa")
    user.set_password(PASSWORD)
    user.save()
    return user


@pytest.fixture
def clock():
    """TOTP codes change every 30 s and a used one is refused: the tests move
    the clock on between codes."""
    with time_machine.travel(timezone.now(), tick=False) as traveller:
        yield traveller


def code_for(device) -> str:
    device.refresh_from_db()
    totp = TOTP(device.bin_key, device.step, device.t0, device.digits, device.drift)
    return f"{totp.token():0{device.digits}d}"


def log_in(client, token=""):
    return client.post(LOGIN, {"username": "dispatcher_2fa", "password": PASSWORD, "otp_token": token})


def enrol(client, clock):
    """Turn two-factor login on through the page; returns (device, recovery codes)."""
    page = client.get(SETUP)
    assert page.status_code == 200
    html = page.content.decode()
    assert "<svg" in html and 'id="two-factor-secret"' in html  # QR drawn here, no remote image
    device = TOTPDevice.objects.get(user__username="dispatcher_2fa", confirmed=False)
    assert device.config_url.startswith("otpauth://totp/12345")
    wrong = client.post(SETUP, {"action": "enable", "token": "000000" if code_for(device) != "000000" else "111111"})
    assert "动态验证码不正确" in wrong.content.decode()
    assert not TOTPDevice.objects.filter(confirmed=True).exists()
    clock.shift(timedelta(seconds=30))  # past the throttle after the wrong try
    done = client.post(SETUP, {"action": "enable", "token": code_for(device)})
    html = done.content.decode()
    assert "两步验证已启用" in html
    codes = re.findall(r"<li><code>([a-z2-7]{8})</code></li>", html)
    assert len(codes) == 10
    return device, codes


def test_without_it_the_password_alone_signs_in(client, person):
    response = log_in(client)
    assert response.status_code == 302 and client.session["_auth_user_id"] == str(person.pk)
    page = client.get("/admin/")
    assert page.status_code == 200 and 'id="two-factor-link"' in page.content.decode()


def test_turned_on_the_login_asks_for_the_code(client, person, clock):
    log_in(client)
    device, codes = enrol(client, clock)
    client.logout()

    clock.shift(timedelta(seconds=30))
    no_code = log_in(client)
    assert no_code.status_code == 200 and "已启用两步验证" in no_code.content.decode()
    assert "_auth_user_id" not in client.session
    wrong = log_in(client, "123456" if code_for(device) != "123456" else "654321")
    assert "动态验证码不正确" in wrong.content.decode() and "_auth_user_id" not in client.session

    clock.shift(timedelta(seconds=60))  # past the throttle, a fresh code
    right = log_in(client, code_for(device))
    assert right.status_code == 302 and client.session["_auth_user_id"] == str(person.pk)
    assert client.get("/admin/").status_code == 200
    # The same code again (replayed) is refused.
    client.logout()
    log_in(client, code_for(device))
    assert "_auth_user_id" not in client.session

    # A recovery code works once.
    client.logout()
    clock.shift(timedelta(seconds=60))
    assert log_in(client, codes[0].upper()).status_code == 302
    client.logout()
    clock.shift(timedelta(seconds=60))
    log_in(client, codes[0])
    assert "_auth_user_id" not in client.session
    assert StaticToken.objects.filter(device__user=person).count() == 9


def test_a_session_without_the_second_step_is_sent_back_to_the_login(client, person, clock):
    """Turned on in one browser: a session opened elsewhere with the password
    alone no longer reaches the admin."""
    other_browser = type(client)()
    assert log_in(other_browser).status_code == 302
    log_in(client)
    enrol(client, clock)
    assert client.get("/admin/").status_code == 200  # the browser that enrolled is verified
    response = other_browser.get("/admin/")
    assert response.status_code == 302 and response["Location"].startswith(LOGIN)
    assert other_browser.get("/admin/cases/ticket/").status_code == 302
    assert other_browser.get("/api/v1/tickets/").status_code in (401, 403)
    assert client.get("/api/v1/tickets/").status_code == 200


def test_wrong_codes_count_towards_the_lockout(client, person, clock, settings):
    log_in(client)
    device, _codes = enrol(client, clock)
    client.logout()
    settings.AXES_ENABLED = True
    settings.AXES_FAILURE_LIMIT = 3
    clock.shift(timedelta(seconds=30))
    bad = "123456" if code_for(device) != "123456" else "654321"
    statuses = []
    for _ in range(3):
        clock.shift(timedelta(seconds=120))  # past django-otp's own throttle: the lockout is what stops it
        statuses.append(log_in(client, bad).status_code)
    assert statuses == [200, 200, 429]
    assert AccessAttempt.objects.get(username="dispatcher_2fa").failures_since_start >= 3
    clock.shift(timedelta(seconds=30))
    assert log_in(client, code_for(device)).status_code == 429  # even the right code, while locked


def test_renew_recovery_codes_and_turn_it_off(client, person, clock):
    log_in(client)
    device, old = enrol(client, clock)
    clock.shift(timedelta(seconds=30))
    renewed = client.post(SETUP, {"action": "codes", "token": code_for(device)}).content.decode()
    new = re.findall(r"<li><code>([a-z2-7]{8})</code></li>", renewed)
    assert len(new) == 10 and not set(new) & set(old)
    assert set(StaticToken.objects.filter(device__user=person).values_list("token", flat=True)) == set(new)
    refused = client.post(SETUP, {"action": "disable", "token": "not-a-code"})
    assert "动态验证码不正确" in refused.content.decode() and TOTPDevice.objects.filter(confirmed=True).exists()
    clock.shift(timedelta(seconds=30))  # a wrong try throttles every device for a moment
    off = client.post(SETUP, {"action": "disable", "token": new[0]}, follow=True)
    assert "两步验证已关闭" in off.content.decode()
    assert not TOTPDevice.objects.filter(user=person).exclude(confirmed=False).exists()
    client.logout()
    assert log_in(client).status_code == 302  # the password alone again


def test_required_sends_staff_to_turn_it_on_first(client, person, clock, settings):
    settings.HOTLINE_2FA_REQUIRED = True
    log_in(client)
    for url in ["/admin/", "/admin/cases/ticket/", "/admin/dashboard/"]:
        response = client.get(url)
        assert response.status_code == 302 and response["Location"] == SETUP, url
    _device, codes = enrol(client, clock)
    assert client.get("/admin/").status_code == 200
    clock.shift(timedelta(seconds=30))
    kept = client.post(SETUP, {"action": "disable", "token": codes[0]})
    assert "不能关闭" in kept.content.decode() and TOTPDevice.objects.filter(confirmed=True).exists()


def test_an_administrator_resets_it_for_a_lost_phone(client, person, city, clock, admin_user):
    log_in(client)
    enrol(client, clock)
    admin = type(client)()
    admin.force_login(admin_user)
    users = admin.get("/admin/auth/user/?q=dispatcher_2fa").content.decode()
    assert "icon-yes" in users  # the list shows who has it on
    response = admin.post(
        "/admin/auth/user/", {"action": "reset_two_factor", "_selected_action": [person.pk]}, follow=True
    )
    assert "已为 1 个账号关闭两步验证" in response.content.decode()
    assert not TOTPDevice.objects.filter(user=person, confirmed=True).exists()
    assert not StaticToken.objects.filter(device__user=person).exists()
    client.logout()
    assert log_in(client).status_code == 302
    # Staff without the user-admin permission have no such action.
    dispatcher = type(client)()
    dispatcher.force_login(city.dispatcher)
    assert dispatcher.post(
        "/admin/auth/user/", {"action": "reset_two_factor", "_selected_action": [person.pk]}
    ).status_code in (302, 403)
    assert reverse("admin:two_factor") == SETUP
