"""The dashboard and the 未诉先办 pages, on the admin site."""

from urllib.parse import quote

from django.conf import settings
from django.core.exceptions import PermissionDenied
from django.http import FileResponse, Http404, HttpResponse, JsonResponse
from django.shortcuts import get_object_or_404
from django.template.response import TemplateResponse
from django.utils.translation import gettext as _
from django.utils.translation import gettext_lazy

from cases import clock
from cases.models import Category, Ticket
from cases.selectors.scope import (
    dispatch_accuracy_unit_ids,
    export_job_scope,
    is_citywide,
    reports_visible,
    stats_units_cut,
    subcentres,
)
from departments.models import Department

from .accuracy import ACCURACY_AXES, COLUMNS, accuracy_table
from .axes import AXES, axis_check, axis_columns, axis_sort, axis_table, period_parse
from .dashboard import dashboard_data, period_from, territory_from
from .excel import accuracy_workbook, axis_workbook
from .hotspots import clusters_behind
from .incidents import incident_table
from .models import ExportJob
from .reasons import reason_table


def _require_citywide(request):
    """Dashboards, rankings and hotspots span every unit (``reports_visible``)."""
    if not (request.user.is_staff and reports_visible(request.user)):
        raise PermissionDenied


def dashboard_view(request, admin_site):
    _require_citywide(request)
    context = {
        **admin_site.each_context(request),
        "title": _("数据看板"),
        "territories": Department.objects.filter(
            kind__in=[Department.Kind.DISTRICT, Department.Kind.STREET], is_active=True
        ).order_by("path"),
        "params": request.GET,
        "ranking_min_tickets": settings.HOTLINE_METRICS["ranking_min_tickets"],
    }
    return TemplateResponse(request, "reports/dashboard.html", context)


def dashboard_data_view(request):
    _require_citywide(request)
    data = dashboard_data(period_from(request.GET), territory_from(request.GET))
    return JsonResponse(data, json_dumps_params={"ensure_ascii": False})


PERIOD_CHOICES = {
    "day": gettext_lazy("日"),
    "week": gettext_lazy("周"),
    "month": gettext_lazy("月"),
    "year": gettext_lazy("年"),
    "range": gettext_lazy("自定义期间"),
}


def _statistics(request):
    """The 统计分析 table a request asks for: (axis, period, columns, rows, total
    row, error). Whose numbers: ``stats_unit_ids`` (a unit its own subtree), cut
    to one sub-centre by ``centre`` (``stats_units_cut``)."""
    units = stats_units_cut(request.user, request.GET.get("centre"))
    if not request.user.is_staff or units == []:
        raise PermissionDenied
    params = request.GET
    axis = params.get("axis") or "department"
    try:
        axis_check(axis)
        period = period_parse(
            params.get("period") or "month",
            day=params.get("day", ""),
            first=params.get("from", ""),
            last=params.get("to", ""),
            today=clock.local_day(),
        )
        table = axis_table(period, axis=axis, units=units)
        rows = axis_sort(table.rows, params.get("sort", ""))
    except ValueError as exc:
        return axis if axis in AXES else "department", None, {}, [], None, str(exc)
    return axis, period, axis_columns(axis), rows, table.total_row(), ""


def statistics_view(request, admin_site):
    """统计分析: every rate on every axis, sortable, exportable as shown."""
    axis, period, columns, rows, total, error = _statistics(request)
    title = _("统计分析")
    if period is not None:
        title = _("统计分析（%(axis)s，%(start)s 至 %(end)s）") % {
            "axis": AXES[axis],
            "start": period.start.isoformat(),
            "end": period.end.isoformat(),
        }
    accuracy_units = dispatch_accuracy_unit_ids(request.user)
    accuracy = (
        accuracy_table(period, axis="centre", units=accuracy_units)
        if period is not None and accuracy_units != []
        else None
    )
    if request.GET.get("format") == "xlsx" and not error:
        body = axis_workbook(title=title, columns=columns, rows=rows, total=total, accuracy=accuracy)
        response = HttpResponse(body, content_type="application/vnd.openxmlformats-officedocument.spreadsheetml.sheet")
        response["Content-Disposition"] = f"attachment; filename*=UTF-8''{quote(title)}.xlsx"
        return response
    current = request.GET.get("sort", "")
    headers = []
    for key, label in columns.items():
        query = request.GET.copy()
        query.pop("format", None)
        query["sort"] = f"-{key}" if current == key else key
        headers.append(
            {
                "key": key,
                "label": label,
                "url": "?" + query.urlencode(),
                "sorted": "asc" if current == key else "desc" if current == f"-{key}" else "",
            }
        )
    export = request.GET.copy()
    export["format"] = "xlsx"
    context = {
        **admin_site.each_context(request),
        "title": title,
        "axes": AXES,
        "periods": PERIOD_CHOICES,
        "axis": axis,
        "period_kind": request.GET.get("period") or "month",
        "params": request.GET,
        "headers": headers,
        "table": [[(key, row.value(key)) for key in columns] for row in rows],
        "total": [(key, total.value(key)) for key in columns] if total else [],
        "export_url": "?" + export.urlencode(),
        "error": error,
        "period": period,
        "reasons": (
            reason_table(period, units=stats_units_cut(request.user, request.GET.get("centre")))
            if period is not None
            else None
        ),
        # the 分中心 cut: the hotline centre's staff choose; a sub-centre's see their own
        "centres": subcentres() if is_citywide(request.user) else [],
        "accuracy": accuracy,
        "accuracy_columns": COLUMNS,
        "incidents": incident_table(period, user=request.user) if period is not None else None,
    }
    return TemplateResponse(request, "reports/statistics.html", context)


