"""The callback workbench (回访) and the clusters page (双交办)."""

from django import forms
from django.contrib import admin, messages
from django.core.exceptions import PermissionDenied, ValidationError
from django.db.models import Q
from django.http import Http404, HttpResponseRedirect
from django.template.response import TemplateResponse
from django.urls import path, reverse
from django.utils.html import format_html
from django.utils.translation import gettext
from django.utils.translation import gettext_lazy as _

from config.admin_input import object_pk_or_404
from config.admin_site import ReadOnlyAdminMixin

from .. import clock
from ..callbacks import (
    callback_may_overrule,
    callback_may_record,
    callback_overrule,
    callback_record,
    callback_unreachable,
)
from ..cluster_actions import cluster_escalate, cluster_may_act, cluster_merge
from ..labels import choice_label
from ..models import Callback, Cluster, Theme, Ticket
from ..privacy import citizen_hidden_from, is_revealed, mask_name, mask_phone, showing_citizen, shown_text
from ..selectors.scope import (
    callback_results_only,
    callback_scope,
    callbacks_visible,
    cluster_scope,
    clusters_visible,
    themes_manage,
    ticket_scope,
)
from ..themes import theme_prefill
from .forms import LeaderChoiceField, _leaders
from .queue_flow import carried_filters, list_url, next_in_list, with_filters


def _error_text(error) -> str:
    if isinstance(error, ValidationError):
        return " ".join(error.messages)
    return str(getattr(error, "message", "") or error)


ERR_FAULT_REQUIRED = _("市民反映未解决或不满意：请选择是否属承办单位原因。")

SCORE_CHOICES = [("", "—"), *[(str(n), str(n)) for n in range(5, 0, -1)]]


class CallbackResultForm(forms.Form):
    contacted = forms.TypedChoiceField(
        label=_("承办单位是否联系过您"),
        choices=[("1", _("联系过")), ("0", _("没有联系"))],
        coerce=lambda v: v == "1",
        widget=forms.RadioSelect,
    )
    solved = forms.ChoiceField(label=_("问题是否解决"), choices=Callback.Solved.choices, widget=forms.RadioSelect)
    satisfaction = forms.ChoiceField(
        label=_("对办理结果是否满意"), choices=Callback.Satisfaction.choices, widget=forms.RadioSelect
    )
    score_attitude = forms.TypedChoiceField(
        label=_("服务态度"), choices=SCORE_CHOICES, coerce=int, required=False, empty_value=None
    )
    score_ability = forms.TypedChoiceField(
        label=_("业务能力"), choices=SCORE_CHOICES, coerce=int, required=False, empty_value=None
    )
    score_convenience = forms.TypedChoiceField(
        label=_("办件便利"), choices=SCORE_CHOICES, coerce=int, required=False, empty_value=None
    )
    score_efficiency = forms.TypedChoiceField(
        label=_("办理效率"), choices=SCORE_CHOICES, coerce=int, required=False, empty_value=None
    )
    comment = forms.CharField(label=_("回访意见"), required=False, widget=forms.Textarea(attrs={"rows": 3}))
    # Nothing is chosen for the agent: a reopen must be a decision, not a default.
    unit_at_fault = forms.TypedChoiceField(
        label=_("是否属承办单位原因"),
        choices=[("1", _("是，转重办")), ("0", _("否，不重办"))],
        coerce=lambda v: v == "1",
        empty_value=None,
        required=False,
        widget=forms.RadioSelect,
        help_text=_("问题未解决或不满意时必选：选“是”工单将转重办。"),
    )

    def clean(self):
        data = super().clean()
        unsatisfactory = (
            data.get("solved") == Callback.Solved.UNSOLVED
            or data.get("satisfaction") == Callback.Satisfaction.UNSATISFIED
        )
        if unsatisfactory and data.get("unit_at_fault") is None:
            self.add_error("unit_at_fault", ERR_FAULT_REQUIRED)
        return data


class OverruleForm(forms.Form):
    reason = forms.CharField(label=_("复核意见"), widget=forms.Textarea(attrs={"rows": 3}))


