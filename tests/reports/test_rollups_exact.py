"""Rollups stay exact for old days, and the facts can be rebuilt from timelines."""

from datetime import date, timedelta

import time_machine

from cases import workflow
from cases.models import TicketEvent
from cases.models import TicketState as S
from cases.workflow.facts import facts_repair
from reports.metrics import Period, counters_from_rollups, counters_live
from reports.rollups import rollups_rebuild
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