def _xlsx(body: bytes, title: str) -> HttpResponse:
    response = HttpResponse(body, content_type="application/vnd.openxmlformats-officedocument.spreadsheetml.sheet")
    response["Content-Disposition"] = f"attachment; filename*=UTF-8''{quote(title)}.xlsx"
    return response


def dispatch_accuracy_view(request, admin_site):
    """派单准确率: per dispatcher, dispatching unit (centre or sub-centre) or category,
    for a period by dispatch time (``reports.accuracy``); the centre's roles only,
    each seeing the dispatches made from its own scope (``dispatch_accuracy_unit_ids``)."""
    units = dispatch_accuracy_unit_ids(request.user)
    if not request.user.is_staff or units == []:
        raise PermissionDenied
    params = request.GET
    axis = params.get("axis") or "dispatcher"
    table, period, error = None, None, ""
    try:
        if axis not in ACCURACY_AXES:
            raise ValueError(_("统计维度无效。"))
        period = period_parse(
            params.get("period") or "month",
            day=params.get("day", ""),
            first=params.get("from", ""),
            last=params.get("to", ""),
            today=clock.local_day(),
        )
        table = accuracy_table(period, axis=axis, units=units)
    except ValueError as exc:
        axis, error = "dispatcher" if axis not in ACCURACY_AXES else axis, str(exc)
    title = _("派单准确率")
    if period is not None:
        title = _("派单准确率（%(axis)s，%(start)s 至 %(end)s）") % {
            "axis": ACCURACY_AXES[axis][0],
            "start": period.start.isoformat(),
            "end": period.end.isoformat(),
        }
    if params.get("format") == "xlsx" and table is not None:
        return _xlsx(accuracy_workbook(title=title, table=table), title)
    export = params.copy()
    export["format"] = "xlsx"
    context = {
        **admin_site.each_context(request),
        "title": title,
        "axes": {key: label for key, (label, _field) in ACCURACY_AXES.items()},
        "periods": PERIOD_CHOICES,
        "axis": axis,
        "period_kind": params.get("period") or "month",
        "params": params,
        "accuracy": table,
        "accuracy_columns": COLUMNS,
        "export_url": "?" + export.urlencode(),
        "error": error,
    }
    return TemplateResponse(request, "reports/dispatch_accuracy.html", context)


def hotspot_view(request, admin_site, community_id, category_id):
    """ "Solve the class, not one case": the clusters and tickets behind a hotspot."""
    _require_citywide(request)
    community = get_object_or_404(Department, pk=community_id, kind=Department.Kind.COMMUNITY)
    category = get_object_or_404(Category, pk=category_id)
    period = period_from(request.GET)
    start, end = period.bounds
    tickets = (
        Ticket.objects.filter(
            community=community, category__path__startswith=category.path, received_at__gte=start, received_at__lt=end
        )
        .select_related("category", "lead_department")
        .order_by("-received_at")[:200]
    )
    context = {
        **admin_site.each_context(request),
        "title": _("热点：%(community)s · %(category)s") % {"community": community.name, "category": category.name},
        "community": community,
        "category": category,
        "clusters": clusters_behind(community.pk, category.pk),
        "tickets": tickets,
        "period": period,
    }
    return TemplateResponse(request, "reports/hotspot.html", context)


def export_download_view(request, pk):
    job = export_job_scope(ExportJob.objects.all(), request.user).filter(pk=pk).first()
    if job is None or not job.file:
        raise Http404
    return FileResponse(job.file.open("rb"), as_attachment=True, filename=job.file.name.rsplit("/", 1)[-1])


def export_status_view(request, pk):
    job = export_job_scope(ExportJob.objects.all(), request.user).filter(pk=pk).first()
    if job is None:
        raise Http404
    return JsonResponse(
        {
            "status": job.status,
            "label": job.get_status_display(),
            "percent": job.percent,
            "done": job.done_rows,
            "total": job.total,
            "error": job.error,
        }
    )
