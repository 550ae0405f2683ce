"""The REST API: keys, scope, the workflow over HTTP, callbacks, alerts, stats."""

import io
import re
from datetime import date, timedelta

import pytest
import time_machine
from django.core.management import call_command
from django.db import connection
from django.test.utils import CaptureQueriesContext
from django.urls import reverse
from django.utils import timezone

from cases.api_keys import api_key_revoke
from cases.callbacks import callback_batch
from cases.models import ApiKey, Callback, Channel, Ticket, TicketState
from tests.api.conftest import key_client, staff_client
from tests.conftest import drive, new_ticket

S = TicketState
TICKETS = "/api/v1/tickets/"


def _new(client, **extra):
    body = {
        "category": "010101",
        "content": "东关大街1号院暖气不热，室温14度。",
        "citizen_name": "李先生",
        "citizen_phone": "13912345678",
        "address": "城东区东关大街1号院",
        **extra,
    }
    return client.post(TICKETS, body, format="json")


def test_a_channel_key_registers_a_ticket_in_its_own_name(city, keys):
    key, raw = keys["app"]
    response = _new(key_client(raw))
    assert response.status_code == 201, response.content
    body = response.json()
    ticket = Ticket.objects.get(number=body["number"])
    assert ticket.channel == Channel.APP and ticket.created_by == key.user
    assert ticket.community == city.community  # the address was resolved
    assert body["citizen"] == {"name": "李**", "phone": "139****5678", "hidden": False}
    assert body["actions"] == [] and body["timeline"][0]["kind"] == "created"
    key.refresh_from_db()
    assert key.last_used_at is not None


@pytest.mark.parametrize(
    ("change", "field"),
    [
        ({"category": "nope"}, "category"),
        ({"content": ""}, "content"),
        ({"citizen_phone": "call me"}, "citizen_phone"),
        ({"latitude": "36.6"}, "longitude"),
        ({"latitude": "95", "longitude": "101"}, "latitude"),
        ({"urgency": "yesterday"}, "urgency"),
    ],
)
def test_bad_input_says_what_is_wrong_and_writes_nothing(city, keys, change, field):
    response = _new(key_client(keys["app"][1]), **change)
    assert response.status_code == 400
    assert field in response.json()
    assert not Ticket.objects.exists()


def test_the_phone_rule_is_the_workflows_and_answers_as_a_field_error(city, keys):
    response = _new(key_client(keys["app"][1]), citizen_phone="call me")
    assert response.status_code == 400
    assert response.json() == {"citizen_phone": ["电话号码格式不正确。"]}  # ticket_create's ERR_PHONE
    assert _new(key_client(keys["app"][1]), citizen_phone="+86 139-1234-5678").status_code == 201


def test_an_oversized_or_fake_attachment_is_refused(city, keys, settings):
    settings.HOTLINE_ATTACHMENT_MAX_BYTES = 1000
    client = key_client(keys["app"][1])
    fake = io.BytesIO(b"MZ\x90\x00 not a picture")
    fake.name = "photo.jpg"
    body = {"category": "010101", "content": "暖气不热", "address": "东关大街1号院", "attachments": [fake]}
    response = client.post(TICKETS, body, format="multipart")
    assert response.status_code == 400
    assert "photo.jpg" in str(response.json())
    assert not Ticket.objects.exists()


def test_keys_see_only_their_own_tickets(city, keys):
    mine = _new(key_client(keys["app"][1])).json()["number"]
    other = key_client(keys["app2"][1])
    assert other.get(f"{TICKETS}{mine}/").status_code == 404
    assert other.get(TICKETS).json()["results"] == []
    assert key_client(keys["app"][1]).get(TICKETS).json()["results"][0]["number"] == mine
    # the callback system's key may not browse tickets at all
    assert key_client(keys["ivr"][1]).get(TICKETS).status_code == 403


def test_wrong_or_revoked_keys_are_refused(city, keys):
    assert key_client("hk_nothing_here").get(TICKETS).status_code == 401
    key, raw = keys["app"]
    api_key_revoke(key)
    response = key_client(raw).get(TICKETS)
    assert response.status_code == 401 and "吊销" in response.json()["detail"]
    assert staff_client(None).get(TICKETS).status_code in (401, 403)


