from django.apps import AppConfig
from django.utils.translation import gettext_lazy as _


class CasesConfig(AppConfig):
    name = "cases"
    verbose_name = _("诉求工单")

    def ready(self):
        from . import signals  # noqa: F401, PLC0415 - receivers connect once the app registry is ready
