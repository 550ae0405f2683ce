from django.db import models
from django.utils.translation import gettext_lazy as _


class ReferenceStamp(models.Model):
    """One row: a counter bumped whenever reference data (units, grids, categories,
    deadline policies, working calendars, holidays) changes. Each process keeps its
    copy of that data until it sees another value (``cases.reference``)."""

    value = models.BigIntegerField(_("版本"), default=0)

    class Meta:
        verbose_name = _("参考数据版本")
        verbose_name_plural = _("参考数据版本")

    def __str__(self):
        return str(self.value)
