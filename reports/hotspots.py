"""未诉先办: where demands concentrate (hotspots), where they suddenly jump (spikes),
and the clusters behind a hotspot ("solve the class, not one case")."""

from datetime import date, timedelta

from django.conf import settings
from django.db import transaction
from django.db.models import Count
from django.utils import translation
from django.utils.translation import gettext as _

from cases.models import Category, Cluster, Notification, Ticket, TicketState
from cases.notifications.inbox import notifications_create, staff_by_unit
from departments.models import Department
from departments.roles import Role

from .metrics import Period
from .models import Spike

S = TicketState


def _counts(period: Period, tickets=None) -> dict:
    start, end = period.bounds
    tickets = tickets if tickets is not None else Ticket.objects.all()
    rows = (
        tickets.exclude(state=S.INVALID)
        .filter(received_at__gte=start, received_at__lt=end, community__isnull=False)
        .values_list("community_id", "category_id")
        .annotate(n=Count("pk"))
    )
    return {(community, category): n for community, category, n in rows}


def hotspots(period: Period, *, limit: int = 20, tickets=None) -> list[dict]:
    """Category × community pairs with the most demands, next to the period before."""
    now_counts = _counts(period, tickets)
    before = _counts(period.previous(), tickets)
    top = sorted(now_counts.items(), key=lambda kv: (-kv[1], kv[0]))[:limit]
    communities = Department.objects.in_bulk({c for (c, _), _n in top})
    categories = Category.objects.select_related("parent__parent").in_bulk({k for (_, k), _n in top})
    rows = []
    for (community, category), n in top:
        previous = before.get((community, category), 0)
        rows.append(
            {
                "community_id": community,
                "community": communities[community].name,
                "category_id": category,
                "category": categories[category].full_name,
                "count": n,
                "previous": previous,
                "change": (n - previous) / previous if previous else None,
            }
        )
    return rows


def spikes_detect(day: date) -> list[Spike]:
    """Category-in-community counts on ``day`` far above their own trailing daily
    mean; each raised once to the street office's inbox."""
    trailing = settings.HOTLINE_SPIKE_TRAILING_DAYS
    today_counts = _counts(Period.day(day))
    history = _counts(Period(day - timedelta(days=trailing), day - timedelta(days=1)))
    found = []
    for (community, category), n in today_counts.items():
        baseline = history.get((community, category), 0) / trailing
        if n >= settings.HOTLINE_SPIKE_MIN and n >= settings.HOTLINE_SPIKE_FACTOR * max(baseline, 1 / trailing):
            found.append((community, category, n, baseline))
    created = []
    for community, category, n, baseline in found:
        with transaction.atomic():
            spike, new = Spike.objects.get_or_create(
                day=day, community_id=community, category_id=category, defaults={"count": n, "baseline": baseline}
            )
            if new:
                with translation.override(settings.LANGUAGE_CODE):
                    _notify(spike)
                created.append(spike)
            elif spike.count != n:
                spike.count = n
                spike.save(update_fields=["count"])
    return created


def _notify(spike: Spike) -> None:
    community = Department.objects.select_related("parent").get(pk=spike.community_id)
    street = community.parent
    category = Category.objects.get(pk=spike.category_id)
    units = [community.pk] + ([street.pk] if street else [])
    staff = staff_by_unit(units, [Role.HANDLER, Role.UNIT_HEAD])
    people = {u.pk: u for users in staff.values() for u in users}
    title = _("【突增预警】%(community)s“%(category)s”诉求当日 %(n)d 件，远超前期日均 %(avg).1f 件") % {
        "community": community.name,
        "category": category.name,
        "n": spike.count,
        "avg": spike.baseline,
    }
    body = _("请街道、社区提前研判，未诉先办。")
    notifications_create(
        [{"recipient": u, "title": title, "body": body, "kind": Notification.Kind.REPORT} for u in people.values()]
    )


def clusters_behind(community_id: int, category_id: int):
    """The clusters (repeat callers, mass complaints) in a hotspot cell."""
    category = Category.objects.get(pk=category_id)
    return (
        Cluster.objects.filter(community_id=community_id, category__path__startswith=category.path)
        .select_related("category", "community")
        .order_by("-last_at")
    )
