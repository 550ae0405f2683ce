import os
import uuid
from dataclasses import dataclass
from datetime import timedelta

from django.conf import settings
from django.db import models
from django.db.models import Case, F, Q, Value, When
from django.utils import timezone
from django.utils.translation import gettext_lazy as _
from simple_history.models import HistoricalRecords

from .. import clock
from .choices import (
    OPEN_STATES,
    URGENCY_RANK,
    Channel,
    Clock,
    Colour,
    InvalidKind,
    Nature,
    ReplyResult,
    TicketState,
    Urgency,
)

#: States in which a ticket is on the clock: from dispatch until the centre accepts
#: the reply (DESIGN §5). A ticket in review is still on its resolve clock: the
#: deadline scan reminds about it, and a late approval closes it late.
CLOCKED_STATES = (TicketState.DISPATCHED, TicketState.HANDLING, TicketState.REVIEWING)


@dataclass(frozen=True)
class ClockRule:
    """When one of the three clocks runs (DESIGN §5). The rule is data, so that the
    query (lists, the deadline scan) and the object (the ticket page, the
    denormalised next warn/due times) read the same one."""

    name: str
    states: tuple
    signed: bool | None = None  # None: either way
    contacted: bool | None = None
    #: A milestone that restarts the clock whatever ``signed`` says: the sign clock
    #: runs again for a child unit after a sub-dispatch (the lead unit signed).
    restarted_by: str | None = None

    @property
    def due_field(self) -> str:
        return f"{self.name}_due_at"

    @property
    def warn_field(self) -> str:
        return f"{self.name}_warn_at"

    def running_q(self) -> Q:
        """The tickets whose clock runs and has a due time."""
        states = Q(state=self.states[0]) if len(self.states) == 1 else Q(state__in=list(self.states))
        q = states & Q(**{f"{self.due_field}__isnull": False})
        if self.signed is not None:
            signed = Q(signed_at__isnull=not self.signed)
            if self.restarted_by:
                signed |= Q(**{f"{self.restarted_by}__isnull": False})
            q &= signed
        if self.contacted is not None:
            q &= Q(first_contact_at__isnull=not self.contacted)
        return q

    def runs(self, ticket) -> bool:
        return (
            ticket.state in self.states
            and getattr(ticket, self.due_field) is not None
            and (
                self.signed is None
                or (ticket.signed_at is not None) == self.signed
                or (self.restarted_by is not None and getattr(ticket, self.restarted_by) is not None)
            )
            and (self.contacted is None or (ticket.first_contact_at is not None) == self.contacted)
        )


CLOCK_RULES = (
    ClockRule(Clock.SIGN, (TicketState.DISPATCHED,), signed=False, restarted_by="subdispatched_at"),
    ClockRule(Clock.CONTACT, (TicketState.DISPATCHED, TicketState.HANDLING), signed=True, contacted=False),
    ClockRule(Clock.RESOLVE, CLOCKED_STATES),
)
RESOLVE_CLOCK = CLOCK_RULES[2]


#: How long a received ticket may wait in 待派单 before its waiting time turns red.
#: There is no statutory dispatch clock (DESIGN §5); these follow the sign clock's
#: spirit (urgent 20 min) so that an urgent demand never sits unseen.
DISPATCH_WAIT = {
    Urgency.CRITICAL: timedelta(minutes=10),
    Urgency.URGENT: timedelta(minutes=20),
    Urgency.NORMAL: timedelta(hours=2),
}


def deadline_colour(due, warn, now) -> str:
    """The warning colour of one running clock (DESIGN §5): red from the due
    instant on (the scan's red level is ``due <= now``), yellow from the warn
    instant, else green; "" without a due time."""
    if due is None:
        return ""
    if due <= now:
        return Colour.RED
    if warn is not None and warn <= now:
        return Colour.YELLOW
    return Colour.GREEN


