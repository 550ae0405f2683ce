"""Working a queue: "提交并处理下一条" within the queue an action came from, one-click
and bulk 签收, the waiting time in 待派单, each queue's ordering, the deadline
column's clock and the queue's name as the page title."""

import re
from datetime import timedelta
from urllib.parse import urlencode

import pytest
import time_machine
from django.urls import reverse

from cases import workflow
from cases.models import Clock, CoHandling, Colour, Ticket, TicketState, Urgency
from tests.conftest import drive, local, new_ticket

S = TicketState
CHANGELIST = "/admin/cases/ticket/"


@pytest.fixture
def clock():
    with time_machine.travel(local(2026, 11, 23, 9, 0), tick=False) as traveller:
        yield traveller


def carried(url, filters):
    return f"{url}?{urlencode({'_changelist_filters': filters})}"


def change_url(ticket, filters=""):
    url = reverse("admin:cases_ticket_change", args=[ticket.pk])
    return carried(url, filters) if filters else url


def action_url(ticket, kind, filters=""):
    url = reverse("admin:cases_ticket_action", args=[ticket.pk, kind])
    return carried(url, filters) if filters else url


def sign_url(ticket, filters="", back=""):
    url = reverse("admin:cases_ticket_sign", args=[ticket.pk])
    url = carried(url, filters) if filters else url
    return f"{url}{'&' if filters else '?'}_back={back}" if back else url


def received(city, n, **overrides):
    return [new_ticket(city, content=f"东关大街{i}号院暖气不热。", **overrides) for i in range(n)]


# -- 提交并处理下一条 -----------------------------------------------------------------------


def test_submit_and_next_lands_on_the_next_ticket_of_the_same_queue(client, city, clock):
    first, second, third = received(city, 3)  # to_dispatch: the longest waiting first
    client.force_login(city.dispatcher)
    queue = "queue=to_dispatch"
    listing = client.get(f"{CHANGELIST}?{queue}")
    assert change_url(first, queue).replace("&", "&amp;") in listing.content.decode()
    page = client.get(change_url(first, queue))
    assert action_url(first, "dispatched", queue).replace("&", "&amp;") in page.content.decode()
    form = client.get(action_url(first, "dispatched", queue))
    assert "提交并处理下一条" in form.content.decode()

    response = client.post(action_url(first, "dispatched", queue), {"department": city.street.pk, "_next": "1"})

    assert response.status_code == 302
    assert response["Location"] == change_url(second, queue)
    first.refresh_from_db()
    assert first.state == S.DISPATCHED
    response = client.post(action_url(second, "dispatched", queue), {"department": city.street.pk, "_next": "1"})
    assert response["Location"] == change_url(third, queue)


def test_submit_and_next_skips_forward_when_the_ticket_stays_in_the_queue(client, city, clock):
    a, b = (drive(city, t, S.HANDLING) for t in received(city, 2))
    client.force_login(city.handler)
    queue = "queue=in_hand"
    order = [int(n) for n in re.findall(r"/ticket/(\d+)/change/", client.get(f"{CHANGELIST}?{queue}").content.decode())]
    assert sorted(order) == sorted([a.pk, b.pk])
    first, second = (Ticket.objects.get(pk=pk) for pk in order)

    response = client.post(action_url(first, "progress", queue), {"note": "已上门查看。", "_next": "1"})
    assert response["Location"] == change_url(second, queue)  # not the same one again
    response = client.post(action_url(second, "progress", queue), {"note": "已上门查看。", "_next": "1"})
    assert response["Location"] == f"{CHANGELIST}?{queue}"  # the last one: back to the queue


def test_submit_and_next_on_the_last_ticket_goes_back_to_the_queue_with_a_message(client, city, clock):
    (ticket,) = received(city, 1)
    client.force_login(city.dispatcher)
    queue = "queue=to_dispatch&urgency__exact=normal"
    response = client.post(action_url(ticket, "dispatched", queue), {"department": city.street.pk, "_next": "1"})
    assert response["Location"] == f"{CHANGELIST}?{queue}"
    page = client.get(response["Location"])
    assert "本队列已没有下一条待处理的工单" in page.content.decode()


