"""Units (承办单位), grids (网格), staff profiles and the duty list (职责清单)."""

from django.conf import settings
from django.core.exceptions import ValidationError
from django.db import models
from django.db.models import Q
from django.utils.translation import gettext_lazy as _
from simple_history.models import HistoricalRecords

from .roles import CENTRE_DESK_ROLES, Role
from .tree import TreeNode

ERR_PARENT_KIND = _("“%(kind)s”不能设在“%(parent)s”之下。")
ERR_GRID_COMMUNITY = _("网格只能设在社区（村）之下。")
ERR_DUTY_TERRITORY = _("属地只能是市、区县、街道乡镇或社区村。")
ERR_DUTY_TARGET = _("请在“主办单位”和“按属地派至”中二选一。")
ERR_SUBCENTRE_KIND = _("只有区县、街道乡镇可以设立分中心。")
ERR_CENTRE_ROLE_UNIT = _("“%(role)s”只能设在热线中心或设有分中心的单位。")
ERR_BOUNDARY_KIND = _("只有区县、街道乡镇和社区村可以设置边界。")

BOUNDARY_HELP = _(
    "GeoJSON 几何对象（Polygon 或 MultiPolygon，WGS84 坐标，[经度, 纬度]）；可在列表页“导入边界”批量导入 GeoJSON 文件。"
)


def split_keywords(text: str) -> list[str]:
    """Address keywords are entered one per line or separated by commas."""
    if not text:
        return []
    for sep in ("，", ",", "、", ";", "；"):
        text = text.replace(sep, "\n")
    return [part.strip() for part in text.splitlines() if part.strip()]


