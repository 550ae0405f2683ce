"""What the ticket page and the work lists cost: statement caps for the ticket page
with a 50-event timeline (the centre's dispatcher and the street's handler) and
for the lists, and checks that the page still shows what it did (the timeline's
lines, the panels). The CPU targets live in the ``bench`` command, not here."""

import re
from datetime import timedelta

import pytest
import time_machine
from django.core.files.uploadedfile import SimpleUploadedFile
from django.db import connection
from django.test.utils import CaptureQueriesContext
from django.urls import reverse
from django.utils import translation

from cases import workflow
from cases.labels import choice_label, choice_labels
from cases.models import ReasonCode, ReplyResult, Ticket, TicketEvent, TicketState, Urge, Urgency
from tests.conftest import drive, local, new_ticket

Kind = TicketEvent.Kind
PNG = b"\x89PNG\r\n\x1a\n" + b"\x00" * 64
CHANGELIST = "/admin/cases/ticket/"
EVENTS = 50


@pytest.fixture
def clock():
    with time_machine.travel(local(2026, 11, 23, 9, 0), tick=False) as traveller:
        yield traveller


def rich_ticket(c, clock, events=EVENTS):
    """A ticket with a bit of everything the page shows: a co-handler, an event
    attachment, an urge, a hop down the chain and back, a rework with its reason
    code, a merged duplicate, a pending extension; progress notes up to ``events``."""
    t = new_ticket(c)
    t = workflow.ticket_dispatch(ticket=t, actor=c.dispatcher, department=c.street)
    t = workflow.ticket_cohandlers_add(ticket=t, actor=c.dispatcher, departments=[c.bureau])
    t = workflow.ticket_sign(ticket=t, actor=c.handler)
    t = workflow.ticket_contact(ticket=t, actor=c.handler, note="电话联系王女士，\n约定上门。")
    png = SimpleUploadedFile("现场.png", PNG, content_type="image/png")
    t = workflow.ticket_progress(ticket=t, actor=c.handler, note="现场查看，<管道>堵塞。", attachments=[png])
    workflow.ticket_urge(ticket=t, actor=c.supervisor, kind=Urge.Kind.WRITTEN, content="请于明日前办结。")
    t = workflow.ticket_subdispatch(ticket=t, actor=c.handler, department=c.community, note="请社区上门核实")
    t = workflow.ticket_sign(ticket=t, actor=c.community_handler)
    t = workflow.ticket_take_back(ticket=t, actor=c.handler)
    t = workflow.ticket_reply(ticket=t, actor=c.handler, result=ReplyResult.SOLVED, text="已处理。")
    code = ReasonCode.objects.get(kind=ReasonCode.Kind.REWORK, code="evasive")
    t = workflow.ticket_rework(ticket=t, actor=c.dispatcher, reason="未说明处理结果。", reason_code=code)
    duplicate = new_ticket(c, content="同一小区暖气不热，重复来电。")
    workflow.ticket_merge(ticket=duplicate, actor=c.dispatcher, master=t)
    t.refresh_from_db()
    for n in range(events - 1 - t.events.count()):
        clock.shift(timedelta(minutes=5))
        t = workflow.ticket_progress(ticket=t, actor=c.handler, note=f"进展第{n + 1}次：协调热力公司。")
    workflow.ticket_extension_request(ticket=t, actor=c.handler, working_days=2, reason="需协调产权单位。")
    t.refresh_from_db()
    assert t.events.count() == events
    return t


def page(client, user, ticket):
    client.force_login(user)
    response = client.get(reverse("admin:cases_ticket_change", args=[ticket.pk]))
    assert response.status_code == 200
    return response.content.decode()


def plain_ticket(c, clock, events=EVENTS):
    """A handling ticket whose timeline is ``events`` long, mostly progress notes."""
    t = drive(c, new_ticket(c), TicketState.HANDLING)
    for n in range(events - t.events.count()):
        clock.shift(timedelta(minutes=5))
        t = workflow.ticket_progress(ticket=t, actor=c.handler, note=f"进展第{n + 1}次。")
    assert t.events.count() == events
    return t


def statements(client, url):
    client.get(url)  # warm the per-process caches (content types, calendars)
    with CaptureQueriesContext(connection) as queries:
        assert client.get(url).status_code == 200
    return [q["sql"] for q in queries.captured_queries]


def ticket_reads(sqls, ticket):
    """The statements that read the ticket's own row."""
    return [sql for sql in sqls if re.search(rf'FROM "cases_ticket" .*"cases_ticket"\."id" = {ticket.pk}\b', sql)]


# -- choice labels ------------------------------------------------------------------------


def test_choice_labels_are_get_display_in_every_language(db):
    ticket = Ticket(state=TicketState.HANDLING, urgency=Urgency.URGENT)
    for language in ("zh-hans", "en"):
        with translation.override(language):
            assert choice_label(ticket, "state") == ticket.get_state_display()
            assert choice_label(ticket, "urgency") == ticket.get_urgency_display()
            field = Ticket._meta.get_field("state")
            assert choice_labels(field) == {v: str(label) for v, label in field.flatchoices}
    with translation.override("en"):
        english = choice_label(ticket, "state")
    with translation.override("zh-hans"):
        assert choice_label(ticket, "state") != english  # one dict per language, not the first one cached
    ticket.state = "no-such-state"
    assert choice_label(ticket, "state") == ticket.get_state_display() == "no-such-state"


