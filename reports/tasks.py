"""Reports, rollups, exports and spikes: thin, idempotent Celery tasks.

Convention (both apps): a service imports ``something_task`` at module level; a task
imports its service inside the body. ``export_ledger`` is queued by
``reports.export_jobs`` and runs ``reports.exports``, two modules, so no cycle."""

import logging
from datetime import date, timedelta

from celery import shared_task
from django.db.models import Q

from cases import clock

from .models import ExportJob

logger = logging.getLogger(__name__)


@shared_task(acks_late=True, ignore_result=True)
def build_report(kind: str, day: str | None = None):
    from .reporting import report_build  # noqa: PLC0415 - a task imports its service in the body (HackSoft)

    report, created = report_build(kind, day=date.fromisoformat(day) if day else None)
    logger.info("report %s %s (%s)", kind, report.title, "issued" if created else "already issued")
    return report.pk


@shared_task(acks_late=True, ignore_result=True)
def rebuild_rollups(days: int | None = None):
    """Nightly: the last 40 days; every half hour: today and yesterday; both also
    rebuild every older day a change since the last rebuild touched."""
    from .rollups import rollups_rebuild  # noqa: PLC0415 - a task imports its service in the body (HackSoft)

    return rollups_rebuild(days=days)


@shared_task(acks_late=True, ignore_result=True)
def resume_exports():
    """Exports whose queue message never arrived (the broker was down), and exports
    whose worker died mid-way (no progress for ``HOTLINE_EXPORT_STALE_MINUTES``), run now."""
    from .exports import export_run, export_stale_q  # noqa: PLC0415 - a task imports its service in the body (HackSoft)

    now = clock.now()
    lost = Q(status=ExportJob.Status.QUEUED, created_at__lt=now - timedelta(minutes=2))
    ids = list(ExportJob.objects.filter(lost | export_stale_q(now)).values_list("pk", flat=True))
    for pk in ids:
        export_run(pk)
    return len(ids)


@shared_task(acks_late=True, ignore_result=True)
def export_ledger(job_id: int):
    from .exports import export_run  # noqa: PLC0415 - a task imports its service in the body (HackSoft)

    return export_run(job_id).status


@shared_task(acks_late=True, ignore_result=True)
def detect_spikes():
    from .hotspots import spikes_detect  # noqa: PLC0415 - a task imports its service in the body (HackSoft)

    today = clock.local_day()
    found = spikes_detect(today) + spikes_detect(today - timedelta(days=1))
    return len(found)