class CallbackQueueFilter(admin.SimpleListFilter):
    """The agents' queues; a unit (``callback_results_only``) opens on its results."""

    title = _("回访队列")
    parameter_name = "queue"

    def __init__(self, request, params, model, model_admin):
        self.results_only = callback_results_only(request.user)
        super().__init__(request, params, model, model_admin)

    def lookups(self, request, model_admin):
        if callback_results_only(request.user):
            return [
                ("results", _("回访结果")),
                ("unsatisfied", _("未解决/不满意")),
                ("reopened", _("已重办")),
                ("all", _("全部")),
            ]
        return [
            ("today", _("今日待回访")),
            ("unsatisfied", _("未解决/不满意")),
            ("reopened", _("已重办")),
            ("unreachable", _("联系不上")),
            ("impossible", _("无法回访")),
            ("all", _("全部")),
        ]

    def value(self):
        return super().value() or ("results" if self.results_only else "today")

    def choices(self, changelist):
        for lookup, title in self.lookup_choices:
            yield {
                "selected": self.value() == lookup,
                "query_string": changelist.get_query_string({self.parameter_name: lookup}),
                "display": title,
            }

    def queryset(self, request, queryset):
        today = clock.local_day()
        value = self.value()
        if value == "today":
            return queryset.filter(status=Callback.Status.PENDING, next_attempt_on__lte=today)
        if value == "results":
            return queryset.filter(status=Callback.Status.DONE)
        if value == "unsatisfied":
            return queryset.filter(
                Q(solved=Callback.Solved.UNSOLVED) | Q(satisfaction=Callback.Satisfaction.UNSATISFIED),
                status=Callback.Status.DONE,
            )
        if value == "reopened":
            return queryset.filter(reopened=True)
        if value in (Callback.Status.UNREACHABLE, Callback.Status.IMPOSSIBLE):
            return queryset.filter(status=value)
        return queryset


