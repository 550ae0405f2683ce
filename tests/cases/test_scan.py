"""The deadline scan: every crossed level reminded exactly once, up the ladder."""

import threading
from datetime import timedelta

import pytest
import time_machine
from django.core.management import call_command
from django.db import connections
from django.test.utils import CaptureQueriesContext

from cases import workflow
from cases.deadlines import scan as scan_module
from cases.deadlines.scan import deadline_scan
from cases.models import Notification, Reminder, ScanMark, Ticket, TicketState, Urge
from departments.roles import Role
from tests.conftest import drive, local, new_ticket
from tests.departments.factories import staff

S = TicketState
L = Reminder.Level
MONDAY_9 = local(2026, 11, 23, 9, 0)


@pytest.fixture
def clock():
    with time_machine.travel(MONDAY_9, tick=False) as traveller:
        yield traveller


def recipients(reminder):
    return {n.recipient.username for n in reminder.notifications.all()}


def test_yellow_goes_to_the_handler_once(city, clock):
    ticket = drive(city, new_ticket(city), S.HANDLING)
    assert deadline_scan().total == 0  # nothing crossed yet
    clock.move_to(ticket.resolve_warn_at + timedelta(minutes=1))
    result = deadline_scan()
    assert result.reminders == {("resolve", L.YELLOW): 1}
    reminder = Reminder.objects.get()
    assert (reminder.clock, reminder.level, reminder.due_at) == ("resolve", L.YELLOW, ticket.resolve_due_at)
    assert recipients(reminder) == {"handler_street"}  # the person who signed, not the whole unit
    assert deadline_scan().total == 0  # a second scan changes nothing
    assert Notification.objects.count() == 1


def test_red_goes_to_handler_and_unit_head(city, clock):
    ticket = drive(city, new_ticket(city), S.HANDLING)
    clock.move_to(ticket.resolve_due_at + timedelta(minutes=1))
    result = deadline_scan()
    assert result.reminders == {("resolve", L.RED): 1}  # straight to red: no late yellow
    assert recipients(Reminder.objects.get()) == {"handler_street", "head_street"}


def test_still_red_after_two_working_days_escalates_with_an_urge_notice(city, clock):
    ticket = drive(city, new_ticket(city), S.HANDLING)  # resolve due Mon 30 Nov 09:00
    clock.move_to(local(2026, 12, 2, 8, 59))
    deadline_scan()
    assert not Reminder.objects.filter(level=L.ESCALATED).exists()
    clock.move_to(local(2026, 12, 2, 9, 0))  # two working days later
    result = deadline_scan()
    assert result.reminders == {("resolve", L.ESCALATED): 1}
    escalated = Reminder.objects.get(level=L.ESCALATED)
    assert recipients(escalated) == {"handler_street", "head_street", "supervisor"}
    urge = Urge.objects.get()
    assert urge.number == "催办〔2026〕0001号" and urge.kind == Urge.Kind.WRITTEN
    assert (urge.ticket, urge.department, urge.reminder) == (ticket, city.street, escalated)
    assert urge.respond_by == local(2026, 12, 3, 9, 0)
    version = ticket.history.order_by("-history_id").first()  # copied inside the database, row for row
    assert (version.history_change_reason, version.history_user, version.history_type) == ("urged", None, "~")
    assert (version.history_date, version.state) == (local(2026, 12, 2, 9, 0), S.HANDLING)
    assert Notification.objects.filter(kind="urge").count() == 3
    assert deadline_scan().total == 0


def test_sign_clock_reminds_every_handler_of_the_unit(city, clock):
    staff(Role.HANDLER, city.street, "handler_street_b")
    drive(city, new_ticket(city), S.DISPATCHED)
    clock.move_to(local(2026, 11, 23, 10, 31))  # 75 % of the 2-hour sign limit
    deadline_scan()
    reminder = Reminder.objects.get()
    assert (reminder.clock, reminder.level) == ("sign", L.YELLOW)
    assert recipients(reminder) == {"handler_street", "handler_street_b"}


