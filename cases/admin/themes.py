"""每月一题 in the admin: created by hand, or from a hotspot or a cluster (their
pages link here with the rule filled in); edited by the centre's supervisors and
leaders (``themes_manage``); seen by the units they concern (``theme_scope``).
The theme's own page (figures, tasks, tickets) is ``reports.views.theme_view``."""

from django import forms
from django.contrib import admin
from django.http import Http404, HttpResponseRedirect
from django.urls import reverse
from django.utils.html import format_html
from django.utils.translation import gettext
from django.utils.translation import gettext_lazy as _
from simple_history.admin import SimpleHistoryAdmin

from config.admin_input import SafeInputAdminMixin, object_pk_or_404

from ..models import Theme, ThemeTask
from ..selectors.scope import theme_scope, themes_manage, themes_visible
from ..theme_actions import theme_rule_changed
from ..themes import rule_check

#: Changing any of these re-links the theme's past tickets.
RULE_FIELDS = {"categories", "territories", "keywords", "started_on", "ended_on"}


class ThemeForm(forms.ModelForm):
    class Meta:
        model = Theme
        fields = [
            "title",
            "lead_department",
            "co_departments",
            "started_on",
            "ended_on",
            "state",
            "categories",
            "territories",
            "keywords",
            "origin",
            "origin_cluster",
            "origin_community",
            "origin_category",
            "description",
        ]

    def clean(self):
        data = super().clean()
        rule_check(
            categories=data.get("categories"),
            territories=data.get("territories"),
            keywords=data.get("keywords", ""),
            started_on=data.get("started_on"),
            ended_on=data.get("ended_on"),
        )
        if data.get("state") == Theme.State.CLOSED and not data.get("ended_on"):
            self.add_error("ended_on", gettext("结束一个每月一题须填写结束日期。"))
        return data


class ThemeTaskInline(SafeInputAdminMixin, admin.TabularInline):
    model = ThemeTask
    extra = 1
    fields = ["title", "department", "deadline", "done_at"]
    autocomplete_fields = ["department"]


class _Manage:
    def has_module_permission(self, request):
        return request.user.is_staff and themes_visible(request.user)

    def has_view_permission(self, request, obj=None):
        return self.has_module_permission(request)

    def has_add_permission(self, request, obj=None):
        return request.user.is_staff and themes_manage(request.user)

    def has_change_permission(self, request, obj=None):
        return request.user.is_staff and themes_manage(request.user)

    def has_delete_permission(self, request, obj=None):
        return False  # a theme is ended, never deleted (DESIGN §8)


class ThemeTaskInlineManaged(_Manage, ThemeTaskInline):
    pass


@admin.register(Theme)
class ThemeAdmin(_Manage, SafeInputAdminMixin, SimpleHistoryAdmin):
    form = ThemeForm
    inlines = [ThemeTaskInlineManaged]
    list_display = ["title_link", "lead_department", "started_on", "ended_on", "state", "origin"]
    list_display_links = None
    list_filter = ["state", "origin"]
    search_fields = ["title", "keywords"]
    list_select_related = ["lead_department"]
    autocomplete_fields = [
        "lead_department",
        "co_departments",
        "categories",
        "territories",
        "origin_cluster",
        "origin_community",
        "origin_category",
    ]
    fieldsets = [
        (None, {"fields": ["title", "lead_department", "co_departments", "started_on", "ended_on", "state"]}),
        (_("匹配规则"), {"fields": ["categories", "territories", "keywords"]}),
        (_("来源"), {"fields": ["origin", "origin_cluster", "origin_community", "origin_category", "description"]}),
    ]

    def get_queryset(self, request):
        return theme_scope(super().get_queryset(request), request.user)

    def _scoped_or_404(self, request, object_id):
        pk = object_pk_or_404(self.model, object_id)
        if not self.get_queryset(request).filter(pk=pk).exists():
            raise Http404
        return pk

    def history_view(self, request, object_id, extra_context=None):
        """simple-history reads the versions by id: the theme's scope first."""
        self._scoped_or_404(request, object_id)
        return super().history_view(request, object_id, extra_context)

    def history_form_view(self, request, object_id, version_id, extra_context=None):
        self._scoped_or_404(request, object_id)
        return super().history_form_view(request, object_id, version_id, extra_context)

    @admin.display(description=_("题目"), ordering="title")
    def title_link(self, obj):
        return format_html('<a href="{}">{}</a>', reverse("admin:theme", args=[obj.pk]), obj.title)

    def changelist_view(self, request, extra_context=None):
        extra_context = {**(extra_context or {}), "monthly_url": reverse("admin:theme_monthly")}
        return super().changelist_view(request, extra_context)

    def save_model(self, request, obj, form, change):
        if not change:
            obj.created_by = request.user
        super().save_model(request, obj, form, change)

    def save_related(self, request, form, formsets, change):
        super().save_related(request, form, formsets, change)
        if not change or RULE_FIELDS & set(form.changed_data):
            theme_rule_changed(form.instance)

    def response_change(self, request, obj):
        if "_continue" in request.POST or "_addanother" in request.POST or "_saveasnew" in request.POST:
            return super().response_change(request, obj)
        super().response_change(request, obj)  # its message
        return HttpResponseRedirect(reverse("admin:theme", args=[obj.pk]))

    def response_add(self, request, obj, post_url_continue=None):
        response = super().response_add(request, obj, post_url_continue)
        if "_continue" in request.POST or "_addanother" in request.POST:
            return response
        return HttpResponseRedirect(reverse("admin:theme", args=[obj.pk]))
