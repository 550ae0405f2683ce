"""Rollups stay exact for old days, and the facts can be rebuilt from timelines."""

from datetime import date, timedelta
from io import StringIO

import time_machine
from django.core.management import call_command

from cases import workflow
from cases.clock import local_day
from cases.models import TicketEvent
from cases.models import TicketState as S
from cases.workflow.facts import facts_repair
from reports.metrics import Period, counters_from_rollups, counters_live
from reports.models import RollupDay, RollupMark
from reports.reporting import report_build
from reports.rollups import rollup_days_touched, rollups_rebuild, rollups_refresh
from tests.conftest import drive, local, new_ticket


def test_a_late_event_fixes_a_day_older_than_the_window(city, settings):
    settings.HOTLINE_ROLLUP_REBUILD_DAYS = 2
    with time_machine.travel(local(2026, 9, 1, 9, 0), tick=False):
        t = drive(city, new_ticket(city), S.DISPATCHED)
    with time_machine.travel(local(2026, 11, 1, 9, 0), tick=False):
        rollups_rebuild()
        rolled = counters_from_rollups(Period.day(date(2026, 9, 1)))[city.street.pk]  # the first rebuild: all days
        assert (rolled.dispatched, rolled.sign_clocked) == (1, 0)
        workflow.ticket_sign(ticket=t, actor=city.handler)  # signed two months late
    with time_machine.travel(local(2026, 11, 1, 10, 0), tick=False):
        rollups_rebuild()  # the window is two days; the sign's dispatch day is 61 days back
    rolled = counters_from_rollups(Period.day(date(2026, 9, 1)))[city.street.pk]
    assert (rolled.sign_clocked, rolled.signed_on_time) == (1, 0)
    assert rolled == counters_live(Period.day(date(2026, 9, 1)), group_by="department")[city.street.pk]


def test_a_reopen_keeps_the_first_rounds_facts(city):
    with time_machine.travel(local(2026, 11, 2, 9, 0), tick=False) as clock:
        t = drive(city, new_ticket(city), S.CLOSED)
        before = counters_live(Period.month(date(2026, 11, 1)))[None]
        clock.shift(timedelta(days=1))
        workflow.ticket_reopen(ticket=t, actor=city.callback, reason="回访不满意")
    after = counters_live(Period.month(date(2026, 11, 1)))[None]
    facts = (after.signed_on_time, after.contacted_on_time)
    assert facts == (before.signed_on_time, before.contacted_on_time) == (1, 1)
    assert (after.due_closed, after.due_closed_on_time) == (1, 1)
    assert after.due == 2  # the first round, closed, and the new round, open


def test_repair_rebuilds_the_facts_the_verbs_write(city):
    with time_machine.travel(local(2026, 10, 31, 23, 0), tick=False) as clock:
        t = drive(city, new_ticket(city), S.DISPATCHED)
        workflow.ticket_return_request(ticket=t, actor=city.handler, reason="非本辖区")
        t = workflow.ticket_return_approve(ticket=t, actor=city.dispatcher)
        clock.shift(timedelta(hours=5))
        t = drive(city, t, S.CLOSED, lead=city.street2)
        clock.shift(timedelta(days=1))
        workflow.ticket_reopen(ticket=t, actor=city.callback, reason="回访不满意")
    columns = ["unit_id", "dispatch_id", "due_at", "on_time", "round"]
    written = list(TicketEvent.objects.filter(ticket=t).order_by("pk").values_list(*columns))
    TicketEvent.objects.filter(ticket=t).update(unit=None, dispatch=None, due_at=None, on_time=None, round=None)
    assert facts_repair()["events"] > 0
    assert list(TicketEvent.objects.filter(ticket=t).order_by("pk").values_list(*columns)) == written
    assert facts_repair() == {"events": 0, "callbacks": 0}


def test_repair_rebuilds_objection_and_catalogue_facts(city):
    city.heating.receiver_kinds = ["bureau"]
    city.heating.save()
    with time_machine.travel(local(2026, 11, 23, 9, 0), tick=False) as clock:
        t = new_ticket(city)
        t = workflow.ticket_dispatch(ticket=t, actor=city.dispatcher, department=city.street, catalogue_reason="先行")
        workflow.ticket_objection_request(ticket=t, actor=city.handler, reason="属职能部门职责")
        clock.shift(timedelta(hours=1))
        t = workflow.ticket_objection_uphold(ticket=t, actor=city.dispatcher)
        t = workflow.ticket_dispatch(ticket=t, actor=city.dispatcher, department=city.bureau)
        workflow.ticket_objection_request(ticket=t, actor=city.bureau_handler, reason="…")
        t = workflow.ticket_objection_reject(ticket=t, actor=city.dispatcher, reason="属本局职责")
    columns = ["kind", "unit_id", "dispatch_id", "due_at", "on_time", "round", "off_catalogue"]
    written = list(TicketEvent.objects.filter(ticket=t).order_by("pk").values_list(*columns))
    assert [row[-1] for row in written if row[0] == TicketEvent.Kind.DISPATCHED] == [True, False]
    upheld = next(row for row in written if row[0] == TicketEvent.Kind.OBJECTION_UPHELD)
    assert upheld[1] is None and upheld[2] is not None  # the dispatch, not the unit
    TicketEvent.objects.filter(ticket=t).update(
        unit=None, dispatch=None, due_at=None, on_time=None, round=None, off_catalogue=False
    )
    assert facts_repair()["events"] > 0
    assert list(TicketEvent.objects.filter(ticket=t).order_by("pk").values_list(*columns)) == written
    assert facts_repair() == {"events": 0, "callbacks": 0}


