from django.db import migrations, models


class Migration(migrations.Migration):
    dependencies = [
        ("cases", "0026_keyword_search"),
    ]

    operations = [
        migrations.CreateModel(
            name="ReferenceStamp",
            fields=[
                ("id", models.BigAutoField(auto_created=True, primary_key=True, serialize=False, verbose_name="ID")),
                ("value", models.BigIntegerField(default=0, verbose_name="版本")),
            ],
            options={
                "verbose_name": "参考数据版本",
                "verbose_name_plural": "参考数据版本",
            },
        ),
    ]
