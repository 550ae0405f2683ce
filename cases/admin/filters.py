"""List filters of the ticket changelist. Every option is an indexed condition;
long lists (categories, units) render as drop-downs. What each option selects is
defined once, in ``cases.selectors.tickets`` (the exports rebuild the list there);
these classes are the sidebar that offers them."""

from django.contrib import admin
from django.contrib.admin.options import IncorrectLookupParameters
from django.utils.dateparse import parse_date
from django.utils.translation import gettext_lazy as _

from departments.models import Department, Grid
from departments.selectors import staff_profile

from ..models import Category, Colour, TicketState
from ..selectors import tickets as lists
from ..selectors.queues import queues_for
from ..selectors.scope import is_citywide, subcentres


class DropdownFilter(admin.SimpleListFilter):
    template = "admin/cases/dropdown_filter.html"


class StateFilter(admin.SimpleListFilter):
    """State, open tickets by default: the list answers "what is still to do" —
    unless a work queue or a search for a number or phone says which tickets
    (``cases.selectors.tickets.state_default``)."""

    title = _("状态")
    parameter_name = "state"
    OPEN = lists.STATE_OPEN
    ALL = lists.STATE_ALL

    def __init__(self, request, params, model, model_admin):
        self.default = lists.state_default(request.GET)
        super().__init__(request, params, model, model_admin)

    def lookups(self, request, model_admin):
        return [(self.OPEN, _("未办结")), *TicketState.choices, (self.ALL, _("全部"))]

    def value(self):
        return super().value() or self.default

    def choices(self, changelist):
        for lookup, title in self.lookup_choices:
            yield {
                "selected": self.value() == str(lookup),
                "query_string": changelist.get_query_string({self.parameter_name: lookup}),
                "display": title,
            }

    def queryset(self, request, queryset):
        return lists.filter_state(queryset, self.value())


class QueueFilter(admin.SimpleListFilter):
    title = _("工作队列")
    parameter_name = "queue"

    def lookups(self, request, model_admin):
        return [(q.key, q.label) for q in queues_for(request.user)]

    def queryset(self, request, queryset):
        return lists.filter_queue(queryset, self.value(), request.user)


class ColourFilter(admin.SimpleListFilter):
    title = _("时限预警")
    parameter_name = "colour"

    def lookups(self, request, model_admin):
        return Colour.choices

    def queryset(self, request, queryset):
        if self.value() in Colour.values:
            return queryset.coloured(self.value())
        return queryset


class OverdueFilter(admin.SimpleListFilter):
    title = _("办结超期")
    parameter_name = "overdue"

    def lookups(self, request, model_admin):
        return [
            (lists.OVERDUE_OPEN, _("超期未办结")),
            (lists.OVERDUE_CLOSED, _("超期办结")),
            (lists.OVERDUE_DUE_TODAY, _("今日到期")),
        ]

    def queryset(self, request, queryset):
        return lists.filter_overdue(queryset, self.value())


class ReworkFilter(admin.SimpleListFilter):
    title = _("重办与问题")
    parameter_name = "trouble"

    def lookups(self, request, model_admin):
        return [
            ("reworked", _("被退回重办过")),
            ("reopened", _("回访后重办过")),
            ("returned", _("退单过")),
            ("extended", _("延期过")),
            ("problem", _("问题工单")),
        ]

    def queryset(self, request, queryset):
        condition = lists.TROUBLE.get(self.value())
        return queryset.filter(condition) if condition is not None else queryset


class MineFilter(admin.SimpleListFilter):
    title = _("与我相关")
    parameter_name = "mine"

    def lookups(self, request, model_admin):
        options = [("registered", _("我登记的")), ("signed", _("由我承办"))]
        if staff_profile(request.user):
            options += [("lead", _("本单位主办")), ("assigned", _("本单位承办")), ("cohandled", _("本单位协办"))]
        return options

    def queryset(self, request, queryset):
        return lists.filter_mine(queryset, self.value(), request.user)


