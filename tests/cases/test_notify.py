"""Notifications: the inbox, outside deliveries with retries, the backends."""

import json
import logging
import threading
from datetime import timedelta
from http.server import BaseHTTPRequestHandler, HTTPServer

import pytest
import time_machine
from django.core import mail
from django.urls import reverse

from cases.deadlines.scan import deadline_scan
from cases.models import Delivery, Notification, NotificationPreference, TicketState, Urgency
from cases.notifications import delivery as notify
from cases.notifications.inbox import notifications_create
from departments.models import StaffProfile
from tests.conftest import drive, local, new_ticket

S = TicketState


@pytest.fixture
def clock():
    with time_machine.travel(local(2026, 11, 23, 9, 0), tick=False) as traveller:
        yield traveller


def note(user, title="测试消息", **extra):
    return notifications_create([{"recipient": user, "title": title, **extra}])[0]


# -- the inbox -------------------------------------------------------------------------------


def test_inbox_shows_only_my_messages_and_the_badge_counts_them(client, city, clock):
    mine = note(city.handler, "给我的消息")
    note(city.handler2, "别人的消息")
    client.force_login(city.handler)
    page = client.get("/admin/").content.decode()
    assert 'id="inbox-badge">1<' in page
    listing = client.get(reverse("admin:cases_notification_changelist")).content.decode()
    assert "给我的消息" in listing and "别人的消息" not in listing
    # opening marks it read; someone else's message is not found
    other = Notification.objects.get(recipient=city.handler2)
    assert client.get(reverse("admin:cases_notification_open", args=[other.pk])).status_code == 404
    client.get(reverse("admin:cases_notification_open", args=[mine.pk]))
    mine.refresh_from_db()
    assert mine.read_at is not None
    assert 'id="inbox-badge"' not in client.get("/admin/").content.decode()


def test_opening_a_reminder_goes_to_the_ticket(client, city, clock):
    ticket = drive(city, new_ticket(city), S.HANDLING)
    n = note(city.handler, ticket=ticket)
    client.force_login(city.handler)
    response = client.get(reverse("admin:cases_notification_open", args=[n.pk]))
    assert response["Location"] == reverse("admin:cases_ticket_change", args=[ticket.pk])


def test_mark_all_read_and_the_badge_caps_at_99(client, city, clock):
    for i in range(120):
        note(city.handler, f"消息{i}")
    client.force_login(city.handler)
    assert 'id="inbox-badge">99+<' in client.get("/admin/").content.decode()
    client.post(reverse("admin:cases_notification_read_all"))
    assert not Notification.objects.filter(recipient=city.handler, read_at__isnull=True).exists()


def test_mark_selected_read_action(client, city, clock):
    a, b = note(city.handler, "A"), note(city.handler, "B")
    client.force_login(city.handler)
    client.post(reverse("admin:cases_notification_changelist"), {"action": "mark_read", "_selected_action": [a.pk]})
    a.refresh_from_db(), b.refresh_from_db()
    assert a.read_at and not b.read_at


def test_preferences_page_saves_channels(client, city):
    client.force_login(city.handler)
    url = reverse("admin:cases_notification_preferences")
    assert client.get(url).status_code == 200
    response = client.post(url, {"sms": "on", "mobile": "13900000000", "chat_webhook": "not a url"})
    assert response.status_code == 200 and "errorlist" in response.content.decode()
    client.post(url, {"sms": "on", "mobile": "13900000000"})
    pref = NotificationPreference.objects.get(user=city.handler)
    assert (pref.email, pref.sms, pref.chat, pref.mobile) == (False, True, False, "13900000000")


# -- deliveries ----------------------------------------------------------------------------


@pytest.fixture
def reachable(city):
    city.handler.email = "handler@street.gov.cn"
    city.handler.save()
    StaffProfile.objects.filter(user=city.handler).update(phone="13800000001")
    return city.handler


