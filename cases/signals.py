import logging

from django.db.models.signals import post_delete, post_save
from django.dispatch import receiver

from .deadlines.calendar import calendar_invalidate
from .models import Holiday
from .notifications.on_transition import TEMPLATES, event_notify
from .tasks import detect_clusters_for
from .workflow import ticket_transitioned

logger = logging.getLogger(__name__)


@receiver(post_save, sender=Holiday)
@receiver(post_delete, sender=Holiday)
def refresh_calendar(sender, **kwargs):
    calendar_invalidate()


@receiver(ticket_transitioned)
def notify_units(sender, event_id, kind, **kwargs):
    if kind in TEMPLATES:
        try:
            event_notify(event_id)
        except Exception:  # a notification problem must never undo or block the work itself
            logger.exception("could not notify about event %s", event_id)


@receiver(ticket_transitioned)
def detect_clusters_on_intake(sender, ticket_id, kind, **kwargs):
    """Pattern detection is a worker's job, not the intake request's: the caller
    gets their ticket number without waiting for it. If the broker is down the
    periodic sweep finds the pattern instead."""
    if kind != "created":
        return

    try:
        detect_clusters_for.delay(ticket_id)
    except Exception:  # detection is advisory; the periodic sweep will try again
        logger.warning("could not queue cluster detection for ticket %s", ticket_id, exc_info=True)
