"""Delivery of notifications to e-mail, SMS and chat robots (``backends``).

A send goes through a ``Delivery`` row: claimed atomically, attempted, recorded,
and retried with back-off on failure, so neither a crash nor a flaky gateway
loses a message, and two workers never send the same one."""

import logging
from datetime import datetime, time, timedelta

from django.conf import settings
from django.utils import timezone

from departments.models import StaffProfile

from .. import clock
from ..models import Delivery, DeliveryAttempt
from .backends import backend_for

logger = logging.getLogger(__name__)


def _mobile_of(user) -> str:
    """The mobile a chat robot @-mentions: the staff profile's number."""
    try:
        return user.staff.phone
    except StaffProfile.DoesNotExist:
        return ""


# -- creating notifications ----------------------------------------------------------------


def quiet_until(now: datetime) -> datetime | None:
    """End of the quiet hours if ``now`` is inside them, else None."""
    spec = settings.HOTLINE_QUIET_HOURS
    if not spec:
        return None
    start_s, end_s = spec.split("-")
    start, end = time.fromisoformat(start_s), time.fromisoformat(end_s)
    local = timezone.localtime(now)
    t = local.time()
    inside = (start <= t or t < end) if start > end else (start <= t < end)
    if not inside:
        return None
    day = local.date() if t < end else local.date() + timedelta(days=1)
    return datetime.combine(day, end, tzinfo=local.tzinfo)


# -- sending -------------------------------------------------------------------------


def _backoff(attempts: int) -> timedelta:
    steps = settings.HOTLINE_DELIVERY_BACKOFF_SECONDS
    return timedelta(seconds=steps[min(attempts - 1, len(steps) - 1)])


def delivery_send(delivery_id: int, *, now=None) -> str:
    """Attempt one delivery if it is due and nobody else holds it. Returns the
    resulting status, or "skipped"."""
    now = now or clock.now()
    claimed = Delivery.objects.filter(pk=delivery_id, status=Delivery.Status.PENDING, next_attempt_at__lte=now).update(
        status=Delivery.Status.SENDING, claimed_at=now
    )
    if not claimed:
        return "skipped"
    delivery = Delivery.objects.select_related("notification__ticket", "notification__recipient__staff").get(
        pk=delivery_id
    )
    delivery.attempts += 1
    try:
        backend_for(delivery.channel).send(delivery)
    except Exception as error:
        message = f"{type(error).__name__}: {error}"[:2000]
        DeliveryAttempt.objects.create(delivery=delivery, at=now, ok=False, error=message)
        delivery.last_error = message
        if delivery.attempts >= settings.HOTLINE_DELIVERY_MAX_ATTEMPTS:
            delivery.status = Delivery.Status.FAILED
        else:
            delivery.status = Delivery.Status.PENDING
            delivery.next_attempt_at = now + _backoff(delivery.attempts)
        logger.warning("delivery %s failed (attempt %s): %s", delivery_id, delivery.attempts, message)
    else:
        DeliveryAttempt.objects.create(delivery=delivery, at=now, ok=True)
        delivery.status = Delivery.Status.SENT
        delivery.sent_at = now
    delivery.save(update_fields=["attempts", "status", "next_attempt_at", "sent_at", "last_error"])
    return delivery.status


def deliveries_due(*, now=None, limit=500) -> list[int]:
    """Pending deliveries whose time has come, and claims abandoned by a worker
    that died mid-send (handed back first)."""
    now = now or clock.now()
    stale = now - timedelta(seconds=settings.HOTLINE_DELIVERY_CLAIM_TIMEOUT_SECONDS)
    Delivery.objects.filter(status=Delivery.Status.SENDING, claimed_at__lt=stale).update(status=Delivery.Status.PENDING)
    return list(
        Delivery.objects.filter(status=Delivery.Status.PENDING, next_attempt_at__lte=now)
        .order_by("next_attempt_at")
        .values_list("pk", flat=True)[:limit]
    )
