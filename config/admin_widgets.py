"""Admin choice widgets and fields that hold up under any input: a value the
target column cannot hold ("abc" for an id, 10**30 for an integer) is "not a
valid choice", never a database error and a 500."""

from django import forms
from django.contrib.admin.widgets import AutocompleteSelect, AutocompleteSelectMultiple
from django.core.exceptions import ValidationError


def fits(field, value) -> bool:
    """Whether ``value`` is a valid value of the model ``field`` (type and range)."""
    try:
        field.run_validators(field.to_python(value))  # an integer's range is among the validators
    except ValidationError:
        return False
    return True


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


class SafeChoicesAdminMixin:
    """For every ModelAdmin and inline with autocomplete fields or many-to-many
    fields (tests/test_hostile_input.py holds them to it)."""

    def formfield_for_foreignkey(self, db_field, request, **kwargs):
        if "widget" not in kwargs and db_field.name in self.get_autocomplete_fields(request):
            kwargs["widget"] = SafeAutocompleteSelect(db_field, self.admin_site, using=kwargs.get("using"))
        return super().formfield_for_foreignkey(db_field, request, **kwargs)

    def formfield_for_manytomany(self, db_field, request, **kwargs):
        if "widget" not in kwargs and db_field.name in self.get_autocomplete_fields(request):
            kwargs["widget"] = SafeAutocompleteSelectMultiple(db_field, self.admin_site, using=kwargs.get("using"))
        kwargs.setdefault("form_class", SafeModelMultipleChoiceField)
        return super().formfield_for_manytomany(db_field, request, **kwargs)