def colour_conditions(now) -> dict[str, Q]:
    """``deadline_colour`` over the denormalised next warn/due times, as queries:
    two indexed timestamp comparisons each."""
    clocked = Q(state__in=list(CLOCKED_STATES), next_due_at__isnull=False)
    return {
        Colour.RED: clocked & Q(next_due_at__lte=now),
        Colour.YELLOW: clocked & Q(next_warn_at__lte=now, next_due_at__gt=now),
        Colour.GREEN: clocked & Q(next_due_at__gt=now) & (Q(next_warn_at__gt=now) | Q(next_warn_at__isnull=True)),
    }


def overdue_any_clock_q(now) -> Q:
    """Red: some running clock (sign, contact or resolve) is past its due time."""
    return colour_conditions(now)[Colour.RED]


def overdue_resolve_q(now) -> Q:
    """超期未办结: the resolve clock runs and is past its due time."""
    return RESOLVE_CLOCK.running_q() & Q(resolve_due_at__lte=now)


def due_soon_q(now) -> Q:
    """Yellow: the earliest running clock has passed its warn time, not its due time."""
    return colour_conditions(now)[Colour.YELLOW]


class TicketQuerySet(models.QuerySet):
    """The derived facts about tickets, each defined once (issue 15): lists, queues,
    filters, the API, reports and the scan call these."""

    def open(self):
        """Not finished: received, dispatched, handling or reviewing."""
        return self.filter(state__in=OPEN_STATES)

    def running(self, rule: ClockRule):
        """The tickets on which ``rule``'s clock runs."""
        return self.filter(rule.running_q())

    def overdue_any_clock(self, now=None):
        return self.filter(overdue_any_clock_q(now or clock.now()))

    def overdue_resolve(self, now=None):
        return self.filter(overdue_resolve_q(now or clock.now()))

    def due_soon(self, now=None):
        return self.filter(due_soon_q(now or clock.now()))

    def resolve_due_on(self, day):
        """Open, with the resolve deadline on the local ``day``."""
        start, end = clock.day_bounds(day)
        return self.open().filter(resolve_due_at__gte=start, resolve_due_at__lt=end)

    def received_on(self, day):
        """Received on the local ``day``."""
        start, end = clock.day_bounds(day)
        return self.filter(received_at__gte=start, received_at__lt=end)

    def with_colour(self, now=None):
        """Annotate ``deadline_colour`` (the rule of ``Ticket.colour``)."""
        conditions = colour_conditions(now or clock.now())
        return self.annotate(
            deadline_colour=Case(
                *[When(condition, then=Value(colour)) for colour, condition in conditions.items()],
                default=Value(""),
                output_field=models.CharField(),
            )
        )

    def coloured(self, colour: str, now=None):
        condition = colour_conditions(now or clock.now()).get(colour)
        return self.none() if condition is None else self.filter(condition)


