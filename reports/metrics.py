"""Every rate of DESIGN §6, in one place.

Rates are computed from counters. The counters read facts fixed when they
happened — the fact columns of ``TicketEvent`` (``unit``, ``dispatch``,
``due_at``, ``on_time``, ``round``) and ``Callback.unit`` — never ticket columns
a later step overwrites (the README's rates table writes each formula and its
attribution out). Tickets now invalid are left out; merged duplicates count only
through their callbacks:

- received: tickets received, by received_at (the ticket's current lead unit);
- dispatch (one dispatch is the unit of account), by the dispatch's time and
  charged to the unit it went to: dispatched; its first sign (sign_clocked,
  signed_on_time, contact_clocked); its first contact in time
  (contacted_on_time); undone by an approved return (returned); extended;
- due (one resolve round is the unit of account): closed rounds by the deadline
  fixed at their close and charged to the lead unit then (due, due_closed,
  due_closed_on_time); open rounds by the ticket's current deadline, late;
- closure: closes of a round, by their time (closed); first-round closes of a
  ticket dispatched before them, with the hours from first dispatch (handled,
  handling_hours);
- cohandled: co-handling replies, charged to the co-handling unit;
- callback: valid callbacks (done, not overruled, ticket not invalid), by
  completed_at, charged to ``Callback.unit`` (the master's lead unit for a
  merged duplicate).

Counters can be read live or from the daily rollups (``DailyUnitStat``, ``DailyCategoryStat``);
both give the same numbers."""

from dataclasses import dataclass, fields
from datetime import date, datetime, timedelta

from django.conf import settings
from django.db.models import Count, DurationField, Exists, ExpressionWrapper, F, OuterRef, Q, Sum
from django.db.models.functions import TruncDate
from django.utils import timezone

from cases import clock
from cases.archive import archive_guard
from cases.models import Callback, ThemeTicket, Ticket, TicketEvent, TicketState
from departments.models import Department

from .models import DailyCategoryStat, DailyUnitStat

S = TicketState


@dataclass
class Counters:
    received: int = 0
    dispatched: int = 0
    sign_clocked: int = 0
    signed_on_time: int = 0
    contact_clocked: int = 0
    contacted_on_time: int = 0
    returned: int = 0
    extended: int = 0
    due: int = 0
    due_closed: int = 0
    due_closed_on_time: int = 0
    closed: int = 0
    handled: int = 0
    handling_hours: float = 0.0
    cb_valid: int = 0
    cb_contacted: int = 0
    cb_solved: int = 0
    cb_partly: int = 0
    cb_satisfied: int = 0
    cb_basically: int = 0
    cb_unsatisfied: int = 0
    cb_reopened: int = 0
    cohandled: int = 0

    def add(self, other: "Counters") -> "Counters":
        for f in fields(self):
            setattr(self, f.name, getattr(self, f.name) + getattr(other, f.name))
        return self

    def subtract(self, other: "Counters") -> "Counters":
        for f in fields(self):
            setattr(self, f.name, getattr(self, f.name) - getattr(other, f.name))
        return self

    def as_dict(self) -> dict:
        return {f.name: getattr(self, f.name) for f in fields(self)}

    def rates(self) -> dict:
        return rates(self)


COUNTER_NAMES = [f.name for f in fields(Counters)]


def _ratio(numerator, denominator):
    return numerator / denominator if denominator else None


def rates(c: Counters) -> dict:
    """The rates of DESIGN §6 from counters; None where the base is empty."""
    cfg = settings.HOTLINE_METRICS
    if cfg["response_variant"] == "callback":
        response = _ratio(c.cb_contacted, c.cb_valid)  # Beijing style
    else:
        # A dispatch undone by an approved return was never the unit's to answer:
        # it counts in 退单率 (and against the dispatch), not in 响应率's base.
        response = _ratio(c.contacted_on_time, c.dispatched - c.returned)
    resolution = _ratio(c.cb_solved + cfg["partly_solved_weight"] * c.cb_partly, c.cb_valid)
    satisfaction = _ratio(c.cb_satisfied + cfg["basically_satisfied_weight"] * c.cb_basically, c.cb_valid)
    weights = cfg["composite_weights"]
    parts = {"response": response, "resolution": resolution, "satisfaction": satisfaction}
    composite = (
        sum(weights[name] * value for name, value in parts.items())
        if all(value is not None for value in parts.values())
        else None
    )
    return {
        "response": response,
        "resolution": resolution,
        "satisfaction": satisfaction,
        "composite": composite,
        "completion": _ratio(c.due_closed, c.due),
        "on_time": _ratio(c.due_closed_on_time, c.due),
        "sign_on_time": _ratio(c.signed_on_time, c.sign_clocked),
        "return_rate": _ratio(c.returned, c.dispatched),
        "extension_rate": _ratio(c.extended, c.dispatched),
        "reopen_rate": _ratio(c.cb_reopened, c.cb_valid),
        "avg_handling_hours": _ratio(c.handling_hours, c.handled),
    }