def test_unit_staff_see_their_subtree_only(city):
    mine = drive(city, new_ticket(city), S.DISPATCHED)
    theirs = drive(city, new_ticket(city, address="八一中路3号"), S.DISPATCHED, lead=city.street2)
    client = staff_client(city.handler)
    numbers = [t["number"] for t in client.get(TICKETS).json()["results"]]
    assert numbers == [mine.number]
    assert client.get(f"{TICKETS}{theirs.number}/").status_code == 404
    assert client.post(f"{TICKETS}{theirs.number}/sign/", {}).status_code == 404
    assert staff_client(city.leader).get(f"{TICKETS}{theirs.number}/").status_code == 200


def test_confidential_reports_hide_the_citizen_from_the_unit(city):
    t = drive(city, new_ticket(city, is_confidential=True, nature="report"), S.DISPATCHED)
    body = staff_client(city.handler).get(f"{TICKETS}{t.number}/").json()
    assert body["citizen"] == {"name": "", "phone": "", "hidden": True}
    assert staff_client(city.dispatcher).get(f"{TICKETS}{t.number}/").json()["citizen"]["phone"] == "138****1234"


def test_the_whole_workflow_over_http(city):
    t = new_ticket(city)
    url = f"{TICKETS}{t.number}/"
    dispatcher, handler = staff_client(city.dispatcher), staff_client(city.handler)
    assert "dispatch" in dispatcher.get(url).json()["actions"]
    r = dispatcher.post(url + "dispatch/", {"department": city.street.pk}, format="json")
    assert r.status_code == 200 and r.json()["state"] == "dispatched"
    assert handler.post(url + "sign/", {}, format="json").json()["state"] == "handling"
    # replying before contacting the citizen is refused with the workflow's reason
    r = handler.post(url + "reply/", {"result": "solved", "text": "已修好"}, format="json")
    assert r.status_code == 400 and r.json()["detail"]
    assert handler.post(url + "contact/", {"note": "已电话联系"}, format="json").status_code == 200
    assert handler.post(url + "reply/", {"result": "solved", "text": "已修好"}, format="json").status_code == 200
    # a handler may not approve their own reply
    r = handler.post(url + "approve/", {}, format="json")
    assert r.status_code == 403 and r.json()["detail"]
    r = dispatcher.post(url + "approve/", {"note": ""}, format="json")
    assert r.status_code == 200 and r.json()["state"] == "closed"
    kinds = [e["kind"] for e in r.json()["timeline"]]
    assert kinds == ["created", "dispatched", "signed", "contacted", "replied", "approved"]
    # acting on a closed ticket is a clear 400, not a 500
    r = dispatcher.post(url + "dispatch/", {"department": city.street.pk}, format="json")
    assert r.status_code == 400


def test_action_input_is_validated(city):
    t = new_ticket(city)
    url = f"{TICKETS}{t.number}/"
    client = staff_client(city.dispatcher)
    assert "department" in client.post(url + "dispatch/", {}, format="json").json()
    assert "department" in client.post(url + "dispatch/", {"department": 999999}, format="json").json()
    r = client.post(url + "invalidate/", {"kind": "boring", "reason": "x"}, format="json")
    assert r.status_code == 400 and "kind" in r.json()
    t.refresh_from_db()
    assert t.state == S.RECEIVED


def test_keys_cannot_act_on_tickets(city, keys):
    number = _new(key_client(keys["app"][1])).json()["number"]
    r = key_client(keys["app"][1]).post(f"{TICKETS}{number}/answer/", {"text": "好"}, format="json")
    assert r.status_code == 403


