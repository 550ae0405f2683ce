"""The ticket ledger (工单台账) in Excel, written in the background with progress.

The job stores the ticket list's query string; the worker rebuilds that list for
the job's owner through the list's own selector (``cases.selectors.tickets``) —
same filters, same search, same scope — and writes ``cases.ledger``'s rows."""

import logging
from datetime import timedelta
from io import BytesIO

from django.conf import settings
from django.core.files.base import ContentFile
from django.db.models import Q
from django.utils import translation
from openpyxl import Workbook

from cases import clock
from cases.ledger import ledger_header, ledger_rows
from cases.selectors.tickets import ticket_list_filtered
from config.replicas import replica_reads

from .models import ExportJob

logger = logging.getLogger(__name__)
PROGRESS_EVERY = 500


def ledger_queryset(user, query: str):
    """The ticket list the user saw: the list's own selector, run on its query string."""
    return ticket_list_filtered(user=user, params=query)


def export_stale_q(now) -> Q:
    """A running job whose worker stopped beating (it died or was killed mid-export)."""
    stale = now - timedelta(minutes=settings.HOTLINE_EXPORT_STALE_MINUTES)
    return Q(status=ExportJob.Status.RUNNING) & (Q(heartbeat_at__lt=stale) | Q(heartbeat_at__isnull=True))


def export_claim(job_id: int) -> bool:
    """Take a queued job — or a running one whose worker died — for this worker: one
    conditional UPDATE, so of two deliveries of the same job (the queue message and
    ``resume_exports``, or a re-delivery) exactly one runs it."""
    now = clock.now()
    claimable = Q(status=ExportJob.Status.QUEUED) | export_stale_q(now)
    return bool(
        ExportJob.objects.filter(claimable, pk=job_id).update(status=ExportJob.Status.RUNNING, heartbeat_at=now)
    )


def export_run(job_id: int) -> ExportJob:
    """Write the job's workbook, unless another worker has claimed it or it is finished."""
    if not export_claim(job_id):
        return ExportJob.objects.get(pk=job_id)
    job = ExportJob.objects.select_related("user").get(pk=job_id)
    try:
        queryset = ledger_queryset(job.user, job.query)
        wb = Workbook(write_only=True)
        ws = wb.create_sheet("工单台账")
        # The rows may be read on a replica; the job's own rows are written on the primary.
        with replica_reads(), translation.override(settings.LANGUAGE_CODE):  # a stored file, in the site's language
            job.total = queryset.count()
            job.save(update_fields=["total"])
            ws.append(ledger_header())
            for n, row in enumerate(ledger_rows(queryset, job.user), start=1):
                ws.append(row)
                if n % PROGRESS_EVERY == 0:
                    ExportJob.objects.filter(pk=job.pk).update(done_rows=n, heartbeat_at=clock.now())
        out = BytesIO()
        wb.save(out)
        stamp = clock.local_stamp(clock.now(), "%Y%m%d-%H%M%S")
        job.file.save(f"工单台账-{stamp}.xlsx", ContentFile(out.getvalue()), save=False)
        job.done_rows = job.total
        job.status = ExportJob.Status.DONE
        job.finished_at = clock.now()
    except Exception as error:  # recorded for the user; the worker goes on
        logger.exception("export %s failed", job_id)
        job.status, job.error = ExportJob.Status.FAILED, f"{type(error).__name__}: {error}"[:2000]
        job.finished_at = clock.now()
    job.save()
    return job
