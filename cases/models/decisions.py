"""Reference lists behind the centre's decisions: coded reasons for rework and
returns (counted per unit by the reports) and the reply templates (办理反馈常用语)
suggested on the reply form. The centre edits both in the admin."""

from django.db import models
from django.db.models import Q
from django.utils.translation import gettext_lazy as _

from .choices import ReplyResult


class ReasonCode(models.Model):
    """One coded reason a decision can give: 避重就轻 for a rework, 非本单位职责
    for a return. Retired codes are deactivated, never deleted: events point to them."""

    class Kind(models.TextChoices):
        REWORK = "rework", _("退回重办原因")
        RETURN = "return", _("退单原因")
        OBJECTION = "objection", _("派单异议原因")

    kind = models.CharField(_("类型"), max_length=16, choices=Kind.choices)
    code = models.SlugField(_("代码"), max_length=32)
    label = models.CharField(_("名称"), max_length=50)
    order = models.PositiveSmallIntegerField(_("排序"), default=100)
    is_active = models.BooleanField(_("启用"), default=True)

    class Meta:
        verbose_name = _("原因代码")
        verbose_name_plural = _("原因代码")
        ordering = ["kind", "order", "pk"]
        constraints = [models.UniqueConstraint(fields=["kind", "code"], name="reason_code_unique")]

    def __str__(self):
        return self.label


class ReplyTemplateQuerySet(models.QuerySet):
    def matching(self, *, category=None, result: str = ""):
        """Active templates for ``category`` or any of its ancestors (or for every
        category), and for ``result`` (or for every result); the most specific first."""
        categories = Q(category__isnull=True)
        if category is not None:
            categories |= Q(category_id__in=category.lineage_ids)
        results = Q(result="") | Q(result=result) if result else Q()
        return (
            self.filter(categories, results, is_active=True)
            .select_related("category")
            .order_by(models.F("category__depth").desc(nulls_last=True), "order", "pk")
        )


class ReplyTemplate(models.Model):
    """办理反馈常用语: a reply wording the centre recommends for a category and result."""

    title = models.CharField(_("标题"), max_length=60)
    text = models.TextField(_("反馈内容"))
    category = models.ForeignKey(
        "cases.Category",
        verbose_name=_("诉求分类"),
        null=True,
        blank=True,
        on_delete=models.CASCADE,
        related_name="+",
        help_text=_("留空适用于全部分类；选上级分类也适用于其下级分类。"),
    )
    result = models.CharField(
        _("办理结果"), max_length=16, choices=ReplyResult.choices, blank=True, help_text=_("留空适用于全部结果。")
    )
    order = models.PositiveSmallIntegerField(_("排序"), default=100)
    is_active = models.BooleanField(_("启用"), default=True)

    objects = ReplyTemplateQuerySet.as_manager()

    class Meta:
        verbose_name = _("办理反馈常用语")
        verbose_name_plural = _("办理反馈常用语")
        ordering = ["category", "result", "order", "pk"]

    def __str__(self):
        return self.title
