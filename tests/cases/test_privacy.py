"""Citizens' contact details (DESIGN §8): masked on the workbench, its history and
in outgoing texts; revealed on demand, with a reason, to staff whose scope holds
the ticket, for half an hour, each time recorded for the supervisors."""

from datetime import timedelta

import pytest
import time_machine
from django.urls import reverse

from cases.deadlines.scan import deadline_scan
from cases.models import Notification, PersonalDataAccess, TicketState
from cases.privacy import mask_phones_in_text
from tests.conftest import drive, local, new_ticket

from .test_admin import login

S = TicketState
PHONE, NAME = "13800001234", "王女士"


@pytest.fixture
def clock():
    with time_machine.travel(local(2026, 11, 23, 9, 0), tick=False) as traveller:
        yield traveller


def page(client, ticket):
    return client.get(reverse("admin:cases_ticket_change", args=[ticket.pk])).content.decode()


def reveal(client, ticket, reason):
    return client.post(reverse("admin:cases_ticket_reveal", args=[ticket.pk]), {"reason": reason}, follow=True)


def test_the_workbench_shows_the_citizen_masked(client, city, clock):
    ticket = drive(city, new_ticket(city), S.HANDLING)
    for user in (city.dispatcher, city.handler, city.leader):
        login(client, user)
        body = page(client, ticket)
        assert "138****1234" in body and PHONE not in body, user
        assert "王**" in body and NAME not in body, user


def test_revealing_takes_a_reason_is_recorded_and_lasts_half_an_hour(client, city, clock):
    ticket = drive(city, new_ticket(city), S.HANDLING)
    login(client, city.handler)
    refused = reveal(client, ticket, "")
    assert "请填写查看事由" in refused.content.decode()
    assert not PersonalDataAccess.objects.exists()
    shown = reveal(client, ticket, "上门处置前电话确认地址").content.decode()
    assert PHONE in shown and NAME in shown and "本次查看已记录" in shown
    record = PersonalDataAccess.objects.get()
    assert (record.user, record.ticket, record.department, record.reason) == (
        city.handler,
        ticket,
        city.street,
        "上门处置前电话确认地址",
    )
    assert record.created_at == local(2026, 11, 23, 9, 0)
    clock.shift(timedelta(minutes=29))
    assert PHONE in page(client, ticket)
    clock.shift(timedelta(minutes=2))
    assert PHONE not in page(client, ticket)  # masked again: a new look needs a new reason
    login(client, city.dispatcher)
    assert PHONE not in page(client, ticket)  # one person's reveal is theirs alone


def test_another_unit_cannot_reveal_and_a_get_reveals_nothing(client, city, clock):
    ticket = drive(city, new_ticket(city), S.HANDLING)
    login(client, city.handler2)
    assert reveal(client, ticket, "想看看").status_code == 404
    login(client, city.handler)
    assert client.get(reverse("admin:cases_ticket_reveal", args=[ticket.pk])).status_code == 405
    assert not PersonalDataAccess.objects.exists()


def test_a_confidential_report_hides_the_complainant_from_the_handling_unit(client, city, clock):
    ticket = drive(city, new_ticket(city, is_confidential=True), S.HANDLING)
    login(client, city.handler)
    body = page(client, ticket)
    assert "保密举报件" in body and "138****" not in body and "王*" not in body
    assert "不予显示" in reveal(client, ticket, "需要联系举报人").content.decode()
    assert not PersonalDataAccess.objects.exists()
    login(client, city.supervisor)  # the centre can still reach the whistle-blower, with a reason
    assert PHONE in reveal(client, ticket, "核实举报线索").content.decode()


def test_history_pages_are_masked_too(client, city, clock):
    ticket = drive(city, new_ticket(city), S.HANDLING)
    version = ticket.history.order_by("history_id").first()
    login(client, city.dispatcher)
    url = reverse("admin:cases_ticket_simple_history", args=[ticket.pk, version.history_id])
    body = client.get(url).content.decode()
    assert "138****1234" in body and PHONE not in body
    reveal(client, ticket, "回电核实")
    assert PHONE in client.get(url).content.decode()


def test_supervisors_review_who_looked(client, city, clock):
    ticket = drive(city, new_ticket(city), S.HANDLING)
    login(client, city.handler)
    reveal(client, ticket, "上门处置前电话确认地址")
    assert client.get(reverse("admin:cases_personaldataaccess_changelist")).status_code == 403
    login(client, city.supervisor)
    body = client.get(reverse("admin:cases_personaldataaccess_changelist")).content.decode()
    assert ticket.number in body and "上门处置前电话确认地址" in body and "周海燕" in body  # who looked, by name
    assert client.get(reverse("admin:cases_personaldataaccess_add")).status_code == 403
    record = PersonalDataAccess.objects.get()
    delete = reverse("admin:cases_personaldataaccess_delete", args=[record.pk])
    assert client.post(delete, {"post": "yes"}).status_code == 403  # an audit trail is kept


def test_phone_numbers_typed_into_a_demand_are_masked_in_outgoing_texts(city, clock):
    assert mask_phones_in_text("请回电13900001111或0971-8123456") == "请回电139****1111或097****3456"
    drive(city, new_ticket(city, content="路灯坏了，请联系我13900001111"), S.HANDLING)
    deadline_scan(now=local(2026, 12, 1, 10, 0))
    bodies = " ".join(Notification.objects.values_list("body", flat=True))
    assert "139****1111" in bodies and "13900001111" not in bodies
