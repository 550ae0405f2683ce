"""Clusters (双交办): one caller again and again, or many callers about one thing."""

from django.conf import settings
from django.db import models
from django.utils import timezone
from django.utils.translation import gettext_lazy as _


class Cluster(models.Model):
    class Kind(models.TextChoices):
        REPEAT_CALLER = "repeat", _("一人多次")
        MASS = "mass", _("多人集中")
        SIMILAR = "similar", _("相似诉求")

    class Status(models.TextChoices):
        OPEN = "open", _("待处置")
        ESCALATED = "escalated", _("已提级督办")
        CLOSED = "closed", _("已处置")

    kind = models.CharField(_("类型"), max_length=16, choices=Kind.choices)
    key = models.CharField(_("识别键"), max_length=120, help_text=_("同一类型下标识同一簇的键。"))
    category = models.ForeignKey(
        "cases.Category",
        verbose_name=_("诉求分类"),
        null=True,
        blank=True,
        on_delete=models.SET_NULL,
        related_name="+",
    )
    community = models.ForeignKey(
        "departments.Department",
        verbose_name=_("社区村"),
        null=True,
        blank=True,
        on_delete=models.SET_NULL,
        related_name="+",
    )
    street = models.ForeignKey(
        "departments.Department",
        verbose_name=_("街道乡镇"),
        null=True,
        blank=True,
        on_delete=models.SET_NULL,
        related_name="+",
    )
    phone = models.CharField(_("来电号码"), max_length=32, blank=True)
    summary = models.CharField(_("概要"), max_length=200, blank=True)
    size = models.PositiveIntegerField(_("工单数"), default=0)
    first_at = models.DateTimeField(_("最早受理"))
    last_at = models.DateTimeField(_("最近受理"))
    status = models.CharField(_("状态"), max_length=16, choices=Status.choices, default=Status.OPEN)
    escalated_to = models.ForeignKey(
        settings.AUTH_USER_MODEL,
        verbose_name=_("交办领导"),
        null=True,
        blank=True,
        on_delete=models.SET_NULL,
        related_name="+",
    )
    created_at = models.DateTimeField(_("发现时间"), default=timezone.now)
    tickets = models.ManyToManyField(
        "cases.Ticket", verbose_name=_("工单"), through="ClusterMember", related_name="clusters"
    )

    class Meta:
        verbose_name = _("聚类诉求")
        verbose_name_plural = _("聚类诉求")
        ordering = ["-last_at"]
        constraints = [
            models.UniqueConstraint(
                fields=["kind", "key"], condition=models.Q(status="open"), name="cluster_one_open_per_key"
            ),
        ]
        indexes = [models.Index(fields=["status", "last_at"], name="cluster_status")]

    def __str__(self):
        return f"{self.get_kind_display()} · {self.summary or self.key}"


class ClusterMember(models.Model):
    cluster = models.ForeignKey(Cluster, on_delete=models.CASCADE, related_name="members")
    ticket = models.ForeignKey("cases.Ticket", on_delete=models.CASCADE, related_name="cluster_memberships")
    added_at = models.DateTimeField(default=timezone.now)

    class Meta:
        verbose_name = _("聚类成员")
        verbose_name_plural = _("聚类成员")
        constraints = [models.UniqueConstraint(fields=["cluster", "ticket"], name="cluster_member_unique")]

    def __str__(self):
        return f"{self.cluster_id}:{self.ticket_id}"
