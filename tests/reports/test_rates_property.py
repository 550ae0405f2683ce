"""Property: whatever happens to tickets, across day and month boundaries, every
counter (live, per unit, and from the rollups) equals a recomputation from the
timeline events' payloads and the callbacks alone — written here, without the
metrics module — and unit rows add up to the city total."""

from collections import defaultdict
from dataclasses import dataclass, field
from datetime import datetime, timedelta

import time_machine
from django.db import transaction
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

from cases import callbacks as callback_service
from cases.clock import local_day
from cases.models import Callback, Ticket, TicketEvent
from cases.workflow import WorkflowError, WorkflowPermissionError
from reports.metrics import COUNTER_NAMES, Period, counters_from_rollups, counters_live
from reports.rollups import rollups_rebuild
from tests.cases.test_workflow_properties import _call, _natural_actor
from tests.conftest import local, new_ticket

K = TicketEvent.Kind
CLOSES = {K.APPROVED, K.ANSWERED, K.REOPEN_OVERRULED}

ACTIONS = [
    "dispatch",
    "dispatch_with_cohandler",
    "sign",
    "contact",
    "reply",
    "approve",
    "rework",
    "return_request",
    "return_approve",
    "return_reject",
    "extension_request",
    "extension_approve",
    "cohandler_sign",
    "cohandler_reply",
    "merge_this_into_other",
    "invalidate",
    "escalate",
    "answer",
    "callback_bad",
    "callback_good",
    "callback_overrule",
    "wait",
]
MAIN = ["dispatch", "sign", "contact", "reply", "approve", "wait", "wait", "callback_bad"]

steps = st.lists(
    st.tuples(
        st.sampled_from([*ACTIONS, *MAIN]),
        st.sampled_from(["street", "street2", "bureau", "utility", "community"]),
        st.integers(min_value=0, max_value=3),
        st.integers(min_value=0, max_value=2),
    ),
    min_size=1,
    max_size=35,
)


def _when(value):
    return datetime.fromisoformat(value) if value else None


@dataclass
class Replay:
    lead: int | None = None
    dispatch_at: datetime | None = None
    dispatch_unit: int | None = None
    signed: bool = False
    contacted: bool = False
    sign_due: datetime | None = None
    contact_due: datetime | None = None
    resolve_due: datetime | None = None
    round: int = 1
    first_dispatch: datetime | None = None
    extended: set = field(default_factory=set)
    leads: list = field(default_factory=list)

    def lead_at(self, moment):
        lead = None
        for at, unit in self.leads:
            if at <= moment:
                lead = unit
        return lead


