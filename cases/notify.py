"""Notifications: the inbox, and delivery to e-mail, SMS and chat robots.

Outside channels are pluggable backends named in ``settings.HOTLINE_NOTIFY_BACKENDS``.
A send goes through a ``Delivery`` row: claimed atomically, attempted, recorded,
and retried with back-off on failure, so neither a crash nor a flaky gateway
loses a message, and two workers never send the same one."""

import base64
import hashlib
import hmac
import json
import logging
import time as monotonic
import urllib.parse
import urllib.request
from datetime import datetime, time, timedelta

from django.conf import settings
from django.core.mail import send_mail
from django.db import transaction
from django.db.models import Q
from django.template.loader import render_to_string
from django.utils import timezone
from django.utils.module_loading import import_string

from config import health
from departments.models import StaffProfile

from . import clock
from .models import Delivery, DeliveryAttempt, Notification, NotificationPreference, Ticket, Urgency

logger = logging.getLogger(__name__)


# -- backends ------------------------------------------------------------------------


class DeliveryError(Exception):
    """The gateway refused or failed; the delivery will be retried."""


class EmailBackend:
    """Django's mail (``EMAIL_BACKEND``), with Chinese templates."""

    def send(self, delivery: Delivery) -> None:
        n = delivery.notification
        context = {"notification": n, "ticket": n.ticket, "site_url": settings.HOTLINE_SITE_URL}
        subject = render_to_string("notifications/email_subject.txt", context).strip()
        body = render_to_string("notifications/email_body.txt", context)
        send_mail(subject, body, None, [delivery.address], fail_silently=False)


class LogSMSBackend:
    """The default SMS backend: writes the message to the log (no gateway needed)."""

    def send(self, delivery: Delivery) -> None:
        logger.info("SMS to %s: %s", delivery.address, sms_text(delivery.notification))


class HTTPJSONBackend:
    """Posts JSON to a webhook; a non-2xx answer or an ``errcode`` ≠ 0 is a failure."""

    timeout = 10

    def payload(self, delivery: Delivery) -> dict:
        raise NotImplementedError

    def url(self, delivery: Delivery) -> str:
        return delivery.address

    def send(self, delivery: Delivery) -> None:
        body = json.dumps(self.payload(delivery), ensure_ascii=False).encode("utf-8")
        request = urllib.request.Request(
            self.url(delivery), data=body, headers={"Content-Type": "application/json; charset=utf-8"}
        )
        try:
            with urllib.request.urlopen(request, timeout=self.timeout) as response:
                raw = response.read()
        except OSError as error:  # URLError, HTTPError, timeouts
            raise DeliveryError(f"{type(error).__name__}: {error}") from error
        try:
            answer = json.loads(raw or b"{}")
        except ValueError:
            answer = {}
        if isinstance(answer, dict) and answer.get("errcode", 0) != 0:
            raise DeliveryError(f"robot answered errcode={answer.get('errcode')}: {answer.get('errmsg', '')}")


class WeComRobotBackend(HTTPJSONBackend):
    """企业微信群机器人: ``{"msgtype": "text", "text": {"content": …, "mentioned_mobile_list": […]}}``."""

    def payload(self, delivery):
        n = delivery.notification
        mobiles = [m for m in [_mobile_of(n.recipient)] if m]
        return {"msgtype": "text", "text": {"content": chat_text(n), "mentioned_mobile_list": mobiles}}


class DingTalkRobotBackend(HTTPJSONBackend):
    """钉钉群机器人, signed with the robot's secret (``HOTLINE_DINGTALK_SECRET``) when set."""

    def payload(self, delivery):
        n = delivery.notification
        mobiles = [m for m in [_mobile_of(n.recipient)] if m]
        return {"msgtype": "text", "text": {"content": chat_text(n)}, "at": {"atMobiles": mobiles, "isAtAll": False}}

    def url(self, delivery):
        secret = settings.HOTLINE_DINGTALK_SECRET
        if not secret:
            return delivery.address
        timestamp = str(round(monotonic.time() * 1000))
        digest = hmac.new(secret.encode(), f"{timestamp}\n{secret}".encode(), hashlib.sha256).digest()
        sign = urllib.parse.quote_plus(base64.b64encode(digest))
        joiner = "&" if "?" in delivery.address else "?"
        return f"{delivery.address}{joiner}timestamp={timestamp}&sign={sign}"


def backend_for(channel: str):
    return import_string(settings.HOTLINE_NOTIFY_BACKENDS[channel])()


# -- texts ---------------------------------------------------------------------------


def sms_text(n: Notification) -> str:
    return f"【12345】{n.title}" + (f"（{n.ticket.number}）" if n.ticket_id and n.ticket.number not in n.title else "")


def chat_text(n: Notification) -> str:
    link = f"\n{settings.HOTLINE_SITE_URL}/admin/cases/ticket/{n.ticket_id}/change/" if n.ticket_id else ""
    return f"{n.title}\n{n.body}{link}"


