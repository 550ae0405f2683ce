from urllib.parse import quote

from django.contrib import admin, messages
from django.http import Http404, HttpResponse, HttpResponseRedirect
from django.template.response import TemplateResponse
from django.urls import path, reverse
from django.utils.html import format_html
from django.utils.translation import gettext
from django.utils.translation import gettext_lazy as _

from cases.selectors.scope import export_job_scope, report_scope, reports_visible, subscription_scope
from config.admin_input import SafeInputAdminMixin, object_pk_or_404
from config.admin_site import ReadOnlyAdminMixin

from .excel import report_workbook
from .export_jobs import export_create
from .metrics import RATE_LABELS
from .models import ExportJob, Report, ReportSubscription, Spike
from .reporting import report_shown_title


class CitywideOnly(ReadOnlyAdminMixin):
    """Rankings and reports span every unit: the centre's roles and leaders
    (``report_scope``)."""

    def get_queryset(self, request):
        return report_scope(super().get_queryset(request), request.user)

    def has_module_permission(self, request):
        return request.user.is_staff and reports_visible(request.user)

    def has_view_permission(self, request, obj=None):
        return self.has_module_permission(request)


@admin.register(Report)
class ReportAdmin(CitywideOnly, admin.ModelAdmin):
    list_display = ["title_link", "kind", "period_start", "period_end", "issued_at", "xlsx_link"]
    list_display_links = None
    list_filter = ["kind"]
    show_full_result_count = False

    @admin.display(description=_("标题"), ordering="period_start")
    def title_link(self, obj):
        url = reverse("admin:reports_report_view", args=[obj.pk])
        return format_html('<a href="{}">{}</a>', url, report_shown_title(obj))

    @admin.display(description=_("Excel"))
    def xlsx_link(self, obj):
        return format_html('<a href="{}">{}</a>', reverse("admin:reports_report_xlsx", args=[obj.pk]), gettext("下载"))

    def get_urls(self):
        wrap = self.admin_site.admin_view
        return [
            path("<int:pk>/view/", wrap(self.report_view), name="reports_report_view"),
            path("<int:pk>/xlsx/", wrap(self.xlsx_view), name="reports_report_xlsx"),
            *super().get_urls(),
        ]

    def change_view(self, request, object_id, form_url="", extra_context=None):
        return HttpResponseRedirect(
            reverse("admin:reports_report_view", args=[object_pk_or_404(self.model, object_id)])
        )

    def _report(self, request, pk):
        if not self.has_view_permission(request):
            raise Http404
        report = self.get_queryset(request).filter(pk=pk).first()
        if report is None:
            raise Http404
        return report

    def report_view(self, request, pk):
        report = self._report(request, pk)
        context = {
            **self.admin_site.each_context(request),
            "opts": self.opts,
            "title": report_shown_title(report),
            "report": report,
            "data": report.data,
            # Stored with Chinese labels; shown in the reader's language (catalogued).
            "rate_labels": {name: gettext(label) for name, label in RATE_LABELS.items()},
            "unit_rates": ["response", "resolution", "satisfaction", "composite", "on_time", "sign_on_time"],
        }
        return TemplateResponse(request, "reports/report.html", context)

    def xlsx_view(self, request, pk):
        report = self._report(request, pk)
        response = HttpResponse(
            report_workbook(report), content_type="application/vnd.openxmlformats-officedocument.spreadsheetml.sheet"
        )

        response["Content-Disposition"] = f"attachment; filename*=UTF-8''{quote(report_shown_title(report))}.xlsx"
        return response


@admin.register(ReportSubscription)
class ReportSubscriptionAdmin(SafeInputAdminMixin, admin.ModelAdmin):
    list_display = ["user", "kind"]
    list_filter = ["kind"]
    autocomplete_fields = ["user"]

    def has_module_permission(self, request):
        return request.user.is_staff and reports_visible(request.user)

    def get_queryset(self, request):
        return subscription_scope(super().get_queryset(request), request.user).select_related("user")

    def has_view_permission(self, request, obj=None):
        return self.has_module_permission(request)

    def has_add_permission(self, request):
        return self.has_module_permission(request)

    def has_change_permission(self, request, obj=None):
        return self.has_module_permission(request)  # the rows themselves come from subscription_scope

    def has_delete_permission(self, request, obj=None):
        return self.has_change_permission(request, obj)

    def get_form(self, request, obj=None, **kwargs):
        form = super().get_form(request, obj, **kwargs)
        if not request.user.is_superuser:
            form.base_fields["user"].queryset = form.base_fields["user"].queryset.filter(pk=request.user.pk)
            form.base_fields["user"].initial = request.user.pk
        return form


@admin.register(ExportJob)
class ExportJobAdmin(ReadOnlyAdminMixin, admin.ModelAdmin):
    """Everyone's own exports (``export_job_scope``), with progress and the file when done."""

    list_display = ["created_at", "status", "progress", "total", "download"]
    list_display_links = None
    change_list_template = "reports/exportjob_change_list.html"

    def get_queryset(self, request):
        return export_job_scope(super().get_queryset(request), request.user)

    def has_module_permission(self, request):
        return request.user.is_active and request.user.is_staff

    def has_view_permission(self, request, obj=None):
        return self.has_module_permission(request)  # the rows themselves come from get_queryset

    @admin.display(description=_("进度"))
    def progress(self, obj):
        return format_html(
            '<progress max="100" value="{}" data-export-status="{}"></progress> '
            '<span class="export-percent">{}%</span>',
            obj.percent,
            reverse("admin:export_status", args=[obj.pk]),
            obj.percent,
        )

    @admin.display(description=_("文件"))
    def download(self, obj):
        if obj.status == ExportJob.Status.DONE and obj.file:
            return format_html('<a href="{}">{}</a>', reverse("admin:export_download", args=[obj.pk]), gettext("下载"))
        if obj.status == ExportJob.Status.FAILED:
            return obj.error[:80]
        return "—"


@admin.register(Spike)
class SpikeAdmin(CitywideOnly, admin.ModelAdmin):
    list_display = ["day", "community", "category", "count", "baseline"]
    list_filter = ["day"]
    list_select_related = ["community", "category__parent__parent"]  # the category shows its full path


def start_ledger_export(request, query: str):
    job = export_create(user=request.user, query=query)
    messages.success(
        request,
        format_html(
            '{} <a href="{}">{}</a>',
            gettext("台账导出已开始，完成后可在“导出任务”中下载。"),
            reverse("admin:reports_exportjob_changelist"),
            gettext("查看进度"),
        ),
    )
    return job
