"""Re-timing: a calendar or policy change moves the stored deadlines of open tickets."""

import io
from datetime import date, timedelta

import pytest
import time_machine
from django.core.management import call_command

from cases import workflow
from cases.deadlines import retiming
from cases.deadlines.calendar import get_calendar
from cases.deadlines.policy import clock_times
from cases.deadlines.retiming import retime_request, retime_run
from cases.deadlines.scan import deadline_scan
from cases.models import (
    DeadlinePolicy,
    Holiday,
    Notification,
    Reminder,
    RetimeRun,
    Ticket,
    TicketEvent,
    TicketState,
    TimeUnit,
)
from tests.conftest import drive, local, new_ticket

S = TicketState
L = Reminder.Level
Kind = TicketEvent.Kind
MONDAY_9 = local(2026, 11, 23, 9, 0)


@pytest.fixture
def clock():
    with time_machine.travel(MONDAY_9, tick=False) as traveller:
        yield traveller


def add_holiday(django_capture_on_commit_callbacks, day, *, working=False):
    """Save a holiday as the admin does: the re-timing runs on commit (tasks are eager in tests)."""
    with django_capture_on_commit_callbacks(execute=True):
        Holiday.objects.create(date=day, name="调休上班" if working else "临时休假", is_working_day=working)


def test_a_holiday_moves_open_tickets_with_one_event_each_and_one_message_per_batch(
    city, clock, django_capture_on_commit_callbacks
):
    first = drive(city, new_ticket(city), S.HANDLING)
    second = drive(city, new_ticket(city), S.HANDLING)
    closed = drive(city, new_ticket(city), S.CLOSED)
    assert first.resolve_due_at == local(2026, 11, 30, 9, 0)  # 5 working days
    closed_due = Ticket.objects.get(pk=closed.pk).resolve_due_at
    before = Notification.objects.filter(recipient=city.handler).count()

    add_holiday(django_capture_on_commit_callbacks, date(2026, 11, 25))

    for ticket in (first, second):
        ticket.refresh_from_db()
        assert ticket.resolve_due_at == local(2026, 12, 1, 9, 0)
        assert ticket.next_due_at == local(2026, 12, 1, 9, 0)
        event = ticket.events.get(kind=Kind.DEADLINES_RETIMED)
        assert event.actor is None and event.from_state == event.to_state == S.HANDLING
        assert event.note == "节假日调整，办结时限由 2026-11-30 09:00 调整为 2026-12-01 09:00"
        assert event.data["clocks"]["resolve"]["to"] == local(2026, 12, 1, 9, 0).isoformat()
        assert ticket.history.first().history_change_reason == Kind.DEADLINES_RETIMED
    assert Ticket.objects.get(pk=closed.pk).resolve_due_at == closed_due  # closed: not touched
    messages = Notification.objects.filter(recipient=city.handler).order_by("-pk")
    assert messages.count() == before + 1  # one for the batch, not one per ticket
    assert "2 件工单" in messages[0].title and first.number in messages[0].body
    run = RetimeRun.objects.get()
    assert (run.reason, run.day, run.changed, run.finished_at is not None) == ("holiday", date(2026, 11, 25), 2, True)

    # Idempotent: running again finds nothing to change.
    again = retime_run(run_id=RetimeRun.objects.create(reason="holiday").pk)
    assert again.tickets == 2 and again.changed == 0
    assert TicketEvent.objects.filter(kind=Kind.DEADLINES_RETIMED).count() == 2


def test_a_holiday_after_every_due_time_touches_nothing(city, clock, django_capture_on_commit_callbacks):
    drive(city, new_ticket(city), S.HANDLING)
    add_holiday(django_capture_on_commit_callbacks, date(2026, 12, 24))
    assert RetimeRun.objects.get().changed == 0
    assert not TicketEvent.objects.filter(kind=Kind.DEADLINES_RETIMED).exists()