@admin.register(Callback)
class CallbackAdmin(ReadOnlyAdminMixin, admin.ModelAdmin):
    """Scoped by ``callback_scope``: callback agents see their own queue (and
    unassigned callbacks); the centre sees all; units see the callbacks of their
    own tickets, read-only."""

    list_display = ["ticket_link", "closed_at", "category", "unit", "status", "attempts", "agent", "result"]
    list_display_links = None
    list_filter = [CallbackQueueFilter, "status", "solved", "satisfaction", "batch_date"]
    search_fields = ["ticket__number", "ticket__citizen_phone_last4"]
    list_select_related = ["ticket__category", "ticket__lead_department", "agent"]
    list_per_page = 50
    show_full_result_count = False

    def get_queryset(self, request):
        return callback_scope(super().get_queryset(request), request.user)

    def get_list_display(self, request):
        """The links carry the list they are on, for "记录并回访下一条"."""
        filters = request.GET.urlencode()

        @admin.display(description=_("工单"), ordering="ticket__number")
        def ticket_link(obj):
            return self.ticket_link(obj, filters)

        return [ticket_link if name == "ticket_link" else name for name in self._columns(request)]

    def _columns(self, request):
        if not callback_results_only(request.user):
            return self.list_display

        # A unit reads its results: when, how satisfied, whose fault, who called and
        # what the citizen said (names and numbers in it masked, hidden on a
        # confidential report); no phone, no attempts.
        @admin.display(description=_("回访意见"))
        def comment(obj):
            view = "hidden" if citizen_hidden_from(request.user, obj.ticket) else "masked"
            with showing_citizen(view):
                return shown_text(obj.comment, obj.ticket) or "—"

        return ["ticket_link", "completed_at", "category", "unit", "result", "unit_at_fault", "agent", comment]

    def get_ordering(self, request):
        return ["-completed_at", "-pk"] if callback_results_only(request.user) else super().get_ordering(request)

    def has_module_permission(self, request):
        return request.user.is_staff and callbacks_visible(request.user)

    def has_view_permission(self, request, obj=None):
        return self.has_module_permission(request)

    @admin.display(description=_("工单"), ordering="ticket__number")
    def ticket_link(self, obj, filters=None):
        url = with_filters(reverse("admin:cases_callback_record", args=[obj.pk]), filters)
        return format_html('<a href="{}">{}</a>', url, obj.ticket.number)

    @admin.display(description=_("诉求分类"))
    def category(self, obj):
        return obj.ticket.category.name

    @admin.display(description=_("主办单位"))
    def unit(self, obj):
        return obj.ticket.lead_department or "—"

    @admin.display(description=_("回访结果"))
    def result(self, obj):
        if obj.status != Callback.Status.DONE:
            return "—"
        text = f"{choice_label(obj, 'solved')} / {choice_label(obj, 'satisfaction')}"
        if obj.overruled_at:
            text += gettext("（已复核）")
        elif obj.reopened:
            text += gettext("（已重办）")
        return text

    def get_urls(self):
        wrap = self.admin_site.admin_view
        return [
            path("<int:pk>/record/", wrap(self.record_view), name="cases_callback_record"),
            *super().get_urls(),
        ]

    def change_view(self, request, object_id, form_url="", extra_context=None):
        return HttpResponseRedirect(
            reverse("admin:cases_callback_record", args=[object_pk_or_404(self.model, object_id)])
        )

    def record_view(self, request, pk):
        callback = (
            self.get_queryset(request)
            .select_related("ticket__category", "ticket__lead_department")
            .filter(pk=pk)
            .first()
        )
        if callback is None:
            raise Http404(gettext("回访不存在或不在您的查看范围内。"))
        can_record = callback_may_record(request.user) and (
            callback.status in (Callback.Status.PENDING, Callback.Status.UNREACHABLE)
        )
        can_overrule = callback_may_overrule(request.user) and (
            callback.status == Callback.Status.DONE and callback.unsatisfactory and not callback.overruled_at
        )
        form = CallbackResultForm(request.POST or None, prefix="r") if can_record else None
        overrule = OverruleForm(request.POST or None, prefix="o") if can_overrule else None
        filters = carried_filters(request)
        back = list_url(reverse("admin:cases_callback_changelist"), filters)
        if request.method == "POST":
            # "记录并回访下一条" records too, then goes on.
            action = "record" if "_next" in request.POST else request.POST.get("_action")
            try:
                if action == "unreachable" and can_record:
                    callback_unreachable(callback=callback, actor=request.user, note=request.POST.get("note", ""))
                    messages.info(request, gettext("已记录未接通，将于下一个工作日再次回访。"))
                    return HttpResponseRedirect(back)
                if action == "record" and can_record and form.is_valid():
                    d = form.cleaned_data
                    callback = callback_record(
                        callback=callback,
                        actor=request.user,
                        contacted=d["contacted"],
                        solved=d["solved"],
                        satisfaction=d["satisfaction"],
                        scores={
                            name: d[f"score_{name}"] for name in ("attitude", "ability", "convenience", "efficiency")
                        },
                        comment=d["comment"],
                        unit_at_fault=d["unit_at_fault"],
                    )
                    note = gettext("回访已记录。")
                    if callback.reopened:
                        note += gettext("工单已转重办，限 3 个工作日办结。")
                    messages.success(request, note)
                    if filters is not None and "_next" in request.POST:
                        return self._next_in_list(request, callback, filters)
                    return HttpResponseRedirect(back)
                if action == "overrule" and can_overrule and overrule.is_valid():
                    callback_overrule(callback=callback, actor=request.user, reason=overrule.cleaned_data["reason"])
                    messages.success(request, gettext("已复核认定，不再计为单位不满意。"))
                    return HttpResponseRedirect(reverse("admin:cases_callback_record", args=[callback.pk]))
            except (ValidationError, PermissionDenied) as error:
                (form or overrule).add_error(None, _error_text(error))
        ticket = callback.ticket
        # The agent making the call needs the number; anyone else sees it masked
        # unless they revealed it on the ticket, with a reason (cases/privacy.py).
        show_phone = can_record or is_revealed(request.user, ticket)
        context = {
            **self.admin_site.each_context(request),
            "opts": self.opts,
            "title": gettext("回访 · %(number)s") % {"number": ticket.number},
            "callback": callback,
            "queue_filters": filters,
            "back_url": back,
            "ticket": ticket,
            "phone": ticket.citizen_phone if show_phone else mask_phone(ticket.citizen_phone),
            "citizen_name": ticket.citizen_name if show_phone else mask_name(ticket.citizen_name),
            "form": form,
            "overrule_form": overrule,
            "attempts": callback.attempt_log.select_related("agent"),
            "ticket_url": reverse("admin:cases_ticket_change", args=[ticket.pk])
            if ticket_scope(Ticket.objects.filter(pk=ticket.pk), request.user).exists()
            else None,
        }
        return TemplateResponse(request, "admin/cases/callback/record.html", context)

    def _next_in_list(self, request, done, filters):
        """记录并回访下一条: the next callback of the list the agent came from."""
        return next_in_list(
            self,
            request,
            done.pk,
            filters,
            item="admin:cases_callback_record",
            empty_message=gettext("本队列已没有下一条待处理的回访。"),
        )


