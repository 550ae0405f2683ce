from .api import ApiKey, ServiceAttribute, ServiceRequestToken
from .calendar import DeadlinePolicy, Holiday, RetimeRun, WorkingCalendar
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
from .decisions import ReasonCode, ReplyTemplate
from .events import HistoryArchive, TicketEvent
from .hops import DispatchHop
from .incidents import Incident, IncidentLink
from .knowledge import KnowledgeArticle
from .notifications import Delivery, DeliveryAttempt, Notification, NotificationPreference, Reminder, ScanMark
from .privacy import PersonalDataAccess
from .reference import ReferenceStamp
from .suggestions import SuggestionModel
from .supervision import Urge, UrgeNumberSequence
from .themes import Theme, ThemeTask, ThemeTicket
from .tickets import (
    CLOCK_RULES,
    CLOCKED_STATES,
    RESOLVE_CLOCK,
    Attachment,
    ClockRule,
    CoHandling,
    Ticket,
    TicketApplication,
    TicketNumberSequence,
    deadline_colour,
    due_soon_q,
    overdue_any_clock_q,
    overdue_resolve_q,
)

__all__ = [
    "CATEGORY_MAX_DEPTH",
    "CLOCKED_STATES",
    "CLOCK_RULES",
    "OPEN_STATES",
    "PROACTIVE_CHANNELS",
    "RESOLVE_CLOCK",
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
    "ClockRule",
    "Cluster",
    "ClusterMember",
    "CoHandling",
    "Colour",
    "DeadlinePolicy",
    "Delivery",
    "DeliveryAttempt",
    "DispatchHop",
    "HistoryArchive",
    "Holiday",
    "Incident",
    "IncidentLink",
    "InvalidKind",
    "KnowledgeArticle",
    "Nature",
    "Notification",
    "NotificationPreference",
    "PersonalDataAccess",
    "ReasonCode",
    "ReferenceStamp",
    "Reminder",
    "ReplyResult",
    "ReplyTemplate",
    "RetimeRun",
    "ScanMark",
    "ServiceAttribute",
    "ServiceRequestToken",
    "SuggestionModel",
    "Theme",
    "ThemeTask",
    "ThemeTicket",
    "Ticket",
    "TicketApplication",
    "TicketEvent",
    "TicketNumberSequence",
    "TicketState",
    "TimeUnit",
    "Urge",
    "UrgeNumberSequence",
    "Urgency",
    "WorkingCalendar",
    "deadline_colour",
    "due_soon_q",
    "overdue_any_clock_q",
    "overdue_resolve_q",
]
