from django.conf import settings
from django.db import models
from django.utils import timezone
from django.utils.translation import gettext_lazy as _

from .choices import TicketState


class TicketEvent(models.Model):
    """One entry of a ticket's timeline, written by the workflow function that made
    the change: who, when, from which state to which, and why."""

    class Kind(models.TextChoices):
        CREATED = "created", _("受理登记")
        ANSWERED = "answered", _("直接办结")
        DISPATCHED = "dispatched", _("派单")
        SUBDISPATCHED = "subdispatched", _("下派")
        TAKEN_BACK = "taken_back", _("收回")
        HANDED_BACK = "handed_back", _("交回上级")
        SIGNED = "signed", _("签收")
        CONTACTED = "contacted", _("联系诉求人")
        PROGRESS = "progress", _("办理进展")
        REPLIED = "replied", _("办理反馈")
        APPROVED = "approved", _("审核通过")
        REWORK = "rework", _("退回重办")
        RETURN_REQUESTED = "return_requested", _("申请退单")
        RETURN_APPROVED = "return_approved", _("同意退单")
        RETURN_REJECTED = "return_rejected", _("驳回退单")
        EXTENSION_REQUESTED = "extension_requested", _("申请延期")
        EXTENSION_APPROVED = "extension_approved", _("同意延期")
        EXTENSION_REJECTED = "extension_rejected", _("驳回延期")
        COHANDLERS_ADDED = "cohandlers_added", _("增加协办单位")
        COHANDLER_SIGNED = "cohandler_signed", _("协办签收")
        COHANDLER_REPLIED = "cohandler_replied", _("协办反馈")
        MERGED = "merged", _("并单")
        MASTER_CLOSED = "master_closed", _("主单办结")
        INVALIDATED = "invalidated", _("无效工单")
        REOPENED = "reopened", _("重办")
        REPLY_DRAFTED = "reply_drafted", _("反馈提交负责人签批")
        HEAD_SIGNED = "head_signed", _("负责人签批")
        HEAD_RETURNED = "head_returned", _("负责人签批退回")
        SIGNOFF_REQUIRED = "signoff_required", _("要求一把手签批")
        ESCALATED = "escalated", _("提级督办")
        URGED = "urged", _("催办")
        URGE_ACKNOWLEDGED = "urge_acknowledged", _("催办签收")
        REOPEN_OVERRULED = "reopen_overruled", _("复核不予重办")
        DEADLINES_RETIMED = "deadlines_retimed", _("时限调整")
        PUBLICITY_CHANGED = "publicity_changed", _("公开设置变更")
        TRANSFERRED = "transferred", _("转分中心")
        CENTRE_SIGNED = "centre_signed", _("分中心签收")
        CENTRE_RETURNED = "centre_returned", _("退回市中心")
        OBJECTION_REQUESTED = "objection_requested", _("提出派单异议")
        OBJECTION_UPHELD = "objection_upheld", _("派单异议成立")
        OBJECTION_REJECTED = "objection_rejected", _("派单异议不成立")
        ARBITRATION_REQUESTED = "arbitration_requested", _("申请中心协调")
        ARBITRATION_RULED = "arbitration_ruled", _("中心协调裁定")

    ticket = models.ForeignKey("cases.Ticket", verbose_name=_("工单"), on_delete=models.CASCADE, related_name="events")
    kind = models.CharField(_("环节"), max_length=32, choices=Kind.choices)
    actor = models.ForeignKey(
        settings.AUTH_USER_MODEL,
        verbose_name=_("操作人"),
        null=True,
        blank=True,
        on_delete=models.SET_NULL,
        related_name="+",
    )
    actor_department = models.ForeignKey(
        "departments.Department",
        verbose_name=_("操作单位"),
        null=True,
        blank=True,
        on_delete=models.SET_NULL,
        related_name="+",
    )
    created_at = models.DateTimeField(_("时间"), default=timezone.now)
    from_state = models.CharField(_("原状态"), max_length=16, choices=TicketState.choices, blank=True)
    to_state = models.CharField(_("新状态"), max_length=16, choices=TicketState.choices)
    note = models.TextField(_("说明"), blank=True)
    data = models.JSONField(_("详情"), default=dict, blank=True)
    # Facts (DESIGN §6 "Facts and attribution"): written once by the verb that
    # writes the event, never by a later step; reports.metrics counts from them.
    unit = models.ForeignKey(
        "departments.Department",
        verbose_name=_("计入单位"),
        null=True,
        blank=True,
        on_delete=models.SET_NULL,
        related_name="+",
        help_text=_("该事实计入的单位：派单的承办单位、退单的退单单位、延期的申请单位、办结时的承办单位、协办单位。"),
    )
    dispatch = models.ForeignKey(
        "self",
        verbose_name=_("所属派单"),
        null=True,
        blank=True,
        on_delete=models.SET_NULL,
        related_name="+",
        # No database constraint: the timeline is partitioned on PostgreSQL
        # (cases.partitions) and a key into it would have to carry created_at.
        # The verbs write the dispatch they just read; events are never deleted.
        db_constraint=False,
        help_text=_("签收、联系、退单、延期、办结所属的那一次派单。"),
    )
    due_at = models.DateTimeField(_("考核时限"), null=True, blank=True)
    on_time = models.BooleanField(_("是否按时"), null=True, blank=True)
    round = models.PositiveSmallIntegerField(_("办理轮次"), null=True, blank=True)
    reason_code = models.ForeignKey(
        "cases.ReasonCode",
        verbose_name=_("原因代码"),
        null=True,
        blank=True,
        on_delete=models.PROTECT,
        related_name="+",
        help_text=_("退回重办、申请退单时选定的原因代码。"),
    )

    off_catalogue = models.BooleanField(
        _("目录外派单"),
        default=False,
        db_default=False,
        help_text=_("派单、下派时承办单位的类型不在该分类的派单目录内（须说明理由）。"),
    )

    class Meta:
        verbose_name = _("办理记录")
        verbose_name_plural = _("办理记录")
        ordering = ["created_at", "id"]
        indexes = [
            models.Index(fields=["ticket", "created_at"], name="event_ticket_time"),
            models.Index(fields=["kind", "created_at"], name="event_kind_time"),
            models.Index(fields=["kind", "due_at"], name="event_kind_due"),
        ]

    def __str__(self):
        return f"{self.ticket_id} {self.get_kind_display()}"


class HistoryArchive(models.Model):
    """One run of ``manage.py archive_history``: timeline and history rows before
    ``before`` (a local new year's midnight) may have moved to the archive tables
    (``cases.archive``). Written before the first row moves, so a reader never
    misses an archived row; ``finished_at`` once every month has moved."""

    before = models.DateTimeField(_("归档截止"), unique=True)
    started_at = models.DateTimeField(_("开始时间"), default=timezone.now)
    finished_at = models.DateTimeField(_("完成时间"), null=True, blank=True)
    events = models.PositiveBigIntegerField(_("归档办理记录数"), default=0)
    history = models.PositiveBigIntegerField(_("归档历史记录数"), default=0)

    class Meta:
        verbose_name = _("历史归档")
        verbose_name_plural = _("历史归档")
        ordering = ["-before"]

    def __str__(self):
        return f"< {self.before:%Y-%m-%d}"
