"""Reminders (催办提醒) and notifications: the in-app inbox and the deliveries to
e-mail, SMS and enterprise-chat robots."""

from django.conf import settings
from django.db import models
from django.utils import timezone
from django.utils.translation import gettext_lazy as _

from .choices import Clock

#: The clocks a reminder can be about: the ticket's own (``Clock``), and the centre's
#: ruling on a dispatch objection (派单异议, ``TicketApplication.due_at``).
RULING_CLOCK = "ruling"
REMINDER_CLOCKS = [*Clock.choices, (RULING_CLOCK, _("派单异议裁定"))]


class Reminder(models.Model):
    """One crossed warning level of one deadline.

    A clock is identified by its due time: an extension or a reopen starts a new
    deadline, which can warn again. The unique constraint — not luck — makes a
    second scan, a parallel scan or a restarted scan a no-op."""

    class Level(models.IntegerChoices):
        YELLOW = 1, _("预警")
        RED = 2, _("超期")
        ESCALATED = 3, _("超期升级督办")

    ticket = models.ForeignKey(
        "cases.Ticket", verbose_name=_("工单"), on_delete=models.CASCADE, related_name="reminders"
    )
    clock = models.CharField(_("时限"), max_length=16, choices=REMINDER_CLOCKS)
    level = models.PositiveSmallIntegerField(_("级别"), choices=Level.choices)
    due_at = models.DateTimeField(_("到期时间"))
    department = models.ForeignKey(
        "departments.Department", verbose_name=_("责任单位"), null=True, on_delete=models.SET_NULL, related_name="+"
    )
    created_at = models.DateTimeField(_("提醒时间"), default=timezone.now)
    scan_id = models.UUIDField(_("扫描批次"), editable=False)

    class Meta:
        verbose_name = _("时限提醒")
        verbose_name_plural = _("时限提醒")
        ordering = ["-created_at"]
        constraints = [
            models.UniqueConstraint(fields=["ticket", "clock", "due_at", "level"], name="reminder_once_per_level"),
        ]
        indexes = [
            models.Index(fields=["scan_id"], name="reminder_scan"),
            models.Index(fields=["level", "created_at"], name="reminder_level_time"),
        ]

    def __str__(self):
        return f"{self.ticket_id} {self.get_clock_display()} {self.get_level_display()}"


class ScanMark(models.Model):
    """How far the deadline scan has looked: every level crossed up to
    ``scanned_until`` has been reminded. The next pass only looks at thresholds
    crossed since then (less an overlap); a full pass now and then catches what
    no window can see — a clock set in the past by an import or a bulk edit."""

    name = models.CharField(_("名称"), max_length=32, primary_key=True)
    scanned_until = models.DateTimeField(_("已扫描至"))
    full_scan_at = models.DateTimeField(_("最近全量扫描"))

    class Meta:
        verbose_name = _("扫描进度")
        verbose_name_plural = _("扫描进度")

    def __str__(self):
        return f"{self.name}: {self.scanned_until:%Y-%m-%d %H:%M}"


class Notification(models.Model):
    """An inbox message for one staff member."""

    class Kind(models.TextChoices):
        REMINDER = "reminder", _("时限提醒")
        URGE = "urge", _("催办")
        EVENT = "event", _("工单动态")
        REPORT = "report", _("报表")

    recipient = models.ForeignKey(
        settings.AUTH_USER_MODEL, verbose_name=_("接收人"), on_delete=models.CASCADE, related_name="notifications"
    )
    kind = models.CharField(_("类型"), max_length=16, choices=Kind.choices, default=Kind.REMINDER)
    ticket = models.ForeignKey(
        "cases.Ticket", verbose_name=_("工单"), null=True, blank=True, on_delete=models.CASCADE, related_name="+"
    )
    reminder = models.ForeignKey(
        Reminder, verbose_name=_("提醒"), null=True, blank=True, on_delete=models.CASCADE, related_name="notifications"
    )
    title = models.CharField(_("标题"), max_length=200)
    body = models.TextField(_("内容"), blank=True)
    urgent = models.BooleanField(_("紧急"), default=False)
    created_at = models.DateTimeField(_("时间"), default=timezone.now)
    read_at = models.DateTimeField(_("已读时间"), null=True, blank=True)

    class Meta:
        verbose_name = _("站内消息")
        verbose_name_plural = _("站内消息")
        ordering = ["-created_at", "-id"]
        constraints = [
            models.UniqueConstraint(
                fields=["reminder", "recipient"],
                condition=models.Q(reminder__isnull=False),
                name="notification_once_per_reminder",
            ),
        ]
        indexes = [models.Index(fields=["recipient", "read_at", "created_at"], name="notification_inbox")]

    def __str__(self):
        return self.title