class Ticket(models.Model):
    """工单: one citizen demand and its whole handling.

    ``state`` and every milestone, clock and counter below are written only by
    ``cases.workflow``; the admin shows them read-only."""

    number = models.CharField(_("工单编号"), max_length=20, unique=True, editable=False)
    channel = models.CharField(_("渠道"), max_length=16, choices=Channel.choices)
    nature = models.CharField(_("诉求性质"), max_length=16, choices=Nature.choices)
    urgency = models.CharField(_("紧急程度"), max_length=16, choices=Urgency.choices, default=Urgency.NORMAL)
    # 0 = critical, 1 = urgent, 2 = normal: work lists sort on it, most urgent first.
    priority = models.PositiveSmallIntegerField(_("优先级"), default=URGENCY_RANK[Urgency.NORMAL], editable=False)
    category = models.ForeignKey(
        "cases.Category", verbose_name=_("诉求分类"), on_delete=models.PROTECT, related_name="tickets"
    )
    content = models.TextField(_("诉求内容"))
    is_proactive = models.BooleanField(_("未诉先办"), default=False)
    external_id = models.CharField(_("来源系统编号"), max_length=64, blank=True)
    # Decided at intake by ``cases.public.public_by_default``; changed only by the
    # workflow's ``ticket_publicity_set`` (audited).
    is_public = models.BooleanField(
        _("公开"),
        default=True,
        db_default=True,
        editable=False,
        help_text=_("可在问题墙、办理进度查询和 Open311 中公开；主动治理和物联感知工单默认不公开。"),
    )

    # The citizen (personal data, DESIGN §8).
    citizen_name = models.CharField(_("诉求人姓名"), max_length=50, blank=True)
    citizen_phone = models.CharField(_("联系电话"), max_length=32, blank=True)
    citizen_phone_last4 = models.CharField(_("电话后四位"), max_length=4, blank=True, editable=False)
    is_anonymous = models.BooleanField(_("匿名"), default=False)
    is_confidential = models.BooleanField(_("保密"), default=False, help_text=_("举报人信息对承办单位保密。"))

    # Where.
    address = models.CharField(_("诉求地址"), max_length=255, blank=True)
    latitude = models.DecimalField(_("纬度"), max_digits=9, decimal_places=6, null=True, blank=True)
    longitude = models.DecimalField(_("经度"), max_digits=9, decimal_places=6, null=True, blank=True)
    grid = models.ForeignKey(
        "departments.Grid", verbose_name=_("网格"), null=True, blank=True, on_delete=models.PROTECT, related_name="+"
    )
    community = models.ForeignKey(
        "departments.Department",
        verbose_name=_("社区村"),
        null=True,
        blank=True,
        on_delete=models.PROTECT,
        related_name="+",
    )
    street = models.ForeignKey(
        "departments.Department",
        verbose_name=_("街道乡镇"),
        null=True,
        blank=True,
        on_delete=models.PROTECT,
        related_name="+",
    )
    district = models.ForeignKey(
        "departments.Department",
        verbose_name=_("区县"),
        null=True,
        blank=True,
        on_delete=models.PROTECT,
        related_name="+",
    )

    # Who handles.
    lead_department = models.ForeignKey(
        "departments.Department",
        verbose_name=_("主办单位"),
        null=True,
        blank=True,
        on_delete=models.PROTECT,
        related_name="led_tickets",
    )
    assignee_department = models.ForeignKey(
        "departments.Department",
        verbose_name=_("当前承办单位"),
        null=True,
        blank=True,
        on_delete=models.PROTECT,
        related_name="assigned_tickets",
        help_text=_("主办单位本身，或其下派的下级单位。"),
    )
    # Which centre owns the ticket: a sub-centre (分中心 / 分平台) the city transferred
    # it to, or whose operators took it; null is the city's hotline centre.
    centre = models.ForeignKey(
        "departments.Department",
        verbose_name=_("所属分中心"),
        null=True,
        blank=True,
        on_delete=models.PROTECT,
        related_name="centre_tickets",
        editable=False,
        help_text=_("转至分中心或由分中心受理的工单；空白为市热线中心。"),
    )
    centre_sign_due_at = models.DateTimeField(_("分中心签收时限"), null=True, blank=True, editable=False)
    centre_signed_at = models.DateTimeField(_("分中心签收时间"), null=True, blank=True, editable=False)
    cohandlers = models.ManyToManyField(
        "departments.Department",
        verbose_name=_("协办单位"),
        through="cases.CoHandling",
        related_name="cohandled_tickets",
        blank=True,
    )
    # A hop to a grid worker (网格员): the unit stays the community, the worker holds.
    assignee_worker = models.ForeignKey(
        settings.AUTH_USER_MODEL,
        verbose_name=_("当前承办网格员"),
        null=True,
        blank=True,
        on_delete=models.PROTECT,
        related_name="worker_tickets",
        editable=False,
    )
    handler = models.ForeignKey(
        settings.AUTH_USER_MODEL,
        verbose_name=_("承办人"),
        null=True,
        blank=True,
        on_delete=models.SET_NULL,
        related_name="handled_tickets",
        help_text=_("签收工单的工作人员。"),
    )
    state = models.CharField(
        _("状态"), max_length=16, choices=TicketState.choices, default=TicketState.RECEIVED, editable=False
    )

    # The three clocks (DESIGN §5): due time and the moment the warning turns yellow.
    sign_due_at = models.DateTimeField(_("签收时限"), null=True, blank=True, editable=False)
    sign_warn_at = models.DateTimeField(_("签收预警时间"), null=True, blank=True, editable=False)
    contact_due_at = models.DateTimeField(_("响应时限"), null=True, blank=True, editable=False)
    contact_warn_at = models.DateTimeField(_("响应预警时间"), null=True, blank=True, editable=False)
    resolve_due_at = models.DateTimeField(_("办结时限"), null=True, blank=True, editable=False)
    resolve_warn_at = models.DateTimeField(_("办结预警时间"), null=True, blank=True, editable=False)
    # The earliest warn / due time among the clocks that are running: one indexed
    # column each, so that colour filters and the deadline scan stay cheap.
    next_warn_at = models.DateTimeField(_("最近预警时间"), null=True, blank=True, editable=False)
    next_due_at = models.DateTimeField(_("最近到期时间"), null=True, blank=True, editable=False)

    # Milestones.
    received_at = models.DateTimeField(_("受理时间"), default=timezone.now, editable=False)
    first_dispatched_at = models.DateTimeField(_("首次派单时间"), null=True, blank=True, editable=False)
    dispatched_at = models.DateTimeField(_("派单时间"), null=True, blank=True, editable=False)
    # The latest sub-dispatch since the dispatch: the child unit's sign clock starts here.
    subdispatched_at = models.DateTimeField(_("下派时间"), null=True, blank=True, editable=False)
    signed_at = models.DateTimeField(_("签收时间"), null=True, blank=True, editable=False)
    first_contact_at = models.DateTimeField(_("首次联系时间"), null=True, blank=True, editable=False)
    replied_at = models.DateTimeField(_("反馈时间"), null=True, blank=True, editable=False)
    closed_at = models.DateTimeField(_("办结时间"), null=True, blank=True, editable=False)
    reopened_at = models.DateTimeField(_("重办时间"), null=True, blank=True, editable=False)

    # The outcome.
    reply_result = models.CharField(_("办理结果"), max_length=16, choices=ReplyResult.choices, blank=True)
    reply_text = models.TextField(_("办理情况"), blank=True)
    reply_reason = models.TextField(_("无法解决原因"), blank=True)
    public_summary = models.TextField(
        _("公开答复摘要"),
        blank=True,
        default="",
        db_default="",
        editable=False,
        help_text=_("承办单位确认的公开答复，已去除姓名、电话、证件号和门牌号；公开页面只显示它，不显示办理情况原文。"),
    )
    invalid_kind = models.CharField(_("无效类型"), max_length=20, choices=InvalidKind.choices, blank=True)
    invalid_reason = models.TextField(_("无效原因"), blank=True)
    merged_into = models.ForeignKey(
        "self",
        verbose_name=_("并入主单"),
        null=True,
        blank=True,
        on_delete=models.PROTECT,
        related_name="merged_tickets",
    )

    # Counters.
    rework_count = models.PositiveSmallIntegerField(_("退回重办次数"), default=0, editable=False)
    return_count = models.PositiveSmallIntegerField(_("退单次数"), default=0, editable=False)
    extension_count = models.PositiveSmallIntegerField(_("延期次数"), default=0, editable=False)
    extension_days = models.PositiveSmallIntegerField(_("累计延期工作日"), default=0, editable=False)
    reopen_count = models.PositiveSmallIntegerField(_("重办次数"), default=0, editable=False)
    units_passed = models.PositiveSmallIntegerField(_("经手单位数"), default=0, editable=False)
    is_problem = models.BooleanField(_("问题工单"), default=False, editable=False)

    # Supervision (督办).
    head_signoff_required = models.BooleanField(
        _("需一把手签批"), default=False, editable=False, help_text=_("办理反馈须经承办单位负责人签批后才提交中心。")
    )
    signoff_pending = models.BooleanField(_("反馈待负责人签批"), default=False, editable=False)
    escalated_to = models.ForeignKey(
        settings.AUTH_USER_MODEL,
        verbose_name=_("提级交办领导"),
        null=True,
        blank=True,
        on_delete=models.SET_NULL,
        related_name="escalated_tickets",
        editable=False,
    )
    escalated_at = models.DateTimeField(_("提级督办时间"), null=True, blank=True, editable=False)
    callback_exempt = models.BooleanField(
        _("免回访"), default=False, editable=False, help_text=_("复核不予重办后的办结不再回访。")
    )

    created_by = models.ForeignKey(
        settings.AUTH_USER_MODEL,
        verbose_name=_("登记人"),
        null=True,
        blank=True,
        on_delete=models.SET_NULL,
        related_name="+",
    )
    updated_at = models.DateTimeField(_("更新时间"), auto_now=True)

    history = HistoricalRecords(excluded_fields=["updated_at", "citizen_phone_last4", "priority"])
    objects = TicketQuerySet.as_manager()

    class Meta:
        verbose_name = _("工单")
        verbose_name_plural = _("工单")
        ordering = ["-received_at"]
        indexes = [
            models.Index(fields=["priority", "next_due_at"], name="ticket_worklist"),
            models.Index(fields=["state", "next_due_at"], name="ticket_state_due"),
            models.Index(fields=["lead_department", "state"], name="ticket_lead_state"),
            models.Index(fields=["assignee_department", "state"], name="ticket_assignee_state"),
            models.Index(fields=["centre", "state"], name="ticket_centre_state"),
            models.Index(fields=["received_at"], name="ticket_received"),
            # The dashboard's and the hotspots' counts of a period's tickets (by channel,
            # category, street, community, proactive) read this index alone on
            # PostgreSQL, not a heap page per ticket: at ten million tickets a month is
            # 400,000 rows (README, "Scale", issue 22). SQLite has no covering indexes
            # and skips it; ``ticket_received`` serves there.
            models.Index(
                fields=["received_at"],
                include=["id", "state", "channel", "category", "street", "community", "is_proactive"],
                name="ticket_received_cover",
            ),
            # The rates leave invalid and merged tickets out: an anti-join against this
            # small index, not a semi-join against every ticket (reports.metrics).
            models.Index(fields=["id"], name="ticket_uncounted", condition=Q(state__in=["invalid", "merged"])),
            models.Index(fields=["closed_at"], name="ticket_closed"),
            # Rates count tickets by when they were dispatched and when they fell due.
            models.Index(fields=["first_dispatched_at"], name="ticket_first_dispatched"),
            models.Index(fields=["resolve_due_at"], name="ticket_resolve_due"),
            models.Index(fields=["category", "received_at"], name="ticket_category_received"),
            models.Index(fields=["community", "category", "received_at"], name="ticket_community_cat"),
            # Intake's duplicates by place: the same grid and category family lately.
            models.Index(fields=["grid", "category", "received_at"], name="ticket_grid_cat"),
            # 相似诉求: a street's tickets of the last weeks, newest first (cases/clusters.py).
            models.Index(fields=["street", "received_at"], name="ticket_street_received"),
            models.Index(fields=["citizen_phone"], name="ticket_phone"),
            models.Index(fields=["citizen_phone_last4"], name="ticket_phone_last4"),
            # Work lists are about open tickets, a tenth of the table or less: these
            # partial indexes let the planner go straight to them (see issue 8's bench).
            models.Index(
                F("priority"),
                F("next_due_at"),  # ascending: NULLS LAST by default on PostgreSQL
                F("received_at").desc(),
                name="ticket_open_worklist",
                condition=Q(state__in=["received", "dispatched", "handling", "reviewing"]),
            ),
            models.Index(
                fields=["lead_department"],
                name="ticket_open_lead",
                condition=Q(state__in=["received", "dispatched", "handling", "reviewing"]),
            ),
            models.Index(
                fields=["assignee_department"],
                name="ticket_open_assignee",
                condition=Q(state__in=["received", "dispatched", "handling", "reviewing"]),
            ),
            # The deadline scan's clocks: each only over the tickets whose clock runs,
            # so a scan pass reads a few thousand index entries, not the table.
            *[
                models.Index(fields=[column], name=f"ticket_clock_{column[:-3]}", condition=running)
                for columns, running in [
                    (
                        ("sign_warn_at", "sign_due_at"),
                        Q(state="dispatched") & (Q(signed_at__isnull=True) | Q(subdispatched_at__isnull=False)),
                    ),
                    (
                        ("contact_warn_at", "contact_due_at"),
                        Q(state__in=["dispatched", "handling"], first_contact_at__isnull=True),
                    ),
                    (("resolve_warn_at", "resolve_due_at"), Q(state__in=["dispatched", "handling", "reviewing"])),
                ]
                for column in columns
            ],
        ]

    def __str__(self):
        return self.number

    def save(self, *args, **kwargs):
        digits = "".join(ch for ch in self.citizen_phone if ch.isdigit())
        self.citizen_phone_last4 = digits[-4:]
        self.priority = URGENCY_RANK.get(self.urgency, URGENCY_RANK[Urgency.NORMAL])
        update_fields = kwargs.get("update_fields")
        if update_fields is not None:
            derived = {"citizen_phone": "citizen_phone_last4", "urgency": "priority"}
            extra = {derived[name] for name in update_fields if name in derived}
            if extra:
                kwargs["update_fields"] = {*update_fields, *extra}
        super().save(*args, **kwargs)

    # -- clocks -------------------------------------------------------------------

    def running_clocks(self) -> dict[str, tuple]:
        """The clocks that are running in the current state: name → (due, warn)."""
        return {
            rule.name: (getattr(self, rule.due_field), getattr(self, rule.warn_field))
            for rule in CLOCK_RULES
            if rule.runs(self)
        }

    def refresh_deadline_summary(self) -> None:
        clocks = self.running_clocks().values()
        self.next_due_at = min((due for due, _warn in clocks), default=None)
        self.next_warn_at = min((warn or due for due, warn in clocks), default=None)

    def next_clock(self) -> str | None:
        """Which running clock the list's deadline (``next_due_at``) is: the one due
        first; on a tie the earlier in ``CLOCK_RULES`` (sign, contact, resolve)."""
        clocks = self.running_clocks()
        if not clocks:
            return None
        return Clock(min(clocks, key=lambda name: clocks[name][0]))

    def waiting_for_dispatch(self, now=None) -> timedelta | None:
        """How long a received ticket has been waiting for its dispatch."""
        if self.state != TicketState.RECEIVED:
            return None
        return (now or clock.now()) - self.received_at

    def waiting_colour(self, now=None) -> str:
        """Red once the wait passes ``DISPATCH_WAIT`` for the urgency; yellow while an
        urgent ticket waits at all; "" otherwise."""
        waited = self.waiting_for_dispatch(now)
        if waited is None:
            return ""
        if waited >= DISPATCH_WAIT[self.urgency]:
            return Colour.RED
        return Colour.YELLOW if self.urgency != Urgency.NORMAL else ""

    def colour(self, now=None) -> str:
        """The list's warning colour (``TicketQuerySet.with_colour`` is the same rule)."""
        if self.state not in CLOCKED_STATES:
            return ""
        return deadline_colour(self.next_due_at, self.next_warn_at, now or clock.now())

    def is_overdue(self, now=None) -> bool:
        """Some running clock is past due (``TicketQuerySet.overdue_any_clock``)."""
        return self.colour(now) == Colour.RED

    @property
    def is_open(self) -> bool:
        return self.state in OPEN_STATES


