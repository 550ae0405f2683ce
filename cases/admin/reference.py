"""Reference data of the cases app: categories, deadline policies, holidays, and
the knowledge base — editable in the admin and in bulk from Excel."""

from django import forms
from django.contrib import admin
from django.db.models import Prefetch
from django.utils.formats import date_format
from django.utils.translation import gettext_lazy as _
from import_export.admin import ImportExportModelAdmin
from simple_history.admin import SimpleHistoryAdmin

from config.admin_input import SafeInputAdminMixin
from departments.models import Department

from .. import workflow
from ..deadlines.calendar import parse_segments
from ..deadlines.policy import ticket_policy_explain
from ..labels import choice_label
from ..models import Category, Clock, DeadlinePolicy, Holiday, KnowledgeArticle, Ticket, TimeUnit, WorkingCalendar
from ..resources import CategoryResource, HolidayResource, KnowledgeArticleResource
from ..selectors.scope import ticket_scope
from .api_keys import ServiceAttributeInline


class DeadlinePolicyInline(admin.TabularInline):
    model = DeadlinePolicy
    extra = 0
    fields = [
        "name",
        "urgency",
        "nature",
        "sign_limit",
        "sign_unit",
        "contact_limit",
        "contact_unit",
        "resolve_limit",
        "resolve_unit",
        "is_active",
    ]


class CategoryForm(forms.ModelForm):
    """The category form (the admin builds its ``Meta``), with the 派单目录 as boxes."""

    # 派单目录: ticked unit kinds (stored as a list); none ticked inherits the parent's.
    receiver_kinds = forms.MultipleChoiceField(
        label=Category._meta.get_field("receiver_kinds").verbose_name,
        help_text=Category._meta.get_field("receiver_kinds").help_text,
        choices=workflow.RECEIVER_KIND_CHOICES,
        widget=forms.CheckboxSelectMultiple,
        required=False,
    )


@admin.register(Category)
class CategoryAdmin(SafeInputAdminMixin, ImportExportModelAdmin, SimpleHistoryAdmin):
    form = CategoryForm
    resource_classes = [CategoryResource]
    list_display = [
        "indented_name",
        "code",
        "default_nature",
        "default_urgency",
        "default_department",
        "dispatch_catalogue",
        "never_public",
        "is_active",
    ]
    list_filter = ["depth", "is_active", "never_public", "default_nature", "default_urgency"]
    search_fields = ["name", "code", "description"]
    autocomplete_fields = ["parent", "default_department"]
    list_select_related = ["parent__parent", "default_department"]
    inlines = [DeadlinePolicyInline, ServiceAttributeInline]
    list_per_page = 200

    @admin.display(description=_("名称"), ordering="path")
    def indented_name(self, obj):
        return ("　" * (obj.depth - 1)) + obj.name

    @admin.display(description=_("派单目录"))
    def dispatch_catalogue(self, obj):
        """The catalogue in force (its own, else inherited; ``parent__parent`` is selected)."""
        kinds = workflow.catalogue_kinds(obj)
        if kinds is None:
            return _("不限")
        text = workflow.catalogue_labels(kinds)
        return text if obj.receiver_kinds else _("%(kinds)s（沿用上级）") % {"kinds": text}

    def get_search_results(self, request, queryset, search_term):
        queryset, distinct = super().get_search_results(request, queryset, search_term)
        if request.path.endswith("/autocomplete/"):
            # The intake form offers only categories in use, shown with their path.
            queryset = queryset.filter(is_active=True).select_related("parent__parent")
        return queryset, distinct


#: The policy page's "which rule applies to ticket …" box reads this GET parameter.
EXPLAIN_PARAM = "ticket"
ERR_EXPLAIN_NOT_FOUND = _("未找到工单 %(number)s，或无权查看。")
ERR_SEGMENTS = _('工作时段格式应为 ["08:30-12:00", "14:00-18:00"]：%(error)s')
ERR_SEGMENTS_REQUIRED = _("自定义时段须填写工作时段。")


