"""Working a queue, measured: each role works FIVE tickets of its main queue in a
real browser, and the page loads each ticket costs are counted (navigations of the
main frame: a click on a link, a form posted and its redirect count as one each).

Each role opens its queue and the queue's first ticket once (two loads, not
counted); from there every action offers "提交并处理下一条". The table is printed
and written to ``artifacts/queue-flow.txt`` (the numbers before the queue flow:
``artifacts/queue-flow-before.txt``)."""

from datetime import timedelta
from pathlib import Path

import pytest
import time_machine
from playwright.sync_api import expect

from cases import clock, workflow
from cases.callbacks import callback_batch
from cases.models import Callback, Ticket, TicketState
from tests.browser.test_flows import login
from tests.conftest import drive, new_ticket

pytestmark = pytest.mark.django_db(transaction=True, serialized_rollback=True)

S = TicketState
TABLE = Path(__file__).resolve().parents[2] / "artifacts" / "queue-flow.txt"
FIVE = 5


class Loads:
    """Counts the main frame's navigations since the last ``take``."""

    def __init__(self, page):
        self.n = 0
        page.on("framenavigated", lambda frame: self._seen(page, frame))

    def _seen(self, page, frame):
        if frame == page.main_frame:
            self.n += 1

    def take(self) -> int:
        n, self.n = self.n, 0
        return n


ROLES = ("dispatcher", "handler", "reviewer", "callback")


def record(role, action, loads, target):
    """Print the table and write it, keeping the rows of roles not run this time."""
    rows = {}
    if TABLE.exists():
        for line in TABLE.read_text(encoding="utf-8").splitlines():
            if line.split(" ", 1)[0] in ROLES:
                rows[line.split(" ", 1)[0]] = line
    rows[role] = f"{role:<11} {action:<31} {' '.join(map(str, loads)):<23} {max(loads):>3}  <= {target}"
    lines = [
        "Page loads per ticket, FIVE tickets per role (opening the queue and its first ticket,",
        "once per session, not counted).",
        "",
        "role        action                          loads per ticket        max  target",
        *(rows[name] for name in ROLES if name in rows),
    ]
    text = "\n".join(lines) + "\n"
    print("\n" + text)
    TABLE.parent.mkdir(parents=True, exist_ok=True)
    TABLE.write_text(text, encoding="utf-8")


def open_first(page, base, queue):
    """Open the queue and its first ticket: once per session, not per ticket."""
    page.goto(f"{base}/admin/cases/ticket/?queue={queue}")
    expect(page.locator("h1")).to_have_text(QUEUE_TITLES[queue])
    page.locator("#result_list tbody tr a").first.click()
    expect(page.locator(".ticket-summary")).to_be_visible()


def act(page, label):
    page.locator(".object-tools a.action-button", has_text=label).first.click()
    expect(page.locator("form.action-form")).to_be_visible()


def submit_and_next(page):
    page.click("#submit-next")


QUEUE_TITLES = {"to_dispatch": "待派单", "to_sign": "待签收", "to_review": "待审核"}


def assert_one_line(page, selector):
    """Every cell's content of a column stays on one line (no wrapping at 1440 px)."""
    lines = page.locator(f"#result_list {selector}").evaluate_all("els => els.map(e => e.getClientRects().length)")
    assert lines and set(lines) == {1}, lines
    overflow = page.locator("#changelist .results").evaluate("e => e.scrollWidth - e.clientWidth")
    widths = page.locator("#result_list thead th").evaluate_all(
        "els => els.map(e => e.className + ':' + Math.round(e.getBoundingClientRect().width))"
    )
    assert overflow <= 0, f"the list is {overflow} px wider than the page: {widths}"


def test_dispatcher_dispatches_five(page, live_server, city, shoot):
    content = "东关大街{}号院暖气不热，室温只有14度，家里有老人和孩子。"
    tickets = [new_ticket(city, content=content.format(i)) for i in range(FIVE)]
    login(page, live_server.url, "dispatcher")
    page.goto(f"{live_server.url}/admin/cases/ticket/?queue=to_dispatch")
    assert_one_line(page, ".field-number_link a")
    assert_one_line(page, ".field-waiting span")
    shoot(page, "20-queue-to-dispatch")
    loads, counts = Loads(page), []
    open_first(page, live_server.url, "to_dispatch")
    for ticket in tickets:  # the queue's order: the longest waiting first
        loads.take()
        expect(page.locator(".ticket-summary h2")).to_contain_text(ticket.number)
        act(page, "派单")
        page.select_option("#id_department", str(city.street.pk))
        submit_and_next(page)
        expect(page.locator(".messagelist .success")).to_contain_text("派单")
        counts.append(loads.take())
    expect(page.locator(".messagelist .info")).to_contain_text("本队列已没有下一条")
    assert Ticket.objects.filter(state=S.DISPATCHED).count() == FIVE
    record("dispatcher", "dispatch", counts, 2)
    assert max(counts) <= 2


