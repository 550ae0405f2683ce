"""回访: the daily batch, the agents' results, and the loop back into the workflow."""

import io
from datetime import date, timedelta

import pytest
import time_machine
from django.core.management import call_command
from django.db import DataError
from django.urls import reverse

from cases import workflow
from cases.callbacks import callback_batch, callback_overrule, callback_record, callback_unreachable, callbacks_due
from cases.models import Callback, CallbackDuty, Ticket, TicketEvent, TicketState
from cases.selectors.scope import ticket_list
from cases.workflow import WorkflowError, WorkflowPermissionError
from departments.roles import Role
from tests.cases.invariants import assert_consistent
from tests.conftest import drive, local, new_ticket
from tests.departments.factories import staff

S = TicketState
Kind = TicketEvent.Kind
MONDAY = date(2026, 11, 23)


def closed_at(city, moment, **overrides):
    """A ticket that went through the workflow and was approved at ``moment``."""
    with time_machine.travel(moment - timedelta(hours=3), tick=False):
        ticket = drive(city, new_ticket(city, **overrides), S.REVIEWING)
    with time_machine.travel(moment, tick=False):
        return workflow.ticket_approve(ticket=ticket, actor=city.dispatcher)


@pytest.fixture
def agents(city):
    return [city.callback, staff(Role.CALLBACK, city.centre, "callback2")]


def test_every_ticket_closed_that_day_gets_exactly_one_callback(city, agents):
    tickets = [closed_at(city, local(2026, 11, 23, h, 0)) for h in (10, 14, 16)]
    closed_at(city, local(2026, 11, 24, 10, 0))  # another day
    result = callback_batch(day=MONDAY)
    assert result.created == 3
    assert set(Callback.objects.values_list("ticket_id", flat=True)) == {t.pk for t in tickets}
    again = callback_batch(day=MONDAY)
    assert (again.created, again.existing) == (0, 3)
    assert Callback.objects.count() == 3


def test_the_day_boundary_in_local_time(city, agents):
    late = closed_at(city, local(2026, 11, 23, 23, 59, 59))
    midnight = closed_at(city, local(2026, 11, 24, 0, 0, 0))
    callback_batch(day=MONDAY)
    assert list(Callback.objects.values_list("ticket_id", flat=True)) == [late.pk]
    callback_batch(day=date(2026, 11, 24))
    assert Callback.objects.get(ticket=midnight).batch_date == date(2026, 11, 24)


def test_no_callback_possible_for_anonymous_or_phoneless_demands(city, agents):
    anonymous = closed_at(city, local(2026, 11, 23, 10, 0), is_anonymous=True, citizen_phone="")
    no_phone = closed_at(city, local(2026, 11, 23, 11, 0), citizen_phone="")
    callback_batch(day=MONDAY)
    for ticket, reason in ((anonymous, "匿名诉求"), (no_phone, "未留联系电话")):
        cb = Callback.objects.get(ticket=ticket)
        assert (cb.status, cb.impossible_reason, cb.agent) == (Callback.Status.IMPOSSIBLE, reason, None)


def test_callbacks_go_to_the_least_loaded_agent_on_duty(city, agents):
    busy, free = agents
    for h in range(3):  # the busy agent already has three open callbacks
        closed_at(city, local(2026, 11, 20, 9 + h, 0))
    callback_batch(day=date(2026, 11, 20))
    Callback.objects.update(agent=busy)
    for h in range(5):
        closed_at(city, local(2026, 11, 23, 9 + h, 0))
    result = callback_batch(day=MONDAY)
    assert result.per_agent == {free.pk: 4, busy.pk: 1}


def test_the_roster_decides_who_is_on_duty(city, agents):
    busy, _free = agents
    CallbackDuty.objects.create(date=MONDAY + timedelta(days=1), agent=busy)
    for h in range(3):
        closed_at(city, local(2026, 11, 23, 9 + h, 0))
    assert callback_batch(day=MONDAY).per_agent == {busy.pk: 3}