@admin.register(DeadlinePolicy)
class DeadlinePolicyAdmin(SafeInputAdminMixin, admin.ModelAdmin):
    change_list_template = "admin/cases/deadlinepolicy/change_list.html"
    list_display = [
        "name",
        "department",
        "category",
        "urgency",
        "nature",
        "sign_limit",
        "sign_unit",
        "contact_limit",
        "contact_unit",
        "resolve_limit",
        "resolve_unit",
        "is_active",
    ]
    list_filter = ["urgency", "nature", "is_active"]
    autocomplete_fields = ["category", "department"]
    list_select_related = ["category__parent__parent", "department"]

    def changelist_view(self, request, extra_context=None):
        """The list, and for a ticket number typed in the box above it, which rule
        gives each of its clocks the limit and for which unit."""
        number = request.GET.get(EXPLAIN_PARAM, "").strip()
        if EXPLAIN_PARAM in request.GET:
            # Not a list filter: the changelist would refuse an unknown parameter.
            request.GET = request.GET.copy()
            del request.GET[EXPLAIN_PARAM]
        extra_context = {**(extra_context or {}), "explain_param": EXPLAIN_PARAM, "explain_number": number}
        if number:
            ticket = (
                ticket_scope(Ticket.objects.all(), request.user)
                .select_related("category", "lead_department", "assignee_department")
                .filter(number=number)
                .first()
            )
            if ticket is None:
                extra_context["explain_error"] = ERR_EXPLAIN_NOT_FOUND % {"number": number}
            else:
                extra_context["explain_ticket"] = ticket
                extra_context["explain_rows"] = [
                    {
                        "clock": Clock(c.clock).label,
                        "limit": f"{c.limit[0]} {TimeUnit(c.limit[1]).label}",
                        "row": c.row,
                        "department": c.department,
                        "why": _policy_reason(c.row, ticket, c.department),
                    }
                    for c in ticket_policy_explain(ticket)
                ]
        return super().changelist_view(request, extra_context=extra_context)


def _policy_reason(row, ticket, unit) -> str:
    """Why this row: the scopes it matched, most decisive first (the precedence
    of ``cases.deadlines.policy``)."""
    if row is None:
        return str(_("没有启用的规则设置此时限，使用系统默认值"))
    parts = []
    if row.urgency:
        parts.append(_("紧急程度为“%(v)s”") % {"v": choice_label(row, "urgency")})
    if row.department_id is not None:
        own = unit is not None and row.department_id == unit.pk
        parts.append(
            (_("适用于本单位“%(v)s”") if own else _("适用于上级单位或属地“%(v)s”")) % {"v": row.department.name}
        )
    if row.category_id is not None:
        parts.append(_("分类“%(v)s”及其下级") % {"v": row.category.name})
    if row.nature:
        parts.append(_("诉求性质为“%(v)s”") % {"v": choice_label(row, "nature")})
    if not parts:
        parts.append(_("通用规则"))
    return "；".join(str(p) for p in parts)


class WorkingCalendarForm(forms.ModelForm):
    class Meta:
        model = WorkingCalendar
        fields = ["name", "kind", "segments", "note"]

    def clean(self):
        data = super().clean()
        segments = data.get("segments") or []
        if data.get("kind") == WorkingCalendar.Kind.CUSTOM:
            if not segments:
                self.add_error("segments", ERR_SEGMENTS_REQUIRED)
            else:
                try:
                    if not isinstance(segments, list):
                        raise ValueError(type(segments).__name__)
                    parse_segments(segments)
                except (ValueError, AttributeError) as exc:
                    self.add_error("segments", ERR_SEGMENTS % {"error": exc})
        return data


@admin.register(WorkingCalendar)
class WorkingCalendarAdmin(admin.ModelAdmin):
    form = WorkingCalendarForm
    list_display = ["name", "kind", "segments", "units", "note"]
    list_filter = ["kind"]
    search_fields = ["name", "note"]

    def get_queryset(self, request):
        return (
            super()
            .get_queryset(request)
            .prefetch_related(
                Prefetch("departments", queryset=Department.objects.only("pk", "name", "calendar_id").order_by("name"))
            )
        )

    @admin.display(description=_("直接使用的单位"))
    def units(self, obj):
        return "、".join(unit.name for unit in obj.departments.all()[:5])


@admin.register(Holiday)
class HolidayAdmin(SafeInputAdminMixin, ImportExportModelAdmin):
    resource_classes = [HolidayResource]
    list_display = ["date", "weekday", "name", "is_working_day", "note"]
    list_filter = ["is_working_day"]
    search_fields = ["name", "note"]
    ordering = ["-date"]

    @admin.display(description=_("星期"))
    def weekday(self, obj):
        return date_format(obj.date, "l")  # 星期一 / Monday, in the reader's language


@admin.register(KnowledgeArticle)
class KnowledgeArticleAdmin(SafeInputAdminMixin, ImportExportModelAdmin, SimpleHistoryAdmin):
    resource_classes = [KnowledgeArticleResource]
    list_display = ["question", "category", "valid_from", "valid_to", "is_active", "updated_at"]
    list_filter = ["is_active"]
    search_fields = ["question", "answer", "keywords"]
    autocomplete_fields = ["category"]
    list_select_related = ["category__parent__parent"]