def test_handler_signs_contacts_and_replies_five(page, live_server, city, shoot):
    for i in range(FIVE):
        drive(city, new_ticket(city, content=f"东关大街{i}号院暖气不热。"), S.DISPATCHED)
    login(page, live_server.url, "handler_street")
    page.goto(f"{live_server.url}/admin/cases/ticket/?queue=to_sign")
    assert_one_line(page, ".field-number_link a")
    assert_one_line(page, ".deadline")
    shoot(page, "21-queue-to-sign")
    loads, counts = Loads(page), []
    open_first(page, live_server.url, "to_sign")
    shoot(page, "22-ticket-one-click-sign")
    for i in range(FIVE):
        loads.take()
        page.click("#quick-signed")  # 签收: one POST, no confirmation page
        expect(page.locator(".messagelist .success")).to_contain_text("签收")
        act(page, "记录联系")
        page.fill("#id_note", "已电话联系诉求人，约定上门。")
        page.click("input[name=_submit]")
        act(page, "办理反馈")
        page.check("input[name=result][value=solved]")
        page.fill("#id_text", "已协调热力公司排气，室温恢复到20度。")
        if i == 0:
            shoot(page, "23-reply-submit-and-next")
        submit_and_next(page)
        expect(page.locator(".messagelist .success")).to_contain_text("办理反馈")
        counts.append(loads.take())
    assert Ticket.objects.filter(state=S.REVIEWING).count() == FIVE
    record("handler", "sign > contact > reply", counts, 5)
    assert max(counts) <= 5


def test_reviewer_approves_five(page, live_server, city):
    for i in range(FIVE):
        drive(city, new_ticket(city, content=f"东关大街{i}号院暖气不热。"), S.REVIEWING)
    login(page, live_server.url, "dispatcher")
    page.goto(f"{live_server.url}/admin/cases/ticket/?queue=to_review")
    assert_one_line(page, ".field-number_link a")
    assert_one_line(page, ".deadline")
    loads, counts = Loads(page), []
    open_first(page, live_server.url, "to_review")
    for _ in range(FIVE):
        loads.take()
        act(page, "审核通过")
        submit_and_next(page)
        expect(page.locator(".messagelist .success")).to_contain_text("审核通过")
        counts.append(loads.take())
    assert Ticket.objects.filter(state=S.CLOSED).count() == FIVE
    record("reviewer", "approve", counts, 2)
    assert max(counts) <= 2


def test_callback_agent_records_five(page, live_server, city):
    yesterday = clock.local_day() - timedelta(days=1)
    with time_machine.travel(clock.day_start(yesterday) + timedelta(hours=10), tick=False):
        for i in range(FIVE):
            ticket = drive(city, new_ticket(city, content=f"东关大街{i}号院暖气不热。"), S.REVIEWING)
            workflow.ticket_approve(ticket=ticket, actor=city.dispatcher)
    callback_batch(day=yesterday)
    # The batch plans the calls for the next day; today is that day or later.
    assert Callback.objects.filter(status=Callback.Status.PENDING, agent=city.callback).count() == FIVE
    login(page, live_server.url, "callback")
    loads, counts = Loads(page), []
    page.goto(f"{live_server.url}/admin/cases/callback/")
    page.locator("#result_list tbody tr a").first.click()
    for _ in range(FIVE):
        loads.take()
        page.check("input[name=r-contacted][value='1']")
        page.check("input[name=r-solved][value=solved]")
        page.check("input[name=r-satisfaction][value=satisfied]")
        page.click("#record-next")
        expect(page.locator(".messagelist .success")).to_contain_text("回访已记录")
        counts.append(loads.take())
    expect(page.locator(".messagelist .info")).to_contain_text("本队列已没有下一条")
    assert Callback.objects.filter(status=Callback.Status.DONE).count() == FIVE
    record("callback", "record callback result", counts, 2)
    assert max(counts) <= 2