def test_plain_submit_keeps_the_ticket_page_and_the_queue(client, city, clock):
    first, _second = received(city, 2)
    client.force_login(city.dispatcher)
    response = client.post(action_url(first, "dispatched", "queue=to_dispatch"), {"department": city.street.pk})
    assert response["Location"] == change_url(first, "queue=to_dispatch")


def test_the_next_ticket_is_within_the_users_scope(client, city, clock):
    mine = drive(city, received(city, 1)[0], S.DISPATCHED)
    drive(city, new_ticket(city, address="八一中路1号"), S.DISPATCHED, lead=city.street2)
    client.force_login(city.handler)
    response = client.post(action_url(mine, "signed", "queue=to_sign"), {"_next": "1"})
    assert response["Location"] == f"{CHANGELIST}?queue=to_sign"  # street2's ticket is not offered


@pytest.mark.parametrize(
    "queue", ["queue=to_dispatch&received_from=not-a-date", "citizen_phone__startswith=138", "o=abc&p=99"]
)
def test_a_carried_list_that_cannot_be_rebuilt_stays_with_the_ticket(client, city, clock, queue):
    first, _second = received(city, 2)
    client.force_login(city.dispatcher)
    response = client.post(action_url(first, "dispatched", queue), {"department": city.street.pk, "_next": "1"})
    assert response.status_code == 302
    assert response["Location"] in (change_url(first), change_url(_second, queue))
    first.refresh_from_db()
    assert first.state == S.DISPATCHED


# -- 签收 without a form, and in bulk ------------------------------------------------------


def test_sign_in_one_post_from_the_ticket_page(client, city, clock):
    ticket = drive(city, received(city, 1)[0], S.DISPATCHED)
    client.force_login(city.handler)
    page = client.get(change_url(ticket)).content.decode()
    assert f'action="{sign_url(ticket)}"' in page  # a POST button, not a link to a form
    assert "签收（附说明）" in page  # the form stays for a note
    assert client.get(sign_url(ticket)).status_code == 405

    response = client.post(sign_url(ticket, "queue=to_sign"))

    assert response["Location"] == change_url(ticket, "queue=to_sign")
    ticket.refresh_from_db()
    assert ticket.state == S.HANDLING and ticket.handler == city.handler


def test_sign_from_the_list_returns_to_the_list(client, city, clock):
    ticket = drive(city, received(city, 1)[0], S.DISPATCHED)
    client.force_login(city.handler)
    listing = client.get(f"{CHANGELIST}?queue=to_sign").content.decode()
    assert "sign-button" in listing
    response = client.post(sign_url(ticket, "queue=to_sign", back="list"))
    assert response["Location"] == f"{CHANGELIST}?queue=to_sign"
    ticket.refresh_from_db()
    assert ticket.state == S.HANDLING


def test_sign_is_refused_to_whom_the_form_refuses(client, city, clock):
    ticket = drive(city, received(city, 1)[0], S.DISPATCHED)
    client.force_login(city.handler2)
    assert client.post(sign_url(ticket)).status_code == 404  # not in scope
    client.force_login(city.dispatcher)
    response = client.post(sign_url(ticket), follow=True)
    assert "不是待本单位签收的工单" in response.content.decode()
    ticket.refresh_from_db()
    assert ticket.state == S.DISPATCHED


def test_the_sign_post_needs_the_csrf_token(city, clock):
    from django.test import Client

    ticket = drive(city, received(city, 1)[0], S.DISPATCHED)
    strict = Client(enforce_csrf_checks=True)
    strict.force_login(city.handler)
    assert strict.post(sign_url(ticket)).status_code == 403
    ticket.refresh_from_db()
    assert ticket.state == S.DISPATCHED


def test_bulk_sign_signs_each_through_the_verb_and_reports_what_was_skipped(client, city, clock):
    waiting = [drive(city, t, S.DISPATCHED) for t in received(city, 3)]
    cohandled = drive(city, new_ticket(city, address="八一中路1号"), S.DISPATCHED, lead=city.street2)
    workflow.ticket_cohandlers_add(ticket=cohandled, actor=city.dispatcher, departments=[city.street])
    already = drive(city, new_ticket(city), S.HANDLING)
    client.force_login(city.handler)
    selected = [t.pk for t in [*waiting, cohandled, already]]

    response = client.post(
        f"{CHANGELIST}?state=all", {"action": "sign_selected", "_selected_action": selected}, follow=True
    )

    text = response.content.decode()
    assert "已签收 4 件" in text
    assert f"未签收 1 件：{already.number}（不是待本单位签收的工单" in text
    assert Ticket.objects.filter(pk__in=[t.pk for t in waiting], state=S.HANDLING).count() == 3
    assert CoHandling.objects.get(ticket=cohandled, department=city.street).status == CoHandling.Status.SIGNED