def _mobile_of(user) -> str:
    """The mobile a chat robot @-mentions: the staff profile's number."""
    try:
        return user.staff.phone
    except StaffProfile.DoesNotExist:
        return ""


# -- creating notifications ----------------------------------------------------------------


def _quiet_until(now: datetime) -> datetime | None:
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


def notifications_create(items, *, now=None) -> list[Notification]:
    """Create inbox notifications and their outside deliveries in bulk.

    ``items``: dicts with recipient, title, body, ticket, kind, reminder, urgent.
    Deliveries follow each recipient's preferences; SMS waits for the end of the
    quiet hours unless the matter is urgent. Sending is queued after commit."""
    now = now or clock.now()
    items = list(items)
    if not items:
        return []
    notifications = [
        Notification(
            recipient=item["recipient"],
            kind=item.get("kind", Notification.Kind.REMINDER),
            ticket=item.get("ticket"),
            reminder=item.get("reminder"),
            title=item["title"][:200],
            body=item.get("body", ""),
            urgent=item.get("urgent", False),
            created_at=now,
        )
        for item in items
    ]
    Notification.objects.bulk_create(notifications)
    user_ids = {n.recipient_id for n in notifications}
    prefs = {p.user_id: p for p in NotificationPreference.objects.filter(user_id__in=user_ids)}
    phones = dict(StaffProfile.objects.filter(user_id__in=user_ids).values_list("user_id", "phone"))
    webhooks = dict(
        StaffProfile.objects.filter(user_id__in=user_ids).values_list("user_id", "department__chat_webhook")
    )
    quiet_until = _quiet_until(now)
    deliveries = []
    for n in notifications:
        pref = prefs.get(n.recipient_id) or NotificationPreference(user_id=n.recipient_id)
        if pref.email and n.recipient.email:
            deliveries.append(
                Delivery(notification=n, channel=Delivery.Channel.EMAIL, address=n.recipient.email, next_attempt_at=now)
            )
        mobile = pref.mobile or phones.get(n.recipient_id) or ""
        if pref.sms and mobile:
            later = quiet_until if (quiet_until and not n.urgent) else now
            deliveries.append(
                Delivery(notification=n, channel=Delivery.Channel.SMS, address=mobile, next_attempt_at=later)
            )
        webhook = pref.chat_webhook or webhooks.get(n.recipient_id) or ""
        if pref.chat and webhook:
            deliveries.append(
                Delivery(notification=n, channel=Delivery.Channel.CHAT, address=webhook, next_attempt_at=now)
            )
    Delivery.objects.bulk_create(deliveries)
    due_now = [d.pk for d in deliveries if d.next_attempt_at <= now]
    if due_now:
        transaction.on_commit(lambda: deliveries_enqueue(due_now))
    return notifications


ENQUEUE_BATCH = 100
BROKER = "Celery broker"


def deliveries_enqueue(ids) -> None:
    """Hand deliveries to the workers, a hundred per task message. If the broker is
    down nothing is lost: the periodic ``deliver_due`` task finds the pending rows."""
    from .tasks import deliver_many

    ids = list(ids)
    for start in range(0, len(ids), ENQUEUE_BATCH):
        try:
            deliver_many.delay(ids[start : start + ENQUEUE_BATCH])
        except Exception as error:
            logger.warning("could not queue %s deliveries; deliver_due will pick them up", len(ids), exc_info=True)
            health.mark_down(BROKER, error)
            return


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


# -- recipients ----------------------------------------------------------------------


def staff_by_unit(department_ids, roles) -> dict[tuple[int, str], list]:
    """Active staff of the given units and roles, in one query."""
    profiles = StaffProfile.objects.filter(
        department_id__in=set(department_ids), role__in=roles, user__is_active=True
    ).select_related("user")
    grouped: dict[tuple[int, str], list] = {}
    for profile in profiles:
        grouped.setdefault((profile.department_id, profile.role), []).append(profile.user)
    return grouped


def staff_with_role(role) -> list:
    return [p.user for p in StaffProfile.objects.filter(role=role, user__is_active=True).select_related("user")]


def is_urgent(ticket: Ticket) -> bool:
    return ticket.urgency in (Urgency.URGENT, Urgency.CRITICAL)


UNREAD_CAP = 99


def unread_count(user) -> int:
    """Unread messages, counted up to ``UNREAD_CAP`` + 1 (the badge says 99+)."""
    return Notification.objects.filter(recipient=user, read_at__isnull=True)[: UNREAD_CAP + 1].count()


def notifications_mark_read(user, ids=None, *, now=None) -> int:
    qs = Notification.objects.filter(recipient=user, read_at__isnull=True)
    if ids is not None:
        qs = qs.filter(Q(pk__in=ids))
    return qs.update(read_at=now or clock.now())
