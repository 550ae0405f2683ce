"""The main path of a demand, clicked through in a real browser:
an operator takes a call, the dispatcher dispatches, the street office signs,
records contact and replies with a photo, the dispatcher approves — and another
street office cannot open the ticket by URL."""

import re

import pytest
from playwright.sync_api import expect

from cases.models import Ticket, TicketState
from tests.departments.factories import PASSWORD

PNG = b"\x89PNG\r\n\x1a\n" + b"\x00" * 64

pytestmark = pytest.mark.django_db(transaction=True, serialized_rollback=True)


def login(page, base, username):
    page.context.clear_cookies()
    page.goto(f"{base}/admin/login/")
    page.fill("#id_username", username)
    page.fill("#id_password", PASSWORD)
    page.click("input[type=submit]")
    expect(page.locator("#work-queues")).to_be_visible()


def act(page, label):
    page.locator(".object-tools a.action-button", has_text=label).first.click()
    expect(page.locator("form.action-form")).to_be_visible()


def test_a_demand_from_call_to_close(page, live_server, city, shoot, tmp_path):
    base = live_server.url

    # The operator takes the call.
    login(page, base, "operator")
    shoot(page, "01-operator-index")
    page.get_by_role("link", name="受理新诉求").first.click()
    page.fill("#id_citizen_phone", "13800001234")
    page.fill("#id_citizen_name", "王女士")
    page.fill("#id_content", "东关大街1号院3号楼暖气不热，室温只有14度，家里有老人。")
    page.fill("#id_address", "城东区东关大街1号院3号楼")
    page.locator(".field-category .select2-selection").click()
    page.locator(".select2-search__field").fill("室温")
    page.locator(".select2-results__option", has_text="室温不达标").click()
    expect(page.locator("#territory-text")).to_contain_text("东关一网格")
    shoot(page, "02-intake-form")
    page.click("#intake-submit")
    expect(page.locator(".messagelist .success")).to_contain_text("已受理")
    ticket = Ticket.objects.get()
    assert ticket.state == TicketState.RECEIVED and ticket.grid == city.grid

    # The dispatcher sends it to the street office.
    login(page, base, "dispatcher")
    page.goto(f"{base}/admin/cases/ticket/?queue=to_dispatch")
    shoot(page, "03-dispatcher-queue")
    page.get_by_role("link", name=ticket.number).click()
    shoot(page, "04-ticket-received")
    act(page, "派单")
    page.select_option("#id_department", str(city.street.pk))
    shoot(page, "05-dispatch-form")
    page.click("input[name=_submit]")
    expect(page.locator(".messagelist .success")).to_contain_text("派单")

    # The street office signs, calls the citizen, fixes it and replies with a photo.
    login(page, base, "handler_street")
    expect(page.locator('[data-queue="to_sign"]')).to_have_text("1")
    expect(page.locator("#inbox-badge")).to_have_text("1")  # "新工单 … 请及时签收"
    page.click("#inbox-link")
    expect(page.locator("#result_list")).to_contain_text(ticket.number)
    shoot(page, "06a-handler-inbox")
    page.goto(f"{base}/admin/cases/ticket/{ticket.pk}/change/")
    act(page, "签收")
    page.click("input[name=_submit]")
    act(page, "记录联系")
    page.fill("#id_note", "已电话联系王女士，约定今天下午上门查看。")
    page.click("input[name=_submit]")
    act(page, "办理反馈")
    page.check("input[name=result][value=solved]")
    page.fill("#id_text", "已协调热力公司排气并更换阀门，室温恢复到20度。")
    photo = tmp_path / "after.png"
    photo.write_bytes(PNG)
    page.set_input_files("#id_photos", str(photo))
    shoot(page, "06-reply-form")
    page.click("input[name=_submit]")
    expect(page.locator("#timeline")).to_contain_text("办理反馈")
    expect(page.locator(".attachments")).to_contain_text("after.png")
    shoot(page, "07-ticket-replied")

    # The dispatcher reviews and closes it.
    login(page, base, "dispatcher")
    page.goto(f"{base}/admin/cases/ticket/{ticket.pk}/change/")
    act(page, "审核通过")
    page.click("input[name=_submit]")
    expect(page.locator(".ticket-summary h2")).to_contain_text("已办结")
    shoot(page, "08-ticket-closed")
    ticket.refresh_from_db()
    assert ticket.state == TicketState.CLOSED
    assert ticket.attachments.get().original_name == "after.png"

    # Another street office cannot open it, not even by its URL.
    login(page, base, "handler_street2")
    response = page.goto(f"{base}/admin/cases/ticket/{ticket.pk}/change/")
    assert response.status == 404
    response = page.goto(f"{base}/admin/cases/ticket/{ticket.pk}/history/")
    assert response.status == 404
    page.goto(f"{base}/admin/cases/ticket/?state=all")
    expect(page.locator("#result_list")).to_have_count(0)
    assert not re.search(ticket.number, page.content())
    shoot(page, "09-other-street-list")


