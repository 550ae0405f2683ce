"""每月一题: what follows a change of a theme's rule. Apart from ``cases.themes``
(what the task runs), so that the module queueing the task is not the one it runs."""

from django.db import transaction

from .models import Theme
from .tasks import link_theme_tickets


def theme_rule_changed(theme: Theme) -> None:
    """The theme was created or its rule or period edited: link its past tickets
    again, in a worker, once the change has committed."""
    Theme.objects.filter(pk=theme.pk).update(linked_at=None)
    transaction.on_commit(lambda: link_theme_tickets.delay(theme.pk))
