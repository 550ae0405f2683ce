"""Property: whatever calendars (process-wide and per unit), policies and sequence of changes, after re-timing
the stored deadlines of every running clock equal a fresh computation from the
moment each clock started."""

from datetime import date, timedelta

import time_machine
from django.conf import settings as django_settings
from django.db import transaction
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

from cases import workflow
from cases.deadlines.calendar import calendar_for
from cases.deadlines.policy import clock_times, deadline_limits
from cases.models import DeadlinePolicy, Holiday, Ticket, TicketState, TimeUnit, WorkingCalendar
from cases.reference import reference_forget
from tests.conftest import drive, local, new_ticket

S = TicketState
START = local(2026, 11, 23, 9, 0)
HOURS = [
    ["08:30-12:00", "14:00-18:00"],
    ["00:00-23:59"],
    ["09:00-17:00"],
    ["07:00-11:00", "13:00-15:00", "19:00-21:00"],
]
UNITS = [TimeUnit.WORKING_HOUR, TimeUnit.WORKING_DAY, TimeUnit.HOUR, TimeUnit.MINUTE]

day_offset = st.integers(min_value=0, max_value=40)
change = st.one_of(
    st.tuples(st.just("holiday"), day_offset, st.booleans()),
    st.tuples(st.just("unholiday"), day_offset, st.just(False)),
    st.tuples(
        st.just("policy"), st.sampled_from(["sign", "contact", "resolve"]), st.integers(1, 6), st.sampled_from(UNITS)
    ),
    st.tuples(st.just("hours"), st.integers(0, len(HOURS) - 1)),
    # a unit (street = the lead, its district, the community a ticket is sub-dispatched
    # to) gets no calendar of its own, office hours, 24×7, or custom segments
    st.tuples(st.just("unit"), st.sampled_from(["street", "district", "community"]), st.integers(-2, len(HOURS) - 1)),
)


def unit_calendar(choice: int):
    """-2: none of its own (inherit), -1: 24×7, else custom segments HOURS[choice]."""
    if choice == -2:
        return None
    if choice == -1:
        return WorkingCalendar.objects.get_or_create(name="24x7", kind=WorkingCalendar.Kind.ALWAYS)[0]
    return WorkingCalendar.objects.get_or_create(
        name=f"custom-{choice}", kind=WorkingCalendar.Kind.CUSTOM, segments=HOURS[choice]
    )[0]


def expected(ticket):
    """The clocks as the workflow would have started them under today's rules."""
    cal = calendar_for(ticket.lead_department_id)
    limits = deadline_limits(
        category=ticket.category, urgency=ticket.urgency, nature=ticket.nature, department=ticket.lead_department
    )
    times = {}
    if ticket.state == S.DISPATCHED:
        # the unit that must sign: the lead, or the child a sub-dispatch passed it to
        unit = ticket.assignee_department
        sign = deadline_limits(category=ticket.category, urgency=ticket.urgency, nature=ticket.nature, department=unit)
        start = ticket.subdispatched_at or ticket.dispatched_at
        times["sign"] = clock_times(start, sign.sign, calendar_for(unit.pk))
    if ticket.signed_at and not ticket.first_contact_at:  # the lead signed
        times["contact"] = clock_times(ticket.signed_at, limits.contact, cal)
    base = clock_times(ticket.dispatched_at, limits.resolve, cal)
    if ticket.extension_days:
        due = cal.add_limit(base.due_at, ticket.extension_days, TimeUnit.WORKING_DAY)
        base = type(base)(due, cal.warn_time(ticket.dispatched_at, due, TimeUnit.WORKING_DAY))
    times["resolve"] = base
    return times


@settings(
    max_examples=25,
    deadline=None,
    suppress_health_check=[HealthCheck.function_scoped_fixture, HealthCheck.too_slow],
)
@given(changes=st.lists(change, min_size=1, max_size=5), hours=st.integers(0, len(HOURS) - 1))
def test_stored_deadlines_always_equal_a_fresh_computation(city, changes, hours):
    original_hours = django_settings.WORKING_HOURS
    django_settings.WORKING_HOURS = HOURS[hours]
    reference_forget()
    try:
        with time_machine.travel(START, tick=False) as clock, transaction.atomic():
            tickets = [
                drive(city, new_ticket(city), S.DISPATCHED),
                drive(city, new_ticket(city), S.HANDLING),  # signed and contacted
            ]
            signed = drive(city, new_ticket(city), S.DISPATCHED)
            clock.shift(timedelta(hours=3))
            tickets.append(workflow.ticket_sign(ticket=signed, actor=city.handler))  # contact clock runs
            extended = drive(city, new_ticket(city), S.HANDLING)
            workflow.ticket_extension_request(ticket=extended, actor=city.handler, working_days=2, reason="协调")
            tickets.append(workflow.ticket_extension_approve(ticket=extended, actor=city.dispatcher))
            hop = drive(city, new_ticket(city), S.HANDLING)
            clock.shift(timedelta(hours=1))
            tickets.append(workflow.ticket_subdispatch(ticket=hop, actor=city.handler, department=city.community))
            DeadlinePolicy.objects.create(
                name="社区", department=city.community, sign_limit=30, sign_unit=TimeUnit.MINUTE
            )
            base = DeadlinePolicy.objects.get(category__isnull=True, department__isnull=True, urgency="", nature="")
            for item in changes:
                kind = item[0]
                if kind == "holiday":
                    day = date(2026, 11, 23) + timedelta(days=item[1])
                    Holiday.objects.update_or_create(date=day, defaults={"name": "调整", "is_working_day": item[2]})
                elif kind == "unholiday":
                    Holiday.objects.filter(date=date(2026, 11, 23) + timedelta(days=item[1])).delete()
                elif kind == "policy":
                    _k, name, amount, unit = item
                    setattr(base, f"{name}_limit", amount)
                    setattr(base, f"{name}_unit", unit)
                    base.save()
                elif kind == "unit":
                    unit = getattr(city, item[1])
                    unit.calendar = unit_calendar(item[2])
                    unit.save()
                else:
                    django_settings.WORKING_HOURS = HOURS[item[1]]
                reference_forget()
                workflow.tickets_retime(ticket_ids=[t.pk for t in tickets], reason="holiday", now=START)
                units = ("category", "lead_department", "assignee_department")
                for ticket in Ticket.objects.filter(pk__in=[t.pk for t in tickets]).select_related(*units):
                    fresh = expected(ticket)
                    stored = {
                        name: (due, getattr(ticket, f"{name}_warn_at"))
                        for name, (due, _w) in ticket.running_clocks().items()
                    }
                    assert stored == {name: (t.due_at, t.warn_at) for name, t in fresh.items()}, (item, ticket.number)
                    assert ticket.next_due_at == min(t.due_at for t in fresh.values())
            transaction.set_rollback(True)
    finally:
        django_settings.WORKING_HOURS = original_hours
        reference_forget()
