"""派单准确率 (dispatch accuracy): how many of the centre's dispatches reached the
right unit. Defined here once; the 派单准确率 page, the 统计分析 page, its Excel
export and the stored reports all read :func:`accuracy_table`.

- The unit of account is one dispatch (a ``dispatched`` event), dated by its time.
- A dispatch is *inaccurate* when it was undone by an approved return
  (``return_approved``) or an upheld objection (``objection_upheld``) that names it
  as its ``dispatch`` fact; otherwise it is accurate. Each dispatch is undone at
  most once (both send the ticket back to 待派单), so
  ``accuracy = (dispatched − returned − objected) / dispatched``.
- A return counts here *and* against the unit that returned it (退单率, in
  ``reports.metrics``); an upheld objection counts here only (its event charges no
  unit).
- ``off_catalogue``: dispatches outside the category's 派单目录 (with a reason), shown
  beside the rate; they are not inaccurate by themselves.
- Grouped by the dispatcher (the event's ``actor``), by the dispatching unit (the
  event's ``actor_department``: the centre, or a sub-centre) or by the ticket's
  category. Tickets now invalid are left out, as in every rate.
"""

from dataclasses import dataclass, field

from django.contrib.auth import get_user_model
from django.db.models import Count, Q
from django.db.models.functions import TruncDate
from django.utils import timezone
from django.utils.translation import gettext_lazy as _

from cases.archive import archive_guard
from cases.models import Category, TicketEvent, TicketState
from departments.models import Department
from departments.selectors import person_name

from .metrics import FACT_CLOCK_SLACK, Period, events_of

K = TicketEvent.Kind
#: The events that undo a dispatch, and the counter each one feeds.
UNDOING = {K.RETURN_APPROVED: "returned", K.OBJECTION_UPHELD: "objected"}
#: What a table can be grouped by: the label, and the dispatch event's field.
ACCURACY_AXES = {
    "dispatcher": (_("派单员"), "actor_id"),
    "centre": (_("派单单位"), "actor_department_id"),
    "category": (_("诉求分类"), "ticket__category_id"),
}
COLUMNS = {
    "dispatched": _("派单量"),
    "returned": _("退单（同意）"),
    "objected": _("异议成立"),
    "accurate": _("准确派单"),
    "accuracy": _("派单准确率"),
    "off_catalogue": _("目录外派单"),
}
UNNAMED = _("（未指定）")


@dataclass
class AccuracyRow:
    key: int | None
    name: str
    dispatched: int = 0
    returned: int = 0
    objected: int = 0
    off_catalogue: int = 0

    @property
    def accurate(self) -> int:
        return self.dispatched - self.returned - self.objected

    @property
    def accuracy(self) -> float | None:
        return self.accurate / self.dispatched if self.dispatched else None

    def value(self, column: str):
        return getattr(self, column)

    @property
    def cells(self) -> list[str]:
        """The row as the pages show it, in ``COLUMNS`` order (the rate as a percentage)."""
        rate = self.accuracy
        shown = {"accuracy": "—" if rate is None else f"{rate * 100:.1f}%"}
        return [shown.get(column, str(self.value(column))) for column in COLUMNS]

    def as_dict(self) -> dict:
        return {"name": self.name, **{column: self.value(column) for column in COLUMNS}}


@dataclass
class AccuracyTable:
    axis: str
    rows: list = field(default_factory=list)
    total: AccuracyRow | None = None

    @property
    def label(self):
        return ACCURACY_AXES[self.axis][0]


def dispatches(period: Period, *, units: list[int] | None = None):
    """The dispatch events of ``period`` (by their time), tickets now invalid left
    out; ``units`` (``dispatch_accuracy_unit_ids``) keeps those made from these units."""
    start, end = period.bounds
    archive_guard(start)  # the events of archived years are not live (cases.archive)
    events = events_of(leaving_out=(TicketState.INVALID,)).filter(
        kind=K.DISPATCHED, created_at__gte=start, created_at__lt=end
    )
    if units is not None:
        events = events.filter(actor_department_id__in=units)
    return events


#: The dispatch event's fields of every axis, in the order the rollup keeps them
#: (``reports.models.DailyDispatchStat``: actor, actor_department, category).
ROLLUP_KEYS = tuple(field for _label, field in ACCURACY_AXES.values())
#: The same keys as the rollup's columns (``category_id`` for ``ticket__category_id``).
ROLLUP_COLUMNS = tuple(field.removeprefix("ticket__") for field in ROLLUP_KEYS)
#: What is counted per key.
COUNTS = ("dispatched", "returned", "objected", "off_catalogue")


