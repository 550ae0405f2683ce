"""Excel import / export of categories, holidays and the knowledge base."""

from import_export import fields

from departments.models import Department
from departments.resources import (
    AllOrNothingResource,
    ChineseBooleanWidget,
    ChineseDateWidget,
    ChoiceWidget,
    CodeForeignKeyWidget,
    text,
)

from .models import Category, Holiday, KnowledgeArticle, Nature, Urgency


class CategoryResource(AllOrNothingResource):
    code = text("code", "分类编码")
    name = text("name", "名称")
    parent = fields.Field(attribute="parent", column_name="上级编码", widget=CodeForeignKeyWidget(Category, "code"))
    default_nature = fields.Field(
        attribute="default_nature", column_name="默认诉求性质", widget=ChoiceWidget(Nature.choices)
    )
    default_urgency = fields.Field(
        attribute="default_urgency", column_name="默认紧急程度", widget=ChoiceWidget(Urgency.choices)
    )
    default_department = fields.Field(
        attribute="default_department",
        column_name="默认主办单位编码",
        widget=CodeForeignKeyWidget(Department, "code"),
    )
    description = text("description", "说明")
    is_active = fields.Field(attribute="is_active", column_name="启用", widget=ChineseBooleanWidget())

    class Meta:
        model = Category
        import_id_fields = ["code"]
        fields = [
            "code",
            "name",
            "parent",
            "default_nature",
            "default_urgency",
            "default_department",
            "description",
            "is_active",
        ]
        skip_unchanged = True
        use_transactions = True
        clean_model_instances = True

    def get_export_queryset(self, request):
        return Category.objects.select_related("parent", "default_department").order_by("path")


class HolidayResource(AllOrNothingResource):
    date = fields.Field(attribute="date", column_name="日期", widget=ChineseDateWidget("%Y-%m-%d"))
    name = text("name", "名称")
    is_working_day = fields.Field(attribute="is_working_day", column_name="是否上班", widget=ChineseBooleanWidget())
    note = text("note", "备注")

    class Meta:
        model = Holiday
        import_id_fields = ["date"]
        fields = ["date", "name", "is_working_day", "note"]
        skip_unchanged = True
        use_transactions = True
        clean_model_instances = True


class KnowledgeArticleResource(AllOrNothingResource):
    question = text("question", "问题")
    answer = text("answer", "答复口径")
    category = fields.Field(attribute="category", column_name="分类编码", widget=CodeForeignKeyWidget(Category, "code"))
    keywords = text("keywords", "关键词")
    source = text("source", "来源/依据")
    valid_from = fields.Field(attribute="valid_from", column_name="生效日期", widget=ChineseDateWidget("%Y-%m-%d"))
    valid_to = fields.Field(attribute="valid_to", column_name="失效日期", widget=ChineseDateWidget("%Y-%m-%d"))
    is_active = fields.Field(attribute="is_active", column_name="启用", widget=ChineseBooleanWidget())

    class Meta:
        model = KnowledgeArticle
        import_id_fields = ["question"]
        fields = ["question", "answer", "category", "keywords", "source", "valid_from", "valid_to", "is_active"]
        use_transactions = True
        clean_model_instances = True
