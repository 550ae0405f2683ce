"""The daily rollups counted a first-round close as handled when the ticket was
dispatched only after it (answered without dispatch, reopened, then dispatched):
every day is rebuilt by the next scheduled rebuild (what ``rollups_forget`` does;
the model's methods are not available to a migration)."""

from django.db import migrations


def forget(apps, schema_editor):
    # "rollups": reports.rollups.MARK, spelt out as a migration freezes what it touches
    apps.get_model("reports", "RollupMark").objects.filter(name="rollups").delete()
    apps.get_model("reports", "RollupDay").objects.all().delete()


class Migration(migrations.Migration):
    dependencies = [("reports", "0004_rollups_category_dispatch_day")]

    operations = [migrations.RunPython(forget, migrations.RunPython.noop)]