def test_an_extension_starts_a_new_deadline_that_can_warn_again(city, clock):
    ticket = drive(city, new_ticket(city), S.HANDLING)
    clock.move_to(ticket.resolve_warn_at + timedelta(minutes=1))
    deadline_scan()
    workflow.ticket_extension_request(ticket=ticket, actor=city.handler, working_days=3, reason="需协调")
    ticket = workflow.ticket_extension_approve(ticket=ticket, actor=city.dispatcher)
    clock.move_to(ticket.resolve_warn_at + timedelta(minutes=1))
    assert deadline_scan().reminders == {("resolve", L.YELLOW): 1}
    assert Reminder.objects.filter(level=L.YELLOW).count() == 2


def test_closed_and_stopped_clocks_are_left_alone(city, clock):
    closed = drive(city, new_ticket(city), S.CLOSED)
    handling = drive(city, new_ticket(city), S.HANDLING)  # sign and contact clocks have stopped
    clock.shift(timedelta(days=10))
    deadline_scan()
    assert not Reminder.objects.filter(ticket=closed).exists()
    assert set(Reminder.objects.filter(ticket=handling).values_list("clock", flat=True)) == {"resolve"}


def test_the_scan_does_not_query_per_ticket(city, clock, django_assert_max_num_queries):
    later = local(2026, 12, 1, 10, 0)  # every ticket below is red by then
    for _ in range(3):
        drive(city, new_ticket(city), S.HANDLING)
    with CaptureQueriesContext(connections["default"]) as few:
        assert deadline_scan(now=later).total == 3
    for _ in range(12):
        drive(city, new_ticket(city), S.HANDLING)
    with CaptureQueriesContext(connections["default"]) as many:
        assert deadline_scan(now=later).total == 12
    assert len(many.captured_queries) == len(few.captured_queries)
    with django_assert_max_num_queries(3):
        # nothing new: the mark read, one UNION ALL of the nine anti-joins, the mark moved
        assert deadline_scan(now=later).total == 0


def test_a_scan_killed_half_way_leaves_nothing_half_done(city, clock, monkeypatch):
    tickets = [drive(city, new_ticket(city), S.HANDLING) for _ in range(5)]
    clock.move_to(tickets[-1].resolve_due_at + timedelta(minutes=5))
    real = scan_module.notifications_create
    calls = {"n": 0}

    def dies_on_the_second_chunk(items, **kwargs):
        calls["n"] += 1
        if calls["n"] == 2:
            raise SystemExit("worker killed")
        return real(items, **kwargs)

    monkeypatch.setattr(scan_module, "notifications_create", dies_on_the_second_chunk)
    with pytest.raises(SystemExit):
        deadline_scan(chunk_size=2)
    assert Reminder.objects.count() == 2  # the first chunk committed, the second rolled back
    assert not ScanMark.objects.exists()  # … and the pass is not recorded as done
    monkeypatch.setattr(scan_module, "notifications_create", real)
    assert deadline_scan(chunk_size=2).total == 3  # the restart does the rest …
    assert Reminder.objects.count() == 5  # … and nothing twice
    assert all(r.notifications.count() == 2 for r in Reminder.objects.all())


@pytest.mark.django_db(transaction=True, serialized_rollback=True)
def test_parallel_scans_do_not_double_remind(city):
    with time_machine.travel(MONDAY_9, tick=False):
        for _ in range(8):
            drive(city, new_ticket(city), S.HANDLING)
    later = local(2026, 12, 1, 10, 0)
    results, errors = [], []
    barrier = threading.Barrier(4)

    def scan():
        try:
            barrier.wait()
            results.append(deadline_scan(now=later, chunk_size=3))
        except Exception as error:  # pragma: no cover - reported below
            errors.append(error)
        finally:
            connections.close_all()

    threads = [threading.Thread(target=scan) for _ in range(4)]
    for thread in threads:
        thread.start()
    for thread in threads:
        thread.join()
    assert errors == []
    assert sum(r.total for r in results) == Reminder.objects.count() == 8
    assert Notification.objects.filter(reminder__isnull=False).count() == 16  # handler and head, once each


