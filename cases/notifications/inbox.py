"""The in-app inbox: creating notifications (and their outside deliveries), recipients,
unread counts."""

import logging

from django.db import transaction
from django.db.models import Exists, OuterRef, Q
from django.utils.translation import gettext_lazy as _

from config import health
from departments.models import StaffProfile

from .. import clock
from ..models import Delivery, Notification, NotificationPreference, Ticket, Urgency
from ..selectors.scope import notification_scope, ticket_scope
from .delivery import quiet_until
from .tasks import deliver_many

logger = logging.getLogger(__name__)


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
    sms_after = quiet_until(now)
    deliveries = []
    for n in notifications:
        pref = prefs.get(n.recipient_id) or NotificationPreference(user_id=n.recipient_id)
        if pref.email and n.recipient.email:
            deliveries.append(
                Delivery(notification=n, channel=Delivery.Channel.EMAIL, address=n.recipient.email, next_attempt_at=now)
            )
        mobile = pref.mobile or phones.get(n.recipient_id) or ""
        if pref.sms and mobile:
            later = sms_after if (sms_after and not n.urgent) else now
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
    ids = list(ids)
    for start in range(0, len(ids), ENQUEUE_BATCH):
        try:
            deliver_many.delay(ids[start : start + ENQUEUE_BATCH])
        except Exception as error:
            logger.warning("could not queue %s deliveries; deliver_due will pick them up", len(ids), exc_info=True)
            health.mark_down(BROKER, error)
            return


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

#: What a message about a ticket that has left the reader's scope (returned and
#: re-dispatched to another unit) says instead of the demand and address it carried.
MOVED_OUT_TEXT = _("该工单已移出本单位办理范围")


def inbox_list(queryset, user):
    """``user``'s own messages (``notification_scope``), each marked
    ``ticket_visible``: whether ``user`` may still see its ticket (``ticket_scope``,
    decided now, at read time, not when the message was sent)."""
    visible = ticket_scope(Ticket.objects.filter(pk=OuterRef("ticket_id")), user)
    return notification_scope(queryset, user).annotate(ticket_visible=Exists(visible))


def inbox_body(notification) -> str:
    """The text a message shows its reader: its body, or ``MOVED_OUT_TEXT`` when
    its ticket has left the reader's scope (the message itself, its time, kind and
    title with the ticket number stay). ``notification`` comes from ``inbox_list``."""
    if notification.ticket_id and not getattr(notification, "ticket_visible", False):
        return str(MOVED_OUT_TEXT)
    return notification.body


def unread_count(user) -> int:
    """Unread messages, counted up to ``UNREAD_CAP`` + 1 (the badge says 99+)."""
    unread = notification_scope(Notification.objects.all(), user).filter(read_at__isnull=True)
    return unread[: UNREAD_CAP + 1].count()


def notifications_mark_read(user, ids=None, *, now=None) -> int:
    qs = notification_scope(Notification.objects.all(), user).filter(read_at__isnull=True)
    if ids is not None:
        qs = qs.filter(Q(pk__in=ids))
    return qs.update(read_at=now or clock.now())
