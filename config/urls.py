from django.contrib import admin
from django.urls import include, path
from django.views.i18n import JavaScriptCatalog

# Uploaded files are never served from a public URL: attachments go through the
# scoped view in the ticket admin (cases.admin.tickets.TicketAdmin.attachment_view).
urlpatterns = [
    path("i18n/", include("django.conf.urls.i18n")),
    path("jsi18n/", JavaScriptCatalog.as_view(packages=["cases"]), name="javascript-catalog"),
    path("admin/", admin.site.urls),
]