class Delivery(models.Model):
    """A notification on its way through one outside channel, retried with
    back-off; every attempt is recorded."""

    class Channel(models.TextChoices):
        EMAIL = "email", _("电子邮件")
        SMS = "sms", _("短信")
        CHAT = "chat", _("企业微信/钉钉")

    class Status(models.TextChoices):
        PENDING = "pending", _("待发送")
        SENDING = "sending", _("发送中")
        SENT = "sent", _("已发送")
        FAILED = "failed", _("发送失败")

    notification = models.ForeignKey(
        Notification, verbose_name=_("消息"), on_delete=models.CASCADE, related_name="deliveries"
    )
    channel = models.CharField(_("渠道"), max_length=8, choices=Channel.choices)
    address = models.CharField(_("地址"), max_length=500, help_text=_("邮箱、手机号或机器人地址。"))
    status = models.CharField(_("状态"), max_length=8, choices=Status.choices, default=Status.PENDING)
    attempts = models.PositiveSmallIntegerField(_("尝试次数"), default=0)
    next_attempt_at = models.DateTimeField(_("下次尝试时间"), default=timezone.now)
    claimed_at = models.DateTimeField(_("开始发送时间"), null=True, blank=True)
    sent_at = models.DateTimeField(_("发送时间"), null=True, blank=True)
    last_error = models.TextField(_("最近错误"), blank=True)

    class Meta:
        verbose_name = _("外部发送")
        verbose_name_plural = _("外部发送")
        constraints = [models.UniqueConstraint(fields=["notification", "channel"], name="delivery_once_per_channel")]
        indexes = [models.Index(fields=["status", "next_attempt_at"], name="delivery_due")]

    def __str__(self):
        return f"{self.get_channel_display()} → {self.address}"


class DeliveryAttempt(models.Model):
    delivery = models.ForeignKey(Delivery, verbose_name=_("发送"), on_delete=models.CASCADE, related_name="attempt_log")
    at = models.DateTimeField(_("时间"), default=timezone.now)
    ok = models.BooleanField(_("成功"))
    error = models.TextField(_("错误"), blank=True)

    class Meta:
        verbose_name = _("发送记录")
        verbose_name_plural = _("发送记录")
        ordering = ["at", "id"]

    def __str__(self):
        return f"{self.delivery_id} {self.at:%Y-%m-%d %H:%M} {'ok' if self.ok else 'failed'}"


class NotificationPreference(models.Model):
    """Which outside channels a staff member wants, besides the inbox."""

    user = models.OneToOneField(
        settings.AUTH_USER_MODEL,
        verbose_name=_("用户"),
        on_delete=models.CASCADE,
        related_name="notification_preference",
    )
    email = models.BooleanField(_("电子邮件"), default=True)
    sms = models.BooleanField(_("短信"), default=True)
    chat = models.BooleanField(_("企业微信/钉钉"), default=False)
    chat_webhook = models.URLField(_("机器人地址"), blank=True, help_text=_("留空则使用所在单位的工作群机器人。"))
    mobile = models.CharField(
        _("接收短信的手机号"), max_length=32, blank=True, help_text=_("留空则使用工作人员资料中的手机号。")
    )

    class Meta:
        verbose_name = _("通知偏好")
        verbose_name_plural = _("通知偏好")

    def __str__(self):
        return str(self.user)
