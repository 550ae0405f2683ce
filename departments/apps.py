from django.apps import AppConfig
from django.utils.translation import gettext_lazy as _


class DepartmentsConfig(AppConfig):
    name = "departments"
    verbose_name = _("承办单位与网格")

    def ready(self):
        from django.contrib.auth import get_user_model  # noqa: PLC0415 - the user model is ready only now

        from . import signals  # noqa: F401, PLC0415 - receivers connect once the app registry is ready
        from .selectors import person_name  # noqa: PLC0415 - selectors import models: only after the registry is ready

        # Every door that prints a user without thinking (an FK in a list column or a
        # read-only field, the history's "changed by", a template's {{ user }}) shows
        # the person's name, not the login: one home, person_name.
        get_user_model().__str__ = person_name
