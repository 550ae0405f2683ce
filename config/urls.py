from pathlib import Path

from django.contrib import admin
from django.http import HttpResponse
from django.urls import include, path
from django.views.decorators.cache import cache_control
from django.views.decorators.http import require_safe
from django.views.i18n import JavaScriptCatalog
from drf_spectacular.views import SpectacularAPIView, SpectacularRedocView, SpectacularSwaggerSplitView

from cases import public_views
from reports import views as report_views

FAVICON = Path(__file__).resolve().parent.parent / "cases" / "static" / "cases" / "favicon.ico"


@require_safe
@cache_control(max_age=86400, public=True)
def favicon(request):
    """Browsers ask for /favicon.ico whatever the page links (the pages link the SVG)."""
    return HttpResponse(FAVICON.read_bytes(), content_type="image/x-icon")


# Uploaded files are never served from a public URL: attachments go through the
# scoped view in the ticket admin (cases.admin.tickets.TicketAdmin.attachment_view).
urlpatterns = [
    path("favicon.ico", favicon, name="favicon"),
    path("i18n/", include("django.conf.urls.i18n")),
    path("jsi18n/", JavaScriptCatalog.as_view(packages=["cases"]), name="javascript-catalog"),
    path("admin/", admin.site.urls),
    # the wall screen (大屏): the display account's one page, its data and its map
    path("wall/", report_views.wall_view, name="wall"),
    path("wall/data/", report_views.wall_data_view, name="wall_data"),
    path("wall/geo/", report_views.wall_geo_view, name="wall_geo"),
    path("api/v1/", include("cases.api.urls")),
    path("api/schema/", SpectacularAPIView.as_view(), name="api-schema"),
    # The split view serves Swagger UI's start-up script as a file: no inline script for the CSP.
    path("api/docs/", SpectacularSwaggerSplitView.as_view(url_name="api-schema"), name="api-docs"),
    path("api/redoc/", SpectacularRedocView.as_view(url_name="api-schema"), name="api-redoc"),
    path("open311/v2/", include("cases.open311.urls")),
    path("", public_views.board, name="public-board"),
    path("lookup/", public_views.lookup, name="public-lookup"),
]
