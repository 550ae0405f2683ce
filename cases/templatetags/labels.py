"""``{% load labels %}``: ``{{ obj|label:"field" }}`` — ``obj.get_field_display``
from the labels translated once per language (``cases.labels``)."""

from django import template

from ..labels import choice_label

register = template.Library()


@register.filter
def label(instance, name):
    if instance is None or instance == "":
        return ""
    if not hasattr(instance, "_meta"):  # not a model instance: its own display method
        return getattr(instance, f"get_{name}_display")()
    return choice_label(instance, name)