def test_the_ivr_posts_callback_results(city, keys):
    t = drive(city, new_ticket(city), S.CLOSED)
    callback_batch(day=timezone.localdate(t.closed_at))
    # the calls are made the day after the closure
    with time_machine.travel(t.closed_at + timedelta(days=1), tick=False):
        ivr = key_client(keys["ivr"][1])
        rows = ivr.get("/api/v1/callbacks/").json()["results"]
        assert [r["ticket"] for r in rows] == [t.number] and rows[0]["citizen_phone"] == "13800001234"
        cb = rows[0]["id"]
        bad = ivr.post(f"/api/v1/callbacks/{cb}/result/", {"solved": "maybe"}, format="json")
        assert bad.status_code == 400 and {"solved", "satisfaction", "contacted"} <= set(bad.json())
        body = {"contacted": True, "solved": "unsolved", "satisfaction": "unsatisfied", "comment": "暖气还是不热"}
        r = ivr.post(f"/api/v1/callbacks/{cb}/result/", body, format="json")
        assert r.status_code == 200, r.content
        callback = Callback.objects.get(pk=cb)
        assert callback.via == "ivr" and callback.reopened
        t.refresh_from_db()
        assert t.state == S.HANDLING and t.reopen_count == 1
        # twice is refused
        assert ivr.post(f"/api/v1/callbacks/{cb}/result/", body, format="json").status_code == 400
        assert key_client(keys["app"][1]).get("/api/v1/callbacks/").status_code == 403
        assert staff_client(city.handler).get(f"/api/v1/callbacks/{cb}/").status_code == 404


def test_a_sensor_alert_opens_a_proactive_ticket_at_the_community(city, keys, settings):
    settings.HOTLINE_ALERT_CATEGORIES = {"water_meter_idle": "010101", "*": ""}
    sensor = key_client(keys["sensor"][1])
    alert = {
        "device_id": "WM-0042",
        "alert_id": "A1",
        "kind": "water_meter_idle",
        "message": "独居老人家水表24小时用水量低于0.01立方米",
        "reading": "0.004",
        "grid": "G-DG-01",
    }
    r = sensor.post("/api/v1/alerts/", alert, format="json")
    assert r.status_code == 201, r.content
    body = r.json()
    assert body["created"] and body["routed_to"]["id"] == city.community.pk and body["state"] == "dispatched"
    t = Ticket.objects.get(number=body["ticket"])
    assert t.is_proactive and t.channel == Channel.SENSOR and t.grid == city.grid
    again = sensor.post("/api/v1/alerts/", alert, format="json")
    assert again.status_code == 200 and again.json()["ticket"] == t.number
    assert Ticket.objects.count() == 1
    # unknown kinds and places are clear errors, and nothing is created
    r = sensor.post("/api/v1/alerts/", {**alert, "alert_id": "A2", "kind": "smoke"}, format="json")
    assert r.status_code == 400 and "kind" in r.json()
    r = sensor.post("/api/v1/alerts/", {**alert, "alert_id": "A3", "grid": "G-NOPE"}, format="json")
    assert r.status_code == 400 and "grid" in r.json()
    assert Ticket.objects.count() == 1
    assert key_client(keys["app"][1]).post("/api/v1/alerts/", alert, format="json").status_code == 403


def test_stats_follow_the_metrics_module_and_the_scope(city):
    drive(city, new_ticket(city), S.CLOSED)
    today = date.today().isoformat()
    body = staff_client(city.leader).get("/api/v1/stats/", {"start": "2026-01-01", "end": today}).json()
    assert body["counters"]["received"] >= 1 and "resolution" in body["rates"]
    handler = staff_client(city.handler)
    assert handler.get("/api/v1/stats/").json()["department"]["id"] == city.street.pk
    assert handler.get("/api/v1/stats/", {"department": city.street2.pk}).status_code == 404
    assert handler.get("/api/v1/stats/", {"start": "yesterday"}).status_code == 400
    assert handler.get("/api/v1/stats/", {"start": "2020-01-01", "end": "2026-01-01"}).status_code == 400


def test_reference_data_for_any_key(city, keys):
    client = key_client(keys["ivr"][1])
    codes = [c["code"] for c in client.get("/api/v1/categories/").json()]
    assert "010101" in codes
    assert client.get("/api/v1/departments/").status_code == 200


