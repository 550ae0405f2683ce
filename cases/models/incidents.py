"""Declared incidents (停水、停电、停暖…): one outage, many calls.

A utility, a bureau or the centre declares an incident with its public notice;
the calls it brings are linked to it at intake, either answered at once with the
notice or merged into the incident's master ticket. The services are in
``cases.incidents``; who may see and declare them in ``cases.selectors.scope``.
"""

from django.conf import settings
from django.db import models
from django.utils import timezone
from django.utils.translation import gettext_lazy as _
from simple_history.models import HistoricalRecords


class Incident(models.Model):
    class Kind(models.TextChoices):
        WATER = "water", _("停水")
        POWER = "power", _("停电")
        HEATING = "heating", _("停暖")
        GAS = "gas", _("停气")
        ROADWORKS = "roadworks", _("道路施工/封闭")
        OTHER = "other", _("其他")

    class Status(models.TextChoices):
        DECLARED = "declared", _("已发布")
        CLOSED = "closed", _("已结束")

    kind = models.CharField(_("事件类型"), max_length=16, choices=Kind.choices)
    title = models.CharField(_("标题"), max_length=120)
    category = models.ForeignKey(
        "cases.Category", verbose_name=_("诉求分类"), on_delete=models.PROTECT, related_name="incidents"
    )
    declared_by = models.ForeignKey(
        "departments.Department",
        verbose_name=_("发布单位"),
        on_delete=models.PROTECT,
        related_name="incidents",
        help_text=_("公共服务企业、职能部门或热线中心。"),
    )
    departments = models.ManyToManyField(
        "departments.Department",
        verbose_name=_("影响区域（属地）"),
        blank=True,
        related_name="affecting_incidents",
        help_text=_("受影响的区县、街道乡镇或社区村（含其下级）。"),
    )
    grids = models.ManyToManyField(
        "departments.Grid", verbose_name=_("影响网格"), blank=True, related_name="affecting_incidents"
    )
    area = models.JSONField(
        _("影响范围（多边形）"),
        null=True,
        blank=True,
        help_text=_("GeoJSON 多边形（Polygon 或 MultiPolygon），坐标为经度、纬度。"),
    )
    starts_at = models.DateTimeField(_("开始时间"))
    expected_end_at = models.DateTimeField(_("预计恢复时间"), null=True, blank=True)
    notice = models.TextField(_("公告内容"), help_text=_("向市民公开的告知内容，不含个人信息。"))
    status = models.CharField(_("状态"), max_length=16, choices=Status.choices, default=Status.DECLARED)
    # Facts, written once: by the declaring service and the closing one.
    declared_at = models.DateTimeField(_("发布时间"), default=timezone.now, editable=False)
    declared_user = models.ForeignKey(
        settings.AUTH_USER_MODEL,
        verbose_name=_("发布人"),
        null=True,
        blank=True,
        on_delete=models.SET_NULL,
        related_name="+",
        editable=False,
    )
    result = models.TextField(_("处置结果"), blank=True, editable=False)
    closed_at = models.DateTimeField(_("结束时间"), null=True, blank=True, editable=False)
    closed_by = models.ForeignKey(
        settings.AUTH_USER_MODEL,
        verbose_name=_("结束操作人"),
        null=True,
        blank=True,
        on_delete=models.SET_NULL,
        related_name="+",
        editable=False,
    )
    master_ticket = models.OneToOneField(
        "cases.Ticket",
        verbose_name=_("主工单"),
        null=True,
        blank=True,
        on_delete=models.PROTECT,
        related_name="incident_master",
        editable=False,
        help_text=_("第一次“并入事件主工单”时建立；其后来电并入此单，随其办结。"),
    )

    history = HistoricalRecords()

    class Meta:
        verbose_name = _("突发事件公告")
        verbose_name_plural = _("突发事件公告")
        ordering = ["-declared_at", "-pk"]
        indexes = [models.Index(fields=["status", "starts_at"], name="incident_status_start")]

    def __str__(self):
        return f"{self.get_kind_display()} · {self.title}"

    @property
    def is_open(self) -> bool:
        return self.status == self.Status.DECLARED


class IncidentLink(models.Model):
    """A call linked to an incident at intake: the fact of the link, written once."""

    class Mode(models.TextChoices):
        ANSWERED = "answered", _("以公告直接答复")
        MERGED = "merged", _("并入事件主工单")

    incident = models.ForeignKey(Incident, verbose_name=_("事件"), on_delete=models.CASCADE, related_name="links")
    ticket = models.OneToOneField(
        "cases.Ticket", verbose_name=_("工单"), on_delete=models.CASCADE, related_name="incident_link"
    )
    mode = models.CharField(_("关联方式"), max_length=16, choices=Mode.choices)
    linked_at = models.DateTimeField(_("关联时间"), default=timezone.now)
    linked_by = models.ForeignKey(
        settings.AUTH_USER_MODEL,
        verbose_name=_("关联人"),
        null=True,
        blank=True,
        on_delete=models.SET_NULL,
        related_name="+",
    )

    class Meta:
        verbose_name = _("事件关联来电")
        verbose_name_plural = _("事件关联来电")
        ordering = ["linked_at", "pk"]
        indexes = [models.Index(fields=["incident", "linked_at"], name="incident_link_time")]

    def __str__(self):
        return f"{self.incident_id}:{self.ticket_id}"
