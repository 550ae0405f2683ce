from .api import ApiKey, ServiceAttribute, ServiceRequestToken
from .calendar import DeadlinePolicy, Holiday
from .callbacks import Callback, CallbackAttempt, CallbackDuty
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
from .clusters import Cluster, ClusterMember
from .events import TicketEvent
from .knowledge import KnowledgeArticle
from .notifications import Delivery, DeliveryAttempt, Notification, NotificationPreference, Reminder, ScanMark
from .privacy import PersonalDataAccess
from .supervision import Urge, UrgeNumberSequence
from .tickets import Attachment, CoHandling, Ticket, TicketApplication, TicketNumberSequence

__all__ = [
    "CATEGORY_MAX_DEPTH",
    "OPEN_STATES",
    "PROACTIVE_CHANNELS",
    "UNIT_STATES",
    "URGENCY_RANK",
    "ApiKey",
    "Attachment",
    "Callback",
    "CallbackAttempt",
    "CallbackDuty",
    "Category",
    "Channel",
    "Clock",
    "Cluster",
    "ClusterMember",
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
    "PersonalDataAccess",
    "Reminder",
    "ReplyResult",
    "ScanMark",
    "ServiceAttribute",
    "ServiceRequestToken",
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
