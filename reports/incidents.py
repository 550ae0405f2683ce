"""Declared incidents in 统计分析: how many calls each took and how long it lasted.

Defined here once: an incident belongs to a period when it was *declared* within
it (``Incident.declared_at``, local days); its **volume** is the calls linked to it
(``IncidentLink`` rows: answered with the notice or merged into its master, at any
time); its **duration** is declared → closed (``closed_at - declared_at``) in hours,
none while it is open. The totals add the rows; the mean duration is over the
closed incidents only."""

from dataclasses import dataclass

from django.db.models import Count, Q

from cases.models import Incident, IncidentLink
from cases.selectors.scope import incident_scope

from .metrics import Period


@dataclass(frozen=True)
class IncidentRow:
    pk: int
    kind: str
    title: str
    declared_by: str
    declared_at: object
    closed_at: object
    calls: int
    answered: int
    merged: int

    @property
    def hours(self) -> float | None:
        if self.closed_at is None:
            return None
        return round((self.closed_at - self.declared_at).total_seconds() / 3600, 1)


@dataclass(frozen=True)
class IncidentTable:
    rows: list

    @property
    def calls(self) -> int:
        return sum(r.calls for r in self.rows)

    @property
    def closed(self) -> int:
        return sum(1 for r in self.rows if r.closed_at is not None)

    @property
    def mean_hours(self) -> float | None:
        hours = [r.hours for r in self.rows if r.hours is not None]
        return round(sum(hours) / len(hours), 1) if hours else None


def incident_table(period: Period, *, user) -> IncidentTable:
    """The incidents ``user`` sees (``incident_scope``) declared in ``period``."""
    start, end = period.bounds
    rows = (
        incident_scope(Incident.objects.all(), user)
        .filter(declared_at__gte=start, declared_at__lt=end)
        .annotate(
            calls_n=Count("links", distinct=True),
            answered_n=Count("links", filter=Q(links__mode=IncidentLink.Mode.ANSWERED), distinct=True),
        )
        .select_related("declared_by")
        .order_by("declared_at", "pk")
    )
    return IncidentTable(
        rows=[
            IncidentRow(
                pk=i.pk,
                kind=i.get_kind_display(),
                title=i.title,
                declared_by=i.declared_by.name,
                declared_at=i.declared_at,
                closed_at=i.closed_at,
                calls=i.calls_n,
                answered=i.answered_n,
                merged=i.calls_n - i.answered_n,
            )
            for i in rows
        ]
    )