def test_keys_are_throttled(city, keys, settings):
    settings.HOTLINE_API_RATES = {**settings.HOTLINE_API_RATES, "key": "2/min"}
    client = key_client(keys["app"][1])
    assert [client.get("/api/v1/categories/").status_code for _ in range(3)] == [200, 200, 429]


def test_list_queries_do_not_grow_with_the_page(city, keys):
    client = key_client(keys["app"][1])
    for _ in range(3):
        _new(client)
    with CaptureQueriesContext(connection) as small:
        assert len(client.get(TICKETS).json()["results"]) == 3
    for _ in range(12):
        _new(client)
    with CaptureQueriesContext(connection) as big:
        page = client.get(TICKETS, {"page_size": 10}).json()
    assert len(page["results"]) == 10 and page["next"]
    assert len(big.captured_queries) == len(small.captured_queries)
    assert not any("COUNT(" in q["sql"].upper() for q in big.captured_queries)
    rest = client.get(page["next"]).json()["results"]
    assert len(rest) == 5


def test_filters(city, keys):
    client = key_client(keys["app"][1])
    _new(client)
    _new(client, category="0201", content="夜间施工噪声")
    assert len(client.get(TICKETS, {"category": "01"}).json()["results"]) == 1
    assert len(client.get(TICKETS, {"state": ["received"]}).json()["results"]) == 2
    assert client.get(TICKETS, {"state": "nonsense"}).status_code == 400


def test_an_instant_with_any_iso_offset_filters_and_one_out_of_range_is_a_400(city, keys):
    """ISO 8601 allows offsets to ±23:59, PostgreSQL to ±15:59 (schemathesis found the
    500): instants go to the database in UTC, and one no datetime holds is refused."""
    client = key_client(keys["app"][1])
    _new(client)
    far = client.get(TICKETS, {"updated_after": "1965-02-07T01:08:19.5+23:21"})
    assert far.status_code == 200 and len(far.json()["results"]) == 1
    assert client.get(TICKETS, {"received_before": "1965-02-07T01:08:19-23:59"}).json()["results"] == []
    response = client.get(TICKETS, {"received_after": "0001-01-01T00:00:00+05:00"})
    assert response.status_code == 400 and "received_after" in response.json()


def test_create_api_key_command_prints_a_working_key(city, capsys):
    call_command("create_api_key", "app", "--name", "i西宁小程序")
    raw = capsys.readouterr().out.strip()
    assert re.fullmatch(r"hk_[0-9a-f]{8}_\S{40,}", raw)
    assert key_client(raw).get("/api/v1/categories/").status_code == 200
    key = ApiKey.objects.get(name="i西宁小程序")
    assert raw not in str(key.__dict__)  # only the digest is kept
    with pytest.raises(Exception, match="unknown channel"):
        call_command("create_api_key", "fax")


def test_keys_are_issued_and_revoked_in_the_admin(city, client, admin_user):
    client.force_login(admin_user)
    r = client.post(
        reverse("admin:cases_apikey_add"),
        {"name": "市民热线小程序", "purpose": "channel", "channel": "app"},
        follow=True,
    )
    assert r.status_code == 200
    [raw] = re.findall(r"hk_[0-9a-f]{8}_[\w-]+", r.content.decode())
    assert key_client(raw).get("/api/v1/categories/").status_code == 200
    key = ApiKey.objects.get(name="市民热线小程序")
    r = client.post(
        reverse("admin:cases_apikey_changelist"), {"action": "revoke", "_selected_action": [key.pk]}, follow=True
    )
    key.refresh_from_db()
    assert key.revoked_at is not None
    assert key_client(raw).get("/api/v1/categories/").status_code == 401


def test_schema_and_docs_are_served_without_a_cdn(client):
    schema = client.get("/api/schema/")
    assert schema.status_code == 200 and b"/api/v1/tickets/{number}/dispatch/" in schema.content
    for url in ("/api/docs/", "/api/redoc/"):
        page = client.get(url).content.decode()
        assert "/static/drf_spectacular_sidecar/" in page
        assert not re.search(r"(src|href)=\"https?://", page)
