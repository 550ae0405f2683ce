"""Excel import / export of reference data (django-import-export).

Rows are keyed by their code, parents are referred to by code, enumerations take
either the code or the Chinese label. Every row is validated with the model's own
``full_clean`` (``clean_model_instances``) inside one transaction: one bad row and
the whole file is rejected with row-level errors, so nothing is half-imported."""

from django.utils.translation import gettext_lazy as _
from import_export import fields, resources
from import_export.widgets import BooleanWidget, CharWidget, DateWidget, DecimalWidget, ForeignKeyWidget, Widget

from cases.models import Category

from .models import Department, DutyAssignment, Grid, TerritorialLevel


class ChoiceWidget(Widget):
    """Accepts the stored value or its (Chinese) label; exports the label."""

    def __init__(self, choices, **kwargs):
        self.by_label = {str(label): value for value, label in choices}
        self.values = {value for value, _label in choices}
        self.labels = {value: str(label) for value, label in choices}
        super().__init__(**kwargs)

    def clean(self, value, row=None, **kwargs):
        value = str(value).strip() if value is not None else ""
        if value == "":
            return ""
        if value in self.values:
            return value
        if value in self.by_label:
            return self.by_label[value]
        raise ValueError(
            _("“%(value)s”不是有效选项，可选：%(options)s") % {"value": value, "options": "、".join(self.by_label)}
        )

    def render(self, value, obj=None, **kwargs):
        return self.labels.get(value, value or "")


class ChineseBooleanWidget(BooleanWidget):
    TRUE_VALUES = [*BooleanWidget.TRUE_VALUES, "是", "启用", "上班"]
    FALSE_VALUES = [*BooleanWidget.FALSE_VALUES, "否", "停用", "放假"]

    def render(self, value, obj=None, **kwargs):
        return "是" if value else "否"


class CodeForeignKeyWidget(ForeignKeyWidget):
    """A foreign key by code, with a readable error for an unknown code."""

    def clean(self, value, row=None, **kwargs):
        if value in (None, ""):
            return None
        try:
            return super().clean(str(value).strip(), row, **kwargs)
        except self.model.DoesNotExist:
            raise ValueError(
                _("编码“%(code)s”对应的%(model)s不存在（如在同一文件中，请把上级放在前面）。")
                % {"code": value, "model": self.model._meta.verbose_name}
            ) from None


def text(attribute, column, *, blank_is_null=False):
    """A text column: an empty Excel cell is an empty string (or NULL where the
    model wants NULL, as for optional unique codes)."""
    return fields.Field(attribute=attribute, column_name=column, widget=CharWidget(allow_blank=not blank_is_null))


class AllOrNothingResource(resources.ModelResource):
    """Every import rolls back entirely if any row is invalid, whoever calls it."""

    def import_data(self, dataset, **kwargs):
        kwargs["rollback_on_validation_errors"] = True
        kwargs.setdefault("use_transactions", True)
        return super().import_data(dataset, **kwargs)


class ChineseDateWidget(DateWidget):
    def clean(self, value, row=None, **kwargs):
        try:
            return super().clean(value, row, **kwargs)
        except ValueError:
            raise ValueError(_("日期“%(value)s”无效，应为 YYYY-MM-DD。") % {"value": value}) from None


class DepartmentResource(AllOrNothingResource):
    code = text("code", "编码", blank_is_null=True)
    name = text("name", "名称")
    short_name = text("short_name", "简称")
    kind = fields.Field(attribute="kind", column_name="类型", widget=ChoiceWidget(Department.Kind.choices))
    parent = fields.Field(attribute="parent", column_name="上级编码", widget=CodeForeignKeyWidget(Department, "code"))
    phone = text("phone", "联系电话")
    address_keywords = text("address_keywords", "辖区地址关键词")
    is_active = fields.Field(attribute="is_active", column_name="启用", widget=ChineseBooleanWidget())

    class Meta:
        model = Department
        import_id_fields = ["code"]
        fields = ["code", "name", "short_name", "kind", "parent", "phone", "address_keywords", "is_active"]
        skip_unchanged = True
        report_skipped = True
        use_transactions = True
        clean_model_instances = True

    def get_export_queryset(self, request):
        return Department.objects.select_related("parent").order_by("path")


class GridResource(AllOrNothingResource):
    code = text("code", "网格编码")
    name = text("name", "网格名称")
    community = fields.Field(
        attribute="community", column_name="社区编码", widget=CodeForeignKeyWidget(Department, "code")
    )
    address_keywords = text("address_keywords", "地址关键词")
    latitude = fields.Field(attribute="latitude", column_name="中心纬度", widget=DecimalWidget())
    longitude = fields.Field(attribute="longitude", column_name="中心经度", widget=DecimalWidget())
    is_active = fields.Field(attribute="is_active", column_name="启用", widget=ChineseBooleanWidget())

    class Meta:
        model = Grid
        import_id_fields = ["code"]
        fields = ["code", "name", "community", "address_keywords", "latitude", "longitude", "is_active"]
        skip_unchanged = True
        use_transactions = True
        clean_model_instances = True


class DutyAssignmentResource(AllOrNothingResource):
    category = fields.Field(attribute="category", column_name="分类编码")
    territory = fields.Field(
        attribute="territory", column_name="属地编码", widget=CodeForeignKeyWidget(Department, "code")
    )
    department = fields.Field(
        attribute="department", column_name="主办单位编码", widget=CodeForeignKeyWidget(Department, "code")
    )
    territorial_level = fields.Field(
        attribute="territorial_level", column_name="按属地派至", widget=ChoiceWidget(TerritorialLevel.choices)
    )
    note = text("note", "依据/说明")
    is_active = fields.Field(attribute="is_active", column_name="启用", widget=ChineseBooleanWidget())

    class Meta:
        model = DutyAssignment
        import_id_fields = ["category", "territory"]
        fields = ["category", "territory", "department", "territorial_level", "note", "is_active"]
        use_transactions = True
        clean_model_instances = True

    def __init__(self, **kwargs):
        super().__init__(**kwargs)

        self.fields["category"].widget = CodeForeignKeyWidget(Category, "code")