class Department(TreeNode):
    """A unit in the tree: the centre, the city and its territorial levels, bureaus
    and public-service companies. Territorial units (city → district → street →
    community) also stand for their territory: tickets are resolved onto them."""

    class Kind(models.TextChoices):
        CENTRE = "centre", _("热线中心")
        CITY = "city", _("市")
        DISTRICT = "district", _("区县")
        STREET = "street", _("街道乡镇")
        COMMUNITY = "community", _("社区村")
        BUREAU = "bureau", _("职能部门")
        COMPANY = "company", _("公共服务企业")

    TERRITORIAL_KINDS = frozenset({Kind.CITY, Kind.DISTRICT, Kind.STREET, Kind.COMMUNITY})
    #: Units that may run a sub-centre (分中心 / 分平台): a county or district, a township.
    SUBCENTRE_KINDS = frozenset({Kind.DISTRICT, Kind.STREET})
    #: Units that may carry a boundary polygon of their own (grids always may).
    BOUNDARY_KINDS = frozenset({Kind.DISTRICT, Kind.STREET, Kind.COMMUNITY})
    # Which kinds of parent each kind may hang under (None = may be a root).
    ALLOWED_PARENTS = {
        Kind.CITY: {None},
        Kind.CENTRE: {None, Kind.CITY},
        Kind.DISTRICT: {Kind.CITY},
        Kind.STREET: {Kind.DISTRICT},
        Kind.COMMUNITY: {Kind.STREET},
        Kind.BUREAU: {None, Kind.CITY, Kind.DISTRICT, Kind.BUREAU},
        Kind.COMPANY: {None, Kind.CITY, Kind.DISTRICT, Kind.COMPANY},
    }

    name = models.CharField(_("名称"), max_length=100)
    short_name = models.CharField(_("简称"), max_length=40, blank=True)
    kind = models.CharField(_("类型"), max_length=16, choices=Kind.choices)
    parent = models.ForeignKey(
        "self",
        verbose_name=_("上级单位"),
        null=True,
        blank=True,
        on_delete=models.PROTECT,
        related_name="children",
    )
    code = models.CharField(
        _("编码"),
        max_length=32,
        unique=True,
        null=True,
        blank=True,
        help_text=_("行政区划代码或机构代码，导入导出时用作唯一标识。"),
    )
    phone = models.CharField(_("联系电话"), max_length=32, blank=True)
    chat_webhook = models.URLField(
        _("工作群机器人地址"),
        blank=True,
        help_text=_("企业微信或钉钉群机器人的 Webhook 地址，用于时限提醒。"),
    )
    address_keywords = models.TextField(
        _("辖区地址关键词"),
        blank=True,
        help_text=_("道路、小区、村组等名称，每行一个；用于从地址推断属地。"),
    )
    calendar = models.ForeignKey(
        "cases.WorkingCalendar",
        verbose_name=_("工作日历"),
        null=True,
        blank=True,
        on_delete=models.PROTECT,
        related_name="departments",
        help_text=_("留空则沿用上级单位的工作日历；都未设置时按统一的办公时间。"),
    )
    is_subcentre = models.BooleanField(
        _("设有分中心"),
        default=False,
        help_text=_(
            "区县分中心或区级分平台：本单位的派单员、督办员、回访员在本单位辖区内签收、派单、审核、督办和回访。"
        ),
    )
    boundary = models.JSONField(_("边界"), null=True, blank=True, help_text=BOUNDARY_HELP)
    is_active = models.BooleanField(_("启用"), default=True)
    sort_order = models.PositiveIntegerField(_("排序"), default=0)

    history = HistoricalRecords(excluded_fields=["path", "depth"])

    class Meta:
        verbose_name = _("承办单位")
        verbose_name_plural = _("承办单位")
        ordering = ["path"]
        indexes = [models.Index(fields=["kind", "is_active"])]

    def __str__(self):
        return self.name

    @property
    def is_territorial(self) -> bool:
        return self.kind in self.TERRITORIAL_KINDS

    @property
    def is_centre(self) -> bool:
        return self.kind == self.Kind.CENTRE

    def clean(self):
        super().clean()
        allowed = self.ALLOWED_PARENTS.get(self.kind, set())
        parent_kind = self.parent.kind if self.parent_id else None
        if parent_kind not in allowed:
            raise ValidationError(
                {
                    "parent": ERR_PARENT_KIND
                    % {
                        "kind": self.get_kind_display(),
                        "parent": self.parent.get_kind_display() if self.parent_id else _("顶层"),
                    }
                }
            )
        if self.is_subcentre and self.kind not in self.SUBCENTRE_KINDS:
            raise ValidationError({"is_subcentre": ERR_SUBCENTRE_KIND})
        if self.boundary is not None and self.kind not in self.BOUNDARY_KINDS:
            raise ValidationError({"boundary": ERR_BOUNDARY_KIND})

    def territory_chain(self) -> dict[str, "Department"]:
        """The territorial ancestors of this unit keyed by kind, self included."""
        return {d.kind: d for d in self.ancestors(include_self=True) if d.is_territorial}


class Grid(models.Model):
    """The smallest territorial unit, inside one community, patrolled by a grid worker."""

    community = models.ForeignKey(
        Department,
        verbose_name=_("所属社区"),
        on_delete=models.PROTECT,
        related_name="grids",
        limit_choices_to={"kind": Department.Kind.COMMUNITY},
    )
    name = models.CharField(_("网格名称"), max_length=100)
    code = models.CharField(_("网格编码"), max_length=32, unique=True)
    worker = models.ForeignKey(
        settings.AUTH_USER_MODEL,
        verbose_name=_("网格员"),
        null=True,
        blank=True,
        on_delete=models.SET_NULL,
        related_name="grids",
    )
    address_keywords = models.TextField(_("地址关键词"), blank=True, help_text=_("楼院、小区、道路名称，每行一个。"))
    latitude = models.DecimalField(_("中心纬度"), max_digits=9, decimal_places=6, null=True, blank=True)
    longitude = models.DecimalField(_("中心经度"), max_digits=9, decimal_places=6, null=True, blank=True)
    boundary = models.JSONField(_("边界"), null=True, blank=True, help_text=BOUNDARY_HELP)
    is_active = models.BooleanField(_("启用"), default=True)

    history = HistoricalRecords()

    class Meta:
        verbose_name = _("网格")
        verbose_name_plural = _("网格")
        ordering = ["community__path", "code"]

    def __str__(self):
        return f"{self.community.name} · {self.name}"

    def clean(self):
        super().clean()
        if self.community_id and self.community.kind != Department.Kind.COMMUNITY:
            raise ValidationError({"community": ERR_GRID_COMMUNITY})


