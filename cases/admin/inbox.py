"""The in-app inbox: everyone's own notifications, the unread badge, and the
notification preferences; and the urges (催办) a unit received."""

from django import forms
from django.contrib import admin, messages
from django.http import Http404, HttpResponseRedirect
from django.shortcuts import get_object_or_404
from django.template.response import TemplateResponse
from django.urls import path, reverse
from django.utils import timezone
from django.utils.html import format_html
from django.utils.translation import gettext
from django.utils.translation import gettext_lazy as _

from config.admin_site import ReadOnlyAdminMixin
from departments.models import Department

from ..labels import choice_label
from ..models import Notification, NotificationPreference, Ticket, Urge
from ..notifications.inbox import inbox_body, inbox_list, notifications_mark_read
from ..selectors.scope import notification_scope, ticket_scope, urge_scope


class ReadFilter(admin.SimpleListFilter):
    title = _("阅读状态")
    parameter_name = "read"

    def lookups(self, request, model_admin):
        return [("unread", _("未读")), ("read", _("已读"))]

    def queryset(self, request, queryset):
        if self.value() == "unread":
            return queryset.filter(read_at__isnull=True)
        if self.value() == "read":
            return queryset.filter(read_at__isnull=False)
        return queryset


class PreferenceForm(forms.ModelForm):
    chat_webhook = forms.URLField(
        label=_("机器人地址"), required=False, assume_scheme="https", help_text=_("留空则使用所在单位的工作群机器人。")
    )

    class Meta:
        model = NotificationPreference
        fields = ["email", "sms", "chat", "mobile", "chat_webhook"]


@admin.register(Notification)
class NotificationAdmin(ReadOnlyAdminMixin, admin.ModelAdmin):
    """Only ever the user's own messages (``notification_scope``)."""

    list_display = ["unread_mark", "title_link", "kind", "created_at"]
    list_display_links = None
    list_filter = [ReadFilter, "kind"]
    # The title only: a body whose ticket left the unit's scope must not be findable.
    search_fields = ["title"]
    actions = ["mark_read"]
    list_per_page = 50
    show_full_result_count = False
    change_list_template = "admin/cases/notification/change_list.html"

    def get_queryset(self, request):
        return inbox_list(super().get_queryset(request), request.user).select_related("ticket")

    def get_object(self, request, object_id, from_field=None):
        # The read-only change page shows the body as the reader may read it (never saved).
        notification = super().get_object(request, object_id, from_field)
        if notification is not None:
            notification.body = inbox_body(notification)
        return notification

    def has_module_permission(self, request):
        return request.user.is_active and request.user.is_staff

    def has_view_permission(self, request, obj=None):
        return self.has_module_permission(request)  # the rows themselves come from get_queryset

    @admin.display(description="")
    def unread_mark(self, obj):
        return format_html('<span class="unread-dot" title="{}">●</span>', gettext("未读")) if not obj.read_at else ""

    @admin.display(description=_("标题"), ordering="created_at")
    def title_link(self, obj):
        url = reverse("admin:cases_notification_open", args=[obj.pk])
        style = "font-weight:600" if not obj.read_at else ""
        return format_html(
            '<a href="{}" style="{}">{}</a><div class="help">{}</div>', url, style, obj.title, inbox_body(obj)[:80]
        )

    @admin.action(description=_("标为已读"), permissions=["view"])
    def mark_read(self, request, queryset):
        count = notifications_mark_read(request.user, list(queryset.values_list("pk", flat=True)))
        self.message_user(request, gettext("已将 %(n)d 条消息标为已读。") % {"n": count}, messages.SUCCESS)

    def get_urls(self):
        wrap = self.admin_site.admin_view
        return [
            path("<int:pk>/open/", wrap(self.open_view), name="cases_notification_open"),
            path("read-all/", wrap(self.read_all_view), name="cases_notification_read_all"),
            path("preferences/", wrap(self.preferences_view), name="cases_notification_preferences"),
            *super().get_urls(),
        ]

    def open_view(self, request, pk):
        """Mark read and go to the ticket (if the user may still see it)."""
        notification = get_object_or_404(notification_scope(Notification.objects.all(), request.user), pk=pk)
        if notification.read_at is None:
            notification.read_at = timezone.now()
            notification.save(update_fields=["read_at"])
        visible = ticket_scope(Ticket.objects.filter(pk=notification.ticket_id), request.user)
        if notification.ticket_id and visible.exists():
            return HttpResponseRedirect(reverse("admin:cases_ticket_change", args=[notification.ticket_id]))
        return HttpResponseRedirect(reverse("admin:cases_notification_changelist"))

    def read_all_view(self, request):
        if request.method == "POST":
            count = notifications_mark_read(request.user)
            self.message_user(request, gettext("已将 %(n)d 条消息标为已读。") % {"n": count}, messages.SUCCESS)
        return HttpResponseRedirect(reverse("admin:cases_notification_changelist"))

    def preferences_view(self, request):
        preference, _created = NotificationPreference.objects.get_or_create(user=request.user)
        form = PreferenceForm(request.POST or None, instance=preference)
        if request.method == "POST" and form.is_valid():
            form.save()
            self.message_user(request, gettext("通知偏好已保存。"), messages.SUCCESS)
            return HttpResponseRedirect(reverse("admin:cases_notification_changelist"))
        context = {
            **self.admin_site.each_context(request),
            "opts": self.opts,
            "title": gettext("通知偏好"),
            "form": form,
        }
        return TemplateResponse(request, "admin/cases/notification/preferences.html", context)


