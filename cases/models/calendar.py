from django.core.exceptions import ValidationError
from django.db import models
from django.db.models import Q
from django.utils.translation import gettext_lazy as _

from .choices import Nature, TimeUnit, Urgency

ERR_POLICY_EMPTY = _("至少设置一个时限。")
ERR_POLICY_PAIR = _("时限数值和单位须同时填写。")


class Holiday(models.Model):
    """An admin-maintained day that overrides the calendar library.

    Each December the State Council publishes the next year's holidays and make-up
    working days (调休); the library follows weeks later. Rows here win over the
    library, and for a year the library does not know yet they are the calendar."""

    date = models.DateField(_("日期"), unique=True)
    is_working_day = models.BooleanField(
        _("是否上班"), default=False, help_text=_("勾选表示调休上班日；不勾选表示放假。")
    )
    name = models.CharField(_("名称"), max_length=50, help_text=_("如：春节、国庆节调休上班。"))
    note = models.CharField(_("备注"), max_length=200, blank=True)

    class Meta:
        verbose_name = _("节假日与调休")
        verbose_name_plural = _("节假日与调休")
        ordering = ["date"]

    def __str__(self):
        kind = _("上班") if self.is_working_day else _("放假")
        return f"{self.date:%Y-%m-%d} {self.name}（{kind}）"


class WorkingCalendar(models.Model):
    """A named working calendar that units run their clocks on (DESIGN §5).

    A unit uses its own calendar, else the nearest ancestor's, else the
    process-wide office hours (``HOTLINE_WORKING_HOURS``). Office hours and custom
    segments count working days (the holiday table and the Chinese calendar
    apply); 24×7 counts wall-clock time every day, holidays included."""

    class Kind(models.TextChoices):
        OFFICE = "office", _("工作日办公时间")
        ALWAYS = "24x7", _("全天候（7×24 小时）")
        CUSTOM = "custom", _("自定义时段")

    name = models.CharField(_("名称"), max_length=50, unique=True)
    kind = models.CharField(_("类型"), max_length=16, choices=Kind.choices, default=Kind.OFFICE)
    segments = models.JSONField(
        _("工作时段"),
        default=list,
        blank=True,
        help_text=_('仅“自定义时段”使用，如 ["08:00-12:00", "14:00-20:00"]；节假日照常休息。'),
    )
    note = models.CharField(_("备注"), max_length=200, blank=True)

    class Meta:
        verbose_name = _("工作日历")
        verbose_name_plural = _("工作日历")
        ordering = ["name"]

    def __str__(self):
        return f"{self.name}（{self.get_kind_display()}）"


