"""Scheduled reports: 日小结 (daily), 周通报 (weekly), 月评比 (monthly), 年考核 (yearly).

A report is computed once, when issued, and stored as data: a later change to a
ticket, a callback or a unit never alters it. Building the same report again
returns the stored one."""

import logging
from dataclasses import dataclass
from datetime import date, timedelta

from django.conf import settings
from django.core.mail import EmailMessage
from django.db import IntegrityError, transaction
from django.db.models import Count
from django.utils import translation
from django.utils.translation import gettext as _

from cases import clock
from cases.archive import archive_guard
from cases.models import Category, Channel, Notification, Ticket, TicketState
from cases.notifications.inbox import notifications_create
from config.replicas import replica_reads
from departments.models import Department

from .accuracy import accuracy_data
from .axes import category_rows
from .excel import report_workbook
from .hotspots import hotspots
from .metrics import Counters, Period, counters_from_rollups, rank_eligible, ranking_counters, rates
from .models import Report, ReportSubscription
from .rollups import dispatch_counts_rolled, rollups_refresh
from .supervision import SupervisionCounts, supervision_counts

logger = logging.getLogger(__name__)
S = TicketState
K = Report.Kind

PERIODS = {K.DAILY: Period.day, K.WEEKLY: Period.week, K.MONTHLY: Period.month, K.YEARLY: Period.year}
#: What units are ranked by, per report kind (the daily summary does not rank).
RANKED_BY = {K.WEEKLY: "on_time", K.MONTHLY: "composite", K.YEARLY: "composite"}


def last_complete_period(kind: str, today: date) -> Period:
    """The period a report issued ``today`` covers: yesterday, last week, last
    month, last year."""
    if kind == K.DAILY:
        return Period.day(today - timedelta(days=1))
    if kind == K.WEEKLY:
        return Period.week(today - timedelta(days=7))
    if kind == K.MONTHLY:
        return Period.month(today.replace(day=1) - timedelta(days=1))
    return Period.year(date(today.year - 1, 1, 1))


def report_shown_title(report) -> str:
    """A stored report's title in the reader's language: rebuilt from its kind and
    period at read time (``Report.title`` keeps the site language it was issued in)."""
    return report_title(report.kind, Period(report.period_start, report.period_end))


def report_title(kind: str, period: Period) -> str:
    if kind == K.DAILY:
        return _("日小结（%(day)s）") % {"day": period.start.isoformat()}
    if kind == K.WEEKLY:
        return _("周通报（%(start)s 至 %(end)s）") % {"start": period.start.isoformat(), "end": period.end.isoformat()}
    if kind == K.MONTHLY:
        return _("月评比（%(year)d年%(month)d月）") % {"year": period.start.year, "month": period.start.month}
    return _("年考核（%(year)d年）") % {"year": period.start.year}


def _round(value, digits=4):
    return round(value, digits) if isinstance(value, float) else value


def _rates(counters) -> dict:
    return {name: _round(value) for name, value in rates(counters).items()}


@dataclass
class ReportCounters:
    """What a report counts, summed from the daily rollups: per unit (and the same
    without the tickets rankings leave out), per category, and 派单准确率's counts
    per dispatcher, dispatching unit and category."""

    units: dict
    ranking: dict
    categories: dict
    dispatches: dict


def report_counters(period: Period) -> ReportCounters:
    """The period's counters from the rollups, after ``rollups_refresh`` made its days
    equal the record. Read where they were written (the primary: a replica may not
    have replayed the days just rebuilt), the ranking's subtraction too. A period
    before the archive's boundary is refused, as the live counters refuse it."""
    archive_guard(period.bounds[0])
    rollups_refresh(period)
    units = counters_from_rollups(period, group_by="department")
    return ReportCounters(
        units=units,
        ranking=ranking_counters(period, units),
        categories=counters_from_rollups(period, group_by="category"),
        dispatches=dispatch_counts_rolled(period),
    )