def test_each_citizen_of_a_merged_ticket_gets_a_callback(city, agents):
    with time_machine.travel(local(2026, 11, 23, 8, 0), tick=False):
        master = drive(city, new_ticket(city), S.HANDLING)
        duplicate = workflow.ticket_merge(
            ticket=new_ticket(city, citizen_phone="13900005678"), actor=city.dispatcher, master=master
        )
    with time_machine.travel(local(2026, 11, 23, 15, 0), tick=False):
        drive(city, master, S.CLOSED)
    callback_batch(day=MONDAY)
    assert set(Callback.objects.values_list("ticket_id", flat=True)) == {master.pk, duplicate.pk}


@pytest.fixture
def pending(city, agents):
    ticket = closed_at(city, local(2026, 11, 23, 10, 0))
    callback_batch(day=MONDAY)
    cb = Callback.objects.get(ticket=ticket)
    return cb, cb.agent


def test_a_satisfied_citizen_closes_the_loop(city, pending):
    cb, agent = pending
    with time_machine.travel(local(2026, 11, 24, 10, 0), tick=False):
        cb = callback_record(
            callback=cb,
            actor=agent,
            contacted=True,
            solved="solved",
            satisfaction="satisfied",
            scores={"attitude": 5, "efficiency": 4},
            comment="很满意",
        )
    assert (cb.status, cb.reopened, cb.score_attitude, cb.score_ability) == (Callback.Status.DONE, False, 5, None)
    assert Ticket.objects.get(pk=cb.ticket_id).state == S.CLOSED


def test_unsatisfied_by_the_units_fault_reopens_for_three_working_days(city, pending, client):
    cb, agent = pending
    with time_machine.travel(local(2026, 11, 27, 10, 0), tick=False):  # a Friday
        cb = callback_record(
            callback=cb,
            actor=agent,
            contacted=False,
            solved="unsolved",
            satisfaction="unsatisfied",
            comment="暖气还是不热",
        )
    ticket = Ticket.objects.get(pk=cb.ticket_id)
    assert cb.reopened and cb.unit_at_fault
    assert (ticket.state, ticket.reopen_count) == (S.HANDLING, 1)
    assert ticket.resolve_due_at == local(2026, 12, 2, 10, 0)  # three working days, over the weekend
    assert "暖气还是不热" in ticket.events.last().note
    assert_consistent(ticket)
    client.force_login(city.supervisor)
    page = client.get("/admin/cases/ticket/", {"queue": "unsatisfied"}).content.decode()
    assert ticket.number in page


def test_unsatisfied_but_not_the_units_fault_does_not_reopen(city, pending):
    cb, agent = pending
    cb = callback_record(
        callback=cb,
        actor=agent,
        contacted=True,
        solved="partly",
        satisfaction="unsatisfied",
        unit_at_fault=False,
        comment="对政策不满意",
    )
    assert not cb.reopened
    assert Ticket.objects.get(pk=cb.ticket_id).state == S.CLOSED
    assert cb.ticket in ticket_list(user=city.supervisor).filter(callbacks__satisfaction="unsatisfied")


def test_an_unsatisfied_merged_citizen_reopens_the_master(city, agents):
    with time_machine.travel(local(2026, 11, 23, 8, 0), tick=False):
        master = drive(city, new_ticket(city), S.HANDLING)
        duplicate = workflow.ticket_merge(
            ticket=new_ticket(city, citizen_phone="13900005678"), actor=city.dispatcher, master=master
        )
    with time_machine.travel(local(2026, 11, 23, 15, 0), tick=False):
        drive(city, master, S.CLOSED)
    callback_batch(day=MONDAY)
    cb = Callback.objects.get(ticket=duplicate)
    callback_record(callback=cb, actor=cb.agent, contacted=True, solved="unsolved", satisfaction="unsatisfied")
    master.refresh_from_db()
    assert master.state == S.HANDLING and master.reopen_count == 1


