"""Open311 GeoReport v2: every endpoint in JSON and XML, the spec's errors, no
personal data out, and a client that speaks only Open311 from report to closure."""

from datetime import timedelta
from xml.etree import ElementTree

import pytest
from django.utils import timezone

from cases.models import ServiceAttribute, ServiceRequestToken, Ticket, TicketState
from tests.conftest import drive, new_ticket

S = TicketState
BASE = "/open311/v2/"


@pytest.fixture
def heating_attributes(city):
    ServiceAttribute.objects.create(
        category=city.heating, code="temperature", description="室内温度（℃）", datatype="number", required=True
    )
    ServiceAttribute.objects.create(
        category=city.cold_room,
        code="since",
        description="从何时开始",
        datatype="singlevaluelist",
        values=[{"key": "today", "name": "今天"}, {"key": "week", "name": "一周以上"}],
        order=2,
    )


def _post(client, raw, fmt="json", **fields):
    body = {
        "api_key": raw,
        "service_code": "010101",
        "address_string": "城东区东关大街1号院3号楼",
        "description": "暖气不热，家里有老人。我的电话13912345678。",
        "first_name": "女士",
        "last_name": "王",
        "phone": "13912345678",
        "attribute[temperature]": "14",
        **fields,
    }
    return client.post(f"{BASE}requests.{fmt}", {k: v for k, v in body.items() if v is not None})


def test_discovery_and_services(client, city, heating_attributes):
    discovery = client.get(f"{BASE}discovery.json").json()
    assert discovery["endpoints"][0]["specification"] == "http://wiki.open311.org/GeoReport_v2"
    assert discovery["endpoints"][0]["formats"] == ["text/xml", "application/json"]
    services = client.get(f"{BASE}services.json").json()
    by_code = {s["service_code"]: s for s in services}
    # leaf categories are the services; groups are the top of the tree
    assert set(by_code) == {"010101", "0201", "03"}
    assert by_code["010101"] == {
        "service_code": "010101",
        "service_name": "室温不达标",
        "description": "城乡建设 › 供暖 › 室温不达标",
        "metadata": True,
        "type": "realtime",
        "keywords": "",
        "group": "城乡建设",
    }
    assert by_code["0201"]["metadata"] is False
    definition = client.get(f"{BASE}services/010101.json").json()
    assert [a["code"] for a in definition["attributes"]] == ["temperature", "since"]  # inherited first
    assert definition["attributes"][1]["values"][1] == {"key": "week", "name": "一周以上"}


def test_xml_uses_the_spec_element_names(client, city, heating_attributes):
    response = client.get(f"{BASE}services/010101.xml")
    assert response["Content-Type"] == "text/xml; charset=utf-8"
    assert response.content.startswith(b'<?xml version="1.0" encoding="utf-8"?>')
    root = ElementTree.fromstring(response.content)
    assert root.tag == "service_definition"
    assert root.findtext("service_code") == "010101"
    values = root.findall("attributes/attribute/values/value")
    assert [v.findtext("key") for v in values] == ["today", "week"]
    services = ElementTree.fromstring(client.get(f"{BASE}services.xml").content)
    assert services.tag == "services" and services.find("service/metadata").text in ("true", "false")
    discovery = ElementTree.fromstring(client.get(f"{BASE}discovery.xml").content)
    assert [f.text for f in discovery.findall("endpoints/endpoint/formats/format")] == ["text/xml", "application/json"]


def test_post_creates_a_request_and_keeps_personal_data_in(client, city, keys, heating_attributes):
    key, raw = keys["app"]
    response = _post(client, raw, **{"attribute[since]": "week"})
    assert response.status_code == 200, response.content
    [created] = response.json()
    ticket = Ticket.objects.get(number=created["service_request_id"])
    assert created["token"] == str(ticket.open311_token.token)
    assert ticket.channel == key.channel and ticket.created_by == key.user
    assert ticket.citizen_name == "王女士" and ticket.citizen_phone == "13912345678"
    assert "室内温度（℃）：14" in ticket.content and "从何时开始：一周以上" in ticket.content
    assert ticket.community == city.community
    [shown] = client.get(f"{BASE}requests/{ticket.number}.json").json()
    text = str(shown)
    assert "王女士" not in text and "13912345678" not in text and "3号楼" not in text
    assert "139****5678" in shown["description"]
    assert shown["address"] == "城东区 东关大街街道 东关社区"
    assert shown["status"] == "open" and shown["service_code"] == "010101"
    xml = ElementTree.fromstring(client.get(f"{BASE}requests/{ticket.number}.xml").content)
    assert xml.tag == "service_requests" and xml.findtext("request/service_request_id") == ticket.number
    tokens = client.get(f"{BASE}tokens/{created['token']}.json").json()
    assert tokens == [{"service_request_id": ticket.number, "token": created["token"]}]


