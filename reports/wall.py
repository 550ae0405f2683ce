"""The wall screen (大屏): what one refresh shows, in one JSON answer.

Whose numbers: a centre (``cases.selectors.scope.wall_centre``) — the whole city
for the hotline centre, a sub-centre's subtree for a sub-centre. Every number is
an existing definition:

- today's counters (the local day of ``cases.clock``): received, dispatched,
  signed (``sign_clocked``: signs of today's dispatches), closed and callbacks
  (``cb_valid``) are ``reports.metrics.counters_live``'s; overdue is the 全市超期
  queue's red (``overdue_any_clock_q``) now — summed over the map's districts
  (``reports.placemap``), so the map and the counters are one reading;
- units in the red: the most overdue units now (the dashboard's 超期工单（按单位）:
  ``overdue_any_clock`` by lead unit), then the dashboard's ranking
  (``rank_eligible``, 综合得分 within each kind of unit, from the daily rollups of
  the last 30 days), worst first — ``red_black_size`` of each;
- spikes: the ``Spike`` rows of the last 7 days, newest first.

No personal data: units, places, categories and counts only.
Statements per refresh: ``counters_live`` (11), open/overdue (1), spikes on the
map (1), overdue by unit (1), rollups (1), the spike list (1); names from the
cached reference data."""

from datetime import timedelta

from django.conf import settings
from django.db.models import Count
from django.utils.translation import gettext as _

from cases import clock
from cases.models import Ticket
from cases.reference import units as reference_units
from cases.selectors.scope import Centre, centre_ticket_scope

from .dashboard import ranking_panels
from .metrics import Period, counters_from_rollups, rank_eligible, rates
from .models import Spike
from .placemap import map_payload, place_numbers, totals

#: The wall's ranking window and the spike list's, in days.
RANKING_DAYS = 30
SPIKE_DAYS = 7


def wall_data(centre: Centre, *, now=None) -> dict:
    now = now or clock.now()
    today = clock.local_day(now)
    tickets = None if centre.citywide else centre_ticket_scope(Ticket.objects.all(), centre)
    spike_units = centre.unit_ids
    by_district = place_numbers("district", Period.day(today), tickets=tickets, spike_units=spike_units, now=now)
    total = totals(by_district)
    c = total.counters
    counters = [
        {"key": "received", "label": _("今日受理"), "value": c.received},
        {"key": "dispatched", "label": _("今日派单"), "value": c.dispatched},
        {"key": "signed", "label": _("今日签收"), "value": c.sign_clocked},
        {"key": "overdue", "label": _("当前超期"), "value": total.overdue},
        {"key": "closed", "label": _("今日办结"), "value": c.closed},
        {"key": "callbacks", "label": _("今日回访"), "value": c.cb_valid},
    ]
    # -- units in the red: the most overdue now, then the dashboard's ranking, worst first in each kind
    size = settings.HOTLINE_METRICS["red_black_size"]
    units = reference_units()
    overdue_units = (
        (tickets if tickets is not None else Ticket.objects.all())
        .overdue_any_clock(now)
        .filter(lead_department__isnull=False)
        .values_list("lead_department_id")
        .annotate(n=Count("pk"))
        .order_by("-n", "lead_department_id")[:size]
    )
    red = [
        {
            "kind": _("当前超期最多"),
            "units": [
                {"rank": position, "name": units[pk].name if pk in units else "", "value": n}
                for position, (pk, n) in enumerate(overdue_units, start=1)
            ],
        }
    ]
    window = Period(today - timedelta(days=RANKING_DAYS - 1), today)
    by_unit = counters_from_rollups(window, group_by="department", departments=centre.unit_ids)
    scored = [
        ((units[pk].name, units[pk].kind), rates(counters))
        for pk, counters in by_unit.items()
        if pk in units and rank_eligible(counters)
    ]
    red += [
        {"kind": _("%(kind)s综合得分最低") % {"kind": panel["label"]}, "units": list(reversed(panel["units"][-size:]))}
        for panel in ranking_panels(scored)
    ]
    red = [block for block in red if block["units"]]
    # -- spikes as they are raised
    spikes = Spike.objects.filter(day__gte=today - timedelta(days=SPIKE_DAYS - 1)).select_related("category")
    if spike_units is not None:
        spikes = spikes.filter(community_id__in=spike_units)
    return {
        "as_of": clock.local_time(now).strftime("%H:%M:%S"),
        "day": today.isoformat(),
        "counters": counters,
        "red_units": red,
        "spikes": [
            {
                "day": s.day.isoformat(),
                "community": units[s.community_id].name if s.community_id in units else "",
                "category": s.category.name,
                "count": s.count,
                "baseline": round(s.baseline, 2),
            }
            for s in spikes.order_by("-created_at", "-pk")[:12]
        ],
        "map": map_payload("district", by_district),
    }
