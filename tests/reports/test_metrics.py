"""Every formula of DESIGN §6, exact on hand-computed numbers."""

from datetime import date, timedelta

import pytest
import time_machine
from django.utils import timezone

from cases import workflow
from cases.callbacks import callback_batch, callback_overrule, callback_record
from cases.models import Callback, TicketState
from reports.metrics import Counters, Period, counters_from_rollups, counters_live, rates, subtree_totals
from reports.rollups import rollup_build
from tests.conftest import drive, local, new_ticket

S = TicketState


def test_the_formulas_on_hand_counted_numbers(settings):
    c = Counters(
        dispatched=20,
        contacted_on_time=18,
        sign_clocked=20,
        signed_on_time=15,
        returned=2,
        extended=3,
        due=10,
        due_closed=8,
        due_closed_on_time=6,
        closed=9,
        handled=8,
        handling_hours=96.0,
        cb_valid=10,
        cb_contacted=9,
        cb_solved=7,
        cb_partly=2,
        cb_satisfied=6,
        cb_basically=3,
        cb_unsatisfied=1,
        cb_reopened=1,
    )
    r = rates(c)
    assert r["response"] == pytest.approx(18 / (20 - 2))  # returned dispatches leave the base
    assert r["resolution"] == pytest.approx(7 / 10)
    assert r["satisfaction"] == pytest.approx((6 + 0.9 * 3) / 10)
    assert r["composite"] == pytest.approx(0.1 * 1.0 + 0.5 * 0.7 + 0.4 * 0.87)
    assert r["completion"] == pytest.approx(8 / 10)
    assert r["on_time"] == pytest.approx(6 / 10)
    assert r["sign_on_time"] == pytest.approx(15 / 20)
    assert r["return_rate"] == pytest.approx(2 / 20)
    assert r["extension_rate"] == pytest.approx(3 / 20)
    assert r["reopen_rate"] == pytest.approx(1 / 10)
    assert r["avg_handling_hours"] == pytest.approx(12.0)
    # the variants and weights are settings
    settings.HOTLINE_METRICS = {
        **settings.HOTLINE_METRICS,
        "response_variant": "callback",
        "partly_solved_weight": 0.5,
        "composite_weights": {"response": 0.2, "resolution": 0.4, "satisfaction": 0.4},
    }
    r = rates(c)
    assert r["response"] == pytest.approx(9 / 10)
    assert r["resolution"] == pytest.approx((7 + 0.5 * 2) / 10)
    assert r["composite"] == pytest.approx(0.2 * 0.9 + 0.4 * 0.8 + 0.4 * 0.87)


def test_empty_bases_give_no_rate_rather_than_zero():
    r = rates(Counters())
    assert all(value is None for value in r.values())


def test_periods_are_local_days():
    month = Period.month(date(2026, 11, 17))
    assert (month.start, month.end) == (date(2026, 11, 1), date(2026, 11, 30))
    start, end = month.bounds
    assert start == local(2026, 11, 1, 0, 0) and end == local(2026, 12, 1, 0, 0)
    assert Period.week(date(2026, 11, 26)) == Period(date(2026, 11, 23), date(2026, 11, 29))
    assert Period.year(date(2026, 5, 5)) == Period(date(2026, 1, 1), date(2026, 12, 31))
    assert Period.month(date(2026, 11, 5)).previous() == Period(date(2026, 10, 2), date(2026, 10, 31))


def test_a_ticket_at_midnight_belongs_to_the_local_day(city):
    with time_machine.travel(local(2026, 11, 30, 23, 59, 59), tick=False):
        new_ticket(city)
    with time_machine.travel(local(2026, 12, 1, 0, 0, 0), tick=False):
        new_ticket(city)
    assert counters_live(Period.month(date(2026, 11, 1)))[None].received == 1
    assert counters_live(Period.month(date(2026, 12, 1)))[None].received == 1
    assert counters_live(Period.day(date(2026, 11, 30)))[None].received == 1


