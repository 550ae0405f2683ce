"""每月一题: a theme takes on a class of demands (categories × territory × keywords)
rather than one case; its tasks, and the tickets its rule matches (ThemeTicket)."""

from django.conf import settings
from django.db import models
from django.utils import timezone
from django.utils.translation import gettext_lazy as _
from simple_history.models import HistoricalRecords


class Theme(models.Model):
    class State(models.TextChoices):
        ACTIVE = "active", _("进行中")
        CLOSED = "closed", _("已结束")

    class Origin(models.TextChoices):
        MANUAL = "manual", _("手工创建")
        HOTSPOT = "hotspot", _("来自热点")
        CLUSTER = "cluster", _("来自聚类")

    title = models.CharField(_("题目"), max_length=120)
    lead_department = models.ForeignKey(
        "departments.Department", verbose_name=_("牵头单位"), on_delete=models.PROTECT, related_name="led_themes"
    )
    co_departments = models.ManyToManyField(
        "departments.Department", verbose_name=_("协办单位"), blank=True, related_name="cohandled_themes"
    )
    started_on = models.DateField(_("开始日期"))
    ended_on = models.DateField(_("结束日期"), null=True, blank=True)
    state = models.CharField(_("状态"), max_length=16, choices=State.choices, default=State.ACTIVE)
    # The rule: every part given must hold; an empty part does not narrow.
    categories = models.ManyToManyField(
        "cases.Category",
        verbose_name=_("诉求分类"),
        blank=True,
        related_name="+",
        help_text=_("含其下级分类。"),
    )
    territories = models.ManyToManyField(
        "departments.Department",
        verbose_name=_("属地范围"),
        blank=True,
        related_name="+",
        help_text=_("区县、街道乡镇或社区村：位于其中的工单。"),
    )
    keywords = models.TextField(
        _("关键词"), blank=True, help_text=_("每行一个；诉求内容或地址含任一关键词即匹配（不区分大小写）。")
    )
    origin = models.CharField(_("来源"), max_length=16, choices=Origin.choices, default=Origin.MANUAL)
    origin_cluster = models.ForeignKey(
        "cases.Cluster", verbose_name=_("来源聚类"), null=True, blank=True, on_delete=models.SET_NULL, related_name="+"
    )
    origin_community = models.ForeignKey(
        "departments.Department",
        verbose_name=_("来源热点社区"),
        null=True,
        blank=True,
        on_delete=models.SET_NULL,
        related_name="+",
    )
    origin_category = models.ForeignKey(
        "cases.Category",
        verbose_name=_("来源热点分类"),
        null=True,
        blank=True,
        on_delete=models.SET_NULL,
        related_name="+",
    )
    description = models.TextField(_("说明"), blank=True)
    created_by = models.ForeignKey(
        settings.AUTH_USER_MODEL, verbose_name=_("创建人"), null=True, on_delete=models.SET_NULL, related_name="+"
    )
    created_at = models.DateTimeField(_("创建时间"), default=timezone.now, editable=False)
    #: When the past tickets were last linked to the current rule (None: being linked).
    linked_at = models.DateTimeField(_("关联完成时间"), null=True, blank=True, editable=False)
    tickets = models.ManyToManyField(
        "cases.Ticket", verbose_name=_("关联工单"), through="ThemeTicket", related_name="themes"
    )
    history = HistoricalRecords(excluded_fields=["linked_at"])

    class Meta:
        verbose_name = _("每月一题")
        verbose_name_plural = _("每月一题")
        ordering = ["-started_on", "-pk"]
        constraints = [
            models.CheckConstraint(
                condition=models.Q(ended_on__isnull=True) | models.Q(ended_on__gte=models.F("started_on")),
                name="theme_ends_after_start",
            )
        ]

    def __str__(self):
        return self.title

    def keyword_list(self) -> list[str]:
        return [line.strip() for line in self.keywords.splitlines() if line.strip()]


class ThemeTask(models.Model):
    theme = models.ForeignKey(Theme, on_delete=models.CASCADE, related_name="tasks")
    title = models.CharField(_("任务"), max_length=200)
    department = models.ForeignKey(
        "departments.Department", verbose_name=_("责任单位"), on_delete=models.PROTECT, related_name="+"
    )
    deadline = models.DateField(_("完成时限"))
    done_at = models.DateTimeField(_("完成时间"), null=True, blank=True)
    history = HistoricalRecords()

    class Meta:
        verbose_name = _("任务")
        verbose_name_plural = _("任务")
        ordering = ["deadline", "pk"]

    def __str__(self):
        return self.title


class ThemeTicket(models.Model):
    theme = models.ForeignKey(Theme, on_delete=models.CASCADE, related_name="links")
    ticket = models.ForeignKey("cases.Ticket", on_delete=models.CASCADE, related_name="theme_links")
    linked_at = models.DateTimeField(default=timezone.now)

    class Meta:
        verbose_name = _("每月一题工单")
        verbose_name_plural = _("每月一题工单")
        constraints = [models.UniqueConstraint(fields=["theme", "ticket"], name="theme_ticket_unique")]

    def __str__(self):
        return f"{self.theme_id}:{self.ticket_id}"