def test_unreachable_is_retried_on_working_days_then_given_up(city, pending):
    cb, agent = pending
    with time_machine.travel(local(2026, 11, 27, 10, 0), tick=False):  # Friday
        cb = callback_unreachable(callback=cb, actor=agent, note="无人接听")
    assert cb.next_attempt_on == date(2026, 11, 30)  # Monday, not the weekend
    assert cb not in callbacks_due(agent, today=date(2026, 11, 28))
    assert cb in callbacks_due(agent, today=date(2026, 11, 30))
    with time_machine.travel(local(2026, 11, 30, 10, 0), tick=False):
        callback_unreachable(callback=cb, actor=agent)
    with time_machine.travel(local(2026, 12, 1, 10, 0), tick=False):
        cb = callback_unreachable(callback=cb, actor=agent)
    assert (cb.status, cb.attempts) == (Callback.Status.UNREACHABLE, 3)
    assert cb.attempt_log.count() == 3
    with pytest.raises(WorkflowError):
        callback_unreachable(callback=cb, actor=agent)


def test_only_the_assigned_agent_or_the_centre_records(city, pending, agents):
    cb, agent = pending
    other = next(a for a in agents if a != agent)
    with pytest.raises(WorkflowPermissionError):
        callback_record(callback=cb, actor=other, contacted=True, solved="solved", satisfaction="satisfied")
    with pytest.raises(WorkflowPermissionError):
        callback_record(callback=cb, actor=city.handler, contacted=True, solved="solved", satisfaction="satisfied")
    with pytest.raises(WorkflowError):
        callback_record(callback=cb, actor=agent, contacted=True, solved="maybe", satisfaction="satisfied")
    with pytest.raises(WorkflowError):
        callback_record(
            callback=cb, actor=agent, contacted=True, solved="solved", satisfaction="satisfied", scores={"attitude": 9}
        )
    callback_record(callback=cb, actor=city.supervisor, contacted=True, solved="solved", satisfaction="satisfied")
    with pytest.raises(WorkflowError):
        callback_record(callback=cb, actor=agent, contacted=True, solved="solved", satisfaction="satisfied")


def test_a_supervisor_overrules_an_unfounded_complaint(city, pending):
    cb, agent = pending
    with time_machine.travel(local(2026, 11, 24, 10, 0), tick=False):
        cb = callback_record(callback=cb, actor=agent, contacted=True, solved="unsolved", satisfaction="unsatisfied")
    with pytest.raises(Exception):  # noqa: B017 - only supervisors may overrule
        callback_overrule(callback=cb, actor=agent, reason="…")
    with pytest.raises(WorkflowError):
        callback_overrule(callback=cb, actor=city.supervisor, reason=" ")
    with time_machine.travel(local(2026, 11, 25, 10, 0), tick=False):
        cb = callback_overrule(callback=cb, actor=city.supervisor, reason="诉求人要求超出政策范围，属不合理诉求。")
    ticket = Ticket.objects.get(pk=cb.ticket_id)
    assert cb.overruled_by == city.supervisor
    assert ticket.state == S.CLOSED and ticket.events.last().kind == Kind.REOPEN_OVERRULED
    assert_consistent(ticket)
    # the overrule's closure is not called back again
    assert callback_batch(day=date(2026, 11, 25)).created == 0
    with pytest.raises(WorkflowError):
        callback_overrule(callback=cb, actor=city.supervisor, reason="再次")


def test_run_callback_batch_command(city, agents):
    closed_at(city, local(2026, 11, 23, 10, 0))
    out = io.StringIO()
    call_command("run_callback_batch", date="2026-11-23", stdout=out)
    assert "new callbacks: 1" in out.getvalue()
    out = io.StringIO()
    call_command("run_callback_batch", date="2026-11-23", stdout=out)
    assert "new callbacks: 0" in out.getvalue() and "already there: 1" in out.getvalue()


def test_the_batch_does_not_query_per_ticket(city, agents, django_assert_max_num_queries):
    for h in range(2):
        closed_at(city, local(2026, 11, 23, 9 + h, 0))
    few = callback_batch(day=MONDAY).queries
    for h in range(10):
        closed_at(city, local(2026, 11, 24, 8, h))
    many = callback_batch(day=date(2026, 11, 24)).queries
    assert few == many


