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


@receiver(ticket_transitioned)
def detect_clusters_on_intake(sender, ticket_id, kind, **kwargs):
    if kind != "created":
        return
    from .clusters import clusters_detect_for
    from .models import Ticket

    ticket = Ticket.objects.select_related("category", "community", "street").filter(pk=ticket_id).first()
    if ticket is None:
        return
    try:
        clusters_detect_for(ticket)
    except Exception:  # detection is advisory; the periodic sweep will try again
        logger.exception("cluster detection failed for ticket %s", ticket_id)
