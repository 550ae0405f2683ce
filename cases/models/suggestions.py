from django.db import models
from django.utils import timezone
from django.utils.translation import gettext_lazy as _


class SuggestionModel(models.Model):
    """One trained dispatch-suggestion model (智能派单): the file it was saved to
    under ``SUGGEST_DIR`` and what it was trained on. The newest row is the one in
    use; a process loads its file once (cases.suggestions)."""

    trained_at = models.DateTimeField(_("训练时间"), default=timezone.now)
    file_name = models.CharField(_("模型文件"), max_length=100)
    rows = models.PositiveIntegerField(_("训练工单数"), default=0)
    held_out_rows = models.PositiveIntegerField(_("留出检验工单数"), default=0)
    categories = models.PositiveIntegerField(_("分类数"), default=0)
    units = models.PositiveIntegerField(_("单位数"), default=0)
    category_top1 = models.FloatField(_("分类首选准确率"), null=True, blank=True)
    category_top3 = models.FloatField(_("分类前三准确率"), null=True, blank=True)
    unit_top1 = models.FloatField(_("单位首选准确率"), null=True, blank=True)
    unit_top3 = models.FloatField(_("单位前三准确率"), null=True, blank=True)
    train_seconds = models.FloatField(_("训练用时（秒）"), default=0)

    class Meta:
        verbose_name = _("派单建议模型")
        verbose_name_plural = _("派单建议模型")
        ordering = ["-trained_at", "-pk"]

    def __str__(self):
        return f"{self.file_name} ({self.rows})"
