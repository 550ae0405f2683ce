"""The ticket ledger (工单台账) in Excel, written in the background with progress.

The job stores the ticket list's query string; the worker rebuilds exactly that
list — same filters, same search, same scope — for the job's owner."""

import logging
from io import BytesIO

from django.contrib.admin.sites import site as admin_site
from django.core.files.base import ContentFile
from django.test import RequestFactory
from django.utils import timezone
from openpyxl import Workbook

from cases import clock
from cases.models import Ticket
from cases.privacy import citizen_hidden_from, mask_name, mask_phone

from .models import ExportJob

logger = logging.getLogger(__name__)
PROGRESS_EVERY = 500

COLUMNS = [
    ("工单编号", lambda t: t.number),
    ("受理时间", lambda t: _when(t.received_at)),
    ("渠道", lambda t: t.get_channel_display()),
    ("诉求性质", lambda t: t.get_nature_display()),
    ("紧急程度", lambda t: t.get_urgency_display()),
    ("诉求分类", lambda t: t.category.full_name),
    ("诉求内容", lambda t: t.content),
    ("诉求地址", lambda t: t.address),
    ("区县", lambda t: t.district.name if t.district else ""),
    ("街道乡镇", lambda t: t.street.name if t.street else ""),
    ("社区村", lambda t: t.community.name if t.community else ""),
    ("主办单位", lambda t: t.lead_department.name if t.lead_department else ""),
    ("状态", lambda t: t.get_state_display()),
    ("派单时间", lambda t: _when(t.dispatched_at)),
    ("签收时间", lambda t: _when(t.signed_at)),
    ("办结时限", lambda t: _when(t.resolve_due_at)),
    ("办结时间", lambda t: _when(t.closed_at)),
    ("办理结果", lambda t: t.get_reply_result_display()),
    ("办理情况", lambda t: t.reply_text),
    ("退回重办次数", lambda t: t.rework_count),
    ("延期次数", lambda t: t.extension_count),
]


def _when(value):
    return timezone.localtime(value).strftime("%Y-%m-%d %H:%M") if value else ""


def ledger_queryset(user, query: str):
    """The ticket list the user saw, rebuilt from its query string."""
    request = RequestFactory().get("/admin/cases/ticket/", data=None, QUERY_STRING=query)
    request.GET = request.GET.copy()
    request.user = user
    model_admin = admin_site._registry[Ticket]
    changelist = model_admin.get_changelist_instance(request)
    return changelist.get_queryset(request).select_related(
        "category__parent__parent", "district", "street", "community", "lead_department"
    )


def export_claim(job_id: int) -> bool:
    """Take a queued job for this worker: one conditional UPDATE, so of two deliveries of
    the same job (the queue message and ``resume_exports``, or a re-delivery) exactly one
    runs it."""
    Status = ExportJob.Status
    return bool(ExportJob.objects.filter(pk=job_id, status=Status.QUEUED).update(status=Status.RUNNING))


def export_run(job_id: int) -> ExportJob:
    """Write the job's workbook, unless another worker has claimed it or it is finished."""
    if not export_claim(job_id):
        return ExportJob.objects.get(pk=job_id)
    job = ExportJob.objects.select_related("user").get(pk=job_id)
    try:
        queryset = ledger_queryset(job.user, job.query)
        job.total = queryset.count()
        job.save(update_fields=["total"])
        wb = Workbook(write_only=True)
        ws = wb.create_sheet("工单台账")
        ws.append([header for header, _getter in COLUMNS] + ["诉求人", "联系电话"])
        for n, ticket in enumerate(queryset.iterator(chunk_size=2000), start=1):
            hidden = citizen_hidden_from(job.user, ticket)
            ws.append(
                [getter(ticket) for _header, getter in COLUMNS]
                + ["" if hidden else mask_name(ticket.citizen_name), "" if hidden else mask_phone(ticket.citizen_phone)]
            )
            if n % PROGRESS_EVERY == 0:
                ExportJob.objects.filter(pk=job.pk).update(done_rows=n)
        out = BytesIO()
        wb.save(out)
        stamp = timezone.localtime().strftime("%Y%m%d-%H%M%S")
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
