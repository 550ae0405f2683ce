"""Who looked at a citizen's contact details, when, on which ticket and why
(DESIGN §8): written when a staff member reveals them, reviewed by supervisors."""

from django.conf import settings
from django.db import models
from django.utils import timezone
from django.utils.translation import gettext_lazy as _


class PersonalDataAccess(models.Model):
    ticket = models.ForeignKey(
        "cases.Ticket", verbose_name=_("工单"), on_delete=models.PROTECT, related_name="personal_data_accesses"
    )
    user = models.ForeignKey(
        settings.AUTH_USER_MODEL, verbose_name=_("查看人"), on_delete=models.PROTECT, related_name="+"
    )
    department = models.ForeignKey(
        "departments.Department", verbose_name=_("所在单位"), null=True, on_delete=models.PROTECT, related_name="+"
    )
    reason = models.CharField(_("查看事由"), max_length=200)
    created_at = models.DateTimeField(_("查看时间"), default=timezone.now, db_index=True)

    class Meta:
        verbose_name = _("个人信息查看记录")
        verbose_name_plural = _("个人信息查看记录")
        ordering = ["-created_at"]
        indexes = [models.Index(fields=["ticket", "user", "created_at"], name="pda_ticket_user_time")]

    def __str__(self):
        return f"{self.user} · {self.ticket_id} · {self.created_at:%Y-%m-%d %H:%M}"
