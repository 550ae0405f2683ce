"""API keys in the admin: issue (the key is shown once), see last use, revoke."""

from django import forms
from django.contrib import admin, messages
from django.utils.html import format_html
from django.utils.translation import gettext_lazy as _

from ..api_keys import api_key_issue, api_key_revoke
from ..models import ApiKey, ServiceAttribute


class ApiKeyForm(forms.ModelForm):
    class Meta:
        model = ApiKey
        fields = ["name", "purpose", "channel", "note"]


@admin.register(ApiKey)
class ApiKeyAdmin(admin.ModelAdmin):
    form = ApiKeyForm
    list_display = ["name", "purpose", "channel", "prefix_shown", "created_at", "created_by", "last_used_at", "state"]
    list_filter = ["purpose", "channel", ("revoked_at", admin.EmptyFieldListFilter)]
    search_fields = ["name", "prefix", "note"]
    list_select_related = ["created_by"]
    actions = ["revoke"]
    readonly_fields = ["prefix_shown", "user", "created_at", "created_by", "last_used_at", "revoked_at"]

    def get_fields(self, request, obj=None):
        if obj is None:
            return ["name", "purpose", "channel", "note"]
        return ["name", "purpose", "channel", "note", *self.readonly_fields]

    def get_readonly_fields(self, request, obj=None):
        if obj is None:
            return []
        return ["purpose", "channel", *self.readonly_fields]

    @admin.display(description=_("密钥前缀"))
    def prefix_shown(self, obj):
        return f"hk_{obj.prefix}_…"

    @admin.display(description=_("状态"))
    def state(self, obj):
        if obj.revoked_at:
            return format_html('<span style="color:#999">{}</span>', _("已吊销"))
        return format_html('<span style="color:#2e7d32">{}</span>', _("有效"))

    def save_model(self, request, obj, form, change):
        if change:
            super().save_model(request, obj, form, change)
            return
        key, raw = api_key_issue(
            name=obj.name, purpose=obj.purpose, channel=obj.channel, note=obj.note, created_by=request.user
        )
        obj.pk = key.pk
        obj.__dict__.update({f.attname: getattr(key, f.attname) for f in key._meta.concrete_fields})
        messages.warning(
            request,
            format_html(
                "{} <code style='user-select:all'>{}</code>",
                _("新密钥（只显示这一次，请立即交给对接系统妥善保存）："),
                raw,
            ),
        )

    @admin.action(description=_("吊销所选密钥"))
    def revoke(self, request, queryset):
        keys = list(queryset.filter(revoked_at__isnull=True))
        for key in keys:
            api_key_revoke(key)
        self.message_user(request, _("已吊销 %(n)d 个密钥。") % {"n": len(keys)})

    def has_delete_permission(self, request, obj=None):
        return False  # revoke instead: what a key did stays attributable


class ServiceAttributeInline(admin.TabularInline):
    model = ServiceAttribute
    extra = 0
    fields = ["order", "code", "description", "datatype", "required", "values", "datatype_description"]