def dispatch_counts(
    period: Period, *, keys: tuple[str, ...], units: list[int] | None = None, by_day: bool = False
) -> dict:
    """``{(key values…): {"dispatched", "returned", "objected", "off_catalogue"}}``
    grouped on the dispatch event's fields ``keys`` (``by_day``: first the local
    day of the dispatch) — two grouped queries, whatever the number of rows."""
    base = dispatches(period, units=units)
    zone = timezone.get_default_timezone()
    day = ("dispatch_day",) if by_day else ()
    if by_day:
        base = base.annotate(dispatch_day=TruncDate("created_at", tzinfo=zone))
    counts: dict = {}
    grouped = base.values(*day, *keys).annotate(n=Count("pk"), off=Count("pk", filter=Q(off_catalogue=True)))
    for row in grouped.order_by():
        key = tuple(row[k] for k in (*day, *keys))
        counts[key] = {"dispatched": row["n"], "returned": 0, "objected": 0, "off_catalogue": row["off"]}
    # an undoing follows its dispatch: only what was recorded since the period began
    undone = TicketEvent.objects.filter(
        kind__in=list(UNDOING), created_at__gte=period.bounds[0] - FACT_CLOCK_SLACK, dispatch__in=base.values("pk")
    )
    if by_day:
        undone = undone.annotate(dispatch_day=TruncDate("dispatch__created_at", tzinfo=zone))
    through = [*day, *(f"dispatch__{k}" for k in keys)]
    for row in undone.values(*through, "kind").annotate(n=Count("pk")).order_by():
        counts[tuple(row[k] for k in through)][UNDOING[row["kind"]]] += row["n"]
    return counts


def accuracy_counts(period: Period, *, axis: str, units: list[int] | None = None, counted: dict | None = None) -> dict:
    """``{key: {"dispatched", "returned", "objected", "off_catalogue"}}`` per value of
    ``axis``: read live, or summed from ``counted``, the counts per ``ROLLUP_KEYS``
    (``reports.rollups.dispatch_counts_rolled``)."""
    if axis not in ACCURACY_AXES:
        raise ValueError(axis)
    if counted is not None and units is not None:
        raise ValueError("counts given are already scoped")
    if counted is None:
        live = dispatch_counts(period, keys=(ACCURACY_AXES[axis][1],), units=units)
        return {key[0]: values for key, values in live.items()}
    position = list(ACCURACY_AXES).index(axis)
    counts: dict = {}
    for key, values in counted.items():
        into = counts.setdefault(key[position], dict.fromkeys(values, 0))
        for name, n in values.items():
            into[name] += n
    return counts


def _names(axis: str, keys) -> tuple[dict, dict]:
    """(names, sort keys) of the rows' dispatchers, units or categories."""
    keys = [k for k in keys if k is not None]
    if axis == "dispatcher":
        users = get_user_model().objects.in_bulk(keys)
        names = {pk: person_name(user) for pk, user in users.items()}
        return names, {pk: name for pk, name in names.items()}
    if axis == "centre":
        units = Department.objects.only("name", "path").in_bulk(keys)
        return {pk: u.name for pk, u in units.items()}, {pk: u.path for pk, u in units.items()}
    categories = Category.objects.select_related("parent__parent").in_bulk(keys)
    return {pk: c.full_name for pk, c in categories.items()}, {pk: c.path for pk, c in categories.items()}


def accuracy_table(
    period: Period, *, axis: str = "dispatcher", units: list[int] | None = None, counted: dict | None = None
) -> AccuracyTable:
    """派单准确率 of ``period`` per value of ``axis`` (``ACCURACY_AXES``), with the
    total row (the sum of the rows: every dispatch falls in exactly one)."""
    counts = accuracy_counts(period, axis=axis, units=units, counted=counted)
    names, order = _names(axis, counts)
    table = AccuracyTable(axis=axis, total=AccuracyRow(None, str(_("合计"))))
    for key, values in counts.items():
        row = AccuracyRow(key, names.get(key, str(UNNAMED)), **values)
        table.rows.append(row)
        for name in COUNTS:
            setattr(table.total, name, getattr(table.total, name) + values[name])
    table.rows.sort(key=lambda r: (r.key is None or r.key not in order, str(order.get(r.key, "")), r.name))
    return table


def accuracy_data(period: Period, *, units: list[int] | None = None, counted: dict | None = None) -> dict:
    """Every axis as plain data, for the stored reports (``reports.reporting``)."""
    tables = {axis: accuracy_table(period, axis=axis, units=units, counted=counted) for axis in ACCURACY_AXES}
    any_table = next(iter(tables.values()))
    return {
        "total": any_table.total.as_dict(),
        **{axis: [row.as_dict() for row in table.rows] for axis, table in tables.items()},
    }