def test_a_close_before_the_first_dispatch_is_no_handled_round(city):
    """Answered without dispatch (直接答复), reopened and dispatched the next day: the
    first close had no dispatch before it, so it adds no handling hours — though
    the ticket's first dispatch time is set by then."""
    with time_machine.travel(local(2026, 11, 10, 9), tick=False):
        ticket = new_ticket(city)
    with time_machine.travel(local(2026, 11, 10, 10), tick=False):
        workflow.ticket_answer(ticket=ticket, actor=city.operator, text="已电话解答。")
    with time_machine.travel(local(2026, 11, 11, 9), tick=False):
        workflow.ticket_reopen(ticket=ticket, actor=city.callback, reason="回访不满意")
    with time_machine.travel(local(2026, 11, 11, 10), tick=False):
        workflow.ticket_dispatch(ticket=ticket, actor=city.dispatcher, department=city.street)
    ticket.refresh_from_db()
    assert ticket.first_dispatched_at == local(2026, 11, 11, 10)
    total = counters_live(Period.month(date(2026, 11, 1)))[None]
    assert (total.closed, total.handled, total.handling_hours) == (1, 0, 0)
    rollup_build(date(2026, 11, 10))
    rolled = counters_from_rollups(Period.day(date(2026, 11, 10)), group_by=None)[None]
    assert (rolled.closed, rolled.handled) == (1, 0)


def test_a_fact_recorded_by_a_clock_behind_is_still_its_dispatchs(city):
    """Facts of a dispatch are read from the period's start on (reports.metrics);
    a web process whose clock is a little behind may record a sign before the
    dispatch it answers, across midnight: it still counts for that dispatch."""
    with time_machine.travel(local(2026, 12, 1, 0, 0, 5), tick=False):
        ticket = drive(city, new_ticket(city), S.DISPATCHED)
    with time_machine.travel(local(2026, 11, 30, 23, 59, 58), tick=False):  # the other clock
        workflow.ticket_sign(ticket=ticket, actor=city.handler)
    day = counters_live(Period.day(date(2026, 12, 1)), group_by="department")
    assert day[city.street.pk].dispatched == 1
    assert day[city.street.pk].sign_clocked == 1 and day[city.street.pk].signed_on_time == 1
    assert counters_live(Period.day(date(2026, 11, 30)))[None].sign_clocked == 0


@pytest.fixture
def november(city):
    """A month of work with every case the formulas distinguish (Nov 2026)."""
    made = {}
    with time_machine.travel(local(2026, 11, 2, 9, 0), tick=False) as clock:
        # on time all the way: signed and contacted in time, closed before the deadline
        t = drive(city, new_ticket(city), S.DISPATCHED)
        clock.shift(timedelta(minutes=30))
        t = workflow.ticket_sign(ticket=t, actor=city.handler)
        t = workflow.ticket_contact(ticket=t, actor=city.handler, note="已联系")
        made["good"] = t
        # late: signed after 3 hours, contacted after 2 days
        clock.move_to(local(2026, 11, 2, 10, 0))
        t = drive(city, new_ticket(city), S.DISPATCHED)
        clock.move_to(local(2026, 11, 2, 16, 0))
        t = workflow.ticket_sign(ticket=t, actor=city.handler)
        clock.move_to(local(2026, 11, 4, 16, 0))
        made["late"] = workflow.ticket_contact(ticket=t, actor=city.handler, note="已联系")
        # extended, and still open after its (moved) deadline: late at the end of the month
        clock.move_to(local(2026, 11, 3, 9, 0))
        t = drive(city, new_ticket(city), S.HANDLING)
        workflow.ticket_extension_request(ticket=t, actor=city.handler, working_days=2, reason="需协调")
        made["open"] = workflow.ticket_extension_approve(ticket=t, actor=city.dispatcher)
        # returned once, then handled by the other street
        clock.move_to(local(2026, 11, 3, 10, 0))
        t = drive(city, new_ticket(city), S.DISPATCHED)
        workflow.ticket_return_request(ticket=t, actor=city.handler, reason="非本辖区")
        t = workflow.ticket_return_approve(ticket=t, actor=city.dispatcher)
        made["returned"] = drive(city, t, S.HANDLING, lead=city.street2)
    # closures: "good" on time (Nov 5), "late" after its deadline (Nov 10), "returned" on Nov 6
    with time_machine.travel(local(2026, 11, 5, 9, 0), tick=False):
        made["good"] = drive(city, made["good"], S.CLOSED)
    with time_machine.travel(local(2026, 11, 10, 9, 0), tick=False):
        made["late"] = drive(city, made["late"], S.CLOSED)
    with time_machine.travel(local(2026, 11, 6, 9, 0), tick=False):
        made["returned"] = drive(city, made["returned"], S.CLOSED, lead=city.street2)
    for day in (date(2026, 11, 5), date(2026, 11, 6), date(2026, 11, 10)):
        callback_batch(day=day)
    answers = {
        "good": (True, "solved", "satisfied"),
        "late": (True, "partly", "basically"),
        "returned": (False, "unsolved", "unsatisfied"),
    }
    with time_machine.travel(local(2026, 11, 11, 10, 0), tick=False):
        for key, (contacted, solved, satisfaction) in answers.items():
            cb = Callback.objects.get(ticket=made[key])
            callback_record(
                callback=cb,
                actor=city.callback,
                contacted=contacted,
                solved=solved,
                satisfaction=satisfaction,
                unit_at_fault=False,
            )
    return made


