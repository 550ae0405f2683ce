"""Choice labels, translated once per language.

``get_FOO_display()`` builds ``dict(field.flatchoices)`` and translates every
label of the field on each call; a page with a 50-event timeline made hundreds
of such calls. ``choice_labels(field)`` keeps the translated dict per field and
active language; ``choice_label(instance, name)`` is the drop-in for
``instance.get_FOO_display()`` (same result: the raw value when it is not a
choice, ``None`` for ``None``). Templates use the ``label`` filter
(``{{ ticket|label:"state" }}``, ``cases/templatetags/labels.py``)."""

from django.utils.translation import get_language

_LABELS: dict[tuple, dict] = {}


def choice_labels(field) -> dict:
    """``{value: translated label}`` of a model field with choices, or of a
    ``TextChoices`` class, in the active language (built once per language)."""
    key = (field, get_language())
    labels = _LABELS.get(key)
    if labels is None:
        choices = field.flatchoices if hasattr(field, "flatchoices") else field.choices
        labels = _LABELS[key] = {value: str(label) for value, label in choices}
    return labels


def choice_label(instance, name: str):
    """``instance.get_<name>_display()``, from the cached labels."""
    field = instance._meta.get_field(name)
    value = getattr(instance, field.attname)
    return choice_labels(field).get(value, value)
