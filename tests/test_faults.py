"""Redis down: the web keeps answering (the cache's counters are lost for a while,
not the requests), administrators see a banner, and work queued meanwhile is
sent once the broker is back."""

import socket

import pytest
from django.core.cache import cache
from django.urls import reverse

from cases.models import Delivery
from cases.notifications.inbox import notifications_create
from config import health
from tests.conftest import new_ticket


def closed_port() -> int:
    with socket.socket() as probe:
        probe.bind(("127.0.0.1", 0))
        return probe.getsockname()[1]  # nothing listens there once the probe is closed


@pytest.fixture
def redis_down(settings):
    settings.CACHES = {
        "default": {
            "BACKEND": "config.cache.ResilientRedisCache",
            "LOCATION": f"redis://127.0.0.1:{closed_port()}/0",
            "KEY_PREFIX": "hotline-test",
        }
    }
    yield


def test_a_cache_call_without_redis_is_a_miss_not_an_error(redis_down):
    assert cache.get("anything", "fallback") == "fallback"
    assert cache.add("counter", 0, 60) is False
    with pytest.raises(ValueError):
        cache.incr("counter")  # "no such key", as the throttles expect
    assert health.down_components() == ["Redis"]


def test_pages_and_api_keep_working_and_administrators_are_told(client, city, redis_down):
    new_ticket(city)
    assert client.get(reverse("public-lookup")).status_code == 200  # rate-limited by the cache
    client.force_login(city.dispatcher)
    assert client.get("/api/v1/tickets/").status_code == 200  # throttled by the cache
    page = client.get(reverse("admin:index")).content.decode()
    assert 'id="service-warning"' not in page  # the dispatcher's work is not theirs to worry about
    root = type(city.dispatcher).objects.create_superuser("root", "root@example.com", "x")
    client.force_login(root)
    page = client.get(reverse("admin:index")).content.decode()
    assert 'id="service-warning"' in page and "Redis" in page


def test_notifications_queued_while_the_broker_is_down_go_out_when_it_is_back(city, settings, monkeypatch):
    from cases.notifications import tasks

    def broker_down(*args, **kwargs):
        raise ConnectionError("broker unreachable")

    monkeypatch.setattr(tasks.deliver_many, "delay", broker_down)
    settings.HOTLINE_QUIET_HOURS = ""
    city.handler.email = "handler@example.com"
    city.handler.save()
    from django.test import TestCase

    with TestCase.captureOnCommitCallbacks(execute=True):
        notifications_create([{"recipient": city.handler, "title": "【新工单】请签收", "ticket": new_ticket(city)}])
    pending = Delivery.objects.get()
    assert pending.status == Delivery.Status.PENDING  # nothing lost …
    assert "Celery broker" in health.down_components()
    monkeypatch.undo()
    tasks.deliver_due()  # … the periodic task (beat) sends it once the broker answers
    pending.refresh_from_db()
    assert pending.status == Delivery.Status.SENT
