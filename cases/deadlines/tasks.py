"""The deadline scan's periodic task (beat). Kept out of ``cases.tasks``: the scan acts
through the workflow, and the workflow's on-commit announce imports ``cases.tasks``."""

import logging

from celery import shared_task

logger = logging.getLogger(__name__)


@shared_task(acks_late=True, ignore_result=True)
def scan_deadlines():
    """Remind about every newly crossed deadline level (see cases.deadlines.scan)."""
    from .scan import deadline_scan, rulings_scan  # noqa: PLC0415 - a task imports its service in the body (HackSoft)

    result = deadline_scan()
    logger.info("deadline scan: %s", result.summary())
    rulings = rulings_scan()  # 派单异议 past their ruling deadline
    if rulings.total:
        logger.info("objection rulings: %s", rulings.summary())
    return result.summary()


@shared_task(acks_late=True, ignore_result=True)
def retime_deadlines(run_id: int | None = None):
    """Re-time the open tickets after a calendar or policy change (see
    cases.deadlines.retiming); without ``run_id``, resume every unfinished run."""
    from .retiming import retime_run, retime_unfinished  # noqa: PLC0415 - a task imports its service in the body (HackSoft)

    runs = [run_id] if run_id is not None else retime_unfinished()
    for pk in runs:
        result = retime_run(run_id=pk)
        logger.info("re-timing run %s: %s tickets looked at, %s changed", pk, result.tickets, result.changed)
