"""突发事件公告 in the admin: declare, edit while open, close (``cases.incidents``)."""

from django import forms
from django.contrib import admin, messages
from django.core.exceptions import PermissionDenied, ValidationError
from django.db.models import Count, Q
from django.http import Http404, HttpResponseRedirect
from django.template.response import TemplateResponse
from django.urls import path, reverse
from django.utils.html import format_html
from django.utils.translation import gettext
from django.utils.translation import gettext_lazy as _
from simple_history.admin import SimpleHistoryAdmin

from config.admin_input import SafeInputAdminMixin, object_pk_or_404
from departments.models import Department, Grid

from .. import clock
from ..incidents import incident_close, incident_update, incident_validate
from ..models import Category, Incident, IncidentLink
from ..selectors.scope import incident_declaring_units, incident_may_declare, incident_may_manage, incident_scope


class AreaField(forms.JSONField):
    """The drawn area as GeoJSON text; empty is no area."""

    def to_python(self, value):
        if value in (None, "") or (isinstance(value, str) and not value.strip()):
            return None
        return super().to_python(value)


class IncidentForm(forms.ModelForm):
    area = AreaField(
        label=Incident._meta.get_field("area").verbose_name,
        help_text=Incident._meta.get_field("area").help_text,
        required=False,
        widget=forms.Textarea(attrs={"rows": 4, "cols": 80}),
        error_messages={"invalid": _("影响范围不是有效的 JSON。")},
    )

    class Meta:
        model = Incident
        fields = [
            "kind",
            "title",
            "category",
            "declared_by",
            "departments",
            "grids",
            "area",
            "starts_at",
            "expected_end_at",
            "notice",
        ]

    def __init__(self, *args, user=None, **kwargs):
        super().__init__(*args, **kwargs)
        self.user = user
        if "declared_by" in self.fields:
            self.fields["declared_by"].queryset = incident_declaring_units(user).order_by("path")
        if "category" in self.fields:
            self.fields["category"].queryset = Category.objects.filter(is_active=True).order_by("path")
        if "departments" in self.fields:
            self.fields["departments"].queryset = Department.objects.filter(
                kind__in=Department.TERRITORIAL_KINDS, is_active=True
            ).order_by("path")
        if "grids" in self.fields:
            self.fields["grids"].queryset = Grid.objects.filter(is_active=True).select_related("community")

    def clean(self):
        cleaned = super().clean()
        if self.errors:
            return cleaned
        try:
            title, notice, area = incident_validate(
                title=cleaned.get("title"),
                starts_at=cleaned.get("starts_at"),
                expected_end_at=cleaned.get("expected_end_at"),
                notice=cleaned.get("notice"),
                departments=cleaned.get("departments") or [],
                grids=cleaned.get("grids") or [],
                area=cleaned.get("area"),
            )
        except ValidationError as error:
            for field, errors in error.error_dict.items():
                self.add_error(field if field in self.fields else None, errors)
            return cleaned
        cleaned.update(title=title, notice=notice, area=area)
        return cleaned


class IncidentCloseForm(forms.Form):
    result = forms.CharField(
        label=_("处置结果"),
        widget=forms.Textarea(attrs={"rows": 4, "cols": 80}),
        help_text=_("将作为主工单及所有并入工单的办理结果。"),
    )


class IncidentLinkInline(admin.TabularInline):
    model = IncidentLink
    fields = ["ticket_link", "mode", "linked_at", "linked_by"]
    readonly_fields = fields
    extra = 0
    can_delete = False
    max_num = 0
    show_change_link = False
    verbose_name_plural = _("关联来电（最近 50 件）")

    def get_queryset(self, request):
        return super().get_queryset(request).select_related("ticket", "linked_by").order_by("-linked_at")

    def get_formset(self, request, obj=None, **kwargs):
        formset = super().get_formset(request, obj, **kwargs)
        base = formset.get_queryset

        def limited(this):
            return base(this)[:50]

        formset.get_queryset = limited
        return formset

    @admin.display(description=_("工单"))
    def ticket_link(self, obj):
        return format_html(
            '<a href="{}">{}</a>', reverse("admin:cases_ticket_change", args=[obj.ticket_id]), obj.ticket.number
        )

    def has_add_permission(self, request, obj=None):
        return False

    def has_change_permission(self, request, obj=None):
        return False