def test_a_report_counts_what_happened_since_the_last_rebuild(city):
    """The nightly rebuild ran; a ticket of last month is signed at 08:00; the
    monthly report at 08:20 counts the sign, though the rollups did not yet."""
    october = Period.month(date(2026, 10, 1))
    with time_machine.travel(local(2026, 10, 10, 9, 0), tick=False):
        t = drive(city, new_ticket(city), S.DISPATCHED)
    with time_machine.travel(local(2026, 11, 1, 1, 30), tick=False):
        rollups_rebuild()
    with time_machine.travel(local(2026, 11, 1, 8, 0), tick=False):
        workflow.ticket_sign(ticket=t, actor=city.handler)
    assert counters_from_rollups(october, group_by=None)[None].sign_clocked == 0  # not rebuilt yet
    with time_machine.travel(local(2026, 11, 1, 8, 20), tick=False):
        report, created = report_build("monthly")
    assert created and report.period_start == october.start
    live = counters_live(october)[None]
    assert report.data["totals"]["counters"] == live.as_dict()
    assert live.sign_clocked == 1
    assert [row["name"] for row in report.data["category_rates"] if row["counters"]["sign_clocked"]]


def test_a_day_built_before_it_ended_is_rebuilt_for_a_report(city):
    with time_machine.travel(local(2026, 10, 31, 12, 0), tick=False):
        rollups_rebuild(days=1)
    with time_machine.travel(local(2026, 10, 31, 12, 5), tick=False):
        drive(city, new_ticket(city), S.DISPATCHED)
    # a rebuild that did not see it (its transaction still open) moved the mark past it
    RollupMark.objects.filter(name="rollups").update(
        event_id=TicketEvent.objects.order_by("-pk").values_list("pk", flat=True).first(),
        built_at=local(2026, 10, 31, 14, 0),
    )
    day = Period.day(date(2026, 10, 31))
    assert counters_from_rollups(day, group_by=None)[None].dispatched == 0
    with time_machine.travel(local(2026, 11, 1, 8, 0), tick=False):
        assert rollups_refresh(day) == [date(2026, 10, 31)]
        assert rollups_refresh(day) == []  # built after the day ended, nothing touched since
    assert counters_from_rollups(day, group_by=None)[None].dispatched == 1


def test_an_event_committed_after_the_rebuild_that_missed_it_touches_its_days(city):
    """A transaction open while the rebuild read the watermark commits an event
    numbered below it: its time, within FACT_CLOCK_SLACK of the rebuild, still
    marks its ticket's days."""
    with time_machine.travel(local(2026, 10, 20, 9, 0), tick=False):
        t = new_ticket(city)
    with time_machine.travel(local(2026, 10, 31, 12, 0), tick=False):
        drive(city, t, S.DISPATCHED)
    last = TicketEvent.objects.order_by("-pk").values_list("pk", flat=True).first()
    days = rollup_days_touched(after_event_id=last, since=local(2026, 10, 31, 12, 5))
    assert {date(2026, 10, 20), date(2026, 10, 31)} <= days


def test_a_deadline_moved_away_from_a_final_day_is_rebuilt(city):
    """An extension approved after the rollups made the old deadline's day final:
    that day no longer counts the open round as due, though no event of it is dated
    there."""
    with time_machine.travel(local(2026, 10, 12, 9, 0), tick=False):
        t = drive(city, new_ticket(city), S.HANDLING)
    old_due = t.resolve_due_at
    assert local_day(old_due) > date(2026, 10, 13)
    with time_machine.travel(local(2026, 10, 13, 9, 0), tick=False):  # no event of it on the deadline's day
        workflow.ticket_extension_request(ticket=t, actor=city.handler, working_days=3, reason="需协调")
    with time_machine.travel(local(2026, 11, 1, 1, 30), tick=False):
        rollups_rebuild()
    old_day = Period.day(local_day(old_due))
    assert counters_from_rollups(old_day, group_by=None)[None].due == 1
    with time_machine.travel(local(2026, 11, 1, 8, 0), tick=False):
        t = workflow.ticket_extension_approve(ticket=t, actor=city.dispatcher)
        assert local_day(t.resolve_due_at) != old_day.start
        assert old_day.start in rollups_refresh(old_day)
    assert counters_from_rollups(old_day, group_by=None)[None] == counters_live(old_day)[None]
    assert counters_live(old_day)[None].due == 0


def test_repair_facts_makes_every_day_rebuilt(city):
    """The repair writes fact columns without an event: the rollups are forgotten, so
    the next rebuild (and a report's refresh) rebuilds every day from the repaired facts."""
    with time_machine.travel(local(2026, 10, 12, 9, 0), tick=False):
        t = drive(city, new_ticket(city), S.HANDLING)
    TicketEvent.objects.filter(ticket=t).update(unit=None, dispatch=None)
    with time_machine.travel(local(2026, 11, 1, 1, 30), tick=False):
        rollups_rebuild()
        october = Period.month(date(2026, 10, 1))
        assert counters_from_rollups(october)[city.street.pk].sign_clocked == 0  # the facts lost
        call_command("repair_facts", "--dry-run", stdout=StringIO())
        assert RollupMark.objects.exists() and RollupDay.objects.exists()
        call_command("repair_facts", stdout=StringIO())
        assert not RollupMark.objects.exists() and not RollupDay.objects.exists()
        rollups_rebuild(days=1)
    assert (
        counters_from_rollups(october)[city.street.pk] == counters_live(october, group_by="department")[city.street.pk]
    )
    assert counters_from_rollups(october)[city.street.pk].sign_clocked == 1
