"""每月一题 in numbers: a theme's class before and since it started, week by week,
and the monthly theme report. Every count and rate is ``reports.metrics``'s
(``counters_live`` over the theme's linked tickets, ``rates``): 受理量 is
``received``, 响应率 / 解决率 / 满意率 are ``response`` / ``resolution`` /
``satisfaction`` — nothing is defined a second way here."""

from dataclasses import dataclass
from datetime import date, timedelta

from django.conf import settings
from django.db.models import Q

from cases import clock
from cases.labels import choice_label
from cases.models import Callback, Theme, Ticket

from .metrics import Counters, Period, counters_live, rates

THREE_RATES = ("response", "resolution", "satisfaction")


def theme_tickets(theme: Theme, tickets=None):
    """The theme's linked tickets (within ``tickets``, a viewer's scope)."""
    tickets = tickets if tickets is not None else Ticket.objects.all()
    return tickets.filter(theme_links__theme=theme)


def _by_day(period: Period, tickets) -> dict:
    return counters_live(period, group_by="day", tickets=tickets, callbacks=Callback.objects.filter(ticket__in=tickets))


def _sum(by_day: dict, period: Period) -> Counters:
    total = Counters()
    for day, counters in by_day.items():
        if day is not None and period.start <= day <= period.end:
            total.add(counters)
    return total


def _summary(counters: Counters, weeks: float) -> dict:
    r = rates(counters)
    return {
        "received": counters.received,
        "weekly": round(counters.received / weeks, 1) if weeks else None,
        **{name: r[name] for name in THREE_RATES},
    }


@dataclass(frozen=True)
class Halves:
    before: Period
    since: Period | None  # None before the theme has started


def theme_halves(theme: Theme, today: date | None = None) -> Halves:
    """``HOTLINE_THEME_LOOKBACK_WEEKS`` weeks before the start; the start to today
    (or to the end day, if the theme has ended)."""
    today = today or clock.local_day()
    weeks = settings.HOTLINE_THEME_LOOKBACK_WEEKS
    before = Period(theme.started_on - timedelta(weeks=weeks), theme.started_on - timedelta(days=1))
    last = min(today, theme.ended_on) if theme.ended_on else today
    return Halves(before, Period(theme.started_on, last) if last >= theme.started_on else None)


def theme_figures(theme: Theme, *, tickets=None, today: date | None = None) -> dict:
    """Weekly volume and 三率 of the theme's class, in weeks counted from its start
    day (so that no week straddles it), and the totals before and since."""
    halves = theme_halves(theme, today)
    linked = theme_tickets(theme, tickets)
    span = Period(halves.before.start, halves.since.end if halves.since else halves.before.end)
    by_day = _by_day(span, linked)
    weeks = []
    start = span.start
    while start <= span.end:
        week = Period(start, min(start + timedelta(days=6), span.end))
        r = rates(_sum(by_day, week))
        weeks.append(
            {
                "start": week.start.isoformat(),
                "end": week.end.isoformat(),
                "since": week.start >= theme.started_on,
                "received": _sum(by_day, week).received,
                **{name: r[name] for name in THREE_RATES},
            }
        )
        start += timedelta(days=7)
    return {
        "before": {
            "start": halves.before.start.isoformat(),
            "end": halves.before.end.isoformat(),
            **_summary(_sum(by_day, halves.before), halves.before.days / 7),
        },
        "since": (
            {
                "start": halves.since.start.isoformat(),
                "end": halves.since.end.isoformat(),
                **_summary(_sum(by_day, halves.since), halves.since.days / 7),
            }
            if halves.since
            else None
        ),
        "weeks": weeks,
    }


# -- the monthly theme report ---------------------------------------------------------------


def month_parse(text: str, today: date) -> Period:
    """``YYYY-MM`` → that month; empty → the last complete month."""
    if not text:
        return Period.month(today.replace(day=1) - timedelta(days=1))
    try:
        year, month = (int(part) for part in text.split("-"))
        return Period.month(date(year, month, 1))
    except (TypeError, ValueError):
        from django.utils.translation import gettext as _  # noqa: PLC0415

        raise ValueError(_("月份格式应为 YYYY-MM，例如 2026-11。")) from None


def themes_month(period: Period, *, themes, tickets=None, now=None) -> list[dict]:
    """Per theme running in the month: the month's volume and 三率 of its linked
    tickets, and its tasks — done by the month's end, and overdue then (the
    deadline passed by the month's end, or by now within the current month, and
    not done by it)."""
    now = now or clock.now()
    _start, end = period.bounds
    cutoff = min(end, now)
    rows = []
    running = themes.filter(started_on__lte=period.end).filter(Q(ended_on__isnull=True) | Q(ended_on__gte=period.start))
    for theme in running.select_related("lead_department").prefetch_related("tasks").order_by("started_on", "pk"):
        counters = _sum(_by_day(period, theme_tickets(theme, tickets)), period)
        r = rates(counters)
        tasks = list(theme.tasks.all())
        done = [t for t in tasks if t.done_at is not None and t.done_at < cutoff]
        overdue = [t for t in tasks if clock.day_bounds(t.deadline)[1] <= cutoff and t not in done]
        rows.append(
            {
                "id": theme.pk,
                "title": theme.title,
                "lead": theme.lead_department.name,
                "state": choice_label(theme, "state"),
                "received": counters.received,
                **{name: r[name] for name in THREE_RATES},
                "tasks": len(tasks),
                "tasks_done": len(done),
                "tasks_overdue": len(overdue),
            }
        )
    return rows
