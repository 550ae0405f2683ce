from django.db.models.signals import post_delete, post_save
from django.dispatch import receiver

from .deadlines.calendar import calendar_invalidate
from .models import Holiday


@receiver(post_save, sender=Holiday)
@receiver(post_delete, sender=Holiday)
def refresh_calendar(sender, **kwargs):
    calendar_invalidate()
