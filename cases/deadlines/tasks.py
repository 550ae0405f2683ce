"""The deadline scan's periodic task (beat). Kept out of ``cases.tasks``: the scan acts
through the workflow, and the workflow's on-commit announce imports ``cases.tasks``."""

import logging

from celery import shared_task

logger = logging.getLogger(__name__)


@shared_task(acks_late=True, ignore_result=True)
def scan_deadlines():
    """Remind about every newly crossed deadline level (see cases.deadlines.scan)."""
    from .scan import deadline_scan  # noqa: PLC0415 - a task imports its service in the body (HackSoft)

    result = deadline_scan()
    logger.info("deadline scan: %s", result.summary())
    return result.summary()