class TicketNumberSequence(models.Model):
    """Per-day counter behind ticket numbers such as ``20261123-00042``."""

    day = models.DateField(primary_key=True)
    last_value = models.PositiveIntegerField(default=0)

    class Meta:
        verbose_name = _("工单编号序列")
        verbose_name_plural = _("工单编号序列")

    def __str__(self):
        return f"{self.day:%Y%m%d}: {self.last_value}"


class CoHandling(models.Model):
    """协办: a unit that contributes to a ticket led by another (吹哨报到)."""

    class Status(models.TextChoices):
        PENDING = "pending", _("待签收")
        SIGNED = "signed", _("已签收")
        REPLIED = "replied", _("已反馈")
        CANCELLED = "cancelled", _("已撤销")

    ticket = models.ForeignKey(Ticket, verbose_name=_("工单"), on_delete=models.CASCADE, related_name="cohandlings")
    department = models.ForeignKey(
        "departments.Department", verbose_name=_("协办单位"), on_delete=models.PROTECT, related_name="cohandlings"
    )
    status = models.CharField(_("状态"), max_length=16, choices=Status.choices, default=Status.PENDING)
    added_at = models.DateTimeField(_("增加时间"), default=timezone.now)
    added_by = models.ForeignKey(
        settings.AUTH_USER_MODEL, verbose_name=_("增加人"), null=True, on_delete=models.SET_NULL, related_name="+"
    )
    signed_at = models.DateTimeField(_("签收时间"), null=True, blank=True)
    signed_by = models.ForeignKey(
        settings.AUTH_USER_MODEL,
        verbose_name=_("签收人"),
        null=True,
        blank=True,
        on_delete=models.SET_NULL,
        related_name="+",
    )
    replied_at = models.DateTimeField(_("反馈时间"), null=True, blank=True)
    replied_by = models.ForeignKey(
        settings.AUTH_USER_MODEL,
        verbose_name=_("反馈人"),
        null=True,
        blank=True,
        on_delete=models.SET_NULL,
        related_name="+",
    )
    reply_text = models.TextField(_("协办意见"), blank=True)

    class Meta:
        verbose_name = _("协办")
        verbose_name_plural = _("协办")
        constraints = [models.UniqueConstraint(fields=["ticket", "department"], name="cohandling_unique")]
        indexes = [models.Index(fields=["department", "status"], name="cohandling_dept_status")]

    def __str__(self):
        return f"{self.ticket} · {self.department}"