def report_data(kind: str, period: Period, now=None, *, counted: ReportCounters | None = None) -> dict:
    """The report's content. Its counters come from ``counted`` (default: read now,
    by ``report_counters``); everything else is read here."""
    now = now or clock.now()
    cfg = settings.HOTLINE_METRICS
    counted = counted or report_counters(period)
    per_unit = counted.units
    totals = Counters()
    for counters in per_unit.values():  # the same rows, grouped: their sum is the total
        totals.add(counters)
    units = Department.objects.in_bulk([pk for pk in per_unit if pk is not None])
    rows = []
    for pk, counters in per_unit.items():
        if pk is None or pk not in units:
            continue
        unit = units[pk]
        rows.append(
            {
                "id": pk,
                "name": unit.name,
                "kind": unit.get_kind_display(),
                "counters": counters.as_dict(),
                "rates": _rates(counters),
                "volume": counters.dispatched + counters.due + counters.cb_valid,
            }
        )
    metric = RANKED_BY.get(kind)
    ranked = []
    if metric:
        # ranked on ``ranking_counters`` (without running themes' tickets when the setting says so)
        ranking = counted.ranking
        for row in rows:
            row["ranking_rates"] = _rates(ranking[row["id"]])
        eligible = [r for r in rows if rank_eligible(ranking[r["id"]]) and r["ranking_rates"][metric] is not None]
        ranked = sorted(eligible, key=lambda r: (-r["ranking_rates"][metric], r["name"]))
        for position, row in enumerate(ranked, start=1):
            row["rank"] = position
    rows.sort(key=lambda r: (r.get("rank") or 10**6, r["name"]))
    size = cfg["red_black_size"]
    red = ranked[:size]
    black = list(reversed(ranked[-size:])) if len(ranked) > size else []
    start, end = period.bounds
    overdue = (
        Ticket.objects.overdue_resolve(min(end, now))
        .select_related("category", "lead_department")
        .order_by("resolve_due_at")[:50]
    )
    received = Ticket.objects.exclude(state=S.INVALID).filter(received_at__gte=start, received_at__lt=end)

    by_category = dict(received.values_list("category_id").annotate(n=Count("pk")).values_list("category_id", "n"))
    categories = Category.objects.select_related("parent__parent").in_bulk(list(by_category))
    by_channel = dict(received.values_list("channel").annotate(n=Count("pk")).values_list("channel", "n"))
    watched = supervision_counts(period, group_by="department")
    watched_total = SupervisionCounts()
    for counts in watched.values():
        watched_total.add(counts)
    watched_units = Department.objects.in_bulk([pk for pk in watched if pk is not None])
    return {
        "kind": kind,
        "period": {"start": period.start.isoformat(), "end": period.end.isoformat()},
        "generated_at": clock.local_time(now).isoformat(),
        "ranking_metric": metric,
        "totals": {"counters": totals.as_dict(), "rates": _rates(totals)},
        "units": rows,
        "ranking_excludes_themes": bool(metric) and settings.HOTLINE_THEME_EXCLUDE_FROM_RANKING,
        "red_list": [{"rank": r["rank"], "name": r["name"], "value": r["ranking_rates"][metric]} for r in red],
        "black_list": [{"rank": r["rank"], "name": r["name"], "value": r["ranking_rates"][metric]} for r in black],
        "overdue": [
            {
                "number": t.number,
                "category": t.category.full_name,
                "unit": t.lead_department.name if t.lead_department else "",
                "due": clock.local_stamp(t.resolve_due_at),
                "overdue_hours": round((now - t.resolve_due_at).total_seconds() / 3600, 1),
            }
            for t in overdue
        ],
        "categories": [
            {"name": categories[pk].full_name, "count": n}
            for pk, n in sorted(by_category.items(), key=lambda kv: -kv[1])[:10]
            if pk in categories
        ],
        "channels": [
            {"name": str(Channel(code).label), "count": n}
            for code, n in sorted(by_channel.items(), key=lambda kv: -kv[1])
        ],
        "hotspots": hotspots(period, limit=10),
        # every category with its subcategories rolled up, in tree order
        "category_rates": [
            {"name": row.name, "level": row.level, "counters": row.counters.as_dict(), "rates": _rates(row.counters)}
            for row in sorted(category_rows(counted.categories), key=lambda r: r.order)
        ],
        # 派单准确率 per dispatcher, dispatching unit and category (reports.accuracy)
        "dispatch_accuracy": accuracy_data(period, counted=counted.dispatches),
        "supervision": {
            "totals": watched_total.as_dict(),
            "units": sorted(
                (
                    {"name": watched_units[pk].name, **counts.as_dict()}
                    for pk, counts in watched.items()
                    if pk in watched_units
                ),
                key=lambda r: (-r["urges"], -r["escalated"], r["name"]),
            ),
        },
    }


def report_build(kind: str, *, day: date | None = None, now=None) -> tuple[Report, bool]:
    """Issue the report for the period containing ``day`` (default: the last
    complete period). An issued report is returned as it is, never rebuilt."""
    now = now or clock.now()
    period = PERIODS[kind](day) if day else last_complete_period(kind, clock.local_day(now))
    existing = Report.objects.filter(kind=kind, period_start=period.start).first()
    if existing is not None:
        return existing, False
    with translation.override(settings.LANGUAGE_CODE):  # stored in the site's language
        counted = report_counters(period)  # on the primary, where the rollups were just made current
        with replica_reads():
            data = report_data(kind, period, now, counted=counted)
        title = report_title(kind, period)
    try:
        with transaction.atomic():
            report = Report.objects.create(
                kind=kind,
                period_start=period.start,
                period_end=period.end,
                title=title,
                issued_at=now,
                data=data,
            )
    except IntegrityError:  # issued by another worker a moment ago
        return Report.objects.get(kind=kind, period_start=period.start), False
    transaction.on_commit(lambda: report_send(report.pk))
    return report, True


def report_send(report_id: int) -> int:
    """Inbox message, and e-mail with the Excel file, to each subscriber."""
    report = Report.objects.get(pk=report_id)
    subscribers = [s.user for s in ReportSubscription.objects.filter(kind=report.kind).select_related("user")]
    if not subscribers:
        return 0
    totals = report.data["totals"]["rates"]

    def pct(value):
        return "—" if value is None else f"{value * 100:.1f}%"

    body = _("响应率 %(r)s，解决率 %(s)s，满意率 %(t)s，按期办结率 %(o)s。") % {
        "r": pct(totals["response"]),
        "s": pct(totals["resolution"]),
        "t": pct(totals["satisfaction"]),
        "o": pct(totals["on_time"]),
    }
    notifications_create(
        [{"recipient": u, "title": report.title, "body": body, "kind": Notification.Kind.REPORT} for u in subscribers]
    )
    workbook = report_workbook(report)
    sent = 0
    for user in subscribers:
        if not user.email:
            continue
        message = EmailMessage(report.title, body, None, [user.email])
        message.attach(
            f"{report.title}.xlsx", workbook, "application/vnd.openxmlformats-officedocument.spreadsheetml.sheet"
        )
        try:
            message.send()
            sent += 1
        except Exception:  # one bad address must not stop the others
            logger.exception("could not e-mail report %s to %s", report.pk, user.email)
    return sent
