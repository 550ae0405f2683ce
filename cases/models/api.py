"""Machine access: per-channel API keys, Open311 attributes and tokens."""

import hashlib
import secrets
import uuid

from django.conf import settings
from django.db import models
from django.utils import timezone
from django.utils.translation import gettext_lazy as _

from .choices import Channel

KEY_PREFIX_LENGTH = 8


def key_hash(raw: str) -> str:
    # Keys carry 256 random bits, so a plain digest is as good as a slow hash here.
    return hashlib.sha256(raw.encode()).hexdigest()


class ApiKey(models.Model):
    """A key held by another system. It acts through its own service account, so
    everything it does is attributable to it; revoking keeps the record."""

    class Purpose(models.TextChoices):
        CHANNEL = "channel", _("渠道接入（创建并跟踪工单）")
        CALLBACK = "callback", _("回访系统（语音/短信回访结果）")
        SENSOR = "sensor", _("物联感知（告警生成未诉先办工单）")

    name = models.CharField(_("名称"), max_length=100)
    purpose = models.CharField(_("用途"), max_length=16, choices=Purpose.choices, default=Purpose.CHANNEL)
    channel = models.CharField(_("渠道"), max_length=16, choices=Channel.choices)
    prefix = models.CharField(_("密钥前缀"), max_length=KEY_PREFIX_LENGTH, unique=True, editable=False)
    hashed = models.CharField(max_length=64, unique=True, editable=False)
    user = models.OneToOneField(
        settings.AUTH_USER_MODEL,
        verbose_name=_("服务账号"),
        on_delete=models.PROTECT,
        related_name="api_key",
        editable=False,
    )
    created_at = models.DateTimeField(_("创建时间"), default=timezone.now, editable=False)
    created_by = models.ForeignKey(
        settings.AUTH_USER_MODEL,
        verbose_name=_("创建人"),
        null=True,
        blank=True,
        on_delete=models.SET_NULL,
        related_name="+",
        editable=False,
    )
    last_used_at = models.DateTimeField(_("最近使用"), null=True, blank=True, editable=False)
    revoked_at = models.DateTimeField(_("吊销时间"), null=True, blank=True, editable=False)
    note = models.CharField(_("备注"), max_length=200, blank=True)

    class Meta:
        verbose_name = _("接口密钥")
        verbose_name_plural = _("接口密钥")
        ordering = ["-created_at"]

    def __str__(self):
        return f"{self.name}（{self.prefix}…）"

    @property
    def is_active(self) -> bool:
        return self.revoked_at is None

    @staticmethod
    def generate() -> tuple[str, str]:
        """A new raw key and its prefix: ``hk_<prefix>_<secret>``."""
        prefix = secrets.token_hex(KEY_PREFIX_LENGTH // 2)
        return f"hk_{prefix}_{secrets.token_urlsafe(32)}", prefix


class ServiceAttribute(models.Model):
    """An Open311 service-definition attribute of a category (inherited by its
    subcategories): what a client is asked besides the description."""

    class Datatype(models.TextChoices):
        STRING = "string", "string"
        NUMBER = "number", "number"
        DATETIME = "datetime", "datetime"
        TEXT = "text", "text"
        SINGLE = "singlevaluelist", "singlevaluelist"
        MULTI = "multivaluelist", "multivaluelist"

    category = models.ForeignKey(
        "cases.Category", verbose_name=_("诉求分类"), on_delete=models.CASCADE, related_name="service_attributes"
    )
    code = models.SlugField(_("属性编码"), max_length=40)
    description = models.CharField(_("问题"), max_length=200)
    datatype = models.CharField(_("数据类型"), max_length=16, choices=Datatype.choices, default=Datatype.STRING)
    datatype_description = models.CharField(_("填写说明"), max_length=200, blank=True)
    required = models.BooleanField(_("必填"), default=False)
    values = models.JSONField(
        _("可选值"),
        default=list,
        blank=True,
        help_text=_("列表型属性的可选值，每项含 key（提交值）和 name（显示名称）。"),
    )
    order = models.PositiveSmallIntegerField(_("顺序"), default=1)

    class Meta:
        verbose_name = _("Open311 属性")
        verbose_name_plural = _("Open311 属性")
        ordering = ["category", "order", "pk"]
        constraints = [models.UniqueConstraint(fields=["category", "code"], name="service_attribute_code")]

    def __str__(self):
        return f"{self.code}：{self.description}"


class ServiceRequestToken(models.Model):
    """Open311 ``tokens/{token}``: the token handed out with a new request."""

    token = models.UUIDField(_("令牌"), default=uuid.uuid4, unique=True, editable=False)
    ticket = models.OneToOneField(
        "cases.Ticket", verbose_name=_("工单"), on_delete=models.CASCADE, related_name="open311_token"
    )
    created_at = models.DateTimeField(_("创建时间"), default=timezone.now)

    class Meta:
        verbose_name = _("Open311 令牌")
        verbose_name_plural = _("Open311 令牌")

    def __str__(self):
        return str(self.token)
