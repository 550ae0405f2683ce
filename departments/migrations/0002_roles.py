"""The roles of DESIGN §2 as permission groups.

The permission lists are frozen here on purpose: a later change of a role's
permissions is a migration of its own, reviewed like code."""

from django.contrib.auth.management import create_permissions
from django.db import migrations

VIEW_REFERENCE = [
    "departments.view_department",
    "departments.view_grid",
    "departments.view_dutyassignment",
    "cases.view_category",
    "cases.view_deadlinepolicy",
    "cases.view_holiday",
]
VIEW_TICKETS = [
    "cases.view_ticket",
    "cases.view_ticketevent",
    "cases.view_attachment",
    "cases.view_cohandling",
    "cases.view_ticketapplication",
]
UNIT_WORK = [
    *VIEW_REFERENCE,
    *VIEW_TICKETS,
    "cases.change_ticket",
    "cases.add_attachment",
    "cases.add_ticketapplication",
]

ROLE_PERMISSIONS = {
    "operator": [*VIEW_REFERENCE, *VIEW_TICKETS, "cases.add_ticket", "cases.change_ticket", "cases.add_attachment"],
    "dispatcher": [
        *VIEW_REFERENCE,
        *VIEW_TICKETS,
        "cases.add_ticket",
        "cases.change_ticket",
        "cases.add_attachment",
        "cases.change_ticketapplication",
        "departments.add_dutyassignment",
        "departments.change_dutyassignment",
        "departments.delete_dutyassignment",
        "cases.add_holiday",
        "cases.change_holiday",
        "cases.delete_holiday",
    ],
    "handler": UNIT_WORK,
    "unit_head": UNIT_WORK,
    "supervisor": [*VIEW_REFERENCE, *VIEW_TICKETS, "cases.add_ticket", "cases.change_ticket"],
    "callback": [*VIEW_REFERENCE, *VIEW_TICKETS, "cases.change_ticket"],
    "gridworker": [*VIEW_REFERENCE, "cases.view_ticket", "cases.view_ticketevent", "cases.add_ticket",
                   "cases.view_attachment", "cases.add_attachment"],
    "leader": [*VIEW_REFERENCE, *VIEW_TICKETS],
}


def create_roles(apps, schema_editor):
    for app_config in apps.get_app_configs():
        app_config.models_module = True
        create_permissions(app_config, apps=apps, verbosity=0)
        app_config.models_module = None
    Group = apps.get_model("auth", "Group")
    Permission = apps.get_model("auth", "Permission")
    for role, codes in ROLE_PERMISSIONS.items():
        group, _ = Group.objects.get_or_create(name=role)
        permissions = []
        for code in codes:
            app_label, codename = code.split(".")
            permissions.append(Permission.objects.get(content_type__app_label=app_label, codename=codename))
        group.permissions.set(permissions)


def remove_roles(apps, schema_editor):
    apps.get_model("auth", "Group").objects.filter(name__in=ROLE_PERMISSIONS).delete()


class Migration(migrations.Migration):
    dependencies = [
        ("auth", "0012_alter_user_first_name_max_length"),
        ("contenttypes", "0002_remove_content_type_name"),
        ("departments", "0001_initial"),
        ("cases", "0002_initial"),
    ]

    operations = [migrations.RunPython(create_roles, remove_roles)]
