from django.core.exceptions import ValidationError
from django.db import models
from django.utils.translation import gettext_lazy as _
from simple_history.models import HistoricalRecords

from departments.tree import TreeNode

from .choices import Nature, Urgency

CATEGORY_MAX_DEPTH = 3
ERR_CATEGORY_DEPTH = _("诉求分类最多三级。")


class Category(TreeNode):
    """诉求分类: a three-level content tree such as 城乡建设 › 供暖 › 室温不达标."""

    name = models.CharField(_("名称"), max_length=100)
    code = models.CharField(
        _("分类编码"),
        max_length=32,
        unique=True,
        help_text=_("稳定的字符编码，也用作 Open311 的 service_code。"),
    )
    parent = models.ForeignKey(
        "self",
        verbose_name=_("上级分类"),
        null=True,
        blank=True,
        on_delete=models.PROTECT,
        related_name="children",
    )
    default_nature = models.CharField(_("默认诉求性质"), max_length=16, choices=Nature.choices, blank=True)
    default_urgency = models.CharField(_("默认紧急程度"), max_length=16, choices=Urgency.choices, blank=True)
    default_department = models.ForeignKey(
        "departments.Department",
        verbose_name=_("默认主办单位"),
        null=True,
        blank=True,
        on_delete=models.SET_NULL,
        related_name="default_categories",
    )
    description = models.TextField(_("说明"), blank=True)
    is_active = models.BooleanField(_("启用"), default=True)
    never_public = models.BooleanField(
        _("不公开"),
        default=False,
        db_default=False,
        help_text=_(
            "勾选后，本分类及其全部下级分类的工单一律不在问题墙、办理进度查询和 Open311 中公开"
            "（如养老/独居老人、举报、家暴、心理、治安类），已有工单立即生效。"
        ),
    )
    # 派单目录 (国办函〔2025〕66号): the kinds of unit that may receive this category as
    # lead unit; empty inherits from the parent category, and an empty root allows any
    # kind. ``cases.workflow.catalogue`` is the one place that reads it.
    receiver_kinds = models.JSONField(
        _("派单目录（可承办单位类型）"),
        default=list,
        blank=True,
        help_text=_(
            "可作为主办单位接收本分类工单的单位类型；不选则沿用上级分类，全部不选则不限。"
            "派至目录以外类型的单位须说明理由，并计入目录外派单。"
        ),
    )
    sort_order = models.PositiveIntegerField(_("排序"), default=0)

    history = HistoricalRecords(excluded_fields=["path", "depth"])

    class Meta:
        verbose_name = _("诉求分类")
        verbose_name_plural = _("诉求分类")
        ordering = ["path"]

    def __str__(self):
        return self.full_name

    @property
    def full_name(self) -> str:
        names = getattr(self, "_full_name", None)
        if names is None:
            if self.parent_id is None:
                names = self.name
            else:
                names = f"{self.parent.full_name} › {self.name}"
            self._full_name = names
        return names

    def clean(self):
        super().clean()
        parent_depth = self.parent.depth if self.parent_id else 0
        subtree_height = 0
        if self.pk:
            deepest = self.descendants().order_by("-depth").values_list("depth", flat=True).first()
            subtree_height = (deepest or self.depth) - self.depth
        if parent_depth + 1 + subtree_height > CATEGORY_MAX_DEPTH:
            raise ValidationError({"parent": ERR_CATEGORY_DEPTH})

    def save(self, *args, **kwargs):
        if self.parent_id and self.parent.depth + 1 > CATEGORY_MAX_DEPTH:
            raise ValidationError({"parent": ERR_CATEGORY_DEPTH})
        super().save(*args, **kwargs)

    def resolved_defaults(self) -> tuple[str, str]:
        """(nature, urgency) defaults, inherited from the nearest ancestor that sets them."""
        nature = urgency = ""
        node = self
        while node is not None:  # up the ``parent`` links (cached ones cost nothing)
            nature = nature or node.default_nature
            urgency = urgency or node.default_urgency
            node = node.parent if node.parent_id else None
        return nature or Nature.HELP, urgency or Urgency.NORMAL