def test_a_clock_no_longer_overdue_leaves_the_overdue_list_at_once(city, clock, django_capture_on_commit_callbacks):
    ticket = drive(city, new_ticket(city), S.HANDLING)
    clock.move_to(local(2026, 11, 30, 10, 0))
    assert Ticket.objects.overdue_any_clock().filter(pk=ticket.pk).exists()
    # Last Wednesday is declared a holiday after the fact: due Tue 1 Dec, not late yet.
    add_holiday(django_capture_on_commit_callbacks, date(2026, 11, 25))
    assert not Ticket.objects.overdue_any_clock().filter(pk=ticket.pk).exists()
    assert Ticket.objects.get(pk=ticket.pk).colour() == "yellow"


def test_a_level_already_reminded_is_not_sent_again_when_the_clock_moves_later(
    city, clock, django_capture_on_commit_callbacks
):
    ticket = drive(city, new_ticket(city), S.HANDLING)
    clock.move_to(ticket.resolve_warn_at + timedelta(minutes=1))
    assert deadline_scan().reminders == {("resolve", L.YELLOW): 1}
    add_holiday(django_capture_on_commit_callbacks, date(2026, 11, 27))  # Friday: due moves to Tue 1 Dec
    ticket.refresh_from_db()
    assert ticket.resolve_due_at == local(2026, 12, 1, 9, 0)
    # The yellow reminder follows the clock to its new due time …
    assert Reminder.objects.get().due_at == ticket.resolve_due_at
    clock.move_to(ticket.resolve_warn_at + timedelta(minutes=1))
    assert deadline_scan(full=True).total == 0  # … so the new warn time does not warn again
    clock.move_to(ticket.resolve_due_at + timedelta(minutes=1))
    assert deadline_scan().reminders == {("resolve", L.RED): 1}  # red is a new level: sent


def test_a_clock_moved_earlier_into_the_past_gets_its_red_reminder(city, clock, django_capture_on_commit_callbacks):
    ticket = drive(city, new_ticket(city), S.HANDLING)  # due Mon 30 Nov 09:00
    clock.move_to(local(2026, 11, 26, 10, 0))
    deadline_scan(full=True)
    deadline_scan()  # the mark is now recent: the next pass would be incremental
    # The resolve limit is cut to 2 working days: due Wed 25 Nov 09:00, already past.
    with django_capture_on_commit_callbacks(execute=True):
        DeadlinePolicy.objects.filter(category__isnull=True, urgency="", nature="").update(resolve_limit=2)
        DeadlinePolicy.objects.filter(category__isnull=True, urgency="", nature="").first().save()
    ticket.refresh_from_db()
    assert ticket.resolve_due_at == local(2026, 11, 25, 9, 0)
    result = deadline_scan()  # the re-timing asked for a full pass: the past threshold is seen
    assert result.full and result.reminders[("resolve", L.RED)] == 1


def test_extensions_are_kept_and_an_escalation_only_shortens(city, clock, django_capture_on_commit_callbacks):
    extended = drive(city, new_ticket(city), S.HANDLING)
    workflow.ticket_extension_request(ticket=extended, actor=city.handler, working_days=3, reason="需协调多个部门")
    extended = workflow.ticket_extension_approve(ticket=extended, actor=city.dispatcher)
    assert extended.resolve_due_at == local(2026, 12, 3, 9, 0)
    escalated = drive(city, new_ticket(city), S.HANDLING)
    escalated = workflow.ticket_escalate(
        ticket=escalated, actor=city.supervisor, leader=city.leader, reason="群众反映强烈", working_days=1
    )
    assert escalated.resolve_due_at == local(2026, 11, 24, 9, 0)

    add_holiday(django_capture_on_commit_callbacks, date(2026, 11, 25))
    extended.refresh_from_db()
    escalated.refresh_from_db()
    assert extended.resolve_due_at == local(2026, 12, 4, 9, 0)  # 5 + 3 working days from dispatch
    assert escalated.resolve_due_at == local(2026, 11, 24, 9, 0)  # the earlier escalated deadline stays