class ClusterEscalateForm(forms.Form):
    leader = LeaderChoiceField(label=_("交办领导"))
    reason = forms.CharField(label=_("提级督办理由"), widget=forms.Textarea(attrs={"rows": 3}))

    def __init__(self, *args, **kwargs):
        super().__init__(*args, **kwargs)
        self.fields["leader"].choices = [("", "---------"), *_leaders()]


@admin.register(Cluster)
class ClusterAdmin(ReadOnlyAdminMixin, admin.ModelAdmin):
    """Clusters span units, so only the centre's roles and leaders see them
    (``cluster_scope``)."""

    list_display = ["summary_link", "kind", "community", "category", "size", "first_at", "last_at", "status"]
    list_display_links = None
    list_filter = ["status", "kind"]
    search_fields = ["summary", "phone", "community__name", "category__name"]
    list_select_related = ["community", "category__parent__parent"]
    show_full_result_count = False

    def get_queryset(self, request):
        return cluster_scope(super().get_queryset(request), request.user)

    def has_module_permission(self, request):
        return request.user.is_staff and clusters_visible(request.user)

    def has_view_permission(self, request, obj=None):
        return self.has_module_permission(request)

    @admin.display(description=_("概要"), ordering="last_at")
    def summary_link(self, obj):
        url = reverse("admin:cases_cluster_detail", args=[obj.pk])
        return format_html('<a href="{}">{}</a>', url, obj.summary or obj.key)

    def get_urls(self):
        wrap = self.admin_site.admin_view
        return [path("<int:pk>/detail/", wrap(self.detail_view), name="cases_cluster_detail"), *super().get_urls()]

    def change_view(self, request, object_id, form_url="", extra_context=None):
        return HttpResponseRedirect(
            reverse("admin:cases_cluster_detail", args=[object_pk_or_404(self.model, object_id)])
        )

    def detail_view(self, request, pk):
        if not self.has_view_permission(request):
            raise Http404
        cluster = self.get_queryset(request).select_related("community", "category").filter(pk=pk).first()
        if cluster is None:
            raise Http404
        may_act = cluster_may_act(request.user)
        escalate = ClusterEscalateForm(request.POST or None) if may_act else None
        if request.method == "POST" and may_act:
            try:
                if request.POST.get("_action") == "escalate" and escalate.is_valid():
                    done = cluster_escalate(
                        cluster=cluster,
                        actor=request.user,
                        leader=escalate.cleaned_data["leader"],
                        reason=escalate.cleaned_data["reason"],
                    )
                    messages.success(request, gettext("已提级督办 %(n)d 件工单。") % {"n": len(done)})
                    return HttpResponseRedirect(request.path)
                if request.POST.get("_action") == "merge":
                    master, merged = cluster_merge(cluster=cluster, actor=request.user, note=gettext("聚类并单"))
                    messages.success(
                        request,
                        gettext("已将 %(n)d 件工单并入 %(master)s。")
                        % {"n": len(merged), "master": master.number if master else "—"},
                    )
                    return HttpResponseRedirect(request.path)
            except (ValidationError, PermissionDenied) as error:
                messages.error(request, _error_text(error))
        tickets = cluster.tickets.select_related("category", "lead_department").order_by("received_at")
        context = {
            **self.admin_site.each_context(request),
            "opts": self.opts,
            "title": str(cluster),
            "cluster": cluster,
            "tickets": tickets,
            "escalate_form": escalate,
            "may_act": may_act,
            "theme_url": (
                reverse("admin:cases_theme_add")
                + "?"
                + theme_prefill(
                    origin=Theme.Origin.CLUSTER,
                    title=cluster.summary or str(cluster),
                    category=cluster.category,
                    place=cluster.community or cluster.street,
                    cluster=cluster,
                )
                if themes_manage(request.user)
                else ""
            ),
        }
        return TemplateResponse(request, "admin/cases/cluster/detail.html", context)
