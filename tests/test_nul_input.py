"""A NUL character is refused at the door (config.middleware): PostgreSQL cannot
store or compare it, so without this guard it reached the database as a 500."""

import json

import pytest

from cases.models import Ticket

pytestmark = pytest.mark.django_db

MESSAGE = "请求中含有不允许的空字符（NUL）"


@pytest.fixture
def dispatcher(city):
    return city.dispatcher


def test_nul_in_a_path_or_query_is_a_clear_400(client, dispatcher):
    client.force_login(dispatcher)
    for url in ["/admin/cases/ticket/?q=%00", "/admin/cases/ticket/?state=a%00b", "/admin/cases/ticket/%00/change/"]:
        response = client.get(url)
        assert response.status_code == 400, url
        assert MESSAGE in response.content.decode()
    assert client.get("/admin/cases/ticket/?q=abc").status_code == 200


def test_nul_in_a_form_is_refused_and_nothing_is_written(client, city):
    client.force_login(city.operator)
    before = Ticket.objects.count()
    response = client.post("/admin/cases/ticket/add/", {"content": "暖气不热\x00", "channel": "hotline"})
    assert response.status_code == 400
    assert Ticket.objects.count() == before


def test_the_api_and_open311_answer_in_their_own_error_format(client, dispatcher):
    client.force_login(dispatcher)
    body = json.dumps({"content": "a\u0000b"})
    response = client.post("/api/v1/tickets/", body, content_type="application/json")
    assert response.status_code == 400
    assert MESSAGE in response.json()["detail"]
    response = client.post("/open311/v2/requests.json", {"description": "a\x00b", "service_code": "1"})
    assert response.status_code == 400
    assert MESSAGE in response.json()[0]["description"]
    response = client.get("/open311/v2/requests.xml?service_request_id=%00")
    assert response.status_code == 400 and b"<errors>" in response.content