def rank_eligible(c: Counters) -> bool:
    """A unit is ranked from ``ranking_min_tickets`` dispatches in the period: the
    reports and the dashboard rank by this one rule."""
    return c.dispatched >= settings.HOTLINE_METRICS["ranking_min_tickets"]


def ranking_excluded_tickets(tickets=None):
    """The tickets the units' ranking leaves out: with ``HOTLINE_THEME_EXCLUDE_FROM_RANKING``,
    every ticket linked to a 每月一题 theme and received while that theme ran (from
    its start day to its end day, local); ``None`` when the setting is off."""
    if not settings.HOTLINE_THEME_EXCLUDE_FROM_RANKING:
        return None
    from cases.models import Theme  # noqa: PLC0415 - beside ThemeTicket; kept local to the setting

    running = Q(pk__in=[])
    for pk, started_on, ended_on in Theme.objects.values_list("pk", "started_on", "ended_on"):
        during = Q(theme_id=pk, ticket__received_at__gte=clock.day_start(started_on))
        if ended_on is not None:
            during &= Q(ticket__received_at__lt=clock.day_bounds(ended_on)[1])
        running |= during
    tickets = tickets if tickets is not None else Ticket.objects.all()
    return tickets.filter(pk__in=ThemeTicket.objects.filter(running).values("ticket_id"))


def ranking_counters(period: "Period", per_unit: dict, *, tickets=None) -> dict:
    """The per-unit counters a ranking is made from: ``per_unit`` (live or from the
    rollups, of ``tickets``, default all) less the counters of the tickets
    ``ranking_excluded_tickets`` leaves out — the one place the reports and the
    dashboard rank from. Counters are sums over tickets, so the difference is the
    units' counters without those tickets."""
    excluded = ranking_excluded_tickets(tickets)
    if excluded is None:
        return per_unit
    less = counters_live(
        period, group_by="department", tickets=excluded, callbacks=Callback.objects.filter(ticket__in=excluded)
    )
    result = {}
    for key, counters in per_unit.items():
        result[key] = Counters().add(counters)
        if key in less:
            result[key].subtract(less[key])
    return result


RATE_LABELS = {
    "response": "响应率",
    "resolution": "解决率",
    "satisfaction": "满意率",
    "composite": "综合得分",
    "completion": "办结率",
    "on_time": "按期办结率",
    "sign_on_time": "签收及时率",
    "return_rate": "退单率",
    "extension_rate": "延期率",
    "reopen_rate": "重办率",
    "avg_handling_hours": "平均办理时长（小时）",
}


# -- periods --------------------------------------------------------------------------


@dataclass(frozen=True)
class Period:
    """Whole local days, ``start`` to ``end`` inclusive (Asia/Shanghai)."""

    start: date
    end: date

    @property
    def bounds(self) -> tuple[datetime, datetime]:
        return clock.period_bounds(self.start, self.end)

    @property
    def days(self) -> int:
        return (self.end - self.start).days + 1

    def previous(self) -> "Period":
        return Period(self.start - timedelta(days=self.days), self.start - timedelta(days=1))

    @classmethod
    def day(cls, d: date) -> "Period":
        return cls(d, d)

    @classmethod
    def week(cls, d: date) -> "Period":
        monday = d - timedelta(days=d.weekday())
        return cls(monday, monday + timedelta(days=6))

    @classmethod
    def month(cls, d: date) -> "Period":
        first = d.replace(day=1)
        next_first = (first + timedelta(days=32)).replace(day=1)
        return cls(first, next_first - timedelta(days=1))

    @classmethod
    def year(cls, d: date) -> "Period":
        return cls(date(d.year, 1, 1), date(d.year, 12, 31))


# -- live counters ------------------------------------------------------------------------

#: Ticket fields to group by; events and callbacks reach them through their ticket.
GROUPS = {
    "department": "lead_department_id",
    "district": "district_id",
    "street": "street_id",
    "community": "community_id",
    "grid": "grid_id",
    "category": "category_id",
    "channel": "channel",
}

#: The kinds that close a resolve round (the fact carries its deadline and whether it was met).
CLOSE_KINDS = (TicketEvent.Kind.APPROVED, TicketEvent.Kind.ANSWERED, TicketEvent.Kind.REOPEN_OVERRULED)

K = TicketEvent.Kind


