import logging

from django.db.models.signals import post_delete, post_save
from django.dispatch import receiver

from .deadlines import calendar_invalidate
from .models import Holiday
from .workflow import ticket_transitioned

logger = logging.getLogger(__name__)


@receiver(post_save, sender=Holiday)
@receiver(post_delete, sender=Holiday)
def refresh_calendar(sender, **kwargs):
    calendar_invalidate()


@receiver(ticket_transitioned)
def notify_units(sender, event_id, kind, **kwargs):
    from .events_notify import TEMPLATES, event_notify

    if kind in TEMPLATES:
        try:
            event_notify(event_id)
        except Exception:  # a notification problem must never undo or block the work itself
            logger.exception("could not notify about event %s", event_id)