@pytest.mark.parametrize(
    ("fields", "status", "says"),
    [
        ({"api_key": ""}, 403, "api_key"),
        ({"api_key": "hk_00000000_wrong"}, 403, "api_key"),
        ({"service_code": ""}, 400, "service_code is required"),
        ({"service_code": "0101"}, 404, "service_code 0101 not found"),  # not a leaf: not a service
        ({"address_string": None}, 400, "location"),
        ({"address_string": None, "lat": "north", "long": "101.79"}, 400, "decimal degrees"),
        ({"address_string": None, "lat": "91", "long": "101.79"}, 400, "-90..90"),
        ({"address_id": "G-NOPE"}, 400, "address_id"),
        ({"attribute[temperature]": None}, 400, "attribute[temperature] is required"),
        ({"attribute[temperature]": "warm"}, 400, "must be a number"),
        ({"attribute[since]": "forever"}, 400, "forever is not one of"),
        ({"attribute[colour]": "red"}, 400, "attribute[colour] is not defined"),
        ({"description": "长" * 4001}, 400, "longer than 4000"),
        ({"phone": "call me"}, 400, "phone is not a telephone number"),  # the workflow's phone rule
        ({"jurisdiction_id": "elsewhere.example"}, 404, "jurisdiction_id"),
    ],
)
def test_bad_requests_get_spec_errors_and_create_nothing(client, city, keys, heating_attributes, fields, status, says):
    raw = fields.pop("api_key") if "api_key" in fields else keys["app"][1]
    for fmt in ("json", "xml"):
        response = _post(client, raw, fmt, **fields)
        assert response.status_code == status, response.content
        if fmt == "json":
            [err] = response.json()
            assert err["code"] == status and says in err["description"]
        else:
            root = ElementTree.fromstring(response.content)
            assert root.tag == "errors" and root.findtext("error/code") == str(status)
            assert says in root.findtext("error/description")
    assert not Ticket.objects.exists()


def test_only_channel_keys_may_post(client, city, keys, heating_attributes):
    response = _post(client, keys["ivr"][1])
    assert response.status_code == 403
    assert not Ticket.objects.exists()


def test_get_requests_filters_and_window(client, city):
    old = new_ticket(city)
    Ticket.objects.filter(pk=old.pk).update(received_at=timezone.now() - timedelta(days=120))
    open_one = new_ticket(city)
    closed = drive(city, new_ticket(city, category=city.noise, content="夜间施工噪声"), S.CLOSED)
    secret = new_ticket(city, is_confidential=True, nature="report", content="举报某餐馆")
    rows = client.get(f"{BASE}requests.json").json()
    numbers = {r["service_request_id"] for r in rows}
    assert numbers == {open_one.number, closed.number}  # 90-day window; no confidential reports
    assert secret.number not in numbers
    assert [r["service_request_id"] for r in client.get(f"{BASE}requests.json?status=closed").json()] == [closed.number]
    assert [r["service_request_id"] for r in client.get(f"{BASE}requests.json?service_code=0201").json()] == [
        closed.number
    ]
    start = (timezone.now() - timedelta(days=200)).isoformat()
    assert len(client.get(f"{BASE}requests.json", {"start_date": start}).json()) == 3
    assert len(client.get(f"{BASE}requests.json", {"page_size": 1, "page": 2}).json()) == 1
    # service_request_id wins over the other filters (the spec)
    only = client.get(f"{BASE}requests.json", {"service_request_id": old.number, "status": "closed"}).json()
    assert [r["service_request_id"] for r in only] == [old.number]
    assert client.get(f"{BASE}requests/{secret.number}.json").status_code == 404
    assert len(client.get(f"{BASE}requests.json", {"start_date": "1965-02-07T01:08:19+23:21"}).json()) == 3
    far_past = {"start_date": "0001-01-01T00:00:00+05:00"}
    for bad in ({"start_date": "last week"}, {"status": "pending"}, {"page_size": "0"}, {"page": "x"}, far_past):
        response = client.get(f"{BASE}requests.json", bad)
        assert response.status_code == 400 and response.json()[0]["code"] == 400


def test_unknown_resources_and_methods(client, city):
    response = client.get(f"{BASE}requests/20990101-00001.json")
    assert response.status_code == 404 and response.json()[0]["code"] == 404
    assert client.get(f"{BASE}nothing.xml").status_code == 404
    assert client.get(f"{BASE}tokens/not-a-token.json").status_code == 404
    assert client.delete(f"{BASE}services.json").status_code == 405


def test_a_client_speaking_only_open311_follows_its_request_to_closure(client, city, keys):
    """End to end: report, watch it dispatched and closed, read the updates."""
    raw = keys["app"][1]
    since = timezone.now() - timedelta(minutes=1)
    [created] = _post(client, raw, **{"attribute[temperature]": None}).json()
    number = created["service_request_id"]
    [request] = client.get(f"{BASE}requests/{number}.json").json()
    assert request["status"] == "open" and request["agency_responsible"] == "12345热线中心"
    ticket = Ticket.objects.get(number=number)
    drive(city, ticket, S.DISPATCHED)
    [request] = client.get(f"{BASE}requests/{number}.json").json()
    assert request["agency_responsible"] == "东关大街街道" and request["expected_datetime"]
    assert "等待签收" in request["status_notes"]
    drive(city, Ticket.objects.get(number=number), S.CLOSED)
    [request] = client.get(f"{BASE}requests/{number}.json").json()
    assert request["status"] == "closed"
    assert request["status_notes"].startswith("已解决：已协调热力公司排气")
    updates = client.get(f"{BASE}servicerequestupdates.json", {"start_date": since.isoformat()}).json()
    mine = [u for u in updates if u["service_request_id"] == number]
    assert [u["status"] for u in mine] == ["open", "open", "open", "open", "closed"]
    assert mine[1]["description"] == "派单：东关大街街道"
    assert mine[-1]["description"].startswith("审核通过：已协调热力公司排气")
    assert "王女士" not in str(updates) and "电话联系" not in str(updates)  # no internal notes
    xml = ElementTree.fromstring(client.get(f"{BASE}servicerequestupdates.xml").content)
    assert xml.tag == "service_request_updates" and xml.find("request_update/update_id") is not None
    assert ServiceRequestToken.objects.count() == 1
