from django.apps import apps
from django.contrib.admin.apps import AdminConfig
from django.utils.functional import lazy
from django.utils.translation import gettext


def _relationship(model, plural: bool) -> str:
    a, b = (f.related_model._meta.verbose_name for f in model._meta.fields if f.many_to_one)
    text = gettext("%(from)s-%(to)s relationships" if plural else "%(from)s-%(to)s relationship")
    return text % {"from": a, "to": b}


_relationship_lazy = lazy(_relationship, str)


class HotlineAdminConfig(AdminConfig):
    default_site = "config.admin_site.HotlineAdminSite"

    def ready(self):
        super().ready()
        # Django names the hidden tables of many-to-many fields once, at import, in
        # the language the process started in ("user-group 关系" in the English UI,
        # listed on delete pages): name them lazily, by the models' own names.
        for model in apps.get_models(include_auto_created=True):
            if model._meta.auto_created and len([f for f in model._meta.fields if f.many_to_one]) == 2:
                model._meta.verbose_name = _relationship_lazy(model, False)
                model._meta.verbose_name_plural = _relationship_lazy(model, True)
