"""Every rate of DESIGN §6, in one place.

Rates are computed from counters, and every counter belongs to the day of its own
event (the README writes each formula out):

- received: tickets received (not invalid), by received_at;
- dispatch: tickets first dispatched (not invalid, not merged) — signed and
  contacted in time, returned, extended — by first_dispatched_at;
- due: tickets whose resolve deadline falls in the period (not invalid, not
  merged) — closed, closed on time; still open ones count as late — by
  resolve_due_at;
- closure: tickets closed (not merged, not invalid) — count, hours from first
  dispatch to close — by closed_at;
- callback: valid callbacks (done, not overruled, ticket not invalid), by
  completed_at.

Counters can be read live (indexed aggregates over tickets and callbacks) or from
the daily rollups (``DailyUnitStat``); both give the same numbers."""

from dataclasses import dataclass, fields
from datetime import date, datetime, timedelta

from django.conf import settings
from django.db.models import Count, DurationField, ExpressionWrapper, F, Q, Sum
from django.db.models.functions import TruncDate
from django.utils import timezone

from cases import clock
from cases.models import Callback, Ticket, TicketState
from departments.models import Department

from .models import DailyUnitStat

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

    def add(self, other: "Counters") -> "Counters":
        for f in fields(self):
            setattr(self, f.name, getattr(self, f.name) + getattr(other, f.name))
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
        response = _ratio(c.contacted_on_time, c.dispatched)
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

#: Ticket fields to group by; callbacks reach them through their ticket.
GROUPS = {
    "department": "lead_department_id",
    "district": "district_id",
    "street": "street_id",
    "community": "community_id",
    "grid": "grid_id",
    "category": "category_id",
    "channel": "channel",
}


def _group_fields(group_by, date_field, prefix=""):
    names = []
    annotations = {}
    if group_by == "day":
        annotations["key_day"] = TruncDate(date_field, tzinfo=timezone.get_default_timezone())
        names.append("key_day")
    elif group_by:
        names.append(prefix + GROUPS[group_by])
    return names, annotations


def _key(row, group_by, prefix=""):
    if group_by == "day":
        return row["key_day"]
    if group_by:
        return row[prefix + GROUPS[group_by]]
    return None


def _collect(result, qs, date_field, group_by, aggregates, prefix=""):
    names, annotations = _group_fields(group_by, date_field, prefix)
    if annotations:
        qs = qs.annotate(**annotations)
    rows = qs.values(*names).annotate(**aggregates) if names else [qs.aggregate(**aggregates)]
    for row in rows:
        counters = result.setdefault(_key(row, group_by, prefix), Counters())
        for name in aggregates:
            value = row[name] or 0
            if isinstance(value, timedelta):
                value = value.total_seconds() / 3600
            setattr(counters, name, getattr(counters, name) + value)


def counters_live(period: Period, *, group_by: str | None = None, tickets=None, callbacks=None) -> dict:
    """Counters per group key (``None`` for the total) read straight from tickets
    and callbacks — five grouped aggregate queries, whatever the size."""
    start, end = period.bounds
    tickets = tickets if tickets is not None else Ticket.objects.all()
    callbacks = callbacks if callbacks is not None else Callback.objects.all()
    valid = tickets.exclude(state=S.INVALID)
    counted = valid.exclude(state=S.MERGED)
    result: dict = {}
    _collect(
        result,
        valid.filter(received_at__gte=start, received_at__lt=end),
        "received_at",
        group_by,
        {"received": Count("pk")},
    )
    _collect(
        result,
        counted.filter(first_dispatched_at__gte=start, first_dispatched_at__lt=end),
        "first_dispatched_at",
        group_by,
        {
            "dispatched": Count("pk"),
            "sign_clocked": Count("pk", filter=Q(sign_due_at__isnull=False)),
            "signed_on_time": Count("pk", filter=Q(signed_at__lte=F("sign_due_at"))),
            "contact_clocked": Count("pk", filter=Q(contact_due_at__isnull=False)),
            "contacted_on_time": Count("pk", filter=Q(first_contact_at__lte=F("contact_due_at"))),
            "returned": Count("pk", filter=Q(return_count__gt=0)),
            "extended": Count("pk", filter=Q(extension_count__gt=0)),
        },
    )
    _collect(
        result,
        counted.filter(resolve_due_at__gte=start, resolve_due_at__lt=end),
        "resolve_due_at",
        group_by,
        {
            "due": Count("pk"),
            "due_closed": Count("pk", filter=Q(state=S.CLOSED)),
            "due_closed_on_time": Count("pk", filter=Q(state=S.CLOSED, closed_at__lte=F("resolve_due_at"))),
        },
    )
    _collect(
        result,
        counted.filter(state=S.CLOSED, closed_at__gte=start, closed_at__lt=end),
        "closed_at",
        group_by,
        {
            "closed": Count("pk"),
            "handled": Count("pk", filter=Q(first_dispatched_at__isnull=False)),
            "handling_hours": Sum(
                ExpressionWrapper(F("closed_at") - F("first_dispatched_at"), output_field=DurationField()),
                filter=Q(first_dispatched_at__isnull=False),
            ),
        },
    )
    valid_callbacks = callbacks.filter(
        status=Callback.Status.DONE, overruled_at__isnull=True, completed_at__gte=start, completed_at__lt=end
    ).exclude(ticket__state=S.INVALID)
    _collect(
        result,
        valid_callbacks,
        "completed_at",
        group_by,
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
        prefix="ticket__",
    )
    if group_by is None:
        result.setdefault(None, Counters())
    return result


# -- rollups --------------------------------------------------------------------------------


def counters_from_rollups(period: Period, *, group_by: str | None = "department", departments=None) -> dict:
    """The same counters summed from ``DailyUnitStat`` (group by department, day or
    nothing)."""
    rows = DailyUnitStat.objects.filter(day__gte=period.start, day__lte=period.end)
    if departments is not None:
        rows = rows.filter(department_id__in=departments)
    sums = {name: Sum(name) for name in COUNTER_NAMES}
    result: dict = {}
    if group_by in ("department", "day"):
        key = "department_id" if group_by == "department" else "day"
        for row in rows.values(key).annotate(**sums):
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
