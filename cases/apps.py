from django.apps import AppConfig
from django.db import connections
from django.db.models.signals import post_migrate
from django.utils.translation import gettext_lazy as _


class CasesConfig(AppConfig):
    name = "cases"
    verbose_name = _("诉求工单")

    def ready(self):
        from . import signals  # noqa: F401, PLC0415 - receivers connect once the app registry is ready

        post_migrate.connect(_keyword_index_after_migrate, sender=self)


def _keyword_index_after_migrate(using, **kwargs):
    """A SQLite migration that rebuilds ``cases_ticket`` drops the keyword search
    triggers with it: put them back (cases.selectors.search)."""
    from .selectors.search import ensure_keyword_index  # noqa: PLC0415

    ensure_keyword_index(connections[using])
