"""The centre's lists behind decisions: coded reasons (退回重办、退单) and reply
templates (办理反馈常用语). Codes are deactivated, never deleted: events point to them."""

from django.contrib import admin

from config.admin_input import SafeInputAdminMixin

from ..models import ReasonCode, ReplyTemplate


@admin.register(ReasonCode)
class ReasonCodeAdmin(SafeInputAdminMixin, admin.ModelAdmin):
    list_display = ["label", "kind", "code", "order", "is_active"]
    list_editable = ["order", "is_active"]
    list_filter = ["kind", "is_active"]
    search_fields = ["label", "code"]

    def get_readonly_fields(self, request, obj=None):
        # A code counted in past reports keeps its kind and code.
        return ["kind", "code"] if obj is not None else []

    def has_delete_permission(self, request, obj=None):
        return False


@admin.register(ReplyTemplate)
class ReplyTemplateAdmin(SafeInputAdminMixin, admin.ModelAdmin):
    list_display = ["title", "category", "result", "order", "is_active"]
    list_filter = ["result", "is_active"]
    search_fields = ["title", "text"]
    autocomplete_fields = ["category"]
    list_select_related = ["category__parent__parent"]
    fieldsets = [(None, {"fields": ["title", "text", "category", "result", "order", "is_active"]})]
