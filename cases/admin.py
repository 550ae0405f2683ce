from django.contrib import admin
from django.utils import timezone
from django.utils.html import format_html
from django.utils.translation import gettext_lazy as _
from simple_history.admin import SimpleHistoryAdmin

from .models import Category, Colour, DeadlinePolicy, Holiday, Ticket, TicketEvent
from .selectors import ticket_scope

COLOUR_STYLE = {
    Colour.GREEN: "#2e7d32",
    Colour.YELLOW: "#f9a825",
    Colour.RED: "#c62828",
}


class DeadlinePolicyInline(admin.TabularInline):
    model = DeadlinePolicy
    extra = 0
    fields = [
        "name",
        "urgency",
        "nature",
        "sign_limit",
        "sign_unit",
        "contact_limit",
        "contact_unit",
        "resolve_limit",
        "resolve_unit",
        "is_active",
    ]


@admin.register(Category)
class CategoryAdmin(SimpleHistoryAdmin):
    list_display = ["indented_name", "code", "default_nature", "default_urgency", "default_department", "is_active"]
    list_filter = ["depth", "is_active", "default_nature", "default_urgency"]
    search_fields = ["name", "code", "description"]
    autocomplete_fields = ["parent", "default_department"]
    inlines = [DeadlinePolicyInline]
    list_per_page = 200

    @admin.display(description=_("名称"), ordering="path")
    def indented_name(self, obj):
        return ("　" * (obj.depth - 1)) + obj.name


@admin.register(DeadlinePolicy)
class DeadlinePolicyAdmin(admin.ModelAdmin):
    list_display = [
        "name",
        "category",
        "urgency",
        "nature",
        "sign_limit",
        "sign_unit",
        "contact_limit",
        "contact_unit",
        "resolve_limit",
        "resolve_unit",
        "is_active",
    ]
    list_filter = ["urgency", "nature", "is_active"]
    autocomplete_fields = ["category"]
    list_select_related = ["category"]


@admin.register(Holiday)
class HolidayAdmin(admin.ModelAdmin):
    list_display = ["date", "name", "is_working_day", "note"]
    list_filter = ["is_working_day"]
    date_hierarchy = "date"
    search_fields = ["name", "note"]


class TicketEventInline(admin.TabularInline):
    model = TicketEvent
    fields = ["created_at", "kind", "actor", "actor_department", "from_state", "to_state", "note"]
    readonly_fields = fields
    extra = 0
    can_delete = False
    ordering = ["-created_at", "-id"]

    def has_add_permission(self, request, obj=None):
        return False

    def get_queryset(self, request):
        return super().get_queryset(request).select_related("actor", "actor_department")


@admin.register(Ticket)
class TicketAdmin(SimpleHistoryAdmin):
    """Tickets, scoped to what the user may see. Every field is read-only here:
    the state changes only through the workflow."""

    list_display = [
        "number",
        "received_at",
        "category",
        "short_content",
        "lead_department",
        "state",
        "deadline",
        "urgency",
    ]
    list_filter = ["state", "urgency", "nature", "channel"]
    search_fields = ["=number", "=citizen_phone", "=citizen_phone_last4", "address", "content"]
    list_select_related = ["category", "lead_department"]
    inlines = [TicketEventInline]
    show_full_result_count = False

    def get_queryset(self, request):
        return ticket_scope(super().get_queryset(request), request.user).with_colour(timezone.now())

    def get_readonly_fields(self, request, obj=None):
        return [f.name for f in self.model._meta.fields]

    def has_add_permission(self, request):
        return False

    def has_delete_permission(self, request, obj=None):
        return False

    @admin.display(description=_("诉求内容"))
    def short_content(self, obj):
        return obj.content[:30] + ("…" if len(obj.content) > 30 else "")

    @admin.display(description=_("时限"), ordering="next_due_at")
    def deadline(self, obj):
        colour = getattr(obj, "colour", "") or obj.colour()
        if not colour:
            return "—"
        due = timezone.localtime(obj.next_due_at)
        return format_html(
            '<span class="deadline deadline-{}" style="color:{}">● {}</span>',
            colour,
            COLOUR_STYLE[colour],
            due.strftime("%m-%d %H:%M"),
        )
