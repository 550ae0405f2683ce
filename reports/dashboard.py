"""The leaders' and supervisors' dashboard: the data behind every chart, in one
JSON answer. Counter-based charts read the daily rollups; the rest are grouped,
indexed aggregates over the period's tickets — never a scan per chart."""

from datetime import date, timedelta

from django.conf import settings
from django.db.models import Count
from django.utils import timezone
from django.utils.translation import gettext as _

from cases import clock
from cases.models import Callback, Category, Channel, Ticket, TicketState
from departments.models import Department

from .hotspots import hotspots
from .metrics import Counters, Period, counters_from_rollups, counters_live, rank_eligible, ranking_counters, rates
from .models import Spike
from .supervision import SupervisionCounts, supervision_counts

S = TicketState


def period_from(params, today: date | None = None) -> Period:
    today = today or clock.local_day()
    choice = params.get("period", "30")
    if choice == "month":
        return Period(today.replace(day=1), today)
    if choice == "custom":
        try:
            start = date.fromisoformat(params.get("from", ""))
            end = date.fromisoformat(params.get("to", ""))
        except ValueError:
            return Period(today - timedelta(days=29), today)
        if end < start:
            start, end = end, start
        return Period(start, min(end, start + timedelta(days=366)))
    days = {"7": 7, "30": 30, "90": 90, "365": 365}.get(choice, 30)
    return Period(today - timedelta(days=days - 1), today)


def territory_from(params):
    try:
        pk = int(params.get("territory") or 0)
    except ValueError:
        return None
    return Department.objects.filter(pk=pk, kind__in=[Department.Kind.DISTRICT, Department.Kind.STREET]).first()


def _pct(value):
    return None if value is None else round(value * 100, 1)


#: The order of the ranking's panels: one kind of unit is ranked against its own kind.
RANKED_KINDS = [
    Department.Kind.STREET,
    Department.Kind.COMMUNITY,
    Department.Kind.BUREAU,
    Department.Kind.COMPANY,
    Department.Kind.DISTRICT,
]


def ranking_panels(scored) -> list[dict]:
    """综合得分 ranked within each kind of unit (streets with streets, bureaus with
    bureaus): a street and a bureau answer different calls and are not compared."""
    by_kind: dict = {}
    for (name, kind), r in scored:
        if r["composite"] is not None:
            by_kind.setdefault(kind, []).append((r["composite"], name))
    order = [*RANKED_KINDS, *sorted(set(by_kind) - set(RANKED_KINDS))]
    panels = []
    for kind in order:
        if kind not in by_kind:
            continue
        ranked = sorted(by_kind[kind], key=lambda sn: (-sn[0], sn[1]))
        panels.append(
            {
                "kind": kind,
                "label": str(Department.Kind(kind).label),
                "units": [
                    {"rank": position, "name": name, "value": _pct(score)}
                    for position, (score, name) in enumerate(ranked, start=1)
                ],
            }
        )
    return panels