@admin.register(Urge)
class UrgeAdmin(ReadOnlyAdminMixin, admin.ModelAdmin):
    """Urges, scoped like their tickets (``urge_scope``)."""

    list_display = [
        "number_or_kind",
        "ticket_link",
        "department",
        "issued_at",
        "respond_by",
        "acknowledged_at",
        "print_link",
    ]
    list_display_links = None
    list_filter = ["kind", ("acknowledged_at", admin.EmptyFieldListFilter)]
    search_fields = ["number", "ticket__number", "content"]
    list_select_related = ["ticket", "department"]
    show_full_result_count = False

    def get_queryset(self, request):
        return urge_scope(super().get_queryset(request), request.user)

    def has_module_permission(self, request):
        return request.user.is_active and request.user.is_staff

    def has_view_permission(self, request, obj=None):
        return self.has_module_permission(request)

    def get_urls(self):
        wrap = self.admin_site.admin_view
        return [path("<int:pk>/print/", wrap(self.print_view), name="cases_urge_print"), *super().get_urls()]

    def print_view(self, request, pk):
        """催办通知书, ready for the printer (scoped like the ticket)."""
        urge = self.get_queryset(request).select_related("ticket__category", "department").filter(pk=pk).first()
        if urge is None:
            raise Http404
        centre = Department.objects.filter(kind=Department.Kind.CENTRE).first()
        context = {"urge": urge, "ticket": urge.ticket, "centre": centre.name if centre else ""}
        return TemplateResponse(request, "admin/cases/urge/print.html", context)

    @admin.display(description=_("文号/方式"))
    def number_or_kind(self, obj):
        return obj.number or choice_label(obj, "kind")

    @admin.display(description=_("工单"), ordering="ticket__number")
    def ticket_link(self, obj):
        return format_html(
            '<a href="{}">{}</a>', reverse("admin:cases_ticket_change", args=[obj.ticket_id]), obj.ticket.number
        )

    @admin.display(description=_("通知书"))
    def print_link(self, obj):
        if obj.kind != Urge.Kind.WRITTEN:
            return "—"
        return format_html(
            '<a href="{}" target="_blank">{}</a>', reverse("admin:cases_urge_print", args=[obj.pk]), gettext("打印")
        )