class TicketApplication(models.Model):
    """A unit's request that the centre rules on: return (退单), extension (延期) or
    dispatch objection (派单异议, ruled by ``due_at``)."""

    class Kind(models.TextChoices):
        RETURN = "return", _("退单申请")
        EXTENSION = "extension", _("延期申请")
        OBJECTION = "objection", _("派单异议")
        ARBITRATION = "arbitration", _("协调申请")

    class Status(models.TextChoices):
        PENDING = "pending", _("待审批")
        APPROVED = "approved", _("已同意")
        REJECTED = "rejected", _("已驳回")
        CANCELLED = "cancelled", _("已失效")

    ticket = models.ForeignKey(Ticket, verbose_name=_("工单"), on_delete=models.CASCADE, related_name="applications")
    kind = models.CharField(_("类型"), max_length=16, choices=Kind.choices)
    status = models.CharField(_("状态"), max_length=16, choices=Status.choices, default=Status.PENDING)
    reason = models.TextField(_("申请理由"))
    working_days = models.PositiveSmallIntegerField(_("申请延期工作日"), null=True, blank=True)
    granted_days = models.PositiveSmallIntegerField(_("批准延期工作日"), null=True, blank=True)
    department = models.ForeignKey(
        "departments.Department", verbose_name=_("申请单位"), on_delete=models.PROTECT, related_name="+"
    )
    requested_by = models.ForeignKey(
        settings.AUTH_USER_MODEL, verbose_name=_("申请人"), null=True, on_delete=models.SET_NULL, related_name="+"
    )
    requested_at = models.DateTimeField(_("申请时间"), default=timezone.now)
    decided_by = models.ForeignKey(
        settings.AUTH_USER_MODEL,
        verbose_name=_("审批人"),
        null=True,
        blank=True,
        on_delete=models.SET_NULL,
        related_name="+",
    )
    decided_at = models.DateTimeField(_("审批时间"), null=True, blank=True)
    decision_note = models.TextField(_("审批意见"), blank=True)
    #: The ruling deadline of a dispatch objection (``None`` for the other kinds).
    due_at = models.DateTimeField(_("裁定时限"), null=True, blank=True)

    class Meta:
        verbose_name = _("退单/延期申请")
        verbose_name_plural = _("退单/延期申请")
        ordering = ["-requested_at"]
        constraints = [
            models.UniqueConstraint(
                fields=["ticket", "kind"], condition=Q(status="pending"), name="application_one_pending"
            ),
        ]
        indexes = [models.Index(fields=["kind", "status", "requested_at"], name="application_queue")]

    def __str__(self):
        return f"{self.ticket} · {self.get_kind_display()} · {self.get_status_display()}"

    def ruling_colour(self, now) -> str:
        """The colour of the centre's ruling clock (a dispatch objection's ``due_at``):
        red from the deadline on, yellow once three quarters of the time are used
        (DESIGN §5's ratio), else green; "" without a deadline or once ruled."""
        if self.due_at is None or self.status != self.Status.PENDING:
            return ""
        warn = self.requested_at + (self.due_at - self.requested_at) * settings.DEADLINE_WARNING_RATIO
        return deadline_colour(self.due_at, warn, now)