def _group_field(group_by, *, unit_field):
    """The field a row is grouped on: the fact's own unit for ``department``,
    otherwise the ticket's field (``ticket__…`` for events and callbacks)."""
    if group_by == "department":
        return unit_field
    prefix = "" if unit_field == GROUPS["department"] else "ticket__"
    return prefix + GROUPS[group_by]


def _collect(result, qs, *, date_field, group_by, aggregates, unit_field="unit_id"):
    """Add ``qs``'s aggregates to ``result``, keyed by ``group_by``: a group's value,
    the local day of ``date_field`` ("day"), both (("day", group)), or None."""
    if isinstance(group_by, tuple):
        day, group = True, group_by[1]
    else:
        day, group = group_by == "day", None if group_by == "day" else group_by
    keys = {}
    if day:
        keys["fact_day"] = TruncDate(date_field, tzinfo=timezone.get_default_timezone())
    if group:
        keys["group_key"] = F(_group_field(group, unit_field=unit_field))
    rows = qs.values(**keys).annotate(**aggregates) if keys else [qs.aggregate(**aggregates)]
    for row in rows:
        parts = tuple(row[k] for k in keys)
        counters = result.setdefault(parts if len(parts) > 1 else parts[0] if parts else None, Counters())
        for name in aggregates:
            value = row[name] or 0
            if isinstance(value, timedelta):
                value = value.total_seconds() / 3600
            setattr(counters, name, getattr(counters, name) + value)


def _within(field, start, end) -> Q:
    return Q(**{f"{field}__gte": start, f"{field}__lt": end})


#: A fact about a dispatch (its sign, contact, return, extension) is recorded after
#: it; the reads that bound such facts by the period's start allow this much for
#: web processes whose clocks disagree, so no fact is ever cut off.
FACT_CLOCK_SLACK = timedelta(hours=1)


def events_of(tickets=None, *, leaving_out=()):
    """The timeline events of ``tickets`` (a queryset: a semi-join), or, without
    it, of every ticket not in a state of ``leaving_out``: an anti-join against the
    small partial index ``ticket_uncounted``, where a semi-join against every ticket
    would grow with the table (ten million rows hashed per statement)."""
    if tickets is not None:
        return TicketEvent.objects.filter(ticket__in=tickets)
    return TicketEvent.objects.filter(~Exists(Ticket.objects.filter(pk=OuterRef("ticket_id"), state__in=leaving_out)))


