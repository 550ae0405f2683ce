"""回访: the day-after call to every citizen whose ticket was closed."""

from django.conf import settings
from django.db import models
from django.db.models import Q
from django.utils import timezone
from django.utils.translation import gettext_lazy as _


class Callback(models.Model):
    """One callback per closure of a ticket: the unique (ticket, closed_at) makes a
    second batch a no-op, and a ticket closed again after a reopen gets a new one."""

    class Status(models.TextChoices):
        PENDING = "pending", _("待回访")
        DONE = "done", _("已回访")
        UNREACHABLE = "unreachable", _("联系不上")
        IMPOSSIBLE = "impossible", _("无法回访")

    class Solved(models.TextChoices):
        SOLVED = "solved", _("已解决")
        PARTLY = "partly", _("部分解决")
        UNSOLVED = "unsolved", _("未解决")

    class Satisfaction(models.TextChoices):
        SATISFIED = "satisfied", _("满意")
        BASICALLY = "basically", _("基本满意")
        UNSATISFIED = "unsatisfied", _("不满意")

    class Via(models.TextChoices):
        AGENT = "agent", _("人工回访")
        IVR = "ivr", _("语音回访")
        SMS = "sms", _("短信回访")

    ticket = models.ForeignKey(
        "cases.Ticket", verbose_name=_("工单"), on_delete=models.CASCADE, related_name="callbacks"
    )
    closed_at = models.DateTimeField(_("办结时间"), help_text=_("回访针对的那一次办结。"))
    batch_date = models.DateField(_("回访批次日期"), help_text=_("工单办结的日期。"))
    due_at = models.DateTimeField(_("回访时限"), null=True, blank=True)
    agent = models.ForeignKey(
        settings.AUTH_USER_MODEL,
        verbose_name=_("回访员"),
        null=True,
        blank=True,
        on_delete=models.SET_NULL,
        related_name="callbacks",
    )
    status = models.CharField(_("状态"), max_length=16, choices=Status.choices, default=Status.PENDING)
    impossible_reason = models.CharField(_("无法回访原因"), max_length=100, blank=True)
    via = models.CharField(_("回访方式"), max_length=8, choices=Via.choices, default=Via.AGENT)
    attempts = models.PositiveSmallIntegerField(_("拨打次数"), default=0)
    next_attempt_on = models.DateField(_("下次回访日期"), null=True, blank=True)
    last_attempt_at = models.DateTimeField(_("最近拨打时间"), null=True, blank=True)

    contacted = models.BooleanField(_("承办单位是否联系"), null=True, blank=True)
    solved = models.CharField(_("是否解决"), max_length=16, choices=Solved.choices, blank=True)
    satisfaction = models.CharField(_("满意度"), max_length=16, choices=Satisfaction.choices, blank=True)
    score_attitude = models.PositiveSmallIntegerField(_("服务态度"), null=True, blank=True)
    score_ability = models.PositiveSmallIntegerField(_("业务能力"), null=True, blank=True)
    score_convenience = models.PositiveSmallIntegerField(_("办件便利"), null=True, blank=True)
    score_efficiency = models.PositiveSmallIntegerField(_("办理效率"), null=True, blank=True)
    comment = models.TextField(_("回访意见"), blank=True)
    unit_at_fault = models.BooleanField(_("属承办单位原因"), null=True, blank=True)
    completed_at = models.DateTimeField(_("回访完成时间"), null=True, blank=True)
    completed_by = models.ForeignKey(
        settings.AUTH_USER_MODEL,
        verbose_name=_("记录人"),
        null=True,
        blank=True,
        on_delete=models.SET_NULL,
        related_name="+",
    )
    reopened = models.BooleanField(_("已重办"), default=False)
    # The unit the callback's result counts against, fixed when it is recorded:
    # the lead unit of the ticket, or of its master for a merged duplicate.
    unit = models.ForeignKey(
        "departments.Department",
        verbose_name=_("计入单位"),
        null=True,
        blank=True,
        on_delete=models.SET_NULL,
        related_name="+",
    )
    overruled_at = models.DateTimeField(_("复核认定时间"), null=True, blank=True)
    overruled_by = models.ForeignKey(
        settings.AUTH_USER_MODEL,
        verbose_name=_("复核人"),
        null=True,
        blank=True,
        on_delete=models.SET_NULL,
        related_name="+",
    )
    overrule_reason = models.TextField(_("复核意见"), blank=True)
    created_at = models.DateTimeField(_("生成时间"), default=timezone.now)

    class Meta:
        verbose_name = _("回访")
        verbose_name_plural = _("回访")
        ordering = ["-batch_date", "id"]
        constraints = [
            models.UniqueConstraint(fields=["ticket", "closed_at"], name="callback_once_per_closure"),
            models.CheckConstraint(
                condition=models.Q(score_attitude__isnull=True) | models.Q(score_attitude__range=(1, 5)),
                name="callback_score_attitude_1_5",
            ),
            models.CheckConstraint(
                condition=models.Q(score_ability__isnull=True) | models.Q(score_ability__range=(1, 5)),
                name="callback_score_ability_1_5",
            ),
            models.CheckConstraint(
                condition=models.Q(score_convenience__isnull=True) | models.Q(score_convenience__range=(1, 5)),
                name="callback_score_convenience_1_5",
            ),
            models.CheckConstraint(
                condition=models.Q(score_efficiency__isnull=True) | models.Q(score_efficiency__range=(1, 5)),
                name="callback_score_efficiency_1_5",
            ),
        ]
        indexes = [
            models.Index(fields=["agent", "status", "next_attempt_on"], name="callback_queue"),
            models.Index(fields=["batch_date"], name="callback_batch"),
            models.Index(fields=["status", "completed_at"], name="callback_done"),
            # the rollups' watch for callbacks overruled since their last rebuild (reports.rollups)
            models.Index(fields=["overruled_at"], condition=Q(overruled_at__isnull=False), name="callback_overruled"),
        ]

    def __str__(self):
        return f"{self.ticket_id} · {self.batch_date}"

    @property
    def unsatisfactory(self) -> bool:
        return self.solved == self.Solved.UNSOLVED or self.satisfaction == self.Satisfaction.UNSATISFIED


class CallbackAttempt(models.Model):
    """A call that did not reach the citizen (the reached one is the result itself)."""

    callback = models.ForeignKey(Callback, verbose_name=_("回访"), on_delete=models.CASCADE, related_name="attempt_log")
    at = models.DateTimeField(_("时间"), default=timezone.now)
    agent = models.ForeignKey(
        settings.AUTH_USER_MODEL, verbose_name=_("回访员"), null=True, on_delete=models.SET_NULL, related_name="+"
    )
    note = models.CharField(_("情况"), max_length=200, blank=True)

    class Meta:
        verbose_name = _("回访拨打记录")
        verbose_name_plural = _("回访拨打记录")
        ordering = ["at", "id"]

    def __str__(self):
        return f"{self.callback_id} {self.at:%Y-%m-%d %H:%M}"


class CallbackDuty(models.Model):
    """Who makes callbacks on a given day (排班). Without a roster for the day,
    every active callback agent is on duty."""

    date = models.DateField(_("日期"))
    agent = models.ForeignKey(
        settings.AUTH_USER_MODEL, verbose_name=_("回访员"), on_delete=models.CASCADE, related_name="callback_duties"
    )

    class Meta:
        verbose_name = _("回访排班")
        verbose_name_plural = _("回访排班")
        ordering = ["-date"]
        constraints = [models.UniqueConstraint(fields=["date", "agent"], name="callback_duty_unique")]

    def __str__(self):
        return f"{self.date} {self.agent}"
