"""Model permissions for the role groups, granted by data migrations (each
migration freezes its own list; this is only the mechanism)."""

from django.contrib.auth.management import create_permissions


def role_grants(app_label: str, grants: dict[str, list[str]]):
    """``(grant, revoke)`` for ``migrations.RunPython``: add to (remove from) each
    role group the permissions ``grants[role]`` (codenames of ``app_label``)."""

    def permissions(apps, codenames):
        Permission = apps.get_model("auth", "Permission")
        return Permission.objects.filter(content_type__app_label=app_label, codename__in=codenames)

    def grant(apps, schema_editor):
        app_config = apps.get_app_config(app_label)
        app_config.models_module = True
        create_permissions(app_config, apps=apps, verbosity=0)
        app_config.models_module = None
        Group = apps.get_model("auth", "Group")
        for role, codenames in grants.items():
            group, _ = Group.objects.get_or_create(name=role)
            group.permissions.add(*permissions(apps, codenames))

    def revoke(apps, schema_editor):
        Group = apps.get_model("auth", "Group")
        for role, codenames in grants.items():
            group = Group.objects.filter(name=role).first()
            if group:
                group.permissions.remove(*permissions(apps, codenames))

    return grant, revoke
