"""Default time limits (DESIGN §5); administrators adjust them in the admin."""

from django.db import migrations

# (name, urgency, nature, sign, contact, resolve) — limits as (amount, unit).
DEFAULTS = [
    ("一般诉求（基础）", "", "", (2, "working_hour"), (1, "working_day"), (5, "working_day")),
    ("紧急诉求", "urgent", "", (20, "minute"), (2, "hour"), (24, "hour")),
    ("特急诉求", "critical", "", (10, "minute"), (1, "hour"), (12, "hour")),
    ("咨询类", "", "consult", None, None, (2, "working_day")),
    ("表扬类", "", "praise", None, None, (2, "working_day")),
]


def create_defaults(apps, schema_editor):
    DeadlinePolicy = apps.get_model("cases", "DeadlinePolicy")
    for name, urgency, nature, sign, contact, resolve in DEFAULTS:
        values = {"name": name}
        for clock, limit in (("sign", sign), ("contact", contact), ("resolve", resolve)):
            if limit:
                values[f"{clock}_limit"], values[f"{clock}_unit"] = limit
        DeadlinePolicy.objects.get_or_create(category=None, urgency=urgency, nature=nature, defaults=values)


def remove_defaults(apps, schema_editor):
    DeadlinePolicy = apps.get_model("cases", "DeadlinePolicy")
    for name, urgency, nature, *_ in DEFAULTS:
        DeadlinePolicy.objects.filter(category=None, urgency=urgency, nature=nature, name=name).delete()


class Migration(migrations.Migration):
    dependencies = [("cases", "0002_initial")]

    operations = [migrations.RunPython(create_defaults, remove_defaults)]
