from django.contrib import admin
from django.templatetags.static import static
from django.urls import include, path
from django.views.generic import RedirectView
from django.views.i18n import JavaScriptCatalog
from drf_spectacular.views import SpectacularAPIView, SpectacularRedocView, SpectacularSwaggerSplitView

from cases import public_views

# Uploaded files are never served from a public URL: attachments go through the
# scoped view in the ticket admin (cases.admin.tickets.TicketAdmin.attachment_view).
urlpatterns = [
    # Browsers ask for /favicon.ico whatever the page links: the static file answers.
    path("favicon.ico", RedirectView.as_view(url=static("cases/favicon.ico"), permanent=True), name="favicon"),
    path("i18n/", include("django.conf.urls.i18n")),
    path("jsi18n/", JavaScriptCatalog.as_view(packages=["cases"]), name="javascript-catalog"),
    path("admin/", admin.site.urls),
    path("api/v1/", include("cases.api.urls")),
    path("api/schema/", SpectacularAPIView.as_view(), name="api-schema"),
    # The split view serves Swagger UI's start-up script as a file: no inline script for the CSP.
    path("api/docs/", SpectacularSwaggerSplitView.as_view(url_name="api-schema"), name="api-docs"),
    path("api/redoc/", SpectacularRedocView.as_view(url_name="api-schema"), name="api-redoc"),
    path("open311/v2/", include("cases.open311.urls")),
    path("", public_views.board, name="public-board"),
    path("lookup/", public_views.lookup, name="public-lookup"),
]
