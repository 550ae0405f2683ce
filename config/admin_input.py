"""Admin pieces that hold up under any input: a value the target column cannot
hold ("abc" for an id, 10**30 for an integer) is "not a valid choice" or "no
such object", never a database error and a 500 (tests/test_hostile_input.py)."""

from django import forms
from django.contrib import messages
from django.contrib.admin.utils import unquote
from django.contrib.admin.views.main import ERROR_FLAG
from django.contrib.admin.widgets import AutocompleteSelect, AutocompleteSelectMultiple
from django.core.exceptions import ValidationError
from django.http import Http404, HttpResponseRedirect
from django.urls import reverse
from django.utils.translation import gettext


def fits(field, value) -> bool:
    """Whether ``value`` is a valid value of the model ``field`` (type and range)."""
    try:
        field.run_validators(field.to_python(value))  # an integer's range is among the validators
    except ValidationError:
        return False
    return True


def object_pk_or_404(model, object_id):
    """The admin's ``<path:object_id>`` as ``model``'s primary key, or 404."""
    pk = model._meta.pk
    value = unquote(str(object_id))
    if not fits(pk, value):
        raise Http404
    value = pk.to_python(value)
    if isinstance(value, int) and value < 1:  # ids are positive: no URL takes another
        raise Http404
    return value


def _target(remote_field):
    model = remote_field.model
    return model._meta.get_field(getattr(remote_field, "field_name", None) or model._meta.pk.name)


class _SelectedValuesChecked:
    """Django's autocomplete widget re-renders a rejected form by looking up the
    submitted values (``pk__in=["abc"]``): values that cannot be ids are left out."""

    def optgroups(self, name, value, attr=None):
        target = _target(self.field.remote_field)
        return super().optgroups(name, [v for v in value if fits(target, v)], attr)


class SafeAutocompleteSelect(_SelectedValuesChecked, AutocompleteSelect):
    pass


class SafeAutocompleteSelectMultiple(_SelectedValuesChecked, AutocompleteSelectMultiple):
    pass


class SafeModelMultipleChoiceField(forms.ModelMultipleChoiceField):
    """Django checks the ids' types but not their range before ``pk__in``."""

    def _check_values(self, value):
        target = self.queryset.model._meta.get_field(self.to_field_name or self.queryset.model._meta.pk.name)
        for pk in value if isinstance(value, list | tuple | set | frozenset) else ():
            if isinstance(pk, str) and not fits(target, pk):
                raise ValidationError(
                    self.error_messages["invalid_pk_value"], code="invalid_pk_value", params={"pk": pk}
                )
        return super()._check_values(value)


class SafeInputAdminMixin:
    """For every ModelAdmin and inline with autocomplete fields, many-to-many
    fields, a history or an import (tests/test_hostile_input.py holds them to it)."""

    def changelist_view(self, request, extra_context=None):
        """Django turns a bad date-hierarchy year into "invalid filter" but not one
        too large for a date (an OverflowError): both the same way here."""
        if self.date_hierarchy:
            for part in ("year", "month", "day"):
                value = request.GET.get(f"{self.date_hierarchy}__{part}")
                if value is not None and not (value.isascii() and value.isdigit() and int(value) <= 9999):
                    return HttpResponseRedirect(f"{request.path}?{ERROR_FLAG}=1")
        return super().changelist_view(request, extra_context)

    def history_view(self, request, object_id, extra_context=None):
        object_pk_or_404(self.model, object_id)  # simple-history looks the raw id up
        return super().history_view(request, object_id, extra_context)

    def process_import(self, request, **kwargs):
        """django-import-export's second step opens the temporary file the form
        names, in the format whose index it posts: a name too long or with a NUL,
        a file gone (submitted twice), a format not in the list send the person
        back to upload."""
        try:
            return super().process_import(request, **kwargs)
        except (OSError, ValueError, IndexError):
            pass
        messages.error(request, gettext("导入文件无效或已过期，请重新上传。"))
        opts = self.model._meta
        return HttpResponseRedirect(reverse(f"admin:{opts.app_label}_{opts.model_name}_import"))

    def formfield_for_foreignkey(self, db_field, request, **kwargs):
        if "widget" not in kwargs and db_field.name in self.get_autocomplete_fields(request):
            kwargs["widget"] = SafeAutocompleteSelect(db_field, self.admin_site, using=kwargs.get("using"))
        return super().formfield_for_foreignkey(db_field, request, **kwargs)

    def formfield_for_manytomany(self, db_field, request, **kwargs):
        if "widget" not in kwargs and db_field.name in self.get_autocomplete_fields(request):
            kwargs["widget"] = SafeAutocompleteSelectMultiple(db_field, self.admin_site, using=kwargs.get("using"))
        kwargs.setdefault("form_class", SafeModelMultipleChoiceField)
        return super().formfield_for_manytomany(db_field, request, **kwargs)
