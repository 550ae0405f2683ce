"""Every role reads the working calendars (reference data, like the deadline
policies); only superusers change them."""

from django.db import migrations

from departments.grants import role_grants

ROLES = ["operator", "dispatcher", "handler", "unit_head", "supervisor", "callback", "gridworker", "leader"]
GRANTS = {role: ["view_workingcalendar"] for role in ROLES}


class Migration(migrations.Migration):
    dependencies = [("cases", "0016_working_calendars_unit_policies"), ("departments", "0002_roles")]

    operations = [migrations.RunPython(*role_grants("cases", GRANTS))]
