import django_filters
from django import forms
from django.utils.translation import gettext_lazy as _
from django_filters.fields import IsoDateTimeField

from departments.models import Department

from .. import clock
from ..models import Callback, Category, Channel, Nature, Ticket, TicketState, Urgency, overdue_any_clock_q
from ..selectors.tickets import in_category, led_within, ticket_search


class IntegerFilter(django_filters.NumberFilter):
    field_class = forms.IntegerField


class InstantField(IsoDateTimeField):
    """An ISO 8601 instant, handed on in UTC (``clock.as_utc``): an offset such as
    +23:21 is valid ISO but not valid PostgreSQL."""

    def to_python(self, value):
        value = super().to_python(value)
        if value is None:
            return value
        try:
            return clock.as_utc(value)
        except ValueError as exc:
            raise forms.ValidationError(_("时间超出范围。")) from exc


class InstantFilter(django_filters.IsoDateTimeFilter):
    field_class = InstantField


class StrictFilterSet(django_filters.FilterSet):
    """A filter named in the query must carry a value: ``?received_after=`` is an
    error, not "no filter"."""

    def is_valid(self):
        valid = super().is_valid()
        for name in self.filters:
            values = self.data.getlist(name) if name in self.data else []
            if any(v == "" for v in values):
                self.form.add_error(name, _("参数不能为空。"))
                valid = False
            elif isinstance(self.filters[name], django_filters.BooleanFilter) and (
                len(values) > 1 or any(v not in ("true", "false") for v in values)
            ):
                self.form.add_error(name, _("应为 true 或 false。"))
                valid = False
        return valid


class TicketFilter(StrictFilterSet):
    state = django_filters.MultipleChoiceFilter(choices=TicketState.choices)
    channel = django_filters.MultipleChoiceFilter(choices=Channel.choices)
    urgency = django_filters.MultipleChoiceFilter(choices=Urgency.choices)
    nature = django_filters.MultipleChoiceFilter(choices=Nature.choices)
    category = django_filters.CharFilter(method="filter_category", help_text=_("分类编码（含下级分类）"))
    lead_department = IntegerFilter(method="filter_department", help_text=_("主办单位（含下级单位）"))
    received_after = InstantFilter(field_name="received_at", lookup_expr="gte")
    received_before = InstantFilter(field_name="received_at", lookup_expr="lt")
    updated_after = InstantFilter(field_name="updated_at", lookup_expr="gte")
    external_id = django_filters.CharFilter()
    overdue = django_filters.BooleanFilter(method="filter_overdue", help_text=_("仍在办且已超期"))
    q = django_filters.CharFilter(
        method="filter_q", help_text=_("工单编号、来电号码（全号或后四位）、或地址、诉求内容中的文字")
    )

    class Meta:
        model = Ticket
        fields = []

    # The subtree rules are the work list's (cases.selectors.tickets); an unknown code or
    # unit here finds nothing, where the admin's sidebar ignores a stale choice.
    def filter_category(self, queryset, name, value):
        node = Category.objects.filter(code=value).first()
        return queryset.none() if node is None else in_category(queryset, node)

    def filter_department(self, queryset, name, value):
        unit = Department.objects.filter(pk=value).first()
        return queryset.none() if unit is None else led_within(queryset, unit)

    def filter_q(self, queryset, name, value):
        return ticket_search(queryset, value)

    def filter_overdue(self, queryset, name, value):
        late = overdue_any_clock_q(clock.now())
        return queryset.filter(late) if value else queryset.exclude(late)


class CallbackFilter(StrictFilterSet):
    status = django_filters.MultipleChoiceFilter(choices=Callback.Status.choices)
    batch_date = django_filters.DateFilter()

    class Meta:
        model = Callback
        fields = []
