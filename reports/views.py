"""The dashboard and the 未诉先办 pages, on the admin site."""

from django.core.exceptions import PermissionDenied
from django.http import FileResponse, Http404, JsonResponse
from django.shortcuts import get_object_or_404
from django.template.response import TemplateResponse
from django.utils.translation import gettext as _

from cases.models import Category, Ticket
from cases.selectors.scope import export_job_scope, reports_visible
from departments.models import Department

from .dashboard import dashboard_data, period_from, territory_from
from .hotspots import clusters_behind
from .models import ExportJob


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
    }
    return TemplateResponse(request, "reports/dashboard.html", context)


def dashboard_data_view(request):
    _require_citywide(request)
    data = dashboard_data(period_from(request.GET), territory_from(request.GET))
    return JsonResponse(data, json_dumps_params={"ensure_ascii": False})


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
