import pytest
from rest_framework.test import APIClient

from cases.api_keys import api_key_issue
from cases.models import ApiKey, Channel


@pytest.fixture
def keys(city):
    """One key per purpose: a mini-program channel, an IVR, a sensor platform."""
    made = {}
    for name, purpose, channel in [
        ("app", ApiKey.Purpose.CHANNEL, Channel.APP),
        ("app2", ApiKey.Purpose.CHANNEL, Channel.WEB),
        ("ivr", ApiKey.Purpose.CALLBACK, Channel.HOTLINE),
        ("sensor", ApiKey.Purpose.SENSOR, Channel.SENSOR),
    ]:
        key, raw = api_key_issue(name=name, purpose=purpose, channel=channel)
        made[name] = (key, raw)
    return made


def key_client(raw) -> APIClient:
    client = APIClient()
    client.credentials(HTTP_AUTHORIZATION=f"Api-Key {raw}")
    return client


def staff_client(user) -> APIClient:
    client = APIClient()
    client.force_authenticate(user)
    return client
