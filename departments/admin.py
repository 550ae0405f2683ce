import json

from axes.admin import AccessAttemptAdmin, AccessFailureLogAdmin, AccessLogAdmin
from axes.models import AccessAttempt, AccessFailureLog, AccessLog
from django import forms
from django.conf import settings
from django.contrib import admin, messages
from django.contrib.auth import get_user_model
from django.contrib.auth.admin import GroupAdmin, UserAdmin
from django.contrib.auth.forms import AdminPasswordChangeForm, SetUnusablePasswordMixin
from django.contrib.auth.models import Group
from django.core.exceptions import PermissionDenied
from django.db import models
from django.db.models import Exists, OuterRef
from django.http import HttpResponse, HttpResponseRedirect
from django.template.response import TemplateResponse
from django.urls import path, reverse
from django.utils.text import format_lazy
from django.utils.translation import gettext_lazy as _
from django_otp.plugins.otp_static.models import StaticDevice
from django_otp.plugins.otp_totp.models import TOTPDevice
from import_export.admin import ImportExportModelAdmin
from simple_history.admin import SimpleHistoryAdmin

from config import two_factor
from config.admin_input import SafeInputAdminMixin

from . import geo
from .boundary_files import boundaries_export, boundaries_import
from .models import Department, DutyAssignment, Grid, StaffProfile
from .resources import DepartmentResource, DutyAssignmentResource, GridResource


class BoundaryForm(forms.ModelForm):
    """The change form of a unit or a grid: a typed boundary is checked with
    ``departments.geo`` (the admin builds the Meta for the model)."""

    def clean_boundary(self):
        boundary = self.cleaned_data.get("boundary")
        if boundary is not None and (errors := geo.validate_boundary(boundary)):
            raise forms.ValidationError(errors)
        return boundary


class BoundaryUploadForm(forms.Form):
    boundary_file = forms.FileField(
        label=_("GeoJSON 文件"),
        help_text=_("FeatureCollection，每个要素的 properties.code 为编码；导出的文件可直接导入。"),
    )


class BoundaryFilesMixin:
    """ "导入边界" / "导出边界" on a changelist (``departments.boundary_files``).
    Importing needs the change permission of the page's model — the roles that
    maintain reference data — like the Excel import; exporting needs the view
    permission, like the Excel export (boundaries are no secret: every role
    that reads the units reads them on the change page)."""

    boundary_target = ""  # "grid" or "unit"
    import_export_change_list_template = "admin/departments/boundary_change_list.html"

    def get_urls(self):
        wrap = self.admin_site.admin_view
        prefix = f"{self.opts.app_label}_{self.opts.model_name}"
        return [
            path("boundaries/import/", wrap(self.boundaries_import_view), name=f"{prefix}_boundaries_import"),
            path("boundaries/export/", wrap(self.boundaries_export_view), name=f"{prefix}_boundaries_export"),
            *super().get_urls(),
        ]

    def changelist_view(self, request, extra_context=None):
        extra_context = {
            **(extra_context or {}),
            "boundary_import_allowed": self.has_change_permission(request),
            "boundary_export_allowed": self.has_view_permission(request),
        }
        return super().changelist_view(request, extra_context)

    def boundaries_export_view(self, request):
        if not self.has_view_permission(request):
            raise PermissionDenied
        body = json.dumps(boundaries_export(self.boundary_target), ensure_ascii=False)
        response = HttpResponse(body, content_type="application/geo+json; charset=utf-8")
        name = f"{self.opts.model_name}-boundaries.geojson"
        response["Content-Disposition"] = f'attachment; filename="{name}"'
        return response

    def boundaries_import_view(self, request):
        if not self.has_change_permission(request):
            raise PermissionDenied
        form = BoundaryUploadForm(request.POST, request.FILES) if request.method == "POST" else BoundaryUploadForm()
        errors = []
        if request.method == "POST" and form.is_valid():
            upload = form.cleaned_data["boundary_file"]
            result = boundaries_import(target=self.boundary_target, raw=upload.read(), actor=request.user)
            if not result.errors:
                message = _("已导入 %(n)d 个边界。") % {"n": result.written}
                self.message_user(request, message, messages.SUCCESS)
                return HttpResponseRedirect(reverse(f"admin:{self.opts.app_label}_{self.opts.model_name}_changelist"))
            errors = result.errors
        context = {
            **self.admin_site.each_context(request),
            "opts": self.opts,
            "title": _("导入边界"),
            "form": form,
            "errors": errors,
            "tolerance": settings.BOUNDARY_OVERLAP_TOLERANCE * 100,
        }
        return TemplateResponse(request, "admin/departments/boundary_import.html", context)