def attachment_upload_to(instance, filename):
    ext = os.path.splitext(filename)[1].lower()[:10]
    now = timezone.localtime()
    return f"attachments/{now:%Y/%m}/{uuid.uuid4().hex}{ext}"


class Attachment(models.Model):
    """A photo or document on a ticket: the citizen's evidence, or the unit's
    before / after photos of the fix."""

    class Kind(models.TextChoices):
        EVIDENCE = "evidence", _("诉求材料")
        BEFORE = "before", _("处置前")
        AFTER = "after", _("处置后")
        OTHER = "other", _("其他")

    ticket = models.ForeignKey(Ticket, verbose_name=_("工单"), on_delete=models.CASCADE, related_name="attachments")
    event = models.ForeignKey(
        "cases.TicketEvent",
        verbose_name=_("所属环节"),
        null=True,
        blank=True,
        on_delete=models.SET_NULL,
        related_name="attachments",
        db_constraint=False,  # the timeline is partitioned (cases.partitions); written by the workflow only
    )
    kind = models.CharField(_("类型"), max_length=16, choices=Kind.choices, default=Kind.OTHER)
    file = models.FileField(_("文件"), upload_to=attachment_upload_to)
    original_name = models.CharField(_("原文件名"), max_length=255)
    size = models.PositiveIntegerField(_("大小（字节）"))
    content_type = models.CharField(_("类型标识"), max_length=100)
    uploaded_by = models.ForeignKey(
        settings.AUTH_USER_MODEL, verbose_name=_("上传人"), null=True, on_delete=models.SET_NULL, related_name="+"
    )
    uploaded_at = models.DateTimeField(_("上传时间"), default=timezone.now)

    class Meta:
        verbose_name = _("附件")
        verbose_name_plural = _("附件")
        ordering = ["uploaded_at"]

    def __str__(self):
        return self.original_name
