"""The dashboard and the 未诉先办 pages, on the admin site."""

from datetime import timedelta
from urllib.parse import quote

from django.conf import settings
from django.contrib.auth.views import redirect_to_login
from django.core.exceptions import PermissionDenied
from django.http import FileResponse, Http404, HttpResponse, JsonResponse
from django.shortcuts import get_object_or_404
from django.template.response import TemplateResponse
from django.urls import reverse
from django.utils.translation import gettext as _
from django.utils.translation import gettext_lazy
from django.views.decorators.cache import never_cache
from django.views.decorators.http import require_safe

from cases import clock
from cases.archive import ArchivedPeriod
from cases.models import Category, Theme, Ticket
from cases.privacy import shown_text
from cases.selectors.scope import (
    dispatch_accuracy_unit_ids,
    export_job_scope,
    is_citywide,
    reports_visible,
    stats_unit_ids,
    stats_units_cut,
    subcentres,
    theme_scope,
    themes_manage,
    themes_visible,
    ticket_scope,
    wall_centre,
)
from cases.themes import theme_prefill
from config.replicas import replica_view
from departments.geo import boundaries_geojson
from departments.models import Department

from .accuracy import ACCURACY_AXES, COLUMNS, accuracy_table
from .axes import AXES, axis_check, axis_columns, axis_sort, axis_table, period_parse
from .dashboard import dashboard_data, period_from, territory_from
from .excel import accuracy_workbook, axis_workbook, theme_month_workbook
from .hotspots import clusters_behind
from .incidents import incident_table
from .models import ExportJob
from .placemap import LEVELS, map_payload, parent_unit, place_numbers
from .reasons import reason_table
from .themes import THREE_RATES, month_parse, theme_figures, theme_tickets, themes_month
from .wall import wall_data


def _require_citywide(request):
    """Dashboards, rankings and hotspots span every unit (``reports_visible``)."""
    if not (request.user.is_staff and reports_visible(request.user)):
        raise PermissionDenied


@replica_view
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
        "map_metrics": MAP_METRICS.items(),
    }
    return TemplateResponse(request, "reports/dashboard.html", context)


@replica_view
def dashboard_data_view(request):
    _require_citywide(request)
    try:
        data = dashboard_data(period_from(request.GET), territory_from(request.GET))
    except ArchivedPeriod as refused:  # a period reaching into archived years (cases.archive)
        return _bad_request(refused)
    return JsonResponse(data, json_dumps_params={"ensure_ascii": False})


#: The map's metric switch (``reports.placemap.METRICS``), labelled.
MAP_METRICS = {
    "volume": gettext_lazy("受理量"),
    "open": gettext_lazy("未办结"),
    "overdue": gettext_lazy("超期"),
    "satisfaction": gettext_lazy("满意率"),
    "spikes": gettext_lazy("突增预警"),
}


def _bad_request(message) -> JsonResponse:
    return JsonResponse({"error": str(message)}, status=400, json_dumps_params={"ensure_ascii": False})


def _map_level(params):
    """(level, parent) of a map request; ``ValueError`` with the reader's message."""
    level = params.get("level") or "district"
    if level not in LEVELS:
        raise ValueError(_("地图层级无效。"))
    try:
        parent = parent_unit(level, params.get("parent"))
    except ValueError:
        raise ValueError(_("上级区域无效。")) from None
    return level, parent


def _geo(params):
    level, parent = _map_level(params)
    return boundaries_geojson(level, parent)


@replica_view
def map_data_view(request):
    """The map's numbers by place, for the tickets the reader may see (``ticket_scope``:
    a street's staff their own street's tickets); spikes of the communities whose
    numbers they may see (``stats_unit_ids``)."""
    if not request.user.is_staff:
        raise PermissionDenied
    try:
        level, parent = _map_level(request.GET)
    except ValueError as exc:
        return _bad_request(exc)
    citywide = is_citywide(request.user)
    tickets = None if citywide else ticket_scope(Ticket.objects.all(), request.user)
    numbers = place_numbers(
        level,
        period_from(request.GET),
        tickets=tickets,
        parent=parent,
        spike_units=None if citywide else (stats_unit_ids(request.user) or []),
    )
    payload = map_payload(level, numbers, parent)
    changelist = reverse("admin:cases_ticket_changelist")
    for place in payload["places"]:
        key = "grid" if level == "grid" else "territory"
        place["url"] = f"{changelist}?{key}={place['id']}&state=all"
    return JsonResponse(payload, json_dumps_params={"ensure_ascii": False})


def map_geo_view(request):
    """The boundaries of a map level (reference data, the same for every reader)."""
    try:
        return JsonResponse(_geo(request.GET), json_dumps_params={"ensure_ascii": False})
    except ValueError as exc:
        return _bad_request(exc)


def _wall_centre_or_refuse(request):
    centre = wall_centre(request.user)
    if centre is None:
        raise PermissionDenied
    return centre