# -- the ticket page -----------------------------------------------------------------------


def test_the_ticket_page_shows_the_timeline_and_every_panel(client, city, clock):
    t = rich_ticket(city, clock)
    html = page(client, city.dispatcher, t)
    timeline = html[html.index('id="timeline"') : html.index("</ol>", html.index('id="timeline"'))]
    assert timeline.count('<li class="event event-') == EVENTS
    # newest first: the pending extension on top, the creation at the bottom
    assert timeline.index("event-extension_requested") < timeline.index("event-created")
    assert f'<strong class="event-kind">{Kind.CREATED.label}</strong>' in timeline
    assert f'<span class="event-states">— → {TicketState.RECEIVED.label}</span>' in timeline
    assert f"{TicketState.RECEIVED.label} → {TicketState.DISPATCHED.label}" in timeline
    assert '<span class="event-unit">→ 东关社区</span>' in timeline
    assert '<span class="event-detail">东关大街街道 → 东关社区</span>' in timeline  # the hop down
    assert '<span class="event-detail">东关社区 → 东关大街街道</span>' in timeline  # taken back
    assert "催办〔2026〕0001号" in timeline
    code = ReasonCode.objects.get(kind=ReasonCode.Kind.REWORK, code="evasive")
    assert f'<span class="event-reason-code">[{code.label}]</span>' in timeline
    assert "电话联系王**，<br>约定上门。" in timeline  # line breaks kept, the name masked
    assert "现场查看，&lt;管道&gt;堵塞。" in timeline  # and the note escaped
    attachment = t.attachments.get()
    url = reverse("admin:cases_ticket_attachment", args=[t.pk, attachment.pk])
    assert f'<a class="event-attachment" href="{url}" target="_blank">[附件] 现场.png</a>' in timeline
    assert f"{city.handler}" in timeline and "东关大街街道" in timeline  # the actor and the actor's unit
    # the panels
    assert 'class="pending-application"' in html and "需协调产权单位。" in html
    assert 'class="urges"' in html and 'class="cohandlings"' in html and city.bureau.name in html
    assert 'class="attachments"' in html
    duplicate = t.merged_tickets.get()
    assert "并入本单的工单" in html and duplicate.number in html
    assert 'id="chain"' not in html  # taken back: no chain open
    # the fieldsets: units and people read in bulk still show
    assert f"{city.grid}" in html and city.community.name in html and city.district.name in html


def test_the_ticket_page_reads_the_ticket_once_in_a_few_statements(client, city, clock):
    t = plain_ticket(city, clock)
    url = reverse("admin:cases_ticket_change", args=[t.pk])
    client.force_login(city.dispatcher)
    sqls = statements(client, url)
    assert len(ticket_reads(sqls, t)) == 1, ticket_reads(sqls, t)
    assert len(sqls) <= 12, "\n".join(sqls)
    client.force_login(city.handler)  # the street: its scope costs two statements more
    sqls = statements(client, url)
    assert len(ticket_reads(sqls, t)) == 1
    assert len(sqls) <= 12, "\n".join(sqls)
    # no chain and no urge (read with the ticket): the street's verbs ask nothing more
    assert not [sql for sql in sqls if re.search(r'FROM "cases_(dispatchhop|urge)" WHERE', sql)]


def test_the_ticket_page_costs_the_same_with_a_longer_timeline_and_one_statement_per_panel(client, city, clock):
    t = plain_ticket(city, clock, events=10)
    url = reverse("admin:cases_ticket_change", args=[t.pk])
    client.force_login(city.dispatcher)
    short = len(statements(client, url))
    for n in range(20):
        t = workflow.ticket_progress(ticket=t, actor=city.handler, note=f"补充{n}")
    assert len(statements(client, url)) == short
    rich = rich_ticket(city, clock)
    sqls = statements(client, reverse("admin:cases_ticket_change", args=[rich.pk]))
    # applications, co-handlings, attachments, merged tickets, urges: one each
    assert len(sqls) <= short + 5, "\n".join(sqls)
    assert len(ticket_reads(sqls, rich)) == 1


# -- the work lists ------------------------------------------------------------------------


@pytest.mark.parametrize("who, cap", [("dispatcher", 12), ("handler", 13)])
def test_the_work_list_costs_a_fixed_number_of_statements(client, city, clock, who, cap):
    for _ in range(3):
        drive(city, new_ticket(city), TicketState.HANDLING)
    client.force_login(getattr(city, who))
    few = statements(client, CHANGELIST)
    for _ in range(5):
        drive(city, new_ticket(city), TicketState.HANDLING)
    many = statements(client, CHANGELIST)
    assert len(many) == len(few) <= cap, "\n".join(many)
    # an unused tree filter looks nothing up (no "id IS NULL" probe per filter)
    assert not [sql for sql in many if '."id" IS NULL' in sql]


def test_the_row_checkbox_is_djangos(client, city, clock):
    t = drive(city, new_ticket(city), TicketState.HANDLING)
    client.force_login(city.dispatcher)
    html = client.get(CHANGELIST).content.decode()
    assert (
        f'<input type="checkbox" name="_selected_action" value="{t.pk}" class="action-select" '
        f'aria-label="选择此对象执行操作 - {t}">'
    ) in html
