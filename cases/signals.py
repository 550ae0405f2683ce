import logging

from django.db import transaction
from django.db.models.signals import post_delete, post_save
from django.dispatch import receiver

from .deadlines.calendar import calendar_invalidate
from .deadlines.retiming import retime_request
from .deadlines.tasks import retime_deadlines
from .models import DeadlinePolicy, Holiday, RetimeRun

logger = logging.getLogger(__name__)


@receiver(post_save, sender=Holiday)
@receiver(post_delete, sender=Holiday)
def refresh_calendar(sender, instance, **kwargs):
    calendar_invalidate()
    day = instance.date
    transaction.on_commit(lambda: _retime_queue(reason=RetimeRun.Reason.HOLIDAY, day=day))


@receiver(post_save, sender=DeadlinePolicy)
@receiver(post_delete, sender=DeadlinePolicy)
def retime_after_policy_change(sender, **kwargs):
    transaction.on_commit(lambda: _retime_queue(reason=RetimeRun.Reason.POLICY, day=None))


def _retime_queue(*, reason: str, day) -> None:
    """After the change committed: one run for the change (a run not yet started
    takes it too), queued for a worker. If the broker is down the run row stays
    and the periodic ``resume-retiming`` sweep picks it up."""
    run = retime_request(reason=reason, day=day)
    if run is None:
        return
    try:
        retime_deadlines.delay(run.pk)
    except Exception:
        logger.warning("could not queue re-timing run %s; the periodic sweep will", run.pk, exc_info=True)
