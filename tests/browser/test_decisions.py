"""The reworked decision pages in a real browser, with screenshots for the closing
note: the review page (reply, evidence photo, co-handlers), the extension request
form (cap, 17:00 rule) and the extension ruling (reason, days, deadlines, cap)."""

import struct
import zlib

import pytest
from django.core.files.uploadedfile import SimpleUploadedFile
from playwright.sync_api import expect

from cases import workflow
from cases.models import ReplyResult, TicketState
from tests.conftest import drive, new_ticket
from tests.departments.factories import PASSWORD

pytestmark = pytest.mark.django_db(transaction=True, serialized_rollback=True)


def photo_png(width=240, height=160) -> bytes:
    """A real (decodable) PNG: a blue-to-green gradient, so the thumbnail shows."""

    def chunk(kind, data):
        body = kind + data
        return struct.pack(">I", len(data)) + body + struct.pack(">I", zlib.crc32(body) & 0xFFFFFFFF)

    rows = b"".join(
        b"\x00" + b"".join(bytes((40, 90 + x * 150 // width, 200 - y * 120 // height)) for x in range(width))
        for y in range(height)
    )
    header = struct.pack(">IIBBBBB", width, height, 8, 2, 0, 0, 0)
    return b"\x89PNG\r\n\x1a\n" + chunk(b"IHDR", header) + chunk(b"IDAT", zlib.compress(rows)) + chunk(b"IEND", b"")


def login(page, base, username):
    page.context.clear_cookies()
    page.goto(f"{base}/admin/login/")
    page.fill("#id_username", username)
    page.fill("#id_password", PASSWORD)
    page.click("input[type=submit]")
    expect(page.locator("#work-queues")).to_be_visible()


def test_the_review_page_shows_reply_evidence_and_cohandlers(page, live_server, city, shoot):
    ticket = drive(city, new_ticket(city), TicketState.DISPATCHED)
    ticket = workflow.ticket_cohandlers_add(
        ticket=ticket, actor=city.dispatcher, departments=[city.bureau, city.utility]
    )
    ticket = drive(city, ticket, TicketState.HANDLING)
    workflow.ticket_cohandler_sign(ticket=ticket, actor=city.bureau_handler)
    workflow.ticket_cohandler_reply(ticket=ticket, actor=city.bureau_handler, text="已核查小区供热管网压力正常。")
    workflow.ticket_reply(
        ticket=ticket,
        actor=city.handler,
        result=ReplyResult.SOLVED,
        text="已协调热力公司上门排气，复测室温20度，王女士表示认可。",
        attachments=[SimpleUploadedFile("排气后.png", photo_png(), content_type="image/png")],
    )

    login(page, live_server.url, "dispatcher")
    page.goto(f"{live_server.url}/admin/cases/ticket/{ticket.pk}/act/approved/")
    review = page.locator("#review-context")
    expect(review).to_contain_text("已协调热力公司上门排气")
    thumb = review.locator("img.evidence-thumb")
    expect(thumb).to_be_visible()
    # The photo itself, decoded: wait for the browser to finish loading it (lazy images
    # load after the page's load event), then read its natural width.
    thumb.evaluate("img => img.decode()")
    assert thumb.evaluate("img => img.naturalWidth") == 240
    rows = review.locator("table.cohandler-status tbody tr")
    expect(rows).to_have_count(2)
    expect(rows.filter(has_text=city.bureau.name)).to_contain_text("已反馈")
    expect(rows.filter(has_text=city.utility.name)).to_contain_text("待签收")
    shoot(page, "review")


def test_the_extension_request_and_its_ruling_show_their_context(page, live_server, city, shoot):
    ticket = drive(city, new_ticket(city), TicketState.HANDLING)

    login(page, live_server.url, "handler_street")
    page.goto(f"{live_server.url}/admin/cases/ticket/{ticket.pk}/act/extension_requested/")
    context = page.locator("#extension-request-context")
    expect(context).to_contain_text("上限 10 个工作日，已用 0 个，尚余 10 个")
    expect(context).to_contain_text("17:00")
    expect(context.locator("table.extension-previews td")).to_have_count(20)  # days and deadlines
    shoot(page, "extension-request")
    page.fill("#id_working_days", "3")
    page.fill("#id_reason", "需产权单位更换小区主供热管道，材料采购需一周。")
    page.set_input_files(
        "#id_documents", files=[{"name": "管道锈蚀.png", "mimeType": "image/png", "buffer": photo_png()}]
    )
    page.click("input[name=_submit]")
    expect(page.locator(".messagelist .success")).to_contain_text("申请延期")

    login(page, live_server.url, "dispatcher")
    page.goto(f"{live_server.url}/admin/cases/ticket/{ticket.pk}/act/extension_approved/")
    ruling = page.locator("#extension-context")
    expect(ruling.locator(".extension-reason")).to_contain_text("需产权单位更换小区主供热管道")
    expect(ruling.locator(".extension-days")).to_contain_text("3 个工作日")
    expect(ruling.locator(".extension-cap")).to_contain_text("尚余 10 个")
    expect(ruling.locator(".extension-deadlines")).to_contain_text("→")
    expect(ruling.locator(".extension-attachments img.evidence-thumb")).to_be_visible()
    shoot(page, "extension-ruling")
