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


class DeadlinePolicy(models.Model):
    """Time limits of the three clocks (DESIGN §5).

    A ticket takes each limit from the most specific active row that sets it:
    rows naming the ticket's urgency first, then rows of a deeper category of the
    ticket's category path, then rows naming its nature; blank means "any"."""

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
                condition=Q(category__isnull=False),
                name="policy_unique_category_urgency_nature",
            ),
            models.UniqueConstraint(
                fields=["urgency", "nature"],
                condition=Q(category__isnull=True),
                name="policy_unique_urgency_nature",
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
