"""Every rate on every axis: one table of counters and rates per unit, unit with
its subtree, territory (district, street, community, grid), category (each row
with its subcategories) or channel, for any period.

The admin's 统计分析 page, its Excel export, ``/api/v1/stats/?axis=`` and the
reports' category sheet all read :func:`axis_table`, so they show the same rows.
Counters come from :func:`reports.metrics.counters_live`; this module only groups,
rolls up, names and sorts them."""

from dataclasses import dataclass, field
from datetime import date

from django.utils.translation import gettext as _
from django.utils.translation import gettext_lazy

from cases.models import Callback, Category, Channel, Ticket
from departments.models import Department, Grid

from .metrics import RATE_LABELS, Counters, Period, counters_live, rates, subtree_totals
from .supervision import SUPERVISION_LABELS, SupervisionCounts, supervision_counts

#: The axes, in the order the pickers list them.
AXES = {
    "department": gettext_lazy("承办单位"),
    "subtree": gettext_lazy("承办单位（含下级）"),
    "district": gettext_lazy("区县"),
    "street": gettext_lazy("街道乡镇"),
    "community": gettext_lazy("社区村"),
    "grid": gettext_lazy("网格"),
    "category": gettext_lazy("诉求分类（含下级分类）"),
    "channel": gettext_lazy("渠道"),
}
#: The counts shown beside the rates: the bases the rates are taken over.
BASE_COUNTS = {
    "received": gettext_lazy("受理量"),
    "dispatched": gettext_lazy("派单量"),
    "due": gettext_lazy("应办结量"),
    "closed": gettext_lazy("办结量"),
    "cb_valid": gettext_lazy("有效回访"),
}
UNIT_AXES = ("department", "subtree")
#: Period kinds the pickers and the API offer; "range" takes a first and last day.
PERIOD_KINDS = {"day": Period.day, "week": Period.week, "month": Period.month, "year": Period.year}
MAX_RANGE_DAYS = 366

ERR_AXIS = gettext_lazy("统计维度应为以下之一：%(axes)s。")
ERR_PERIOD = gettext_lazy("统计期间应为 day、week、month、year 或 range。")
ERR_DATE = gettext_lazy("日期格式应为 YYYY-MM-DD。")
ERR_RANGE = gettext_lazy("统计期间须在一年以内，且开始不晚于结束。")
ERR_SORT = gettext_lazy("排序字段无效。")


@dataclass
class AxisRow:
    key: object
    name: str
    counters: Counters
    level: int | None = None  # category depth (1 = top level); None elsewhere
    order: str = ""  # the natural order: tree path, code or name
    supervision: SupervisionCounts | None = None  # on the unit axes
    rates: dict = field(init=False)

    def __post_init__(self):
        self.rates = rates(self.counters)

    def value(self, column: str):
        if column == "name":
            return self.name
        if column == "level":
            return self.level
        if column in RATE_LABELS:
            return self.rates[column]
        if column in SUPERVISION_LABELS:
            return getattr(self.supervision or SupervisionCounts(), column)
        return getattr(self.counters, column)


@dataclass
class AxisTable:
    axis: str
    period: Period
    rows: list
    total: Counters
    total_supervision: SupervisionCounts | None = None

    def total_row(self) -> AxisRow:
        return AxisRow(key=None, name=_("合计"), counters=self.total, supervision=self.total_supervision)


def axis_columns(axis: str) -> dict:
    """The table's columns, page and Excel alike: key → label."""
    columns = {"name": AXES[axis]}
    if axis == "category":
        columns["level"] = gettext_lazy("层级")
    columns.update(BASE_COUNTS)
    # RATE_LABELS stay Chinese in stored reports; the page translates them (catalogued).
    columns.update({name: gettext_lazy(label) for name, label in RATE_LABELS.items()})
    if axis in UNIT_AXES:
        columns.update(SUPERVISION_LABELS)
    return columns


def sort_columns() -> list[str]:
    return ["name", "level", *BASE_COUNTS, *RATE_LABELS, *SUPERVISION_LABELS]


def period_parse(kind: str, *, day: str = "", first: str = "", last: str = "", today: date) -> Period:
    """The period a picker or a query names: the day, week, month or year holding
    ``day`` (default today), or the range ``first``–``last``. Raises ValueError
    with a message for the user."""
    try:
        if kind in PERIOD_KINDS:
            return PERIOD_KINDS[kind](date.fromisoformat(day) if day else today)
        if kind == "range":
            start, end = date.fromisoformat(first), date.fromisoformat(last)
        else:
            raise ValueError(str(ERR_PERIOD))
    except ValueError as exc:
        raise ValueError(str(exc) if str(exc) == str(ERR_PERIOD) else str(ERR_DATE)) from None
    if start > end or (end - start).days >= MAX_RANGE_DAYS:
        raise ValueError(str(ERR_RANGE))
    return Period(start, end)


def axis_check(axis: str) -> str:
    if axis not in AXES:
        raise ValueError(str(ERR_AXIS) % {"axes": ", ".join(AXES)})
    return axis


