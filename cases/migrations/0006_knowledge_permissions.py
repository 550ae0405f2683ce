"""Operators read the knowledge base; the dispatchers' team (专班) maintains it."""

from django.db import migrations

from departments.grants import role_grants

GRANTS = {
    "operator": ["view_knowledgearticle"],
    "dispatcher": ["view_knowledgearticle", "add_knowledgearticle", "change_knowledgearticle"],
    "supervisor": ["view_knowledgearticle"],
    "callback": ["view_knowledgearticle"],
}


class Migration(migrations.Migration):
    dependencies = [("cases", "0005_cohandling_cancelled"), ("departments", "0002_roles")]

    operations = [migrations.RunPython(*role_grants("cases", GRANTS))]
