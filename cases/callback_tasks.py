"""The daily 回访 batch (beat). Kept out of ``cases.tasks``: the callback services act
through the workflow, and the workflow's on-commit announce imports ``cases.tasks``."""

import logging
from datetime import date, timedelta

from celery import shared_task

from . import clock

logger = logging.getLogger(__name__)


@shared_task(acks_late=True, ignore_result=True)
def run_callback_batch(day: str | None = None):
    """回访 batch for one day's closures (yesterday by default)."""
    from .callbacks import callback_batch  # noqa: PLC0415 - a task imports its service in the body (HackSoft)

    target = date.fromisoformat(day) if day else clock.local_day() - timedelta(days=1)
    result = callback_batch(day=target)
    logger.info("callback batch: %s", result.summary())
    return result.summary()
