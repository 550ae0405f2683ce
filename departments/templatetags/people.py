from django import template

from departments.selectors import person_name

register = template.Library()


@register.filter
def person(user) -> str:
    """``{{ event.actor|person }}``: the person's display name (departments.selectors.person_name)."""
    return person_name(user)
