"""Asking for a ledger export: record the job and queue it once the transaction commits.

Apart from ``reports.exports`` (which writes the workbook) so that the service that
queues ``export_ledger`` is not the one the task runs: the import graph has no cycle."""

import logging

from django.db import transaction

from cases import clock
from config import health

from .models import ExportJob
from .tasks import export_ledger

logger = logging.getLogger(__name__)


def export_create(*, user, query: str) -> ExportJob:
    job = ExportJob.objects.create(user=user, query=query, created_at=clock.now())
    transaction.on_commit(lambda: _enqueue(job.pk))
    return job


def _enqueue(pk):
    try:
        export_ledger.delay(pk)
    except Exception as error:  # the broker is down: the job stays queued; resume_exports picks it up
        logger.warning("could not queue export %s", pk, exc_info=True)
        health.mark_down("Celery broker", error)