def test_a_reopened_ticket_is_retimed_from_the_reopen(city, clock, django_capture_on_commit_callbacks):
    ticket = drive(city, new_ticket(city), S.CLOSED)
    clock.move_to(local(2026, 11, 24, 9, 0))
    ticket = workflow.ticket_reopen(ticket=ticket, actor=city.callback, reason="回访不满意")
    assert ticket.resolve_due_at == local(2026, 11, 27, 9, 0)  # 3 working days
    add_holiday(django_capture_on_commit_callbacks, date(2026, 11, 26))
    ticket.refresh_from_db()
    assert ticket.resolve_due_at == local(2026, 11, 30, 9, 0)


def test_a_dead_worker_resumes_after_its_last_chunk(city, clock, monkeypatch):
    tickets = [drive(city, new_ticket(city), S.HANDLING) for _ in range(3)]
    Holiday.objects.create(date=date(2026, 11, 25), name="临时休假")  # no on-commit here: run by hand
    run = retime_request(reason=RetimeRun.Reason.HOLIDAY, day=date(2026, 11, 25))
    real, calls = retiming.tickets_retime, []

    def dies_on_the_second_chunk(**kwargs):
        calls.append(kwargs["ticket_ids"])
        if len(calls) == 2:
            raise SystemExit("worker killed")
        return real(**kwargs)

    monkeypatch.setattr(retiming, "tickets_retime", dies_on_the_second_chunk)
    with pytest.raises(SystemExit):
        retime_run(run_id=run.pk, chunk_size=1)
    run.refresh_from_db()
    assert run.last_ticket_id == tickets[0].pk and run.finished_at is None
    monkeypatch.setattr(retiming, "tickets_retime", real)
    call_command("retime_deadlines", stdout=io.StringIO())  # the sweep resumes unfinished runs
    run.refresh_from_db()
    assert run.finished_at is not None and run.changed == 3
    assert TicketEvent.objects.filter(kind=Kind.DEADLINES_RETIMED).count() == 3  # one per ticket, none twice


def test_a_second_change_before_the_run_starts_joins_it(db):
    first = retime_request(reason=RetimeRun.Reason.HOLIDAY, day=date(2026, 12, 3))
    assert retime_request(reason=RetimeRun.Reason.HOLIDAY, day=date(2026, 11, 30)) is None
    first.refresh_from_db()
    assert first.day == date(2026, 11, 30)
    assert retime_request(reason=RetimeRun.Reason.POLICY) is None
    first.refresh_from_db()
    assert first.day is None  # a policy change needs every clock
    RetimeRun.objects.filter(pk=first.pk).update(started_at=MONDAY_9)
    assert retime_request(reason=RetimeRun.Reason.POLICY) is not None


def test_dry_run_prints_and_changes_nothing(city, clock):
    ticket = drive(city, new_ticket(city), S.HANDLING)
    Holiday.objects.create(date=date(2026, 11, 25), name="临时休假")
    out = io.StringIO()
    call_command("retime_deadlines", "--dry-run", stdout=out)
    assert "1 would change" in out.getvalue()
    assert f"{ticket.number} resolve  2026-11-30 09:00 -> 2026-12-01 09:00" in out.getvalue()
    ticket.refresh_from_db()
    assert ticket.resolve_due_at == local(2026, 11, 30, 9, 0)
    assert not TicketEvent.objects.filter(kind=Kind.DEADLINES_RETIMED).exists()


def test_a_dispatched_ticket_sign_clock_is_retimed(city, clock, django_capture_on_commit_callbacks):
    ticket = drive(city, new_ticket(city), S.DISPATCHED)
    # Sign limit 2 working hours: due 11:00 today; today becomes a holiday.
    add_holiday(django_capture_on_commit_callbacks, date(2026, 11, 23))
    ticket.refresh_from_db()
    assert ticket.sign_due_at == clock_times(MONDAY_9, (2, TimeUnit.WORKING_HOUR), get_calendar()).due_at
    assert ticket.sign_due_at == local(2026, 11, 24, 10, 30)
