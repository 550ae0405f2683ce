from django.conf import settings
from django.db import models
from django.utils import timezone
from django.utils.translation import gettext_lazy as _


class Urge(models.Model):
    """催办: a supervisor's (or the deadline scan's) push on a unit about a ticket,
    which the unit must acknowledge. A written one (催办通知书) carries a number."""

    class Kind(models.TextChoices):
        PHONE = "phone", _("电话催办")
        WRITTEN = "written", _("书面催办（催办通知书）")
        ONSITE = "onsite", _("现场督办")
        INTERVIEW = "interview", _("约谈")

    ticket = models.ForeignKey("cases.Ticket", verbose_name=_("工单"), on_delete=models.CASCADE, related_name="urges")
    department = models.ForeignKey(
        "departments.Department", verbose_name=_("被催办单位"), on_delete=models.PROTECT, related_name="urges"
    )
    kind = models.CharField(_("方式"), max_length=16, choices=Kind.choices)
    number = models.CharField(_("文号"), max_length=40, blank=True, help_text=_("书面催办的通知书编号。"))
    content = models.TextField(_("催办内容"))
    reminder = models.OneToOneField(
        "cases.Reminder",
        verbose_name=_("来源提醒"),
        null=True,
        blank=True,
        on_delete=models.SET_NULL,
        related_name="urge",
    )
    issued_by = models.ForeignKey(
        settings.AUTH_USER_MODEL,
        verbose_name=_("催办人"),
        null=True,
        blank=True,
        on_delete=models.SET_NULL,
        related_name="+",
        help_text=_("空表示系统按时限自动发出。"),
    )
    issued_at = models.DateTimeField(_("催办时间"), default=timezone.now)
    respond_by = models.DateTimeField(_("要求回复时间"), null=True, blank=True)
    acknowledged_at = models.DateTimeField(_("签收时间"), null=True, blank=True)
    acknowledged_by = models.ForeignKey(
        settings.AUTH_USER_MODEL,
        verbose_name=_("签收人"),
        null=True,
        blank=True,
        on_delete=models.SET_NULL,
        related_name="+",
    )
    acknowledgement = models.TextField(_("单位回复"), blank=True)

    class Meta:
        verbose_name = _("催办")
        verbose_name_plural = _("催办")
        ordering = ["-issued_at"]
        indexes = [models.Index(fields=["department", "acknowledged_at"], name="urge_unit_open")]

    def __str__(self):
        return self.number or f"{self.get_kind_display()} · {self.ticket_id}"


class UrgeNumberSequence(models.Model):
    """Per-year counter of written urge notices: 催办〔2026〕0001号."""

    year = models.PositiveSmallIntegerField(primary_key=True)
    last_value = models.PositiveIntegerField(default=0)

    class Meta:
        verbose_name = _("催办文号序列")
        verbose_name_plural = _("催办文号序列")

    def __str__(self):
        return f"{self.year}: {self.last_value}"
