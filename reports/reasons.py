"""退回重办 and 退单 reasons per unit for a period: how often each unit's replies
were sent back and for which coded reason, and how often each unit asked to return
a ticket and why. Counted from the facts the verbs fixed on the events (``unit``
and ``reason_code`` of ``rework`` and ``return_requested``), dated by the event."""

from dataclasses import dataclass, field

from django.db.models import Count
from django.utils.translation import gettext_lazy as _

from cases.archive import archive_guard
from cases.models import ReasonCode, TicketEvent, TicketState
from departments.models import Department

from .metrics import Period

#: The event each kind of reason is counted on.
REASON_EVENTS = {
    ReasonCode.Kind.REWORK: TicketEvent.Kind.REWORK,
    ReasonCode.Kind.RETURN: TicketEvent.Kind.RETURN_REQUESTED,
}
UNCODED = _("未注明")


@dataclass
class ReasonRow:
    unit_id: int | None
    name: str
    counts: dict = field(default_factory=dict)  # (reason kind, code id or None) → count
    cells: list = field(default_factory=list)  # the counts in the table's column order

    def total(self, kind) -> int:
        return sum(n for (k, _code), n in self.counts.items() if k == kind)


@dataclass
class ReasonTable:
    columns: dict  # reason kind → [(code id or None, label)]
    rows: list

    def cells(self, row: ReasonRow) -> list[int]:
        return [
            value
            for kind, codes in self.columns.items()
            for value in [*(row.counts.get((kind, code), 0) for code, _label in codes), row.total(kind)]
        ]


def reason_counts(period: Period, *, units: list[int] | None = None) -> dict:
    """``{(unit id, reason kind, code id or None): count}`` for ``period``; ``units``
    (``stats_unit_ids``) limits it to those units, ``None`` is the whole city."""
    start, end = period.bounds
    archive_guard(start)  # the events of archived years are not live (cases.archive)
    kinds = {event: reason for reason, event in REASON_EVENTS.items()}
    events = TicketEvent.objects.filter(kind__in=kinds, created_at__gte=start, created_at__lt=end).exclude(
        ticket__state=TicketState.INVALID
    )
    if units is not None:
        events = events.filter(unit_id__in=units)
    rows = events.values("unit_id", "kind", "reason_code_id").annotate(n=Count("pk")).order_by()
    return {(r["unit_id"], kinds[r["kind"]], r["reason_code_id"]): r["n"] for r in rows}


def reason_table(period: Period, *, units: list[int] | None = None) -> ReasonTable:
    """One row per unit with any rework or return in ``period``: a column per
    active code (and any retired code that was used), the uncoded ones, a total."""
    counts = reason_counts(period, units=units)
    used = {code for (_unit, _kind, code) in counts if code is not None}
    codes = ReasonCode.objects.filter(is_active=True) | ReasonCode.objects.filter(pk__in=used)
    columns = {kind: [] for kind in REASON_EVENTS}
    for code in codes.filter(kind__in=list(REASON_EVENTS)).order_by("kind", "order", "pk"):
        columns[code.kind].append((code.pk, code.label))
    for kind in columns:
        if any(c is None and k == kind for (_u, k, c) in counts):
            columns[kind].append((None, UNCODED))
    names = dict(Department.objects.filter(pk__in={u for (u, _k, _c) in counts}).values_list("pk", "name"))
    paths = dict(Department.objects.filter(pk__in=names).values_list("pk", "path"))
    rows: dict = {}
    for (unit, kind, code), n in counts.items():
        row = rows.setdefault(unit, ReasonRow(unit, names.get(unit, str(_("（未指定）")))))
        row.counts[(kind, code)] = n
    table = ReasonTable(
        columns=columns, rows=sorted(rows.values(), key=lambda r: (r.unit_id is None, paths.get(r.unit_id, "")))
    )
    for row in table.rows:
        row.cells = table.cells(row)
    return table
