"""People by their names; units read their own callback results; an inbox that
forgets the content of tickets that left the unit."""

from datetime import date

import pytest
import time_machine
from django.urls import reverse

from cases import workflow
from cases.callbacks import callback_batch, callback_record
from cases.models import Callback, Notification, TicketEvent, TicketState
from cases.notifications.inbox import MOVED_OUT_TEXT, notifications_create
from departments.selectors import person_name
from tests.conftest import drive, local, new_ticket
from tests.departments.factories import UserFactory

S = TicketState


# -- names -----------------------------------------------------------------------------


@pytest.mark.parametrize(
    ("first", "last", "username", "shown"),
    [
        ("丽", "王", "operator", "王丽"),
        ("Ann", "Lee", "alee", "Ann Lee"),
        ("", "", "h630103003", "h630103003"),
        ("系统管理员", "", "admin", "系统管理员"),
    ],
)
def test_a_person_is_shown_by_name_and_the_login_only_without_one(db, first, last, username, shown):
    user = UserFactory(username=username, first_name=first, last_name=last)
    assert person_name(user) == shown
    assert str(user) == shown  # every door that prints a user without thinking


def test_the_timeline_the_header_and_the_escalation_name_people(client, city):
    with time_machine.travel(local(2026, 11, 23, 10, 0), tick=False):
        ticket = drive(city, new_ticket(city), S.HANDLING)
        workflow.ticket_escalate(ticket=ticket, actor=city.supervisor, leader=city.leader, reason="多次投诉未解决")
        client.force_login(city.supervisor)
        page = client.get(reverse("admin:cases_ticket_change", args=[ticket.pk])).content.decode()
    event = TicketEvent.objects.get(ticket=ticket, kind=TicketEvent.Kind.ESCALATED)
    assert event.data["leader"]["name"] == "赵志强"
    assert "王丽" in page and "周海燕" in page and "赵志强" in page  # 登记人, 承办人, 督办领导
    assert ">operator<" not in page and ">handler_street<" not in page
    assert '<strong id="user-name">张明华</strong>' in page


# -- units read their own callback results ---------------------------------------------------


@pytest.fixture
def results(city):
    """A callback recorded on a ticket of each street."""
    done = {}
    for lead, when in ((city.street, 10), (city.street2, 11)):
        with time_machine.travel(local(2026, 11, 23, when - 3, 0), tick=False):
            ticket = drive(city, new_ticket(city), S.REVIEWING, lead=lead)
        with time_machine.travel(local(2026, 11, 23, when, 0), tick=False):
            workflow.ticket_approve(ticket=ticket, actor=city.dispatcher)
        done[lead.pk] = ticket
    callback_batch(day=date(2026, 11, 23))
    for ticket in done.values():
        cb = Callback.objects.get(ticket=ticket)
        with time_machine.travel(local(2026, 11, 24, 10, 0), tick=False):
            callback_record(
                callback=cb,
                actor=city.callback,
                contacted=True,
                solved="solved",
                satisfaction="satisfied",
                comment="很满意，回电13800001234",
            )
    return done


@pytest.mark.parametrize("who", ["handler", "head"])
def test_a_street_opens_on_its_own_callback_results_read_only(client, city, results, who):
    mine, theirs = results[city.street.pk], results[city.street2.pk]
    client.force_login(getattr(city, who))
    with time_machine.travel(local(2026, 11, 25, 9, 0), tick=False):
        page = client.get(reverse("admin:cases_callback_changelist")).content.decode()
    assert mine.number in page and theirs.number not in page
    assert "刘芳" in page  # the agent, by name
    assert "很满意" in page and "13800001234" not in page and "138****1234" in page
    cb = Callback.objects.get(ticket=mine)
    record = client.get(reverse("admin:cases_callback_record", args=[cb.pk])).content.decode()
    assert 'id="callback-form"' not in record
    before = Callback.objects.values().get(pk=cb.pk)
    client.post(reverse("admin:cases_callback_record", args=[cb.pk]), {"_action": "unreachable"})
    assert Callback.objects.values().get(pk=cb.pk) == before
    other = Callback.objects.get(ticket=theirs)
    assert client.get(reverse("admin:cases_callback_record", args=[other.pk])).status_code == 404


def test_the_callbacks_api_stays_with_the_centre(client, city, results):
    client.force_login(city.handler)
    response = client.get("/api/v1/callbacks/")
    assert response.status_code in (200, 403)
    if response.status_code == 200:
        assert response.json()["results"] == []


def test_the_agents_queue_still_opens_on_today(client, city, results):
    client.force_login(city.callback)
    with time_machine.travel(local(2026, 11, 25, 9, 0), tick=False):
        page = client.get(reverse("admin:cases_callback_changelist")).content.decode()
    assert results[city.street.pk].number not in page  # recorded: not today's work


# -- the inbox after a ticket left the unit ---------------------------------------------


def test_a_message_about_a_ticket_gone_to_another_street_keeps_only_its_fact(client, city):
    with time_machine.travel(local(2026, 11, 23, 10, 0), tick=False):
        ticket = drive(city, new_ticket(city), S.DISPATCHED)
        item = {"recipient": city.handler, "ticket": ticket, "title": f"派单 {ticket.number}", "body": ticket.content}
        (message,) = notifications_create([item])
        client.force_login(city.handler)
        url = reverse("admin:cases_notification_changelist")
        assert "暖气不热" in client.get(url).content.decode()

        workflow.ticket_return_request(ticket=ticket, actor=city.handler, reason="不属于本街道辖区")
        ticket = workflow.ticket_return_approve(ticket=ticket, actor=city.dispatcher)
        workflow.ticket_dispatch(ticket=ticket, actor=city.dispatcher, department=city.street2)

        listing = client.get(url).content.decode()
        change = client.get(reverse("admin:cases_notification_change", args=[message.pk])).content.decode()
        found = client.get(url + "?q=暖气").content.decode()
    assert ticket.number in listing and str(MOVED_OUT_TEXT) in listing
    assert "暖气不热" not in listing and "东关大街" not in listing
    assert "暖气不热" not in change and str(MOVED_OUT_TEXT) in change
    assert ticket.number not in found
    assert Notification.objects.get(pk=message.pk).body == ticket.content  # stored as sent


def test_the_new_street_reads_the_message_in_full(client, city):
    with time_machine.travel(local(2026, 11, 23, 10, 0), tick=False):
        ticket = drive(city, new_ticket(city), S.DISPATCHED)
        notifications_create([{"recipient": city.handler, "ticket": ticket, "title": "派单", "body": ticket.content}])
        client.force_login(city.handler)
        page = client.get(reverse("admin:cases_notification_changelist")).content.decode()
    assert "暖气不热" in page and str(MOVED_OUT_TEXT) not in page
