from django.apps import AppConfig
from django.utils.translation import gettext_lazy as _


class ReportsConfig(AppConfig):
    name = "reports"
    verbose_name = _("统计与报表")

    def ready(self):
        from . import checks  # noqa: F401, PLC0415 - system checks register once the app registry is ready