def _indented(nodes):
    return [(str(node.pk), ("　" * (node.depth - 1)) + node.name) for node in nodes]


class CategoryTreeFilter(DropdownFilter):
    title = _("诉求分类")
    parameter_name = "category"

    def lookups(self, request, model_admin):
        return _indented(Category.objects.filter(is_active=True).only("pk", "name", "depth", "path"))

    def queryset(self, request, queryset):
        if self.value() is None:  # not filtered: no look-up of a node
            return queryset
        return lists.filter_category(queryset, self.value())


class DepartmentTreeFilter(DropdownFilter):
    """The lead unit and everything below it, limited to the units the user sees."""

    title = _("主办单位")
    parameter_name = "unit"

    def lookups(self, request, model_admin):
        return _indented(lists.units_for(request.user))

    def queryset(self, request, queryset):
        if self.value() is None:  # not filtered: no look-up of a node
            return queryset
        return lists.filter_unit(queryset, self.value(), request.user)


class TerritoryFilter(DropdownFilter):
    """Where the demand is: district, street or community."""

    title = _("属地")
    parameter_name = "territory"

    def lookups(self, request, model_admin):
        return _indented(Department.objects.filter(kind__in=lists.TERRITORY_KINDS).only("pk", "name", "depth", "path"))

    def queryset(self, request, queryset):
        if self.value() is None:  # not filtered: no look-up of a node
            return queryset
        return lists.filter_territory(queryset, self.value())


class GridFilter(admin.SimpleListFilter):
    """The tickets of one grid: shown only when a link names it (the map's
    click-through), so the list's side bar does not offer every grid of the city."""

    title = _("网格")
    parameter_name = "grid"

    def lookups(self, request, model_admin):
        value = self.value()
        grid = Grid.objects.filter(pk=int(value)).first() if value and value.isdigit() else None
        return [(str(grid.pk), grid.name)] if grid is not None else []

    def queryset(self, request, queryset):
        if self.value() is None:
            return queryset
        return lists.filter_grid(queryset, self.value())


class CentreFilter(DropdownFilter):
    """Which centre owns the ticket (分中心): for the hotline centre's staff, who
    see every sub-centre's tickets."""

    title = _("所属中心")
    parameter_name = "centre"

    def lookups(self, request, model_admin):
        if not is_citywide(request.user):
            return []
        centres = list(subcentres())
        if not centres:
            return []
        return [(lists.CENTRE_CITY, _("市热线中心")), *[(str(u.pk), u.name) for u in centres]]

    def queryset(self, request, queryset):
        return lists.filter_centre(queryset, self.value())


class ReceivedRangeFilter(admin.ListFilter):
    """受理日期 from / to (local dates, inclusive)."""

    title = _("受理日期")
    template = "admin/cases/date_range_filter.html"
    parameters = ("received_from", "received_to")

    def __init__(self, request, params, model, model_admin):
        super().__init__(request, params, model, model_admin)
        self.values = {}
        for name in self.parameters:
            if name in params:
                value = params.pop(name)
                value = value[-1] if isinstance(value, list) else value
                self.values[name] = value

    def has_output(self):
        return True

    def expected_parameters(self):
        return list(self.parameters)

    def choices(self, changelist):
        return [
            {
                "from": self.values.get("received_from", ""),
                "to": self.values.get("received_to", ""),
                "query": [(k, v) for k, v in changelist.get_filters_params().items() if k not in self.parameters],
                "reset": changelist.get_query_string(remove=list(self.parameters)),
            }
        ]

    def queryset(self, request, queryset):
        return lists.filter_received(queryset, self._date("received_from"), self._date("received_to"))

    def _date(self, name):
        raw = self.values.get(name)
        if not raw:
            return None
        try:
            value = parse_date(raw)
        except ValueError:
            value = None
        if value is None:
            raise IncorrectLookupParameters(_("日期格式应为 YYYY-MM-DD。"))
        return value