def recompute(start, end, *, by="unit"):
    """Counters per unit (or per the ticket's category, ``by="category"``) from the
    payloads of the timeline and the callbacks."""
    counted_in = defaultdict(lambda: defaultdict(float))

    def within(moment):
        return moment is not None and start <= moment < end

    replays = {}
    for ticket in Ticket.objects.order_by("pk"):
        per_unit = _Keyed(counted_in, ticket.category_id if by == "category" else None)
        r = replays[ticket.pk] = Replay()
        counted = ticket.state not in ("invalid", "merged")
        for e in ticket.events.order_by("created_at", "pk"):
            data, at = e.data, e.created_at
            if e.kind == K.DISPATCHED:
                r.lead = r.dispatch_unit = data["department"]["id"]
                r.dispatch_at, r.first_dispatch = at, r.first_dispatch or at
                r.signed = r.contacted = False
                r.sign_due, r.contact_due = _when(data["sign_due_at"]), None
                r.resolve_due = _when(data["resolve_due_at"])
                if counted and within(at):
                    per_unit[r.lead]["dispatched"] += 1
            elif e.kind == K.SIGNED and not r.signed:
                r.signed, r.contact_due = True, _when(data["contact_due_at"])
                if counted and within(r.dispatch_at):
                    per_unit[r.dispatch_unit]["sign_clocked"] += 1
                    per_unit[r.dispatch_unit]["contact_clocked"] += 1
                    per_unit[r.dispatch_unit]["signed_on_time"] += at <= r.sign_due
            elif e.kind == K.CONTACTED and not r.contacted:
                r.contacted = True
                if counted and within(r.dispatch_at) and r.contact_due and at <= r.contact_due:
                    per_unit[r.dispatch_unit]["contacted_on_time"] += 1
            elif e.kind == K.RETURN_APPROVED:
                if counted and within(r.dispatch_at):
                    per_unit[data["department"]["id"]]["returned"] += 1
                r.lead = r.resolve_due = None
                r.signed = r.contacted = False
            elif e.kind == K.EXTENSION_APPROVED:
                r.resolve_due = _when(data["resolve_due_at"])
                if counted and within(r.dispatch_at) and r.dispatch_at not in r.extended:
                    r.extended.add(r.dispatch_at)
                    per_unit[r.lead]["extended"] += 1
            elif e.kind == K.ESCALATED:
                r.resolve_due = _when(data["resolve_due_at"]) or r.resolve_due
            elif e.kind in CLOSES:
                if counted and within(r.resolve_due):
                    per_unit[r.lead]["due"] += 1
                    per_unit[r.lead]["due_closed"] += 1
                    per_unit[r.lead]["due_closed_on_time"] += at <= r.resolve_due
                if counted and within(at):
                    per_unit[r.lead]["closed"] += 1
                    if r.round == 1 and r.first_dispatch:
                        per_unit[r.lead]["handled"] += 1
                        per_unit[r.lead]["handling_hours"] += (at - r.first_dispatch).total_seconds() / 3600
            elif e.kind == K.REOPENED:
                r.round = data["reopen_count"] + 1
                r.resolve_due = _when(data["resolve_due_at"])
            elif e.kind == K.MERGED:
                r.resolve_due = None
            elif e.kind == K.COHANDLER_REPLIED and ticket.state != "invalid" and within(at):
                per_unit[data["department"]["id"]]["cohandled"] += 1
            r.leads.append((at, r.lead))
        if ticket.state != "invalid" and within(ticket.events.get(kind=K.CREATED).created_at):
            per_unit[r.lead]["received"] += 1
        if counted and ticket.state != "closed" and within(r.resolve_due):
            per_unit[r.lead]["due"] += 1
    for cb in Callback.objects.filter(status="done", overruled_at__isnull=True).select_related("ticket"):
        if cb.ticket.state == "invalid" or not within(cb.completed_at):
            continue
        owner = cb.ticket.merged_into_id or cb.ticket_id
        key = cb.ticket.category_id if by == "category" else replays[owner].lead_at(cb.completed_at)
        row = counted_in[key]
        row["cb_valid"] += 1
        row["cb_contacted"] += cb.contacted is True
        row["cb_solved"] += cb.solved == "solved"
        row["cb_partly"] += cb.solved == "partly"
        row["cb_satisfied"] += cb.satisfaction == "satisfied"
        row["cb_basically"] += cb.satisfaction == "basically"
        row["cb_unsatisfied"] += cb.satisfaction == "unsatisfied"
        row["cb_reopened"] += cb.reopened
    return counted_in


class _Keyed:
    """``counted_in[unit]``, or, with a ``key``, the row of that key whatever the unit."""

    def __init__(self, counted_in, key):
        self.counted_in, self.key = counted_in, key

    def __getitem__(self, unit):
        return self.counted_in[unit if self.key is None else self.key]


def _as_dict(counters):
    return {name: round(getattr(counters, name), 6) for name in COUNTER_NAMES}


def _expected(row):
    return {name: round(row.get(name, 0), 6) for name in COUNTER_NAMES}


def _callback(c, t, action, n):
    t.refresh_from_db()
    if action == "callback_overrule":
        cb = Callback.objects.filter(ticket=t, status="done", reopened=True, overruled_at__isnull=True).first()
        if cb:
            callback_service.callback_overrule(callback=cb, actor=c.supervisor, reason="不合理诉求")
        return
    if t.closed_at is None or t.state not in ("closed", "merged"):
        return
    cb, _created = Callback.objects.get_or_create(
        ticket=t, closed_at=t.closed_at, defaults={"batch_date": local_day(t.closed_at)}
    )
    if cb.status != "pending":
        return
    bad = action == "callback_bad"
    callback_service.callback_record(
        callback=cb,
        actor=c.callback,
        contacted=n % 2 == 0,
        solved="unsolved" if bad else ["solved", "partly"][n % 2],
        satisfaction="unsatisfied" if bad else ["satisfied", "basically"][n % 2],
        unit_at_fault=True if bad else None,
    )


