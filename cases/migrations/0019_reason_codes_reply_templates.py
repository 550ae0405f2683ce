"""Coded reasons for rework and returns, and reply templates (办理反馈常用语):
the models, the starting lists, and who may edit them (the dispatchers' team, like
the knowledge base; units and the other centre roles read them)."""

import django.db.models.deletion
from django.db import migrations, models

from departments.grants import role_grants

REASON_CODES = {
    "rework": [
        ("evasive", "避重就轻"),
        ("shirking", "推诿扯皮"),
        ("off_topic", "答非所问"),
        ("no_contact", "未联系市民"),
        ("no_evidence", "证据不足"),
        ("other", "其他"),
    ],
    "return": [
        ("not_our_duty", "非本单位职责"),
        ("wrong_address", "地址错误"),
        ("duplicate", "重复派单"),
        ("outside_territory", "不在本辖区"),
        ("other", "其他"),
    ],
}

REPLY_TEMPLATES = [
    (
        "solved",
        "已现场处置",
        "接诉后我单位工作人员于当日到达现场核实，已完成处置，并电话告知诉求人处理结果，诉求人表示认可。",
    ),
    (
        "explained",
        "已解释说明",
        "经核实，该诉求涉及事项已按相关规定办理。我单位已电话联系诉求人，就政策依据及办理情况进行了解释说明。",
    ),
    (
        "unsolvable",
        "暂无法解决",
        "经核实，该诉求因客观条件限制暂时无法解决。我单位已向诉求人说明原因，并将持续跟进，条件具备后及时处理。",
    ),
]

ROLES = ["operator", "dispatcher", "handler", "unit_head", "supervisor", "callback", "gridworker", "leader"]
GRANTS = {role: ["view_reasoncode", "view_replytemplate"] for role in ROLES}
GRANTS["dispatcher"] += ["add_reasoncode", "change_reasoncode", "add_replytemplate", "change_replytemplate"]


def seed(apps, schema_editor):
    ReasonCode = apps.get_model("cases", "ReasonCode")
    ReplyTemplate = apps.get_model("cases", "ReplyTemplate")
    for kind, codes in REASON_CODES.items():
        for order, (code, label) in enumerate(codes, start=1):
            ReasonCode.objects.get_or_create(kind=kind, code=code, defaults={"label": label, "order": order * 10})
    for order, (result, title, text) in enumerate(REPLY_TEMPLATES, start=1):
        ReplyTemplate.objects.get_or_create(title=title, defaults={"result": result, "text": text, "order": order})


def unseed(apps, schema_editor):
    apps.get_model("cases", "ReplyTemplate").objects.all().delete()
    apps.get_model("cases", "ReasonCode").objects.all().delete()


class Migration(migrations.Migration):

    dependencies = [
        ('cases', '0018_public_visibility'),
        ('departments', '0002_roles'),
    ]

    operations = [
        migrations.CreateModel(
            name='ReasonCode',
            fields=[
                ('id', models.BigAutoField(auto_created=True, primary_key=True, serialize=False, verbose_name='ID')),
                ('kind', models.CharField(choices=[('rework', '退回重办原因'), ('return', '退单原因')], max_length=16, verbose_name='类型')),
                ('code', models.SlugField(max_length=32, verbose_name='代码')),
                ('label', models.CharField(max_length=50, verbose_name='名称')),
                ('order', models.PositiveSmallIntegerField(default=100, verbose_name='排序')),
                ('is_active', models.BooleanField(default=True, verbose_name='启用')),
            ],
            options={
                'verbose_name': '原因代码',
                'verbose_name_plural': '原因代码',
                'ordering': ['kind', 'order', 'pk'],
                'constraints': [models.UniqueConstraint(fields=('kind', 'code'), name='reason_code_unique')],
            },
        ),
        migrations.AddField(
            model_name='ticketevent',
            name='reason_code',
            field=models.ForeignKey(blank=True, help_text='退回重办、申请退单时选定的原因代码。', null=True, on_delete=django.db.models.deletion.PROTECT, related_name='+', to='cases.reasoncode', verbose_name='原因代码'),
        ),
        migrations.CreateModel(
            name='ReplyTemplate',
            fields=[
                ('id', models.BigAutoField(auto_created=True, primary_key=True, serialize=False, verbose_name='ID')),
                ('title', models.CharField(max_length=60, verbose_name='标题')),
                ('text', models.TextField(verbose_name='反馈内容')),
                ('result', models.CharField(blank=True, choices=[('solved', '已解决'), ('explained', '已解释说明'), ('unsolvable', '无法解决')], help_text='留空适用于全部结果。', max_length=16, verbose_name='办理结果')),
                ('order', models.PositiveSmallIntegerField(default=100, verbose_name='排序')),
                ('is_active', models.BooleanField(default=True, verbose_name='启用')),
                ('category', models.ForeignKey(blank=True, help_text='留空适用于全部分类；选上级分类也适用于其下级分类。', null=True, on_delete=django.db.models.deletion.CASCADE, related_name='+', to='cases.category', verbose_name='诉求分类')),
            ],
            options={
                'verbose_name': '办理反馈常用语',
                'verbose_name_plural': '办理反馈常用语',
                'ordering': ['category', 'result', 'order', 'pk'],
            },
        ),
        migrations.RunPython(seed, unseed),
        migrations.RunPython(*role_grants("cases", GRANTS)),
    ]