def test_the_changelist_and_filters_render_in_chinese(page, live_server, city, shoot):
    login(page, live_server.url, "dispatcher")
    page.goto(f"{live_server.url}/admin/cases/ticket/")
    expect(page.locator("#changelist-filter")).to_contain_text("工作队列")
    expect(page.locator("#changelist-filter")).to_contain_text("时限预警")
    shoot(page, "10-changelist-filters")


def test_the_dashboard_draws_its_charts(page, live_server, city, shoot):
    from reports.rollups import rollups_rebuild
    from tests.conftest import drive, new_ticket

    for _ in range(3):
        drive(city, new_ticket(city), TicketState.CLOSED)
    drive(city, new_ticket(city, address="八一中路1号"), TicketState.HANDLING, lead=city.street2)
    rollups_rebuild(days=3)
    login(page, live_server.url, "leader")
    page.click("#dashboard-link")
    expect(page.locator(".dashboard[data-ready=true]")).to_be_attached()
    expect(page.locator("#kpis")).to_contain_text("受理量")
    assert page.locator(".charts .canvas svg").count() >= 10  # drawn by ECharts from our own static files
    expect(page.locator("#table-hotspots")).to_contain_text("东关社区")
    shoot(page, "11-dashboard")


def test_a_citizen_tracks_a_ticket_on_a_phone(browser, live_server, city, shoot):
    """The public board and the status lookup, at phone size, with no login."""
    from tests.conftest import drive, new_ticket

    done = drive(city, new_ticket(city), TicketState.CLOSED)
    drive(city, new_ticket(city, category=city.noise, content="夜间施工噪声"), TicketState.HANDLING)
    context = browser.new_context(viewport={"width": 390, "height": 844}, locale="zh-CN", is_mobile=True)
    phone = context.new_page()
    outside = []
    phone.on("request", lambda r: None if r.url.startswith(live_server.url) else outside.append(r.url))
    phone.goto(f"{live_server.url}/")
    expect(phone.locator("h1")).to_have_text("问题墙回音壁")
    expect(phone.locator("article.card")).to_have_count(2)
    expect(phone.locator("article.card.closed")).to_contain_text("已协调热力公司排气")
    shoot(phone, "12-public-board-phone")
    phone.click("text=办理进度查询")
    phone.fill("input[name=number]", done.number)
    phone.fill("input[name=last4]", "0000")
    phone.click("button[type=submit]")
    expect(phone.locator("[role=alert]")).to_contain_text("没有找到")
    phone.fill("input[name=last4]", "1234")
    phone.click("button[type=submit]")
    expect(phone.locator(".result")).to_contain_text("已办结")
    expect(phone.locator(".steps li")).to_have_count(5)  # received, dispatched, signed, replied, closed
    shoot(phone, "13-public-lookup-phone")
    assert outside == []  # nothing fetched from outside the server
    context.close()


def test_a_dispatcher_turns_on_two_factor_login(page, live_server, city, shoot):
    """两步验证 from the top bar: the QR code is drawn on the page, a code from the
    app confirms it, the recovery codes are shown once; the next login asks."""
    from django_otp.oath import TOTP
    from django_otp.plugins.otp_totp.models import TOTPDevice

    base = live_server.url
    login(page, base, "dispatcher")
    page.click("#two-factor-link")
    qr = page.locator("#two-factor-qr svg")
    expect(qr).to_be_visible()
    box = qr.bounding_box()
    assert box["width"] > 150 and box["height"] > 150
    device = TOTPDevice.objects.get(user=city.dispatcher, confirmed=False)
    totp = TOTP(device.bin_key, device.step, device.t0, device.digits, device.drift)
    page.fill("#id_token", f"{totp.token():06d}")
    page.get_by_role("button", name="确认启用").click()
    expect(page.locator("#recovery-codes li")).to_have_count(10)
    shoot(page, "14-two-factor-on")
    code = page.locator("#recovery-codes li code").first.inner_text()

    page.context.clear_cookies()
    page.goto(f"{base}/admin/login/")
    page.fill("#id_username", "dispatcher")
    page.fill("#id_password", PASSWORD)
    page.click("input[type=submit]")
    expect(page.locator(".errornote")).to_contain_text("已启用两步验证")
    page.fill("#id_password", PASSWORD)
    page.fill("#id_otp_token", code)
    page.click("input[type=submit]")
    expect(page.locator("#work-queues")).to_be_visible()