def test_live_counters_on_a_month_of_work(november):
    c = counters_live(Period.month(date(2026, 11, 1)))[None]
    assert c.received == 4
    assert c.dispatched == 5  # one per dispatch: "returned" went to street, then to street2
    # the dispatches signed ("returned"'s first one never was), "late" after its 2 working hours
    assert (c.sign_clocked, c.signed_on_time) == (4, 3)
    assert (c.contact_clocked, c.contacted_on_time) == (4, 3)
    assert (c.returned, c.extended) == (1, 1)
    assert c.due == 4  # every resolve deadline falls in November
    assert (c.due_closed, c.due_closed_on_time) == (3, 2)  # "late" closed after it; "open" still open: late
    assert (c.closed, c.handled) == (3, 3)
    hours = sum(
        (t.closed_at - t.first_dispatched_at).total_seconds() / 3600
        for t in (november["good"], november["late"], november["returned"])
    )
    assert c.handling_hours == pytest.approx(hours)
    # "good": dispatched Mon 2 Nov 09:00, closed Thu 5 Nov 09:00 → 72 hours
    assert (november["good"].closed_at - november["good"].first_dispatched_at).total_seconds() == 72 * 3600
    assert (c.cb_valid, c.cb_contacted, c.cb_solved, c.cb_partly) == (3, 2, 1, 1)
    assert (c.cb_satisfied, c.cb_basically, c.cb_unsatisfied, c.cb_reopened) == (1, 1, 1, 0)
    r = rates(c)
    assert r["response"] == pytest.approx(3 / 4)
    assert r["satisfaction"] == pytest.approx((1 + 0.9) / 3)
    assert r["on_time"] == pytest.approx(2 / 4) and r["completion"] == pytest.approx(3 / 4)


def test_an_overruled_callback_leaves_the_rates(november, city):
    cb = Callback.objects.get(ticket=november["returned"])
    callback_overrule(callback=cb, actor=city.supervisor, reason="不合理诉求")
    c = counters_live(Period.month(date(2026, 11, 1)))[None]
    assert (c.cb_valid, c.cb_unsatisfied) == (2, 0)


def test_grouped_by_unit_and_by_territory(november, city):
    per_unit = counters_live(Period.month(date(2026, 11, 1)), group_by="department")
    assert per_unit[city.street.pk].dispatched == 4
    assert per_unit[city.street2.pk].dispatched == 1  # the re-dispatch of the returned ticket
    # the return counts against the unit that returned it, not the one holding it now
    assert (per_unit[city.street.pk].returned, per_unit[city.street2.pk].returned) == (1, 0)
    per_community = counters_live(Period.month(date(2026, 11, 1)), group_by="community")
    assert per_community[city.community.pk].received == 4
    totals = subtree_totals(per_unit, [city.district, city.street])
    assert totals[city.district.pk].dispatched == 5 and totals[city.street.pk].dispatched == 4


def test_rollups_equal_live_aggregates(november, city):
    period = Period.month(date(2026, 11, 1))
    day = period.start
    while day <= period.end:
        rollup_build(day)
        day += timedelta(days=1)
    live = counters_live(period, group_by="department")
    rolled = counters_from_rollups(period, group_by="department")
    assert set(rolled) == {k for k, v in live.items() if any(v.as_dict().values())}
    for unit, counters in rolled.items():
        assert counters.as_dict() == pytest.approx(live[unit].as_dict()), unit
    by_day = counters_from_rollups(period, group_by="day")
    total = Counters()
    for counters in by_day.values():
        total.add(counters)
    assert total.as_dict() == pytest.approx(counters_live(period)[None].as_dict())
    assert timezone.localdate(november["good"].closed_at) in by_day
