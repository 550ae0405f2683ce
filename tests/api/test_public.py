"""Public pages: the status lookup and the 问题墙回音壁 board."""

import pytest

from cases.models import TicketState
from cases.public import anonymise
from tests.conftest import drive, new_ticket

S = TicketState


def test_anonymise_masks_what_identifies_a_person(city):
    t = new_ticket(city, citizen_name="王小红")
    text = (
        "王小红说：东关大街1号院3号楼2单元，电话 138-0000-1234，座机0971-8123456，"
        "身份证630102199001011234，工单20261123-00042"
    )
    out = anonymise(text, t)
    for secret in ("王小红", "1号院", "3号楼", "2单元", "0000-1234", "8123456", "199001011234"):
        assert secret not in out
    assert "王**" in out and "138****1234" in out and "20261123-00042" in out


def test_the_lookup_needs_the_number_and_the_last_four_digits(client, city):
    t = drive(city, new_ticket(city), S.CLOSED)
    page = client.post("/lookup/", {"number": t.number, "last4": "1234"}).content.decode()
    assert t.number in page and "已办结" in page and "东关大街街道" in page
    assert "已协调热力公司排气" in page  # the reply summary
    assert "王女士" not in page and "13800001234" not in page and "3号楼" not in page
    wrong_digits = client.post("/lookup/", {"number": t.number, "last4": "9999"})
    wrong_number = client.post("/lookup/", {"number": "20200101-00001", "last4": "1234"})
    # the same answer either way: nothing to learn about which part was wrong
    assert wrong_digits.status_code == wrong_number.status_code == 200
    assert _message(wrong_digits) == _message(wrong_number) != ""
    invalid = client.post("/lookup/", {"number": t.number, "last4": "12a4"})
    assert "后四位" in invalid.content.decode()


def _message(response):
    html = response.content.decode()
    start = html.index('role="alert">') + len('role="alert">')
    return html[start : html.index("<", start)]


def test_the_lookup_is_rate_limited(client, city, settings):
    settings.HOTLINE_API_RATES = {**settings.HOTLINE_API_RATES, "lookup": "3/10min"}
    t = new_ticket(city)
    for _ in range(3):
        assert client.post("/lookup/", {"number": t.number, "last4": "0000"}).status_code == 200
    blocked = client.post("/lookup/", {"number": t.number, "last4": "1234"})
    assert blocked.status_code == 429 and "查询过于频繁" in blocked.content.decode()
    assert "已受理" not in blocked.content.decode()  # no answer, even with the right digits


def test_the_board_shows_progress_without_personal_data(client, city):
    done = drive(city, new_ticket(city), S.CLOSED)
    going = drive(city, new_ticket(city, category=city.noise, content="夜间施工噪声"), S.HANDLING)
    secret = drive(city, new_ticket(city, is_confidential=True, nature="report"), S.HANDLING)
    waiting = new_ticket(city)  # not dispatched yet: not on the board
    html = client.get("/").content.decode()
    assert done.number in html and going.number in html
    assert secret.number not in html and waiting.number not in html
    assert "王女士" not in html and "13800001234" not in html and "1号院" not in html
    assert "东关大街街道 东关社区" in html and "已协调热力公司排气" in html
    closed_only = client.get("/", {"state": "closed"}).content.decode()
    assert done.number in closed_only and going.number not in closed_only
    by_category = client.get("/", {"category": city.environment.pk}).content.decode()
    assert going.number in by_category and done.number not in by_category
    assert client.get("/", {"page": "x", "street": "y"}).status_code == 200


@pytest.mark.parametrize("url", ["/", "/lookup/"])
def test_public_pages_load_nothing_from_outside(client, db, url):
    html = client.get(url).content.decode()
    assert 'name="viewport"' in html
    assert "http://" not in html and "https://" not in html