class DeadlinePolicy(models.Model):
    """Time limits of the three clocks (DESIGN §5).

    A ticket takes each limit from the most specific active row that sets it:
    rows naming the ticket's urgency first; then rows scoped to the unit the
    clock measures, the unit itself before a nearer ancestor (a territory or a
    parent unit) before a farther one before rows for every unit; then rows of a
    deeper category of the ticket's category path; then rows naming its nature.
    Blank means "any". (``cases.deadlines.policy.deadline_limits``)"""

    name = models.CharField(_("名称"), max_length=100)
    category = models.ForeignKey(
        "cases.Category",
        verbose_name=_("诉求分类"),
        null=True,
        blank=True,
        on_delete=models.CASCADE,
        related_name="deadline_policies",
        help_text=_("留空表示适用所有分类；填写后对该分类及其下级生效。"),
    )
    department = models.ForeignKey(
        "departments.Department",
        verbose_name=_("适用单位或属地"),
        null=True,
        blank=True,
        on_delete=models.CASCADE,
        related_name="deadline_policies",
        help_text=_("留空表示适用所有单位；填写后对该单位（或属地）及其下级生效，近者优先。"),
    )
    urgency = models.CharField(_("紧急程度"), max_length=16, choices=Urgency.choices, blank=True)
    nature = models.CharField(_("诉求性质"), max_length=16, choices=Nature.choices, blank=True)
    sign_limit = models.PositiveIntegerField(_("签收时限"), null=True, blank=True)
    sign_unit = models.CharField(_("签收时限单位"), max_length=16, choices=TimeUnit.choices, blank=True)
    contact_limit = models.PositiveIntegerField(_("响应时限"), null=True, blank=True)
    contact_unit = models.CharField(_("响应时限单位"), max_length=16, choices=TimeUnit.choices, blank=True)
    resolve_limit = models.PositiveIntegerField(_("办结时限"), null=True, blank=True)
    resolve_unit = models.CharField(_("办结时限单位"), max_length=16, choices=TimeUnit.choices, blank=True)
    is_active = models.BooleanField(_("启用"), default=True)

    class Meta:
        verbose_name = _("时限规则")
        verbose_name_plural = _("时限规则")
        ordering = ["category__path", "urgency", "nature"]
        constraints = [
            models.UniqueConstraint(
                fields=["category", "urgency", "nature"],
                condition=Q(category__isnull=False, department__isnull=True),
                name="policy_unique_category_urgency_nature",
            ),
            models.UniqueConstraint(
                fields=["urgency", "nature"],
                condition=Q(category__isnull=True, department__isnull=True),
                name="policy_unique_urgency_nature",
            ),
            models.UniqueConstraint(
                fields=["department", "category", "urgency", "nature"],
                condition=Q(category__isnull=False, department__isnull=False),
                name="policy_unique_unit_category_urgency_nature",
            ),
            models.UniqueConstraint(
                fields=["department", "urgency", "nature"],
                condition=Q(category__isnull=True, department__isnull=False),
                name="policy_unique_unit_urgency_nature",
            ),
        ]

    def __str__(self):
        return self.name

    def clean(self):
        super().clean()
        pairs = [
            ("sign_limit", "sign_unit"),
            ("contact_limit", "contact_unit"),
            ("resolve_limit", "resolve_unit"),
        ]
        errors = {}
        for limit, unit in pairs:
            if (getattr(self, limit) is None) != (not getattr(self, unit)):
                errors[unit] = ERR_POLICY_PAIR
        if errors:
            raise ValidationError(errors)
        if all(getattr(self, limit) is None for limit, _unit in pairs):
            raise ValidationError(ERR_POLICY_EMPTY)


class RetimeRun(models.Model):
    """One re-timing of the open tickets after a calendar or policy change.

    The row is the task's watermark: the task walks the open tickets in id order
    and records the last id it finished in the same transaction as the tickets'
    new times, so a worker that dies leaves a row that says where to go on — and
    re-timing a ticket twice changes nothing the second time."""

    class Reason(models.TextChoices):
        HOLIDAY = "holiday", _("节假日调整")
        POLICY = "policy", _("时限规则调整")
        HOURS = "hours", _("工作时间调整")
        CALENDAR = "calendar", _("工作日历调整")

    reason = models.CharField(_("原因"), max_length=16, choices=Reason.choices)
    #: For a holiday change, the changed day: only clocks due on or after it can move.
    day = models.DateField(_("调整日期"), null=True, blank=True)
    created_at = models.DateTimeField(_("创建时间"), auto_now_add=True)
    started_at = models.DateTimeField(_("开始时间"), null=True, blank=True)
    last_ticket_id = models.BigIntegerField(_("已处理至工单"), default=0)
    changed = models.PositiveIntegerField(_("调整工单数"), default=0)
    finished_at = models.DateTimeField(_("完成时间"), null=True, blank=True)

    class Meta:
        verbose_name = _("时限重算")
        verbose_name_plural = _("时限重算")
        ordering = ["-created_at"]
        indexes = [models.Index(fields=["finished_at"], name="retime_unfinished")]

    def __str__(self):
        return f"{self.get_reason_display()} #{self.pk}"