def counters_live(period: Period, *, group_by: str | None = None, tickets=None, callbacks=None) -> dict:
    """Counters per group key (``None`` for the total; with ``group_by="department"``
    also the row of facts charged to no unit; with ``group_by=("day", group)`` the
    key is (local day, value): each fact counts on the day of the field it is dated
    by, as a period of that one day would count it) read from the facts the workflow
    fixed on the timeline events, and from callbacks — grouped aggregate queries,
    whatever the size. Refuses (``cases.archive.ArchivedPeriod``) a period that
    starts before the archive's boundary: its facts are not all live any more."""
    archive_guard(period.bounds[0])
    start, end = period.bounds
    everyone = tickets is None
    tickets = tickets if tickets is not None else Ticket.objects.all()
    callbacks = callbacks if callbacks is not None else Callback.objects.all()
    valid = tickets.exclude(state=S.INVALID)
    counted = valid.exclude(state=S.MERGED)
    facts = events_of(None if everyone else counted, leaving_out=(S.INVALID, S.MERGED))
    result: dict = {}

    def collect(qs, date_field, aggregates, unit_field="unit_id"):
        _collect(result, qs, date_field=date_field, group_by=group_by, aggregates=aggregates, unit_field=unit_field)

    collect(
        valid.filter(_within("received_at", start, end)),
        "received_at",
        {"received": Count("pk")},
        unit_field=GROUPS["department"],
    )
    # One dispatch is the unit of account; everything about it is dated by it.
    collect(
        facts.filter(_within("created_at", start, end), kind=K.DISPATCHED), "created_at", {"dispatched": Count("pk")}
    )
    # The facts of the period's dispatches: joined to their dispatch, and never older
    # than the period (a fact follows its dispatch), so the planner reads the facts
    # recorded since the period began (index on kind, created_at), not every sign and
    # contact ever made.
    of_dispatch = facts.filter(
        created_at__gte=start - FACT_CLOCK_SLACK,
        dispatch__kind=K.DISPATCHED,
        dispatch__created_at__gte=start,
        dispatch__created_at__lt=end,
    )
    collect(
        of_dispatch.filter(kind=K.SIGNED, on_time__isnull=False),
        "dispatch__created_at",
        {
            "sign_clocked": Count("pk"),
            "signed_on_time": Count("pk", filter=Q(on_time=True)),
            "contact_clocked": Count("pk"),
        },
    )
    collect(
        of_dispatch.filter(kind=K.CONTACTED, on_time=True),
        "dispatch__created_at",
        {"contacted_on_time": Count("pk")},
    )
    collect(of_dispatch.filter(kind=K.RETURN_APPROVED), "dispatch__created_at", {"returned": Count("pk")})
    collect(
        of_dispatch.filter(kind=K.EXTENSION_APPROVED),
        "dispatch__created_at",
        {"extended": Count("dispatch", distinct=True)},
    )
    # Each resolve round is due once: closed rounds by the deadline fixed at their
    # close, the open round by the ticket's current deadline (late if it passed).
    collect(
        facts.filter(_within("due_at", start, end), kind__in=CLOSE_KINDS),
        "due_at",
        {
            "due": Count("pk"),
            "due_closed": Count("pk"),
            "due_closed_on_time": Count("pk", filter=Q(on_time=True)),
        },
    )
    collect(
        counted.exclude(state=S.CLOSED).filter(_within("resolve_due_at", start, end)),
        "resolve_due_at",
        {"due": Count("pk")},
        unit_field=GROUPS["department"],
    )
    # A first round dispatched before its close: a ticket answered without dispatch
    # and dispatched only after a reopen has a first dispatch later than this close.
    first_round = Q(round=1, ticket__first_dispatched_at__lte=F("created_at"))
    collect(
        facts.filter(_within("created_at", start, end), kind__in=CLOSE_KINDS),
        "created_at",
        {
            "closed": Count("pk"),
            "handled": Count("pk", filter=first_round),
            "handling_hours": Sum(
                ExpressionWrapper(F("created_at") - F("ticket__first_dispatched_at"), output_field=DurationField()),
                filter=first_round,
            ),
        },
    )
    collect(
        events_of(None if everyone else valid, leaving_out=(S.INVALID,)).filter(
            _within("created_at", start, end), kind=K.COHANDLER_REPLIED
        ),
        "created_at",
        {"cohandled": Count("pk")},
    )
    valid_callbacks = callbacks.filter(
        status=Callback.Status.DONE, overruled_at__isnull=True, completed_at__gte=start, completed_at__lt=end
    ).exclude(ticket__state=S.INVALID)
    collect(
        valid_callbacks,
        "completed_at",
        {
            "cb_valid": Count("pk"),
            "cb_contacted": Count("pk", filter=Q(contacted=True)),
            "cb_solved": Count("pk", filter=Q(solved=Callback.Solved.SOLVED)),
            "cb_partly": Count("pk", filter=Q(solved=Callback.Solved.PARTLY)),
            "cb_satisfied": Count("pk", filter=Q(satisfaction=Callback.Satisfaction.SATISFIED)),
            "cb_basically": Count("pk", filter=Q(satisfaction=Callback.Satisfaction.BASICALLY)),
            "cb_unsatisfied": Count("pk", filter=Q(satisfaction=Callback.Satisfaction.UNSATISFIED)),
            "cb_reopened": Count("pk", filter=Q(reopened=True)),
        },
    )
    if group_by is None:
        result.setdefault(None, Counters())
    return result


# -- rollups --------------------------------------------------------------------------------


def counters_from_rollups(period: Period, *, group_by: str | None = "department", departments=None) -> dict:
    """The same counters summed from the daily rollups: ``DailyUnitStat`` (group by
    department, day or nothing), or ``DailyCategoryStat`` (group by category)."""
    if group_by == "category":
        if departments is not None:
            raise ValueError("the category rollups are not kept per unit")
        rows = DailyCategoryStat.objects.filter(day__gte=period.start, day__lte=period.end)
    else:
        rows = DailyUnitStat.objects.filter(day__gte=period.start, day__lte=period.end)
    if departments is not None:
        rows = rows.filter(department_id__in=departments)
    sums = {name: Sum(name) for name in COUNTER_NAMES}
    result: dict = {}
    if group_by in ("department", "day", "category"):
        key = {"department": "department_id", "day": "day", "category": "category_id"}[group_by]
        for row in rows.values(key).annotate(**sums).order_by():
            result[row[key]] = Counters(**{n: row[n] or 0 for n in COUNTER_NAMES})
    else:
        row = rows.aggregate(**sums)
        result[None] = Counters(**{n: row[n] or 0 for n in COUNTER_NAMES})
    return result


def subtree_totals(per_department: dict, departments) -> dict:
    """Counters of each unit including every unit below it (a street with its
    communities, a district with everything in it)."""
    paths = dict(Department.objects.values_list("pk", "path"))
    totals = {}
    for dept in departments:
        total = Counters()
        for pk, counters in per_department.items():
            if pk is not None and paths.get(pk, "").startswith(dept.path):
                total.add(counters)
        totals[dept.pk] = total
    return totals
