"""Property-based fuzzing of the REST API against its own OpenAPI schema
(schemathesis): valid and invalid input, as a channel, the IVR, a sensor platform
and a dispatcher. No 5xx, every status documented, every body as documented, and
invalid input rejected."""

import pytest
import schemathesis
from django.core import signals
from django.db import close_old_connections
from hypothesis import HealthCheck, settings
from schemathesis import GenerationMode
from schemathesis.specs.openapi import checks as openapi_checks

from cases.api_keys import api_key_issue
from cases.callbacks import callback_batch
from cases.models import ApiKey, Callback, Channel
from config.wsgi import application
from tests.conftest import drive, new_ticket

schema = schemathesis.openapi.from_wsgi("/api/schema/", application)
schema.config.generation.update(
    modes=[GenerationMode.POSITIVE, GenerationMode.NEGATIVE],
    max_examples=12,
    deterministic=True,
    database="none",
)
CHECKS = [
    schemathesis.checks.not_a_server_error,
    openapi_checks.status_code_conformance,
    openapi_checks.content_type_conformance,
    openapi_checks.response_schema_conformance,
    openapi_checks.response_headers_conformance,
    openapi_checks.negative_data_rejection,
]
CSRF = "a" * 32


@pytest.fixture
def _keep_the_test_connection():
    """The schema's calls go through the real WSGI handler, which closes the database
    connection after each request; the test's transaction must survive them (as
    Django's own test client arranges)."""
    signals.request_started.disconnect(close_old_connections)
    signals.request_finished.disconnect(close_old_connections)
    yield
    signals.request_started.connect(close_old_connections)
    signals.request_finished.connect(close_old_connections)


@pytest.fixture
def world(city, client, settings, _keep_the_test_connection):
    settings.HOTLINE_API_RATES = {**settings.HOTLINE_API_RATES, "key": "100000/min", "user": "100000/min"}
    settings.HOTLINE_ALERT_CATEGORIES = {"water_meter_idle": "010101", "*": "0201"}
    raw = {}
    for purpose, channel in [
        (ApiKey.Purpose.CHANNEL, Channel.APP),
        (ApiKey.Purpose.CALLBACK, Channel.HOTLINE),
        (ApiKey.Purpose.SENSOR, Channel.SENSOR),
    ]:
        _key, raw[purpose] = api_key_issue(name=purpose, purpose=purpose, channel=channel)
    open_ticket = new_ticket(city, actor=ApiKey.objects.get(purpose="channel").user)
    closed = drive(city, new_ticket(city), "closed")
    callback_batch(day=closed.closed_at.date())
    client.force_login(city.dispatcher)
    return {
        "keys": raw,
        "ticket": open_ticket.number,
        "callback": Callback.objects.values_list("pk", flat=True).first(),
        "session": client.cookies["sessionid"].value,
    }


def _aim(case, world):
    """Point path parameters at real objects so bodies reach the real code."""
    params = case.path_parameters or {}
    if "number" in params:
        params["number"] = world["ticket"]
    if "id" in params and "/callbacks/" in case.path:
        params["id"] = world["callback"]
    if "code" in params:
        params["code"] = "010101"


def _key_for(path):
    if path.startswith("/api/v1/callbacks"):
        return ApiKey.Purpose.CALLBACK
    if path.startswith("/api/v1/alerts"):
        return ApiKey.Purpose.SENSOR
    return ApiKey.Purpose.CHANNEL


@schema.parametrize()
@settings(suppress_health_check=list(HealthCheck), deadline=None)
def test_api_as_the_keys(case, world):
    _aim(case, world)
    headers = {"Authorization": f"Api-Key {world['keys'][_key_for(case.path)]}"}
    case.call_and_validate(headers=headers, checks=CHECKS)


@schema.include(path_regex="^/api/v1/(tickets|stats|callbacks)").parametrize()
@settings(suppress_health_check=list(HealthCheck), deadline=None)
def test_api_as_a_dispatcher(case, world):
    _aim(case, world)
    headers = {"Cookie": f"sessionid={world['session']}; csrftoken={CSRF}", "X-CSRFToken": CSRF}
    case.call_and_validate(headers=headers, checks=CHECKS)
