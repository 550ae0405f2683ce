from django.contrib import admin
from django.urls import include, path

# Uploaded files are never served from a public URL: attachments go through the
# scoped view in the ticket admin (cases.admin.tickets.TicketAdmin.attachment_view).
urlpatterns = [
    path("i18n/", include("django.conf.urls.i18n")),
    path("admin/", admin.site.urls),
]
