from django.apps import AppConfig
from django.utils.translation import gettext_lazy as _


class DepartmentsConfig(AppConfig):
    name = "departments"
    verbose_name = _("承办单位与网格")

    def ready(self):
        from . import signals  # noqa: F401, PLC0415 - receivers connect once the app registry is ready
