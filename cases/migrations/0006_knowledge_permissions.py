"""Operators read the knowledge base; the dispatchers' team (专班) maintains it."""

from django.contrib.auth.management import create_permissions
from django.db import migrations

GRANTS = {
    "operator": ["view_knowledgearticle"],
    "dispatcher": ["view_knowledgearticle", "add_knowledgearticle", "change_knowledgearticle"],
    "supervisor": ["view_knowledgearticle"],
    "callback": ["view_knowledgearticle"],
}


def grant(apps, schema_editor):
    app_config = apps.get_app_config("cases")
    app_config.models_module = True
    create_permissions(app_config, apps=apps, verbosity=0)
    app_config.models_module = None
    Group = apps.get_model("auth", "Group")
    Permission = apps.get_model("auth", "Permission")
    for role, codenames in GRANTS.items():
        group, _ = Group.objects.get_or_create(name=role)
        group.permissions.add(*Permission.objects.filter(content_type__app_label="cases", codename__in=codenames))


def revoke(apps, schema_editor):
    Group = apps.get_model("auth", "Group")
    Permission = apps.get_model("auth", "Permission")
    for role, codenames in GRANTS.items():
        group = Group.objects.filter(name=role).first()
        if group:
            group.permissions.remove(
                *Permission.objects.filter(content_type__app_label="cases", codename__in=codenames)
            )


class Migration(migrations.Migration):
    dependencies = [("cases", "0005_cohandling_cancelled"), ("departments", "0002_roles")]

    operations = [migrations.RunPython(grant, revoke)]