def play(city, tickets, steps, moment, *, wait_power: int):
    """Drive ``steps`` over three ``tickets`` through the doors' verbs, ``moment`` (a
    time_machine traveller) moving on after each; a refused step is skipped, as the
    door would refuse it. A "wait" moves (n + 1) ** ``wait_power`` hours."""
    for action, unit, n, which in steps:
        t, other = tickets[which], tickets[(which + 1) % 3]
        if action == "wait":
            moment.shift(timedelta(hours=(n + 1) ** wait_power))
            continue
        try:
            with transaction.atomic():
                if action.startswith("callback"):
                    _callback(city, t, action, n)
                else:
                    _call(action, city, (t, other), _natural_actor(city, action, t.pk, n), unit, n)
        except (WorkflowError, WorkflowPermissionError, PermissionError):
            pass
        except Exception as error:  # a refusal the door would show (PermissionDenied)
            if type(error).__name__ != "PermissionDenied":
                raise
        moment.shift(timedelta(minutes=17 * (n + 1)))


@settings(
    max_examples=30,
    deadline=None,
    suppress_health_check=[HealthCheck.function_scoped_fixture, HealthCheck.too_slow],
)
@given(steps=steps)
def test_counters_equal_the_record(city, steps):
    start = local(2026, 10, 31, 23, 0)
    with time_machine.travel(start, tick=False) as clock, transaction.atomic():
        tickets = [
            new_ticket(city),
            new_ticket(city, citizen_phone="13900005678", category=city.noise),
            new_ticket(city, citizen_phone=""),
        ]
        play(city, tickets, steps, clock, wait_power=3)
        end_day = local_day()
        rollups_rebuild(days=(end_day - local_day(start)).days + 2)
        first = local_day(start)
        # The whole span, both months, and the days around the month boundary (for speed, not every day).
        periods = [
            Period(first, end_day + timedelta(days=3)),
            Period.month(first),
            Period.month(first + timedelta(days=1)),
            *(Period.day(first + timedelta(days=i)) for i in range(3)),
        ]
        for period in periods:
            begin, finish = period.bounds
            expected = recompute(begin, finish)
            live = counters_live(period, group_by="department")
            total = counters_live(period)[None]
            units = set(expected) | set(live)
            for unit in units:
                got = _as_dict(live[unit]) if unit in live else _expected({})
                assert got == _expected(expected.get(unit, {})), (period, unit)
            summed = {name: round(sum(expected[u].get(name, 0) for u in expected), 6) for name in COUNTER_NAMES}
            assert _as_dict(total) == summed, period
            # the same counters through the other door: a ticket set given explicitly
            # (a territory, a theme) reads the facts by a semi-join, the whole city
            # by an anti-join against the uncounted tickets
            given = counters_live(
                period, group_by="department", tickets=Ticket.objects.all(), callbacks=Callback.objects.all()
            )
            for unit in units:
                got = _as_dict(given[unit]) if unit in given else _expected({})
                assert got == _expected(expected.get(unit, {})), ("tickets given", period, unit)
            rolled = counters_from_rollups(period, group_by="department")
            for unit in units:
                got = _as_dict(rolled[unit]) if unit in rolled else _expected({})
                assert got == _expected(expected.get(unit, {})), ("rollup", period, unit)
            # per category: live, and from the category rollups
            per_category = recompute(begin, finish, by="category")
            live = counters_live(period, group_by="category")
            rolled = counters_from_rollups(period, group_by="category")
            for category in set(per_category) | set(live) | set(rolled):
                want = _expected(per_category.get(category, {}))
                assert (_as_dict(live[category]) if category in live else _expected({})) == want, (period, category)
                got = _as_dict(rolled[category]) if category in rolled else _expected({})
                assert got == want, ("category rollup", period, category)
        transaction.set_rollback(True)  # the next example starts from an empty record
