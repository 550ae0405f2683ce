"""Celery tasks: thin wrappers that take ids, re-read, and call a service. All are
idempotent, so ``acks_late`` (re-delivery after a crash) is safe."""

import logging
import time
from pathlib import Path

from celery import shared_task
from django.conf import settings

from . import clock
from .deadlines.scan import deadline_scan
from .notifications import delivery as notify

logger = logging.getLogger(__name__)


@shared_task(acks_late=True, ignore_result=True)
def scan_deadlines():
    """Remind about every newly crossed deadline level (see cases.deadlines.scan)."""
    result = deadline_scan()
    logger.info("deadline scan: %s", result.summary())
    return result.summary()


@shared_task(acks_late=True, ignore_result=True)
def deliver(delivery_id: int):
    """Send one delivery now (a no-op if it is not due or someone else has it)."""
    return notify.delivery_send(delivery_id)


@shared_task(acks_late=True, ignore_result=True)
def deliver_many(delivery_ids: list[int]):
    """Send a batch of deliveries (each claimed on its own)."""
    return [notify.delivery_send(pk) for pk in delivery_ids]


@shared_task(acks_late=True, ignore_result=True)
def deliver_due():
    """Send what is due: deferred SMS after the quiet hours, retries, deliveries
    whose queue message was lost, claims of a worker that died mid-send."""
    sent = 0
    for delivery_id in notify.deliveries_due():
        notify.delivery_send(delivery_id)
        sent += 1
    return sent


@shared_task(acks_late=True, ignore_result=True)
def run_callback_batch(day: str | None = None):
    """回访 batch for one day's closures (yesterday by default)."""
    from datetime import date, timedelta

    from .callbacks import callback_batch

    target = date.fromisoformat(day) if day else clock.local_day() - timedelta(days=1)
    result = callback_batch(day=target)
    logger.info("callback batch: %s", result.summary())
    return result.summary()


@shared_task(acks_late=True, ignore_result=True)
def detect_clusters():
    from .clusters import clusters_sweep

    return clusters_sweep()


@shared_task(acks_late=True, ignore_result=True)
def detect_clusters_for(ticket_id: int):
    """Check one new ticket against the cluster rules (idempotent: members are unique)."""
    from .clusters import clusters_detect_for
    from .models import Ticket

    ticket = Ticket.objects.select_related("category", "community", "street").filter(pk=ticket_id).first()
    if ticket is not None:
        clusters_detect_for(ticket)


@shared_task(ignore_result=True)
def prune_broker_files(max_age_hours: int = 24):
    """The embedded filesystem broker keeps claimed messages; drop old ones."""
    folder = Path(settings.BROKER_DIR) / "processed"
    if settings.REDIS_URL or not folder.exists():
        return 0
    cutoff = time.time() - max_age_hours * 3600
    removed = 0
    for path in folder.iterdir():
        try:
            if path.stat().st_mtime < cutoff:
                path.unlink()
                removed += 1
        except FileNotFoundError:
            continue
    return removed