def test_bulk_sign_is_offered_to_units_only(client, city, clock):
    client.force_login(city.dispatcher)
    assert "sign_selected" not in client.get(CHANGELIST).content.decode()
    client.force_login(city.handler)
    assert "sign_selected" in client.get(CHANGELIST).content.decode()


# -- the lists -----------------------------------------------------------------------------


def test_to_dispatch_shows_the_waiting_time_and_puts_urgent_and_oldest_first(client, city):
    with time_machine.travel(local(2026, 11, 23, 8, 0), tick=False):
        old = new_ticket(city)
    with time_machine.travel(local(2026, 11, 23, 9, 0), tick=False):
        urgent = new_ticket(city, urgency=Urgency.URGENT)
        newer = new_ticket(city)
    with time_machine.travel(local(2026, 11, 23, 9, 30), tick=False):
        client.force_login(city.dispatcher)
        page = client.get(f"{CHANGELIST}?queue=to_dispatch").content.decode()
        assert urgent.waiting_colour() == Colour.RED  # 30 minutes > 20 for an urgent one
        assert newer.waiting_colour() == ""
    numbers = re.findall(r"/change/\?[^\"]*\">(\d{8}-\d{5})</a>", page)
    assert numbers == [urgent.number, old.number, newer.number]
    assert "已等1小时30分" in page and "已等30分钟" in page
    assert "waiting-red" in page


def test_each_queue_has_its_own_ordering_defined_once():
    from cases.selectors.queues import QUEUES, WAITING_ORDERING, WORKLIST_ORDERING

    assert QUEUES["to_dispatch"].ordering == WAITING_ORDERING
    assert QUEUES["to_sign"].ordering == WORKLIST_ORDERING


def test_the_deadline_column_names_its_clock(client, city, clock):
    dispatched = drive(city, new_ticket(city), S.DISPATCHED)
    handling = drive(city, new_ticket(city), S.HANDLING)
    assert dispatched.next_clock() == Clock.SIGN
    assert handling.next_clock() == Clock.RESOLVE
    client.force_login(city.handler)
    page = client.get(f"{CHANGELIST}?state=open").content.decode()
    assert '<span class="clock-name">签收</span>' in page
    assert '<span class="clock-name">办结</span>' in page


def test_the_queue_page_is_titled_by_the_queue(client, city, clock):
    client.force_login(city.handler)
    page = client.get(f"{CHANGELIST}?queue=to_sign").content.decode()
    assert "<h1>待签收</h1>" in page
    assert "选择工单查看" not in page


def test_a_callback_agent_records_and_goes_on_to_the_next(client, city):
    from cases.callbacks import callback_batch
    from cases.models import Callback

    with time_machine.travel(local(2026, 11, 23, 10, 0), tick=False):
        for ticket in received(city, 2):
            workflow.ticket_approve(ticket=drive(city, ticket, S.REVIEWING), actor=city.dispatcher)
        callback_batch(day=local(2026, 11, 23, 10, 0).date())
    first, second = Callback.objects.order_by("pk")
    with time_machine.travel(local(2026, 11, 24, 9, 0) + timedelta(minutes=1), tick=False):
        client.force_login(city.callback)
        listing = client.get("/admin/cases/callback/?queue=today").content.decode()
        assert "_changelist_filters=queue%3Dtoday" in listing
        record = reverse("admin:cases_callback_record", args=[first.pk]) + "?_changelist_filters=queue%3Dtoday"
        assert "记录并回访下一条" in client.get(record).content.decode()
        data = {"r-contacted": "1", "r-solved": "solved", "r-satisfaction": "satisfied", "_next": "1"}
        response = client.post(record, data)
    first.refresh_from_db()
    assert first.status == Callback.Status.DONE
    assert response["Location"].startswith(reverse("admin:cases_callback_record", args=[second.pk]))
