from itertools import zip_longest

from django import template

register = template.Library()


@register.filter
def percent(value):
    return "—" if value is None or value == "" else f"{float(value) * 100:.1f}%"


@register.filter
def rate(rates: dict, name: str):
    value = rates.get(name)
    if value is None:
        return "—"
    return f"{value:.1f}" if name == "avg_handling_hours" else f"{value * 100:.1f}%"


@register.filter
def lookup(mapping: dict, key):
    return mapping.get(key, key)


@register.filter
def zip_lists(a, b):
    return list(zip_longest(a or [], b or [], fillvalue={}))