def test_scan_deadlines_command_prints_what_it_did(city, clock, capsys):
    drive(city, new_ticket(city), S.HANDLING)
    call_command("scan_deadlines", at="2026-12-01T10:00")
    out = capsys.readouterr().out
    assert "resolve  red" in out and "1 new reminders" in out
    call_command("scan_deadlines", at="2026-12-01T10:05")
    out = capsys.readouterr().out
    assert "crossed since 2026-12-01 09:50" in out and "nothing newly crossed" in out
    call_command("scan_deadlines", at="2026-12-01T10:10", full=True)
    assert "full pass" in capsys.readouterr().out


def test_a_pass_looks_only_at_what_crossed_since_the_last_one(city, clock):
    ticket = drive(city, new_ticket(city), S.HANDLING)
    clock.move_to(ticket.resolve_warn_at - timedelta(minutes=4))
    first = deadline_scan()
    assert first.full and first.total == 0  # never scanned before: every running clock
    clock.move_to(ticket.resolve_warn_at + timedelta(minutes=1))
    result = deadline_scan()
    assert not result.full
    assert result.since == ticket.resolve_warn_at - timedelta(minutes=14)  # the last pass, less the 10' overlap
    assert result.reminders == {("resolve", L.YELLOW): 1}
    mark = ScanMark.objects.get()
    assert (mark.scanned_until, mark.full_scan_at) == (result.scanned_at, first.scanned_at)


def test_a_clock_set_in_the_past_waits_for_the_full_pass(city, clock, settings):
    settings.HOTLINE_SCAN_FULL_EVERY_MINUTES = 60
    ticket = drive(city, new_ticket(city), S.HANDLING)
    deadline_scan()
    # An import or a bulk edit, not the workflow: a deadline already a day gone.
    Ticket.objects.filter(pk=ticket.pk).update(resolve_due_at=MONDAY_9 - timedelta(days=1))
    clock.shift(timedelta(minutes=5))
    assert deadline_scan().total == 0  # outside the window of an incremental pass
    assert deadline_scan(full=True).reminders == {("resolve", L.RED): 1}  # `scan_deadlines --full`
    Ticket.objects.filter(pk=ticket.pk).update(resolve_due_at=MONDAY_9 - timedelta(hours=2))
    clock.shift(timedelta(minutes=30))
    assert deadline_scan().total == 0
    clock.shift(timedelta(minutes=31))  # an hour after the last full pass
    result = deadline_scan()
    assert result.full and result.reminders == {("resolve", L.RED): 1}


def test_a_clock_turned_back_gets_a_full_pass(city, clock):
    drive(city, new_ticket(city), S.HANDLING)
    assert deadline_scan(now=local(2026, 12, 1, 10, 0)).total == 1
    assert deadline_scan(now=local(2026, 11, 30, 10, 0)).full
    assert ScanMark.objects.get().scanned_until == local(2026, 12, 1, 10, 0)  # never moved back


def test_one_bad_ticket_is_logged_and_skipped_the_others_are_reminded(city, clock, monkeypatch, caplog):
    tickets = [drive(city, new_ticket(city), S.HANDLING) for _ in range(4)]
    bad = tickets[2]
    real = scan_module._texts

    def breaks_on_the_bad_one(ticket, *args):
        if ticket.pk == bad.pk:
            raise ValueError("a category without a name")
        return real(ticket, *args)

    monkeypatch.setattr(scan_module, "_texts", breaks_on_the_bad_one)
    later = local(2026, 12, 1, 10, 0)
    result = deadline_scan(now=later)
    assert (result.total, result.failed) == (3, [bad.pk])
    assert set(Reminder.objects.values_list("ticket_id", flat=True)) == {t.pk for t in tickets} - {bad.pk}
    assert f"ticket {bad.pk} (resolve, level 2) skipped" in caplog.text
    monkeypatch.undo()
    assert deadline_scan(now=later + timedelta(minutes=5)).total == 0  # outside the incremental window …
    retry = deadline_scan(now=later + timedelta(minutes=5), full=True)  # … the full pass reminds it
    assert (retry.total, retry.failed) == (1, [])
