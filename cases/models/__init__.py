from .calendar import DeadlinePolicy, Holiday
from .categories import CATEGORY_MAX_DEPTH, Category
from .choices import (
    OPEN_STATES,
    PROACTIVE_CHANNELS,
    UNIT_STATES,
    URGENCY_RANK,
    Channel,
    Clock,
    Colour,
    InvalidKind,
    Nature,
    ReplyResult,
    TicketState,
    TimeUnit,
    Urgency,
)
from .events import TicketEvent
from .knowledge import KnowledgeArticle
from .notifications import Delivery, DeliveryAttempt, Notification, NotificationPreference, Reminder
from .supervision import Urge, UrgeNumberSequence
from .tickets import (
    Attachment,
    CoHandling,
    Ticket,
    TicketApplication,
    TicketNumberSequence,
)

__all__ = [
    "CATEGORY_MAX_DEPTH",
    "OPEN_STATES",
    "PROACTIVE_CHANNELS",
    "UNIT_STATES",
    "URGENCY_RANK",
    "Attachment",
    "Category",
    "Channel",
    "Clock",
    "CoHandling",
    "Colour",
    "DeadlinePolicy",
    "Delivery",
    "DeliveryAttempt",
    "Holiday",
    "InvalidKind",
    "KnowledgeArticle",
    "Nature",
    "Notification",
    "NotificationPreference",
    "Reminder",
    "ReplyResult",
    "Ticket",
    "TicketApplication",
    "TicketEvent",
    "TicketNumberSequence",
    "TicketState",
    "TimeUnit",
    "Urge",
    "UrgeNumberSequence",
    "Urgency",
]