def test_email_and_sms_are_delivered_in_chinese(city, clock, reachable, caplog, django_capture_on_commit_callbacks):
    ticket = drive(city, new_ticket(city), S.HANDLING)
    clock.move_to(ticket.resolve_due_at + timedelta(minutes=1))
    with (
        caplog.at_level(logging.INFO, logger="cases.notifications.delivery"),
        django_capture_on_commit_callbacks(execute=True),
    ):
        deadline_scan()
    deliveries = {d.channel: d for d in Delivery.objects.filter(notification__recipient=reachable)}
    assert deliveries["email"].status == Delivery.Status.SENT
    assert deliveries["sms"].status == Delivery.Status.SENT
    [email] = mail.outbox
    assert email.to == ["handler@street.gov.cn"] and "【超期】" in email.subject and ticket.number in email.subject
    assert f"/admin/cases/ticket/{ticket.pk}/change/" in email.body
    assert any("SMS to 13800000001: 【12345】【超期】" in r.getMessage() for r in caplog.records)


def test_sms_waits_for_the_morning_unless_urgent(city, reachable, django_capture_on_commit_callbacks):
    with time_machine.travel(local(2026, 11, 23, 23, 30), tick=False):
        with django_capture_on_commit_callbacks(execute=True):
            normal = note(reachable, "夜间普通")
            urgent = note(reachable, "夜间紧急", urgent=True)
        assert normal.deliveries.get(channel="sms").next_attempt_at == local(2026, 11, 24, 7, 0)
        assert normal.deliveries.get(channel="sms").status == Delivery.Status.PENDING
        assert urgent.deliveries.get(channel="sms").status == Delivery.Status.SENT
        assert normal.deliveries.get(channel="email").status == Delivery.Status.SENT  # e-mail does not wake anyone
    with time_machine.travel(local(2026, 11, 24, 7, 0), tick=False):
        for pk in notify.deliveries_due():
            notify.delivery_send(pk)
    assert normal.deliveries.get(channel="sms").status == Delivery.Status.SENT


def test_preferences_choose_the_channels(city, reachable, clock):
    NotificationPreference.objects.create(user=reachable, email=False, sms=False)
    assert not note(reachable).deliveries.exists()


class FlakySMS:
    failures = 2

    def send(self, delivery):
        if FlakySMS.failures:
            FlakySMS.failures -= 1
            raise ConnectionError("gateway timeout")


def test_a_failed_send_is_retried_with_backoff_and_every_attempt_recorded(city, reachable, settings):
    settings.HOTLINE_NOTIFY_BACKENDS = {**settings.HOTLINE_NOTIFY_BACKENDS, "sms": f"{__name__}.FlakySMS"}
    FlakySMS.failures = 2
    start = local(2026, 11, 23, 9, 0)
    with time_machine.travel(start, tick=False):
        delivery = note(reachable).deliveries.get(channel="sms")
        assert notify.delivery_send(delivery.pk) == Delivery.Status.PENDING
    delivery.refresh_from_db()
    assert delivery.next_attempt_at == start + timedelta(seconds=60)
    with time_machine.travel(start + timedelta(seconds=30), tick=False):
        assert delivery.pk not in notify.deliveries_due()  # not yet
    with time_machine.travel(start + timedelta(seconds=61), tick=False):
        assert notify.delivery_send(delivery.pk) == Delivery.Status.PENDING
    delivery.refresh_from_db()
    assert delivery.next_attempt_at == start + timedelta(seconds=61 + 300)
    with time_machine.travel(start + timedelta(seconds=400), tick=False):
        assert notify.delivery_send(delivery.pk) == Delivery.Status.SENT
    log = list(delivery.attempt_log.values_list("ok", "error"))
    assert log == [(False, "ConnectionError: gateway timeout")] * 2 + [(True, "")]