class StaffProfile(models.Model):
    """Links a login to the unit it works for and the role it works in."""

    user = models.OneToOneField(
        settings.AUTH_USER_MODEL,
        verbose_name=_("用户"),
        on_delete=models.CASCADE,
        related_name="staff",
    )
    department = models.ForeignKey(
        Department, verbose_name=_("所在单位"), on_delete=models.PROTECT, related_name="staff"
    )
    role = models.CharField(_("角色"), max_length=16, choices=Role.choices)
    phone = models.CharField(_("手机号"), max_length=32, blank=True)
    title = models.CharField(_("职务"), max_length=50, blank=True)

    class Meta:
        verbose_name = _("工作人员")
        verbose_name_plural = _("工作人员")
        indexes = [models.Index(fields=["department", "role"])]

    def __str__(self):
        return f"{self.user}（{self.department.name} · {self.get_role_display()}）"

    def clean(self):
        super().clean()
        unit = self.department if self.department_id else None
        if unit is not None and self.role in CENTRE_DESK_ROLES and not (unit.is_centre or unit.is_subcentre):
            raise ValidationError({"department": ERR_CENTRE_ROLE_UNIT % {"role": self.get_role_display()}})


class TerritorialLevel(models.TextChoices):
    DISTRICT = "district", _("属地区县")
    STREET = "street", _("属地街道乡镇")
    COMMUNITY = "community", _("属地社区村")


class DutyAssignment(models.Model):
    """职责清单: which unit leads for a category in a territory.

    The most specific row wins when dispatching: a deeper category beats a
    shallower one, then a smaller territory beats a larger one; a row without
    territory applies citywide."""

    category = models.ForeignKey(
        "cases.Category", verbose_name=_("诉求分类"), on_delete=models.CASCADE, related_name="duties"
    )
    territory = models.ForeignKey(
        Department,
        verbose_name=_("属地"),
        null=True,
        blank=True,
        on_delete=models.CASCADE,
        related_name="duties_in_territory",
        limit_choices_to={"kind__in": sorted(Department.TERRITORIAL_KINDS)},
        help_text=_("留空表示全市适用。"),
    )
    department = models.ForeignKey(
        Department,
        verbose_name=_("主办单位"),
        null=True,
        blank=True,
        on_delete=models.PROTECT,
        related_name="duties",
        help_text=_("固定的主办单位；按属地派单时留空。"),
    )
    territorial_level = models.CharField(
        _("按属地派至"),
        max_length=16,
        blank=True,
        choices=TerritorialLevel.choices,
        help_text=_("选择后，派给诉求所在地的该级单位（如“属地街道”）。"),
    )
    note = models.CharField(_("依据/说明"), max_length=200, blank=True)
    is_active = models.BooleanField(_("启用"), default=True)

    class Meta:
        verbose_name = _("职责清单")
        verbose_name_plural = _("职责清单")
        constraints = [
            models.CheckConstraint(
                condition=(Q(department__isnull=False) & Q(territorial_level=""))
                | (Q(department__isnull=True) & ~Q(territorial_level="")),
                name="duty_fixed_or_territorial",
            ),
            models.UniqueConstraint(
                fields=["category", "territory"],
                condition=Q(territory__isnull=False),
                name="duty_unique_category_territory",
            ),
            models.UniqueConstraint(
                fields=["category"],
                condition=Q(territory__isnull=True),
                name="duty_unique_category_citywide",
            ),
        ]

    def __str__(self):
        where = self.territory.name if self.territory_id else _("全市")
        target = self.department or self.get_territorial_level_display()
        return f"{self.category} @ {where} → {target}"

    def clean(self):
        super().clean()
        if self.territory_id and not self.territory.is_territorial:
            raise ValidationError({"territory": ERR_DUTY_TERRITORY})
        if bool(self.department_id) == bool(self.territorial_level):
            raise ValidationError(ERR_DUTY_TARGET)
