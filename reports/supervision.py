"""Supervision statistics (督办统计): urges by kind and whether the unit
acknowledged them, interviews (约谈), escalations (提级督办) and head sign-offs
(负责人签批), per unit and period.

Each number belongs to the day of its own event and to one unit:

- urges (``Urge``), by ``issued_at``, to the urged unit (``Urge.department``,
  fixed when the urge is issued); "acknowledged" means acknowledged by now;
  interviews are the urges of kind 约谈;
- escalations (``ESCALATED`` events), by the event's time, to the ticket's lead
  unit;
- head sign-offs (``HEAD_SIGNED`` events), by the event's time, to the unit of
  the head who signed (``actor_department``).

The reports, the dashboard and the 统计分析 page read :func:`supervision_counts`."""

from dataclasses import dataclass, fields

from django.db.models import Count, Q
from django.utils.translation import gettext_lazy

from cases.archive import archive_guard
from cases.models import TicketEvent, Urge

from .metrics import Period


@dataclass
class SupervisionCounts:
    urges: int = 0
    phone: int = 0
    written: int = 0
    onsite: int = 0
    interview: int = 0
    acknowledged: int = 0
    unacknowledged: int = 0
    escalated: int = 0
    head_signed: int = 0

    def add(self, other: "SupervisionCounts") -> "SupervisionCounts":
        for f in fields(self):
            setattr(self, f.name, getattr(self, f.name) + getattr(other, f.name))
        return self

    def as_dict(self) -> dict:
        return {f.name: getattr(self, f.name) for f in fields(self)}


SUPERVISION_LABELS = {
    "urges": gettext_lazy("催办合计"),
    "phone": gettext_lazy("电话催办"),
    "written": gettext_lazy("催办通知书"),
    "onsite": gettext_lazy("现场督办"),
    "interview": gettext_lazy("约谈"),
    "acknowledged": gettext_lazy("催办已签收"),
    "unacknowledged": gettext_lazy("催办未签收"),
    "escalated": gettext_lazy("提级督办"),
    "head_signed": gettext_lazy("负责人签批"),
}
SUPERVISION_GROUPS = ("department",)
ERR_GROUP = "supervision counts group by department or nothing"


def supervision_counts(period: Period, *, group_by: str | None = "department", units=None, tickets=None) -> dict:
    """Counts per unit id (``group_by="department"``) or ``{None: total}``;
    ``units`` (ids) keeps only those units, ``tickets`` (a queryset) only the
    urges and events of those tickets. Two grouped queries."""
    if group_by not in (None, *SUPERVISION_GROUPS):
        raise ValueError(ERR_GROUP)
    start, end = period.bounds
    archive_guard(start)  # the events of archived years are not live (cases.archive)
    result: dict = {}

    def bucket(key):
        return result.setdefault(key if group_by else None, SupervisionCounts())

    urges = Urge.objects.filter(issued_at__gte=start, issued_at__lt=end)
    events = TicketEvent.objects.filter(
        created_at__gte=start, created_at__lt=end, kind__in=[TicketEvent.Kind.ESCALATED, TicketEvent.Kind.HEAD_SIGNED]
    )
    if tickets is not None:
        urges, events = urges.filter(ticket__in=tickets), events.filter(ticket__in=tickets)
    if units is not None:
        urges = urges.filter(department_id__in=units)
    kinds = {kind: Count("pk", filter=Q(kind=kind)) for kind in Urge.Kind.values}
    for row in urges.values("department_id").annotate(
        n=Count("pk"), acked=Count("pk", filter=Q(acknowledged_at__isnull=False)), **kinds
    ):
        counts = bucket(row["department_id"])
        counts.urges += row["n"]
        counts.acknowledged += row["acked"]
        counts.unacknowledged += row["n"] - row["acked"]
        for kind in Urge.Kind.values:
            setattr(counts, kind, getattr(counts, kind) + row[kind])
    # escalations and sign-offs in one grouped query: each keeps the unit it belongs to
    grouped = events.values_list("kind", "ticket__lead_department_id", "actor_department_id").annotate(n=Count("pk"))
    for kind, lead, actor_unit, n in grouped:
        unit = lead if kind == TicketEvent.Kind.ESCALATED else actor_unit
        if units is not None and unit not in units:
            continue
        if kind == TicketEvent.Kind.ESCALATED:
            bucket(unit).escalated += n
        else:
            bucket(unit).head_signed += n
    if group_by is None:
        result.setdefault(None, SupervisionCounts())
    return result
