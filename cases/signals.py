import logging

from celery.signals import task_prerun
from django.core.signals import request_started
from django.db import transaction
from django.db.models.signals import post_delete, post_save, pre_save
from django.dispatch import receiver

from departments.models import Department, Grid

from .deadlines.retiming import retime_request
from .deadlines.tasks import retime_deadlines
from .models import Category, DeadlinePolicy, Holiday, RetimeRun, WorkingCalendar
from .reference import reference_changed, reference_check_due

logger = logging.getLogger(__name__)

# A request or a task compares its process's reference data with the stamp.
request_started.connect(reference_check_due, dispatch_uid="reference_check_due")
task_prerun.connect(reference_check_due, dispatch_uid="reference_check_due_task", weak=False)

_REFERENCE_MODELS = (Department, Grid, Category, DeadlinePolicy, WorkingCalendar, Holiday)


def _reference_saved(sender, raw=False, **kwargs):
    """Reference data changed: every process reloads its copy (``cases.reference``)."""
    reference_changed()


for _model in _REFERENCE_MODELS:
    post_save.connect(_reference_saved, sender=_model, dispatch_uid=f"reference_saved_{_model._meta.label}")
    post_delete.connect(_reference_saved, sender=_model, dispatch_uid=f"reference_deleted_{_model._meta.label}")


@receiver(post_save, sender=Holiday)
@receiver(post_delete, sender=Holiday)
def retime_after_holiday_change(sender, instance, **kwargs):
    day = instance.date
    transaction.on_commit(lambda: _retime_queue(reason=RetimeRun.Reason.HOLIDAY, day=day))


@receiver(post_save, sender=DeadlinePolicy)
@receiver(post_delete, sender=DeadlinePolicy)
def retime_after_policy_change(sender, **kwargs):
    transaction.on_commit(lambda: _retime_queue(reason=RetimeRun.Reason.POLICY, day=None))


@receiver(post_save, sender=WorkingCalendar)
@receiver(post_delete, sender=WorkingCalendar)
def retime_after_calendar_change(sender, **kwargs):
    transaction.on_commit(lambda: _retime_queue(reason=RetimeRun.Reason.CALENDAR, day=None))


@receiver(pre_save, sender=Department)
def _remember_unit_calendar(sender, instance, raw=False, **kwargs):
    """What the unit ran on before this save: its calendar, and its parent (a move
    can change the calendar it inherits)."""
    if raw or instance.pk is None:
        instance._calendar_before = None
        return
    instance._calendar_before = (
        Department.objects.filter(pk=instance.pk).values_list("calendar_id", "parent_id").first()
    )


@receiver(post_save, sender=Department)
def retime_after_unit_calendar_change(sender, instance, created, raw=False, **kwargs):
    """A unit given another calendar, or moved under another parent, re-times the
    open tickets (all of them: a run is not scoped to units, and the unit's
    subtree inherits the change). A new unit has no tickets yet."""
    before = getattr(instance, "_calendar_before", None)
    if raw or created or before is None or before == (instance.calendar_id, instance.parent_id):
        return
    if instance.calendar_id is None and before[0] is None and not WorkingCalendar.objects.exists():
        return  # a move between parents when no unit has a calendar of its own changes nothing
    transaction.on_commit(lambda: _retime_queue(reason=RetimeRun.Reason.CALENDAR, day=None))


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