def test_a_delivery_gives_up_after_the_last_attempt(city, reachable, settings, clock):
    settings.HOTLINE_NOTIFY_BACKENDS = {**settings.HOTLINE_NOTIFY_BACKENDS, "sms": f"{__name__}.FlakySMS"}
    settings.HOTLINE_DELIVERY_MAX_ATTEMPTS = 2
    FlakySMS.failures = 5
    delivery = note(reachable).deliveries.get(channel="sms")
    notify.delivery_send(delivery.pk)
    delivery.refresh_from_db()
    clock.move_to(delivery.next_attempt_at + timedelta(hours=1))
    assert notify.delivery_send(delivery.pk) == Delivery.Status.FAILED
    assert delivery.attempt_log.count() == 2


def test_two_workers_never_send_the_same_delivery(city, reachable, clock):
    delivery = note(reachable).deliveries.get(channel="sms")
    assert notify.delivery_send(delivery.pk) == Delivery.Status.SENT
    assert notify.delivery_send(delivery.pk) == "skipped"
    assert delivery.attempt_log.count() == 1


def test_a_claim_abandoned_by_a_dead_worker_is_handed_back(city, reachable, clock):
    delivery = note(reachable).deliveries.get(channel="sms")
    Delivery.objects.filter(pk=delivery.pk).update(status=Delivery.Status.SENDING, claimed_at=local(2026, 1, 1, 0, 0))
    assert delivery.pk in notify.deliveries_due()
    assert notify.delivery_send(delivery.pk) == Delivery.Status.SENT


def test_the_broker_being_down_loses_nothing(city, reachable, monkeypatch, clock, django_capture_on_commit_callbacks):
    from cases.notifications import tasks

    def broker_down(*args, **kwargs):
        raise ConnectionError("redis: connection refused")

    monkeypatch.setattr(tasks.deliver_many, "delay", broker_down)
    with django_capture_on_commit_callbacks(execute=True):
        n = note(reachable)
    assert set(n.deliveries.values_list("status", flat=True)) == {Delivery.Status.PENDING}
    monkeypatch.undo()
    assert tasks.deliver_due() == 2
    assert set(n.deliveries.values_list("status", flat=True)) == {Delivery.Status.SENT}


# -- chat robots against a local HTTP server --------------------------------------------------


@pytest.fixture
def robot():
    received = []

    class Handler(BaseHTTPRequestHandler):
        answer = {"errcode": 0, "errmsg": "ok"}

        def do_POST(self):
            length = int(self.headers["Content-Length"])
            received.append({"path": self.path, "body": json.loads(self.rfile.read(length))})
            body = json.dumps(Handler.answer).encode()
            self.send_response(200)
            self.send_header("Content-Type", "application/json")
            self.send_header("Content-Length", str(len(body)))
            self.end_headers()
            self.wfile.write(body)

        def log_message(self, *args):
            pass

    server = HTTPServer(("127.0.0.1", 0), Handler)
    thread = threading.Thread(target=server.serve_forever, daemon=True)
    thread.start()
    yield type(
        "Robot",
        (),
        {
            "url": f"http://127.0.0.1:{server.server_port}/cgi-bin/webhook/send?key=k",
            "received": received,
            "handler": Handler,
        },
    )
    server.shutdown()


def test_wecom_robot_gets_the_text_and_the_mention(city, reachable, robot, clock):
    NotificationPreference.objects.create(user=reachable, email=False, sms=False, chat=True, chat_webhook=robot.url)
    ticket = drive(city, new_ticket(city), S.HANDLING)
    delivery = note(reachable, "【超期】工单超期", ticket=ticket, body="供暖 · 东关大街街道").deliveries.get()
    assert notify.delivery_send(delivery.pk) == Delivery.Status.SENT
    [message] = robot.received
    assert message["path"].endswith("?key=k")
    assert message["body"]["msgtype"] == "text"
    assert message["body"]["text"]["content"].startswith("【超期】工单超期\n供暖 · 东关大街街道")
    assert message["body"]["text"]["mentioned_mobile_list"] == ["13800000001"]