@admin.register(Incident)
class IncidentAdmin(SafeInputAdminMixin, SimpleHistoryAdmin):
    form = IncidentForm
    inlines = [IncidentLinkInline]
    list_display = [
        "title",
        "kind",
        "category",
        "declared_by",
        "status",
        "starts_at",
        "expected_end_at",
        "calls",
        "closed_at",
    ]
    list_filter = ["status", "kind"]
    search_fields = ["title", "notice"]
    list_select_related = ["category__parent__parent", "declared_by"]
    readonly_fields = ["status", "declared_at", "declared_user", "master_link", "calls_summary", "result", "closed_at"]
    filter_horizontal = ["departments", "grids"]
    show_full_result_count = False

    def get_queryset(self, request):
        return incident_scope(super().get_queryset(request), request.user).annotate(
            calls_n=Count("links", distinct=True),
            answered_n=Count("links", filter=Q(links__mode=IncidentLink.Mode.ANSWERED), distinct=True),
        )

    def get_form(self, request, obj=None, change=False, **kwargs):
        form = super().get_form(request, obj, change=change, **kwargs)
        user = request.user

        class ScopedForm(form):
            def __init__(self, *args, **kw):
                super().__init__(*args, user=user, **kw)

        return ScopedForm

    def has_add_permission(self, request):
        return super().has_add_permission(request) and incident_may_declare(request.user)

    def has_change_permission(self, request, obj=None):
        if not super().has_change_permission(request, obj):
            return False
        if obj is None:
            return incident_may_declare(request.user)
        return obj.is_open and incident_may_manage(request.user, obj)

    def has_delete_permission(self, request, obj=None):
        return False  # nothing is ever deleted; an incident is closed

    def revert_disabled(self, request, obj=None):
        return True

    def save_model(self, request, obj, form, change):
        if change:
            incident_update(incident=obj, actor=request.user)
        else:
            obj.declared_at = clock.now()
            obj.declared_user = request.user
        obj._history_user = request.user
        obj._change_reason = "changed" if change else "declared"
        super().save_model(request, obj, form, change)

    @admin.display(description=_("关联来电"), ordering="calls_n")
    def calls(self, obj):
        return getattr(obj, "calls_n", None)

    @admin.display(description=_("关联来电"))
    def calls_summary(self, obj):
        if obj.pk is None:
            return "—"
        answered = getattr(obj, "answered_n", 0)
        total = getattr(obj, "calls_n", 0)
        return gettext("共 %(total)d 件：以公告直接答复 %(answered)d 件，并入主工单 %(merged)d 件") % {
            "total": total,
            "answered": answered,
            "merged": total - answered,
        }

    @admin.display(description=_("主工单"))
    def master_link(self, obj):
        if obj.master_ticket_id is None:
            return "—"
        return format_html(
            '<a href="{}">{}</a>',
            reverse("admin:cases_ticket_change", args=[obj.master_ticket_id]),
            obj.master_ticket.number,
        )

    def get_urls(self):
        wrap = self.admin_site.admin_view
        return [
            path("<path:object_id>/close/", wrap(self.close_view), name="cases_incident_close"),
            *super().get_urls(),
        ]

    def change_view(self, request, object_id, form_url="", extra_context=None):
        extra_context = extra_context or {}
        obj = self.get_object(request, object_id)
        if obj is not None and obj.is_open and incident_may_manage(request.user, obj):
            extra_context["close_url"] = reverse("admin:cases_incident_close", args=[obj.pk])
        return super().change_view(request, object_id, form_url, extra_context)

    def _scoped_or_404(self, request, object_id) -> Incident:
        pk = object_pk_or_404(Incident, object_id)
        incident = self.get_queryset(request).filter(pk=pk).first()
        if incident is None:
            raise Http404
        return incident

    def history_view(self, request, object_id, extra_context=None):
        self._scoped_or_404(request, object_id)
        return super().history_view(request, object_id, extra_context)

    def history_form_view(self, request, object_id, version_id, extra_context=None):
        self._scoped_or_404(request, object_id)
        if request.method == "POST":
            raise PermissionDenied  # no reverting past the services (a closed incident stays closed)
        return super().history_form_view(request, object_id, version_id, extra_context)

    def close_view(self, request, object_id):
        """结束事件: the result goes to the master ticket and every merged call."""
        incident = self._scoped_or_404(request, object_id)
        if not incident.is_open or not incident_may_manage(request.user, incident):
            raise PermissionDenied
        form = IncidentCloseForm(request.POST or None)
        if request.method == "POST" and form.is_valid():
            try:
                incident_close(incident=incident, actor=request.user, result=form.cleaned_data["result"])
            except (ValidationError, PermissionDenied) as error:
                text = " ".join(error.messages) if isinstance(error, ValidationError) else str(error)
                form.add_error(None, text)
            else:
                messages.success(request, gettext("事件已结束：%(title)s。") % {"title": incident.title})
                return HttpResponseRedirect(reverse("admin:cases_incident_change", args=[incident.pk]))
        context = {
            **self.admin_site.each_context(request),
            "opts": self.opts,
            "title": gettext("结束事件：%(title)s") % {"title": incident.title},
            "incident": incident,
            "form": form,
            "has_view_permission": True,
        }
        return TemplateResponse(request, "admin/cases/incident/close.html", context)
