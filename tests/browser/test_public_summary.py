"""The 公开答复摘要 in a real browser: it follows the reply, scrubbed by the server,
until the handler edits it; the board then shows the approved summary only."""

import pytest
from playwright.sync_api import expect

from cases import workflow
from cases.models import TicketState
from tests.browser.test_flows import login
from tests.conftest import drive, new_ticket

pytestmark = pytest.mark.django_db(transaction=True, serialized_rollback=True)


def test_the_handler_approves_a_scrubbed_public_summary(page, live_server, city, shoot):
    ticket = drive(city, new_ticket(city, citizen_name="王秀英"), TicketState.HANDLING)
    base = live_server.url
    login(page, base, "handler_street")
    page.goto(f"{base}/admin/cases/ticket/{ticket.pk}/act/replied/")
    page.check("input[name=result][value=solved]")
    page.fill("textarea[name=text]", "已为王秀英更换3号楼暖气阀门，电话13912345678已回访，钥匙在门卫。")
    summary = page.locator("textarea[name=public_summary]")
    expect(summary).to_have_value("已为王**更换*号楼暖气阀门，电话139****5678已回访，钥匙在门卫。")
    summary.fill("已更换暖气阀门，室温恢复。")
    page.fill("textarea[name=text]", "已为王秀英更换暖气阀门。")  # an edited summary is no longer overwritten
    shoot(page, "issue18-reply-public-summary")
    page.click("input[name=_submit]")
    expect(page.locator(".messagelist")).to_contain_text("办理反馈")
    ticket.refresh_from_db()
    assert ticket.public_summary == "已更换暖气阀门，室温恢复。"
    workflow.ticket_approve(ticket=ticket, actor=city.dispatcher)
    page.goto(f"{base}/")
    card = page.locator("article.card.closed")
    expect(card).to_contain_text("已更换暖气阀门，室温恢复。")
    expect(card).not_to_contain_text("钥匙")
