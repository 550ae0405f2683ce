from itertools import zip_longest

from django import template

from reports.metrics import RATE_LABELS

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


@register.filter
def axis_cell(value, column: str):
    """A cell of the 统计分析 table: rates as percentages (hours with one
    decimal), counts as they are, an empty base as a dash."""
    if value is None:
        return "—"
    if column in RATE_LABELS:
        return rate({column: value}, column)
    return value