# -- the workbench -------------------------------------------------------------------------


def test_the_agents_queue_and_recording_through_the_admin(client, city, pending):
    cb, agent = pending
    client.force_login(agent)
    with time_machine.travel(local(2026, 11, 24, 9, 0), tick=False):
        listing = client.get(reverse("admin:cases_callback_changelist")).content.decode()
        assert cb.ticket.number in listing
        page = client.get(reverse("admin:cases_callback_record", args=[cb.pk])).content.decode()
        assert "13800001234" in page and "已协调热力公司排气" in page  # the phone to dial and the unit's reply
        response = client.post(
            reverse("admin:cases_callback_record", args=[cb.pk]),
            {
                "_action": "record",
                "r-contacted": "1",
                "r-solved": "unsolved",
                "r-satisfaction": "unsatisfied",
                "r-score_attitude": "2",
                "r-comment": "仍然不热",
                "r-unit_at_fault": "1",
            },
        )
    assert response.status_code == 302
    cb.refresh_from_db()
    assert cb.reopened and cb.score_attitude == 2


def test_a_missing_answer_is_shown_not_a_500(client, city, pending):
    cb, agent = pending
    client.force_login(agent)
    response = client.post(reverse("admin:cases_callback_record", args=[cb.pk]), {"_action": "record"})
    assert response.status_code == 200 and "errorlist" in response.content.decode()


def test_unreachable_through_the_admin(client, city, pending):
    cb, agent = pending
    client.force_login(agent)
    client.post(reverse("admin:cases_callback_record", args=[cb.pk]), {"_action": "unreachable"})
    cb.refresh_from_db()
    assert cb.attempts == 1 and cb.status == Callback.Status.PENDING


def test_units_see_only_their_own_callbacks_read_only(client, city, pending):
    cb, _agent = pending
    client.force_login(city.handler2)
    assert client.get(reverse("admin:cases_callback_record", args=[cb.pk])).status_code == 404
    assert (
        cb.ticket.number not in client.get(reverse("admin:cases_callback_changelist") + "?queue=all").content.decode()
    )
    client.force_login(city.handler)
    page = client.get(reverse("admin:cases_callback_record", args=[cb.pk])).content.decode()
    assert 'id="callback-form"' not in page and "138****1234" in page


def test_callback_queue_on_the_agents_index(client, city, pending):
    _cb, agent = pending
    client.force_login(agent)
    with time_machine.travel(local(2026, 11, 24, 9, 0), tick=False):
        page = client.get("/admin/").content.decode()
    assert 'data-queue="callbacks_today">1<' in page


def test_callback_list_query_count(client, city, agents, django_assert_max_num_queries):
    for h in range(6):
        closed_at(city, local(2026, 11, 23, 9 + h, 0))
    callback_batch(day=MONDAY)
    client.force_login(city.supervisor)
    url = reverse("admin:cases_callback_changelist") + "?queue=all"
    client.get(url)
    with django_assert_max_num_queries(12):
        client.get(url)


def test_one_bad_ticket_is_logged_and_skipped_the_batch_completes(city, agents, monkeypatch, caplog):
    tickets = [closed_at(city, local(2026, 11, 23, h, 0)) for h in (10, 12, 14, 16)]
    bad = tickets[1]
    real = Callback.objects.bulk_create

    def refuses_the_bad_row(rows, **kwargs):  # the database refusing one row of the chunk
        if any(row.ticket_id == bad.pk for row in rows):
            raise DataError("value out of range")
        return real(rows, **kwargs)

    monkeypatch.setattr(Callback.objects, "bulk_create", refuses_the_bad_row)
    result = callback_batch(day=MONDAY)
    assert (result.created, result.failed) == (3, [bad.pk])
    assert set(Callback.objects.values_list("ticket_id", flat=True)) == {t.pk for t in tickets} - {bad.pk}
    assert f"ticket {bad.pk} skipped" in caplog.text
    monkeypatch.undo()
    again = callback_batch(day=MONDAY)  # the nightly rerun picks it up once it is fixed
    assert (again.created, again.failed) == (1, [])
