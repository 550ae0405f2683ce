"""Reference data of the cases app: categories, deadline policies, holidays, and
the knowledge base — editable in the admin and in bulk from Excel."""

from django.contrib import admin
from django.utils.translation import gettext_lazy as _
from import_export.admin import ImportExportModelAdmin
from simple_history.admin import SimpleHistoryAdmin

from ..models import Category, DeadlinePolicy, Holiday, KnowledgeArticle
from ..resources import CategoryResource, HolidayResource, KnowledgeArticleResource
from .api_keys import ServiceAttributeInline


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
class CategoryAdmin(ImportExportModelAdmin, SimpleHistoryAdmin):
    resource_classes = [CategoryResource]
    list_display = ["indented_name", "code", "default_nature", "default_urgency", "default_department", "is_active"]
    list_filter = ["depth", "is_active", "default_nature", "default_urgency"]
    search_fields = ["name", "code", "description"]
    autocomplete_fields = ["parent", "default_department"]
    list_select_related = ["parent__parent", "default_department"]
    inlines = [DeadlinePolicyInline, ServiceAttributeInline]
    list_per_page = 200

    @admin.display(description=_("名称"), ordering="path")
    def indented_name(self, obj):
        return ("　" * (obj.depth - 1)) + obj.name

    def get_search_results(self, request, queryset, search_term):
        queryset, distinct = super().get_search_results(request, queryset, search_term)
        if request.path.endswith("/autocomplete/"):
            # The intake form offers only categories in use, shown with their path.
            queryset = queryset.filter(is_active=True).select_related("parent__parent")
        return queryset, distinct


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
    list_select_related = ["category__parent__parent"]


@admin.register(Holiday)
class HolidayAdmin(ImportExportModelAdmin):
    resource_classes = [HolidayResource]
    list_display = ["date", "weekday", "name", "is_working_day", "note"]
    list_filter = ["is_working_day"]
    search_fields = ["name", "note"]
    ordering = ["-date"]

    @admin.display(description=_("星期"))
    def weekday(self, obj):
        return "一二三四五六日"[obj.date.weekday()]


@admin.register(KnowledgeArticle)
class KnowledgeArticleAdmin(ImportExportModelAdmin, SimpleHistoryAdmin):
    resource_classes = [KnowledgeArticleResource]
    list_display = ["question", "category", "valid_from", "valid_to", "is_active", "updated_at"]
    list_filter = ["is_active"]
    search_fields = ["question", "answer", "keywords"]
    autocomplete_fields = ["category"]
    list_select_related = ["category__parent__parent"]
