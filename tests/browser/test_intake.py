"""The intake form in a real browser: the panels follow the category and the
address, duplicates by place merge in one click, a knowledge answer closes the
call in one step."""

import pytest
from playwright.sync_api import expect

from cases.models import Channel, KnowledgeArticle, Nature, Ticket, TicketState
from tests.browser.test_flows import login
from tests.conftest import drive, new_ticket

pytestmark = pytest.mark.django_db(transaction=True, serialized_rollback=True)

LOOKUP = "/admin/cases/ticket/intake/lookup/"
PNG = b"\x89PNG\r\n\x1a\n" + b"\x00" * 64


def choose_category(page, search, label):
    page.locator(".field-category .select2-selection").click()
    page.locator(".select2-search__field").fill(search)
    page.locator(".select2-results__option", has_text=label).click()


def test_the_panels_follow_the_category_and_the_address_and_merge_by_place(page, live_server, city, shoot):
    words = [
        "家里暖气片冰凉",
        "供暖不达标，屋里只有12度",
        "暖气上热下凉",
        "室内温度太低",
        "暖气一直不热",
        "整栋楼暖气是温的",
    ]
    flats = []
    for i, content in enumerate(words):
        ticket = new_ticket(city, content=content, citizen_phone=f"1390000{i:04d}", address=f"东关大街1号院{i + 1}号楼")
        flats.append(drive(city, ticket, TicketState.DISPATCHED) if i % 2 else ticket)
    base = live_server.url
    login(page, base, "operator")
    page.goto(f"{base}/admin/cases/ticket/add/")
    page.fill("#id_citizen_phone", "13612345678")
    page.fill("#id_content", "我家屋里冷得像冰窖，已经两天了")
    # The address alone sends a lookup; no duplicates yet without a category.
    with page.expect_request(lambda r: LOOKUP in r.url and "address=" in r.url and "7" in r.url):
        page.fill("#id_address", "城东区东关大街1号院7号楼")
    expect(page.locator("#territory-text")).to_contain_text("东关一网格")

    # Choosing a category sends a new lookup carrying it, and the panel fills.
    with page.expect_request(lambda r: LOOKUP in r.url and f"category={city.cold_room.pk}" in r.url):
        choose_category(page, "室温", "室温不达标")
    items = page.locator("#duplicates-list li.duplicate")
    expect(items).to_have_count(6)
    expect(page.locator("#duplicates-panel")).to_contain_text("同一小区同类诉求")
    shoot(page, "intake-duplicates")

    # One click merges the caller's demand into the chosen ticket.
    page.locator("#duplicates-list li", has_text=flats[3].number).locator(".merge-button").click()
    expect(page.locator(".messagelist .success")).to_contain_text("已受理")
    merged = Ticket.objects.exclude(pk__in=[t.pk for t in flats]).get()
    assert merged.state == TicketState.MERGED and merged.merged_into_id == flats[3].pk


def test_a_knowledge_answer_fills_the_form_and_closes_in_one_step(page, live_server, city, shoot):
    KnowledgeArticle.objects.create(
        question="燃气泄漏怎么办？", answer="立即关闭燃气阀门，开窗通风。", keywords="燃气 泄漏", category=city.noise
    )
    article = KnowledgeArticle.objects.create(
        question="暖气片不热是什么原因？",
        answer="多为管道内有空气，可打开排气阀放气；仍不热请联系热力公司。",
        keywords="暖气 不热 排气",
        category=city.heating,
    )
    base = live_server.url
    login(page, base, "operator")
    page.goto(f"{base}/admin/cases/ticket/add/")
    page.fill("#id_citizen_phone", "13712345678")
    page.fill("#id_content", "暖气不热怎么办")
    first = page.locator("#knowledge-list li.knowledge").first
    expect(first).to_contain_text(article.question)

    with page.expect_request(lambda r: LOOKUP in r.url and f"category={city.heating.pk}" in r.url):
        first.locator(".use-answer").click()
    expect(page.locator(".field-category .select2-selection")).to_contain_text("供暖")
    expect(page.locator("#id_nature")).to_have_value(Nature.CONSULT)
    expect(page.locator("#id_answer_text")).to_have_value(article.answer)
    expect(page.locator("#knowledge-chosen")).to_contain_text(article.question)
    expect(page.locator("#knowledge-list li.chosen")).to_contain_text(article.question)
    shoot(page, "intake-knowledge")

    page.click("#answer-submit")
    ticket = Ticket.objects.get()
    expect(page.locator(".messagelist .success")).to_contain_text(f"已办结：{ticket.number}")
    assert ticket.state == TicketState.CLOSED and ticket.category == city.heating
    assert ticket.nature == Nature.CONSULT and ticket.channel == Channel.HOTLINE


def test_a_grid_worker_reports_with_a_photo_that_survives_a_failed_save(page, live_server, city, shoot, tmp_path):
    photo = tmp_path / "scene.png"
    photo.write_bytes(PNG)
    base = live_server.url
    login(page, base, "gridworker")
    page.get_by_role("link", name="巡查上报").click()
    expect(page.locator("#id_grid")).to_have_value(str(city.grid.pk))
    expect(page.locator("#id_channel")).to_have_count(0)
    page.set_input_files("#id_attachments", str(photo))
    choose_category(page, "噪声", "噪声")
    page.click("#intake-submit")  # no content yet: the form comes back
    expect(page.locator(".field-content .errorlist")).to_be_visible()
    expect(page.locator("#pending-uploads img.pending-thumb")).to_have_count(1)
    shoot(page, "intake-patrol-kept-photo")

    page.fill("#id_content", "工地夜间施工噪声扰民")
    page.click("#intake-submit")
    expect(page.locator(".messagelist .success")).to_contain_text("已受理")
    ticket = Ticket.objects.get()
    assert ticket.channel == Channel.GRID and ticket.grid == city.grid
    assert [a.original_name for a in ticket.attachments.all()] == ["scene.png"]
