from django.db import models
from django.db.models import Q
from django.utils.translation import gettext_lazy as _
from simple_history.models import HistoricalRecords

from .. import clock


class KnowledgeQuerySet(models.QuerySet):
    def current(self, today=None):
        today = today or clock.local_day()
        return self.filter(is_active=True).filter(
            Q(valid_from__isnull=True) | Q(valid_from__lte=today),
            Q(valid_to__isnull=True) | Q(valid_to__gte=today),
        )


class KnowledgeArticle(models.Model):
    """知识库: an answer operators can give on the call (直接办结)."""

    question = models.CharField(_("问题"), max_length=200)
    answer = models.TextField(_("答复口径"))
    category = models.ForeignKey(
        "cases.Category",
        verbose_name=_("诉求分类"),
        null=True,
        blank=True,
        on_delete=models.SET_NULL,
        related_name="knowledge",
    )
    keywords = models.CharField(_("关键词"), max_length=200, blank=True, help_text=_("用空格或逗号分隔。"))
    source = models.CharField(_("来源/依据"), max_length=200, blank=True)
    valid_from = models.DateField(_("生效日期"), null=True, blank=True)
    valid_to = models.DateField(_("失效日期"), null=True, blank=True)
    is_active = models.BooleanField(_("启用"), default=True)
    updated_at = models.DateTimeField(_("更新时间"), auto_now=True)

    history = HistoricalRecords(excluded_fields=["updated_at"])
    objects = KnowledgeQuerySet.as_manager()

    class Meta:
        verbose_name = _("知识库条目")
        verbose_name_plural = _("知识库")
        ordering = ["question"]

    def __str__(self):
        return self.question