@admin.register(Department)
class DepartmentAdmin(SafeInputAdminMixin, BoundaryFilesMixin, ImportExportModelAdmin, SimpleHistoryAdmin):
    form = BoundaryForm
    boundary_target = "unit"
    resource_classes = [DepartmentResource]
    formfield_overrides = {models.URLField: {"assume_scheme": "https"}}
    list_display = ["indented_name", "kind", "code", "phone", "is_subcentre", "is_active"]
    list_filter = ["kind", "is_subcentre", "is_active"]
    search_fields = ["name", "short_name", "code", "address_keywords"]
    autocomplete_fields = ["parent"]
    list_per_page = 100

    @admin.display(description=_("名称"), ordering="path")
    def indented_name(self, obj):
        return ("　" * (obj.depth - 1)) + obj.name


@admin.register(Grid)
class GridAdmin(SafeInputAdminMixin, BoundaryFilesMixin, ImportExportModelAdmin, SimpleHistoryAdmin):
    form = BoundaryForm
    boundary_target = "grid"
    resource_classes = [GridResource]
    list_display = ["name", "code", "community", "worker", "is_active"]
    list_filter = ["is_active"]
    search_fields = ["name", "code", "community__name", "address_keywords"]
    autocomplete_fields = ["community", "worker"]
    list_select_related = ["community", "worker"]


@admin.register(DutyAssignment)
class DutyAssignmentAdmin(SafeInputAdminMixin, ImportExportModelAdmin):
    resource_classes = [DutyAssignmentResource]
    list_display = ["category", "territory", "department", "territorial_level", "is_active"]
    list_filter = ["is_active", "territorial_level"]
    search_fields = ["category__name", "territory__name", "department__name", "note"]
    autocomplete_fields = ["category", "territory", "department"]
    list_select_related = ["category__parent__parent", "territory", "department"]


class StaffProfileInline(SafeInputAdminMixin, admin.StackedInline):
    model = StaffProfile
    can_delete = False
    autocomplete_fields = ["department"]
    verbose_name_plural = _("单位与角色")


User = get_user_model()
admin.site.unregister(User)
admin.site.unregister(Group)
# django-otp's device pages would show another person's secret key: devices are
# managed by their owner (两步验证) and reset from the user list instead.
admin.site.unregister(TOTPDevice)
admin.site.unregister(StaticDevice)


# Login records: axes' pages, safe against a hostile date filter (config.admin_input).
for model, axes_admin in [
    (AccessAttempt, AccessAttemptAdmin),
    (AccessLog, AccessLogAdmin),
    (AccessFailureLog, AccessFailureLogAdmin),
]:
    admin.site.unregister(model)
    admin.site.register(model, type(axes_admin.__name__, (SafeInputAdminMixin, axes_admin), {}))


@admin.register(Group)
class RoleGroupAdmin(SafeInputAdminMixin, GroupAdmin):
    """Django's group page, safe against hostile ids (config.admin_input)."""


class PasswordChangeForm(AdminPasswordChangeForm):
    # Django joins its lazy help text with a str at import time, freezing it in the
    # language the process started in (Chinese): keep it lazy, and its warning translated.
    usable_password_help_text = format_lazy(
        '{}<ul id="id_unusable_warning" class="messagelist"><li class="warning">{}</li></ul>',
        SetUnusablePasswordMixin.usable_password_help_text,
        _("If disabled, the current password for this user will be lost."),
    )


@admin.register(User)
class StaffUserAdmin(SafeInputAdminMixin, UserAdmin):
    change_password_form = PasswordChangeForm
    inlines = [StaffProfileInline]
    list_display = ["username", "first_name", "last_name", "staff_department", "staff_role", "two_factor", "is_active"]
    list_select_related = ["staff__department"]
    actions = ["reset_two_factor"]

    def get_queryset(self, request):
        on = TOTPDevice.objects.filter(user=OuterRef("pk"), confirmed=True)
        return super().get_queryset(request).annotate(two_factor_on=Exists(on))

    @admin.display(description=_("两步验证"), boolean=True, ordering="two_factor_on")
    def two_factor(self, obj):
        return obj.two_factor_on

    @admin.action(description=_("重置两步验证（手机丢失时）"), permissions=["change"])
    def reset_two_factor(self, request, queryset):
        reset = two_factor.reset_for(queryset)
        message = _("已为 %(n)d 个账号关闭两步验证；他们可用密码登录后重新绑定。") % {"n": reset}
        self.message_user(request, message)

    @admin.display(description=_("所在单位"))
    def staff_department(self, obj):
        profile = getattr(obj, "staff", None)
        return profile.department if profile else "—"

    @admin.display(description=_("角色"))
    def staff_role(self, obj):
        profile = getattr(obj, "staff", None)
        return profile.get_role_display() if profile else "—"