def test_a_robot_error_code_is_a_failure(city, reachable, robot, clock):
    robot.handler.answer = {"errcode": 93000, "errmsg": "invalid webhook url"}
    NotificationPreference.objects.create(user=reachable, email=False, sms=False, chat=True, chat_webhook=robot.url)
    delivery = note(reachable).deliveries.get()
    assert notify.delivery_send(delivery.pk) == Delivery.Status.PENDING
    assert "errcode=93000" in delivery.attempt_log.get().error


def test_dingtalk_robot_signs_its_requests(city, reachable, robot, settings, clock):
    settings.HOTLINE_NOTIFY_BACKENDS = {
        **settings.HOTLINE_NOTIFY_BACKENDS,
        "chat": "cases.notifications.backends.DingTalkRobotBackend",
    }
    settings.HOTLINE_DINGTALK_SECRET = "SECxyz"
    NotificationPreference.objects.create(user=reachable, email=False, sms=False, chat=True, chat_webhook=robot.url)
    delivery = note(reachable, "钉钉消息").deliveries.get()
    assert notify.delivery_send(delivery.pk) == Delivery.Status.SENT
    [message] = robot.received
    assert "&timestamp=" in message["path"] and "&sign=" in message["path"]
    assert message["body"]["at"]["atMobiles"] == ["13800000001"]


def test_unit_robot_is_used_when_the_person_has_none(city, reachable, robot):
    city.street.chat_webhook = robot.url
    city.street.save()
    NotificationPreference.objects.create(user=reachable, email=False, sms=False, chat=True)
    assert note(reachable).deliveries.get().address == robot.url


def test_an_unreachable_robot_is_retried(city, reachable, clock):
    NotificationPreference.objects.create(
        user=reachable, email=False, sms=False, chat=True, chat_webhook="http://127.0.0.1:9/nothing-here"
    )
    delivery = note(reachable).deliveries.get()
    assert notify.delivery_send(delivery.pk) == Delivery.Status.PENDING
    assert "URLError" in delivery.attempt_log.get().error or "Error" in delivery.attempt_log.get().error


# -- workflow events ------------------------------------------------------------------------


def test_a_dispatched_ticket_lands_in_the_units_inbox(city, clock, django_capture_on_commit_callbacks):
    with django_capture_on_commit_callbacks(execute=True):
        ticket = drive(city, new_ticket(city, urgency=Urgency.URGENT), S.DISPATCHED)
    [n] = Notification.objects.filter(recipient=city.handler)
    assert n.kind == Notification.Kind.EVENT and ticket.number in n.title and n.urgent
    assert not Notification.objects.filter(recipient=city.handler2).exists()


def test_a_failing_notice_neither_undoes_nor_blocks_the_work(
    city, clock, monkeypatch, caplog, django_capture_on_commit_callbacks
):
    from cases.notifications import on_transition

    def inbox_down(event_id):
        raise RuntimeError("inbox down")

    monkeypatch.setattr(on_transition, "event_notify", inbox_down)
    with django_capture_on_commit_callbacks(execute=True):
        ticket = drive(city, new_ticket(city), S.DISPATCHED)
    ticket.refresh_from_db()
    assert ticket.state == S.DISPATCHED
    assert "could not notify about event" in caplog.text
    assert not Notification.objects.exists()


def test_a_new_ticket_is_taken_even_when_cluster_detection_cannot_be_queued(
    city, clock, monkeypatch, caplog, django_capture_on_commit_callbacks
):
    from cases import tasks

    def broker_down(*args, **kwargs):
        raise ConnectionError("redis: connection refused")

    monkeypatch.setattr(tasks.detect_clusters_for, "delay", broker_down)
    with django_capture_on_commit_callbacks(execute=True):
        ticket = new_ticket(city)
    assert ticket.pk and ticket.state == S.RECEIVED
    assert f"could not queue cluster detection for ticket {ticket.pk}" in caplog.text