def _named(result: dict, names: dict, orders: dict, missing: str, supervision=None) -> list:
    rows = []
    supervision = supervision or {}
    for key in {*result, *supervision}:
        c, s = result.get(key, Counters()), supervision.get(key)
        if any(c.as_dict().values()) or (s is not None and any(s.as_dict().values())):
            rows.append(
                AxisRow(
                    key=key,
                    name=names.get(key, missing),
                    counters=c,
                    order=orders.get(key, "~"),
                    supervision=s if s is not None else (SupervisionCounts() if supervision else None),
                )
            )
    return rows


def axis_table(period: Period, *, axis: str, units: list[int] | None = None) -> AxisTable:
    """The rows of ``axis`` for ``period``. ``units`` (from
    ``cases.selectors.scope.stats_unit_ids``) limits the table to those units'
    numbers: their own rows on the unit axes, their tickets on the others; None is
    the whole city. The total is the sum of the axis's partition (before the
    category roll-up), so on every axis but the subtree and category ones the
    rows add up to it."""
    axis_check(axis)
    none_label = _("（未指定）")
    if axis in ("department", "subtree"):
        per_unit = counters_live(period, group_by="department")
        if units is not None:
            per_unit = {k: c for k, c in per_unit.items() if k in set(units)}
        total = Counters()
        for c in per_unit.values():
            total.add(c)
        depts = Department.objects.all()
        if units is not None:
            depts = depts.filter(pk__in=units)
        depts = list(depts.only("pk", "name", "path"))
        names = {d.pk: d.name for d in depts}
        orders = {d.pk: d.path for d in depts}
        watched = supervision_counts(period, group_by="department", units=units)
        watched_total = SupervisionCounts()
        for counts in watched.values():
            watched_total.add(counts)
        if axis == "department":
            result = per_unit
        else:
            result = subtree_totals(per_unit, depts)
            watched = _supervision_subtrees(watched, depts)
        return AxisTable(axis, period, _named(result, names, orders, none_label, watched), total, watched_total)

    tickets = callbacks = None  # the whole city: counters_live's own anti-join
    if units is not None:
        tickets, callbacks = Ticket.objects.all(), Callback.objects.all()
        tickets = tickets.filter(lead_department_id__in=units)
        callbacks = callbacks.filter(ticket__lead_department_id__in=units)
    group = "category" if axis == "category" else axis
    raw = counters_live(period, group_by=group, tickets=tickets, callbacks=callbacks)
    total = Counters()
    for c in raw.values():
        total.add(c)
    if axis == "category":
        return AxisTable(axis, period, category_rows(raw), total)
    if axis == "channel":
        names = {code: str(label) for code, label in Channel.choices}
        orders = {code: f"{i:03d}" for i, (code, _label) in enumerate(Channel.choices)}
    elif axis == "grid":
        grids = Grid.objects.filter(pk__in=[k for k in raw if k is not None]).values_list("pk", "name", "code")
        names = {pk: name for pk, name, _code in grids}
        orders = {pk: code for pk, _name, code in grids}
    else:
        places = Department.objects.filter(pk__in=[k for k in raw if k is not None]).values_list("pk", "name", "path")
        names = {pk: name for pk, name, _path in places}
        orders = {pk: path for pk, _name, path in places}
    return AxisTable(axis, period, _named(raw, names, orders, none_label), total)


def _supervision_subtrees(per_unit: dict, depts) -> dict:
    paths = {d.pk: d.path for d in depts}
    totals = {}
    for dept in depts:
        total = SupervisionCounts()
        for pk, counts in per_unit.items():
            if paths.get(pk, "").startswith(dept.path):
                total.add(counts)
        totals[dept.pk] = total
    return totals


def category_rows(raw: dict) -> list:
    """One row per category with anything in its subtree: a level-1 row holds its
    subcategories' tickets too."""
    categories = list(Category.objects.values_list("pk", "name", "path", "depth"))
    names = {pk: name for pk, name, _path, _depth in categories}
    paths = {pk: path for pk, _name, path, _depth in categories}
    rows = []
    for pk, _name, path, depth in categories:
        total = Counters()
        for key, c in raw.items():
            if key is not None and paths.get(key, "").startswith(path):
                total.add(c)
        if any(total.as_dict().values()):
            full = " › ".join(names[int(p)] for p in path.strip("/").split("/"))
            rows.append(AxisRow(key=pk, name=full, counters=total, level=depth, order=path))
    return rows


def axis_sort(rows: list, column: str = "") -> list:
    """Rows in the natural order, or by ``column`` (``-column`` descending); rows
    without a value (an empty base) go last either way."""
    if not column:
        return sorted(rows, key=lambda r: r.order)
    descending = column.startswith("-")
    name = column.lstrip("-")
    if name not in sort_columns():
        raise ValueError(str(ERR_SORT))
    present = [r for r in rows if r.value(name) is not None]
    empty = [r for r in rows if r.value(name) is None]
    return sorted(present, key=lambda r: r.value(name), reverse=descending) + sorted(empty, key=lambda r: r.order)
