"""个人信息查看记录: who revealed a citizen's contact details, when, where and why.
Read-only; supervisors (and administrators) review it."""

from django.contrib import admin
from django.urls import reverse
from django.utils.html import format_html
from django.utils.translation import gettext_lazy as _

from config.admin_input import SafeInputAdminMixin
from config.admin_site import ReadOnlyAdminMixin

from ..models import PersonalDataAccess
from ..selectors.scope import personal_data_access_scope


@admin.register(PersonalDataAccess)
class PersonalDataAccessAdmin(SafeInputAdminMixin, ReadOnlyAdminMixin, admin.ModelAdmin):
    """Written by revealing, never by hand; an audit trail is kept."""

    list_display = ["created_at", "user", "department", "ticket_link", "reason"]
    list_filter = ["created_at", "department"]
    date_hierarchy = "created_at"
    search_fields = ["ticket__number", "user__username", "user__first_name", "reason"]
    search_help_text = _("可按工单编号、查看人、事由查询。")
    list_select_related = ["user", "department", "ticket"]
    list_per_page = 100
    fields = ["created_at", "user", "department", "ticket", "reason"]
    readonly_fields = fields

    def get_queryset(self, request):
        return personal_data_access_scope(super().get_queryset(request), request.user)

    @admin.display(description=_("工单"), ordering="ticket__number")
    def ticket_link(self, obj):
        return format_html(
            '<a href="{}">{}</a>', reverse("admin:cases_ticket_change", args=[obj.ticket_id]), obj.ticket.number
        )