@require_safe
@never_cache
@replica_view
def wall_view(request):
    """The wall screen (大屏): a page of its own, outside the admin, for the centre's
    display account (and the centre's staff); it refreshes itself from ``wall_data``."""
    if not request.user.is_authenticated:
        return redirect_to_login(request.get_full_path(), reverse("admin:login"))
    centre = _wall_centre_or_refuse(request)
    context = {
        "centre_name": centre.unit.name if centre.unit is not None else _("全市"),
        "data_url": reverse("wall_data"),
        "geo_url": reverse("wall_geo"),
        "refresh_seconds": settings.HOTLINE_WALL_REFRESH_SECONDS,
        "rotate_seconds": settings.HOTLINE_WALL_ROTATE_SECONDS,
    }
    return TemplateResponse(request, "reports/wall.html", context)


@require_safe
@never_cache
@replica_view
def wall_data_view(request):
    centre = _wall_centre_or_refuse(request)
    return JsonResponse(wall_data(centre), json_dumps_params={"ensure_ascii": False})


@require_safe
def wall_geo_view(request):
    _wall_centre_or_refuse(request)
    try:
        return JsonResponse(_geo(request.GET), json_dumps_params={"ensure_ascii": False})
    except ValueError as exc:
        return _bad_request(exc)


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


@replica_view
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


@replica_view
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


@replica_view
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
        "theme_url": (
            reverse("admin:cases_theme_add")
            + "?"
            + theme_prefill(
                origin=Theme.Origin.HOTSPOT,
                title=_("%(community)s%(category)s") % {"community": community.name, "category": category.name},
                category=category,
                place=community,
            )
            if themes_manage(request.user)
            else ""
        ),
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


# -- 每月一题 ---------------------------------------------------------------------------------


def _theme_rows(theme, tickets, limit=200):
    """The theme's linked tickets the reader may see, newest first, their text masked."""
    rows = (
        theme_tickets(theme, tickets)
        .select_related("category", "lead_department")
        .only(
            "number",
            "received_at",
            "state",
            "content",
            "citizen_name",
            "category__name",
            "lead_department__name",
        )
        .order_by("-received_at")[:limit]
    )
    return [{"ticket": t, "text": shown_text(t.content, t)} for t in rows]


@replica_view
def theme_view(request, admin_site, pk):
    """A theme's page: its class's weekly volume and 三率 before and since it
    started, its tasks, and its linked tickets — all within the reader's scope
    (``theme_scope`` for the theme, ``ticket_scope`` for the tickets and figures)."""
    if not (request.user.is_staff and themes_visible(request.user)):
        raise PermissionDenied
    theme = get_object_or_404(theme_scope(Theme.objects.select_related("lead_department"), request.user), pk=pk)
    visible = ticket_scope(Ticket.objects.all(), request.user)
    today = clock.local_day()
    figures = theme_figures(theme, tickets=visible, today=today)
    tasks = [
        {
            "task": task,
            "colour": (
                "done"
                if task.done_at
                else "overdue"
                if task.deadline < today
                else "soon"
                if task.deadline <= today + timedelta(days=3)
                else "open"
            ),
        }
        for task in theme.tasks.select_related("department")
    ]
    context = {
        **admin_site.each_context(request),
        "title": _("每月一题：%(title)s") % {"title": theme.title},
        "theme": theme,
        "figures": figures,
        "tasks": tasks,
        "tickets": _theme_rows(theme, visible),
        "linked": theme_tickets(theme, visible).count(),
        "may_edit": themes_manage(request.user),
        "lookback_weeks": settings.HOTLINE_THEME_LOOKBACK_WEEKS,
        "chart": {
            "labels": [w["start"] for w in figures["weeks"]],
            "received": [w["received"] for w in figures["weeks"]],
            "since": [w["since"] for w in figures["weeks"]],
            **{
                name: [None if w[name] is None else round(w[name] * 100, 1) for w in figures["weeks"]]
                for name in THREE_RATES
            },
        },
    }
    return TemplateResponse(request, "reports/theme.html", context)


@replica_view
def theme_monthly_view(request, admin_site):
    """月度每月一题报告: per theme running in the month, its volume, 三率 and tasks;
    exportable as Excel. The themes and tickets the reader may see."""
    if not (request.user.is_staff and themes_visible(request.user)):
        raise PermissionDenied
    rows, period, error = [], None, ""
    try:
        period = month_parse(request.GET.get("month", ""), clock.local_day())
        rows = themes_month(
            period,
            themes=theme_scope(Theme.objects.all(), request.user),
            tickets=ticket_scope(Ticket.objects.all(), request.user),
        )
    except ValueError as exc:
        error = str(exc)
    title = _("每月一题月度报告")
    if period is not None:
        title = _("每月一题月度报告（%(year)d年%(month)d月）") % {
            "year": period.start.year,
            "month": period.start.month,
        }
    if request.GET.get("format") == "xlsx" and period is not None:
        return _xlsx(theme_month_workbook(title=title, rows=rows), title)
    export = request.GET.copy()
    export["format"] = "xlsx"
    context = {
        **admin_site.each_context(request),
        "title": title,
        "rows": rows,
        "period": period,
        "month": period.start.strftime("%Y-%m") if period else request.GET.get("month", ""),
        "error": error,
        "export_url": "?" + export.urlencode(),
    }
    return TemplateResponse(request, "reports/theme_monthly.html", context)
