"""List filters of the ticket changelist. Every option is an indexed condition;
long lists (categories, units) render as drop-downs."""

from datetime import datetime, time, timedelta

from django.contrib import admin
from django.contrib.admin.options import IncorrectLookupParameters
from django.db.models import F, Q
from django.utils import timezone
from django.utils.dateparse import parse_date
from django.utils.translation import gettext_lazy as _

from departments.models import Department
from departments.selectors import staff_profile

from ..models import OPEN_STATES, Category, Colour, TicketState
from ..selectors.queues import queue_context, queue_filter, queues_for
from ..selectors.scope import user_unit_ids


class DropdownFilter(admin.SimpleListFilter):
    template = "admin/cases/dropdown_filter.html"


class StateFilter(admin.SimpleListFilter):
    """State, open tickets by default: the list answers "what is still to do"."""

    title = _("状态")
    parameter_name = "state"
    OPEN = "open"
    ALL = "all"

    def lookups(self, request, model_admin):
        return [(self.OPEN, _("未办结")), *TicketState.choices, (self.ALL, _("全部"))]

    def value(self):
        return super().value() or self.OPEN

    def choices(self, changelist):
        for lookup, title in self.lookup_choices:
            yield {
                "selected": self.value() == str(lookup),
                "query_string": changelist.get_query_string({self.parameter_name: lookup}),
                "display": title,
            }

    def queryset(self, request, queryset):
        value = self.value()
        if value == self.OPEN:
            return queryset.filter(state__in=OPEN_STATES)
        if value in TicketState.values:
            return queryset.filter(state=value)
        return queryset


class QueueFilter(admin.SimpleListFilter):
    title = _("工作队列")
    parameter_name = "queue"

    def lookups(self, request, model_admin):
        return [(q.key, q.label) for q in queues_for(request.user)]

    def queryset(self, request, queryset):
        queues = {q.key: q for q in queues_for(request.user)}
        queue = queues.get(self.value())
        if queue is None:
            return queryset
        return queue_filter(queryset, queue, queue_context(request.user))


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
        return [("open", _("超期未办结")), ("closed", _("超期办结")), ("due_today", _("今日到期"))]

    def queryset(self, request, queryset):
        now = timezone.now()
        if self.value() == "open":
            return queryset.filter(state__in=OPEN_STATES, resolve_due_at__lte=now)
        if self.value() == "closed":
            return queryset.filter(state="closed", resolve_due_at__isnull=False, closed_at__gt=F("resolve_due_at"))
        if self.value() == "due_today":
            local = timezone.localtime(now)
            start = datetime.combine(local.date(), time.min, tzinfo=local.tzinfo)
            return queryset.filter(
                state__in=OPEN_STATES, resolve_due_at__gte=start, resolve_due_at__lt=start + timedelta(days=1)
            )
        return queryset


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
        conditions = {
            "reworked": Q(rework_count__gt=0),
            "reopened": Q(reopen_count__gt=0),
            "returned": Q(return_count__gt=0),
            "extended": Q(extension_count__gt=0),
            "problem": Q(is_problem=True),
        }
        condition = conditions.get(self.value())
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
        value = self.value()
        if value == "registered":
            return queryset.filter(created_by=request.user)
        if value == "signed":
            return queryset.filter(handler=request.user)
        profile = staff_profile(request.user)
        if profile is None:
            return queryset
        if value == "lead":
            return queryset.filter(lead_department_id=profile.department_id)
        if value == "assigned":
            return queryset.filter(assignee_department_id=profile.department_id)
        if value == "cohandled":
            return queryset.filter(cohandlings__department_id=profile.department_id)
        return queryset


def _indented(nodes):
    return [(str(node.pk), ("　" * (node.depth - 1)) + node.name) for node in nodes]


class CategoryTreeFilter(DropdownFilter):
    title = _("诉求分类")
    parameter_name = "category"

    def lookups(self, request, model_admin):
        return _indented(Category.objects.filter(is_active=True).only("pk", "name", "depth", "path"))

    def queryset(self, request, queryset):
        node = Category.objects.filter(pk=_as_int(self.value())).first()
        if node is None:
            return queryset
        ids = list(node.descendants().values_list("pk", flat=True))
        return queryset.filter(category_id__in=ids)


class DepartmentTreeFilter(DropdownFilter):
    """The lead unit and everything below it, limited to the units the user sees."""

    title = _("主办单位")
    parameter_name = "unit"

    def _units(self, request):
        units = Department.objects.filter(is_active=True).exclude(kind=Department.Kind.CENTRE)
        unit_ids = user_unit_ids(request.user)
        if unit_ids is not None:
            units = units.filter(pk__in=unit_ids)
        return units.only("pk", "name", "depth", "path")

    def lookups(self, request, model_admin):
        return _indented(self._units(request))

    def queryset(self, request, queryset):
        node = self._units(request).filter(pk=_as_int(self.value())).first()
        if node is None:
            return queryset
        ids = list(node.descendants().values_list("pk", flat=True))
        return queryset.filter(Q(lead_department_id__in=ids) | Q(assignee_department_id__in=ids))


class TerritoryFilter(DropdownFilter):
    """Where the demand is: district, street or community."""

    title = _("属地")
    parameter_name = "territory"
    KINDS = [Department.Kind.DISTRICT, Department.Kind.STREET, Department.Kind.COMMUNITY]

    def lookups(self, request, model_admin):
        return _indented(Department.objects.filter(kind__in=self.KINDS).only("pk", "name", "depth", "path"))

    def queryset(self, request, queryset):
        node = Department.objects.filter(pk=_as_int(self.value()), kind__in=self.KINDS).first()
        if node is None:
            return queryset
        field = {"district": "district_id", "street": "street_id", "community": "community_id"}[node.kind]
        return queryset.filter(**{field: node.pk})


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
        tz = timezone.get_current_timezone()
        start = self._date("received_from")
        end = self._date("received_to")
        if start:
            queryset = queryset.filter(received_at__gte=datetime.combine(start, time.min, tzinfo=tz))
        if end:
            queryset = queryset.filter(received_at__lt=datetime.combine(end + timedelta(days=1), time.min, tzinfo=tz))
        return queryset

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


def _as_int(value):
    try:
        return int(value)
    except (TypeError, ValueError):
        return None