def dashboard_data(period: Period, territory: Department | None = None) -> dict:
    """Every chart of the period. With a territory, every number — tiles, trends,
    rankings, charts, supervision — counts the tickets located in it (its
    district or street), whichever unit handles them."""
    start, end = period.bounds
    tickets = Ticket.objects.exclude(state=S.INVALID)
    located = None
    if territory is not None:
        field = "district" if territory.kind == Department.Kind.DISTRICT else "street"
        tickets = tickets.filter(**{field: territory})
        located = Ticket.objects.filter(**{field: territory})
    received = tickets.filter(received_at__gte=start, received_at__lt=end)

    # -- counters: the daily rollups for the city, live aggregates over a territory's tickets
    if located is None:
        by_day = counters_from_rollups(period, group_by="day")
        by_unit = counters_from_rollups(period, group_by="department")
    else:
        located_callbacks = Callback.objects.filter(ticket__in=located)
        by_day = counters_live(period, group_by="day", tickets=located, callbacks=located_callbacks)
        by_unit = counters_live(period, group_by="department", tickets=located, callbacks=located_callbacks)
    total = Counters()
    for counters in by_day.values():
        total.add(counters)
    days = [period.start + timedelta(days=i) for i in range(period.days)]
    weekly = period.days > 62
    buckets: dict = {}
    for day in days:
        key = day - timedelta(days=day.weekday()) if weekly else day
        buckets.setdefault(key, Counters()).add(by_day.get(day, Counters()))
    now = clock.now()
    as_of = timezone.localtime(now, timezone.get_default_timezone()).strftime("%H:%M")
    # a bucket is complete once its last day in the period is over (the clock's rule)
    last_days = [min(k + timedelta(days=6), period.end) if weekly else k for k in buckets]
    rate_trend = {
        "labels": [k.isoformat() for k in buckets],
        "complete": [clock.day_complete(day, now) for day in last_days],
        "response": [_pct(rates(c)["response"]) for c in buckets.values()],
        "resolution": [_pct(rates(c)["resolution"]) for c in buckets.values()],
        "satisfaction": [_pct(rates(c)["satisfaction"]) for c in buckets.values()],
    }
    watched = supervision_counts(period, group_by="department", tickets=located)
    named = {pk for pk in (*by_unit, *watched) if pk}
    units = {
        pk: (name, kind) for pk, name, kind in Department.objects.filter(pk__in=named).values_list("pk", "name", "kind")
    }
    names = {pk: name for pk, (name, _kind) in units.items()}  # ranking and supervision
    ranking = ranking_counters(period, by_unit, tickets=located)
    scored = [(units[pk], rates(c)) for pk, c in ranking.items() if pk in units and rank_eligible(c)]
    slowest = sorted(
        [(name, r["avg_handling_hours"]) for (name, _kind), r in scored if r["avg_handling_hours"] is not None],
        key=lambda x: -x[1],
    )[:10]
    totals = rates(total)

    # -- indexed aggregates over the period's tickets ------------------------------------------
    channels = received.values_list("channel").annotate(n=Count("pk")).values_list("channel", "n")
    by_category = dict(received.values_list("category_id").annotate(n=Count("pk")).values_list("category_id", "n"))
    tops = {}
    paths = dict(Category.objects.filter(pk__in=list(by_category)).values_list("pk", "path"))
    for pk, n in by_category.items():
        root = int(paths[pk].strip("/").split("/")[0])
        tops[root] = tops.get(root, 0) + n
    top_names = dict(Category.objects.filter(pk__in=list(tops)).values_list("pk", "name"))
    streets = (
        received.filter(street__isnull=False).values_list("street__name").annotate(n=Count("pk")).order_by("-n")[:15]
    )
    overdue = (
        tickets.overdue_any_clock()
        .filter(lead_department__isnull=False)
        .values_list("lead_department__name")
        .annotate(n=Count("pk"))
        .order_by("-n")[:10]
    )
    proactive = received.filter(is_proactive=True).count()
    spikes = Spike.objects.filter(day__gte=period.start, day__lte=period.end).select_related("community", "category")
    if territory is not None:
        spikes = spikes.filter(community__path__startswith=territory.path)
    watched_total = SupervisionCounts()
    for counts in watched.values():
        watched_total.add(counts)
    return {
        "period": {"start": period.start.isoformat(), "end": period.end.isoformat(), "weekly": weekly},
        "territory": territory.name if territory else None,
        "territory_meaning": _("位于%(name)s的工单") % {"name": territory.name} if territory else _("全市工单"),
        "ranking_min_tickets": settings.HOTLINE_METRICS["ranking_min_tickets"],
        # the note on a trend's partial last day (or week)
        "as_of": (_("本周截至%(time)s") if weekly else _("今日截至%(time)s")) % {"time": as_of},
        "kpis": {
            "received": total.received,
            "dispatched": total.dispatched,
            "closed": total.closed,
            "proactive": proactive,
            **{name: _pct(value) for name, value in totals.items() if name != "avg_handling_hours"},
            "avg_handling_hours": None
            if totals["avg_handling_hours"] is None
            else round(totals["avg_handling_hours"], 1),
        },
        "volume": {
            "labels": [d.isoformat() for d in days],
            "values": [by_day.get(d, Counters()).received for d in days],
            "complete": [clock.day_complete(d, now) for d in days],
        },
        "rates": rate_trend,
        "channels": [{"name": str(Channel(code).label), "value": n} for code, n in channels],
        "categories": [
            {"name": top_names.get(pk, "?"), "value": n} for pk, n in sorted(tops.items(), key=lambda kv: -kv[1])[:10]
        ],
        "territories": [{"name": name, "value": n} for name, n in streets],
        "rankings": ranking_panels(scored),
        "overdue_by_unit": [{"name": name, "value": n} for name, n in overdue],
        "handling_time": [{"name": name, "value": round(hours, 1)} for name, hours in slowest],
        "callbacks": {
            "satisfaction": [
                {"name": str(Callback.Satisfaction.SATISFIED.label), "value": total.cb_satisfied},
                {"name": str(Callback.Satisfaction.BASICALLY.label), "value": total.cb_basically},
                {"name": str(Callback.Satisfaction.UNSATISFIED.label), "value": total.cb_unsatisfied},
            ],
            "solved": [
                {"name": str(Callback.Solved.SOLVED.label), "value": total.cb_solved},
                {"name": str(Callback.Solved.PARTLY.label), "value": total.cb_partly},
                {
                    "name": str(Callback.Solved.UNSOLVED.label),
                    "value": max(total.cb_valid - total.cb_solved - total.cb_partly, 0),
                },
            ],
        },
        "completion": {"completion": _pct(totals["completion"]), "on_time": _pct(totals["on_time"])},
        "hotspots": hotspots(period, limit=10, tickets=tickets),
        "supervision": {
            "total": watched_total.as_dict(),
            "units": [
                {"name": names.get(pk, _("（未指定）")), **counts.as_dict()}
                for pk, counts in sorted(watched.items(), key=lambda kv: (-kv[1].urges, -kv[1].escalated))[:15]
            ],
        },
        "spikes": [
            {
                "day": s.day.isoformat(),
                "community": s.community.name,
                "category": s.category.name,
                "count": s.count,
                "baseline": round(s.baseline, 2),
            }
            for s in spikes[:20]
        ],
    }
